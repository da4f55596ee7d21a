import type { PingFailureReason } from '../model/ping.js';
import type { StallStats } from './stall-monitor.js';

/** Counters and gauges for /health and health_metrics. */
export interface PingSchedulerStats {
  /** Devices with a schedule. */
  readonly devicesScheduled: number;
  /** Of those, devices pinged at an interval of their own (a target's `ping_interval`). */
  readonly ownIntervalDevices: number;
  /** Configured global interval, ms. */
  readonly intervalMs: number;
  /** Probes per second the scheduled devices need, each at its own interval: the sum of 1000 / interval. */
  readonly expectedPingsPerSec: number;
  /**
   * Interval a device at the global interval actually gets, ms: the interval itself, or when the rate
   * is too low, the interval stretched by expected rate / `ping_rate_limit` (every device stretches alike).
   */
  readonly effectiveIntervalMs: number;
  /** True when `ping_rate_limit` cannot serve every device once per its interval. */
  readonly rateLimited: boolean;
  /** Probes started (attempts), Go `pings_sent_total`. */
  readonly pingsSentTotal: number;
  /** Probes in flight right now, Go `active_pingers`. */
  readonly inFlight: number;
  /** Replies received. */
  readonly repliesTotal: number;
  /** Failed probes per reason (agent_overloaded included). */
  readonly failuresByReason: Readonly<Record<PingFailureReason, number>>;
  /** Probes invalidated by an agent stall (same as failuresByReason.agent_overloaded). */
  readonly overloadedTotal: number;
  /** Slots skipped because the device's previous probe was still in flight. */
  readonly skippedTicksTotal: number;
  /** Slots that passed while the device waited for the rate limiter or the agent was late. */
  readonly missedSlotsTotal: number;
  /** Slots not probed because the breaker was open (each wrote a suspended point). */
  readonly suspendedTicksTotal: number;
  /** Times a device's breaker opened. */
  readonly breakerTripsTotal: number;
  /** Median send lag (actual send time minus slot time) over the last 8192 probes, ms. */
  readonly sendLagP50Ms: number;
  /** p99 send lag over the last 8192 probes, ms. */
  readonly sendLagP99Ms: number;
  /** Largest send lag over the last 8192 probes, ms. */
  readonly sendLagMaxMs: number;
  /** Probes sent more than `lateSendToleranceMs` after their slot. */
  readonly lateSendsTotal: number;
  /** Points handed to the sink. */
  readonly pointsWrittenTotal: number;
  /** Points the sink reported dropping on our writes. */
  readonly pointsDroppedTotal: number;
  /** `ping_summary` points written. */
  readonly summariesWrittenTotal: number;
  /** Sink writes that threw. */
  readonly sinkErrorsTotal: number;
  /** Probes the pinger never settled, given up after 2 × timeout + 1 s (recorded as send_error). */
  readonly hungProbesTotal: number;
  /** Agent stall detector counters. */
  readonly stalls: StallStats;
  /** Send lag since the scheduler's last `takeInterval()` (the health report interval). */
  readonly interval: IntervalSendLag;
  /** Distinct devices that missed a slot since the last `resetMissedDevices()`. */
  readonly devicesMissed: number;
}

/** Send lag over one health interval. */
export interface IntervalSendLag {
  /** Probes sent in the interval. */
  readonly sends: number;
  /** p99 send lag of the interval (its last 8192 sends), ms; NaN without sends. */
  readonly sendLagP99Ms: number;
  /** Largest send lag of the interval, ms; NaN without sends. */
  readonly sendLagMaxMs: number;
}

/**
 * Two consecutive intervals as one: sends add up, the largest lag is the larger one, and the p99 is
 * the larger of the two p99s (an upper bound: the samples themselves are gone).
 */
export function mergeIntervalSendLag(a: IntervalSendLag | undefined, b: IntervalSendLag): IntervalSendLag {
  if (a === undefined || a.sends === 0) return b;
  if (b.sends === 0) return a;
  return {
    sends: a.sends + b.sends,
    sendLagP99Ms: Math.max(a.sendLagP99Ms, b.sendLagP99Ms),
    sendLagMaxMs: Math.max(a.sendLagMaxMs, b.sendLagMaxMs),
  };
}
