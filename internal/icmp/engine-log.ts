/**
 * The ICMP engine's lifecycle log lines (start, stop, socket failed and reopened), kept apart from the engine so its file
 * holds the request and reply paths only.
 */
import type { Logger } from '../log/log.js';
import type { IcmpEngineOptions, IcmpEngineStats } from './engine-options.js';
import type { IcmpSocket } from './icmp-socket.js';

/** What {@link logEngineStarted} reports. */
export interface EngineStartFacts {
  /** The engine's options. */
  opts: IcmpEngineOptions;
  /** The socket in use. */
  socket: IcmpSocket;
  /** Identifier of the first requests. */
  identifier: number;
  /** In-flight cap in force (lowered when the receive buffer is too small for `opts.maxInFlight`). */
  maxInFlight: number;
  /** True when another raw engine of this family already runs in the process. */
  secondRaw: boolean;
}

/** Logs a started engine: info, plus a warning for a second raw engine and for a lowered in-flight cap. */
export function logEngineStarted(logger: Logger | undefined, f: EngineStartFacts): void {
  if (logger === undefined) return;
  const o = f.opts;
  if (f.secondRaw) {
    logger.warn(
      { stage: 'icmp', family: o.family },
      'a second raw ICMP engine is running in this process; each raw socket receives every ICMP packet, share one engine instead',
    );
  }
  logger.info(
    {
      stage: 'icmp',
      family: o.family,
      mode: f.socket.mode,
      identifier: f.identifier,
      kernel_stamps: f.socket.kernelStamps,
      rcvbuf_bytes: f.socket.rcvbufBytes,
      max_in_flight: f.maxInFlight,
    },
    'ICMP engine started',
  );
  if (f.maxInFlight < o.maxInFlight) {
    logger.warn(
      {
        stage: 'icmp',
        requested_bytes: o.rcvbufBytes,
        granted_bytes: f.socket.rcvbufBytes,
        max_in_flight: f.maxInFlight,
      },
      'ICMP receive buffer too small for the in-flight cap; cap lowered. Raise net.core.rmem_max (or grant CAP_NET_ADMIN) for full speed',
    );
  }
}

/** Logs a stopped engine with its counters. */
export function logEngineStopped(logger: Logger | undefined, st: IcmpEngineStats): void {
  logger?.info(
    {
      stage: 'icmp',
      family: st.family,
      sent: st.sent,
      replies: st.replies,
      rtt_kernel: st.rttKernel,
      rtt_userspace: st.rttUserspace,
      timeouts: st.timeouts,
      unreachable: st.unreachable,
      send_errors: st.sendErrors,
      late: st.late,
      duplicates: st.duplicates,
      foreign: st.foreign,
      invalid: st.invalid,
    },
    'ICMP engine stopped',
  );
}

/** What {@link logSocketFailed} reports. */
export interface SocketFailureFacts {
  /** The asynchronous socket error. */
  err: Error;
  /** Socket failures so far. */
  failures: number;
  /** Delay before the socket is reopened, ms. */
  reopenInMs: number;
}

/** Logs an asynchronous socket failure (error: the pings in flight are lost). */
export function logSocketFailed(logger: Logger | undefined, f: SocketFailureFacts): void {
  logger?.error(
    { stage: 'icmp', err: f.err, failures: f.failures, reopen_in_ms: f.reopenInMs },
    'ICMP socket failed; pings in flight rejected, reopening the socket',
  );
}

/** Logs a socket reopened after `failures` failures. */
export function logSocketReopened(logger: Logger | undefined, failures: number): void {
  logger?.info({ stage: 'icmp', failures }, 'ICMP socket reopened; pinging resumed');
}
