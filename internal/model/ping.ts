/** Why a probe did not produce a reply. A failed probe is data, not an exception. */
export type PingFailureReason =
  /** No matching reply within the timeout. */
  | 'timeout'
  /** An ICMP destination-unreachable (or the kernel's EHOSTUNREACH/ENETUNREACH) came back. */
  | 'unreachable'
  /** The request could not be sent (socket error, EPERM from a firewall, ...). */
  | 'send_error'
  /** The agent itself stalled during the probe window; says nothing about the host. */
  | 'agent_overloaded'
  /** The agent could not judge the probe: its ICMP socket failed or was being reopened, or the pinger failed; says nothing about the host. */
  | 'agent_error'
  /** A configured target's name did not resolve, so there was no address to probe. */
  | 'dns';

/** The outcome of one echo request. */
export type PingOutcome =
  | { readonly ok: true; readonly ip: string; readonly rttMs: number; readonly sentAtMs: number }
  | {
      readonly ok: false;
      readonly ip: string;
      readonly reason: PingFailureReason;
      readonly sentAtMs: number;
      readonly detail?: string;
    };

/** Per-probe options. */
export interface PingOptions {
  /** How long to wait for the reply, in milliseconds. */
  readonly timeoutMs: number;
  /** Aborts the wait (the probe resolves as a failure with reason `timeout` or is rejected with the reason). */
  readonly signal?: AbortSignal;
}

/**
 * One ICMP echo to one address. Implemented by the shared ICMP engine; schedulers, the sweep
 * and tests depend only on this. Never rejects for network conditions: those are outcomes.
 */
export interface Pinger {
  /** Sends one echo request and resolves with the outcome. */
  ping(ip: string, opts: PingOptions): Promise<PingOutcome>;
}

/** One device's statistics over one summary window (the `ping_summary` point's content). */
export interface PingSummary {
  /** Window start, ms since the epoch (the point's timestamp). */
  readonly windowStartMs: number;
  /** Probes sent and judged (replies + host failures); agent_overloaded and agent_error probes are not counted. */
  readonly sent: number;
  /** Replies received. */
  readonly received: number;
  /** Probes the agent could not judge: a stall (agent_overloaded) or its ICMP socket failing (agent_error). */
  readonly overloaded: number;
  /** Slots skipped because the device's ping breaker was open. */
  readonly suspendedTicks: number;
  /** Slots the agent let pass unprobed (it was late or waited for the rate limiter); 0 when absent. */
  readonly missedSlots?: number;
  /** Slots skipped because the device's previous probe was still in flight; 0 when absent. */
  readonly skippedTicks?: number;
  /** Loss in percent of `sent`; NaN when nothing was sent. */
  readonly lossPct: number;
  /** Smallest RTT in ms; NaN without replies (likewise for every RTT statistic below). */
  readonly rttMinMs: number;
  /** Mean RTT in ms. */
  readonly rttAvgMs: number;
  /** Largest RTT in ms. */
  readonly rttMaxMs: number;
  /** Median RTT in ms (type-7 interpolation over the kept samples). */
  readonly rttP50Ms: number;
  /** 95th-percentile RTT in ms (type-7 interpolation over the kept samples). */
  readonly rttP95Ms: number;
  /** Population standard deviation of the RTT in ms. */
  readonly rttStddevMs: number;
  /** Mean |ΔRTT| of consecutive replies within the window, in ms; NaN with fewer than two replies. */
  readonly jitterMs: number;
}
