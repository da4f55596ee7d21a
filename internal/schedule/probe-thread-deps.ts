/** What the probe thread's main-thread proxy (ProbeThread) is built from, and its own counters. */
import type { Clock } from '../clock/clock.js';
import type { Logger } from '../log/log.js';
import type { BreakerState } from '../model/device.js';
import type { PointSink } from '../model/point.js';
import type { PingBreakerState } from './breaker.js';
import type { ProbeObserver } from './ping-scheduler.js';
import type { ProbeThreadSpawn } from './probe-thread-protocol.js';

/** The store's breakers as the proxy seeds the thread's copy from them (DeviceStore.get satisfies it). */
export interface PingBreakerSource {
  /** The device, with its ping breaker, or undefined. */
  get(ip: string): { readonly ping: BreakerState } | undefined;
}

/** Collaborators of {@link ProbeThread}; the same as PingScheduler's, with a spawn instead of a pinger. */
export interface ProbeThreadDeps {
  /** Main-thread clock (nextSlotMs, the restart delay, the stop bound). */
  clock: Clock;
  /** Where the thread's `ping`, `ping_summary` and suspended points go. */
  sink: PointSink;
  /** The store: told every breaker update the thread made, and read to seed the thread's copy. */
  state: PingBreakerState & PingBreakerSource;
  /** Parent logger; the thread's lines come back through it with `thread: probe`. */
  logger: Logger;
  /** Told what is recorded per device, as by the scheduler. */
  observer?: ProbeObserver | undefined;
  /** Told every monitoring RTT, ms (the fleet-wide histogram). */
  rtt?: ((rttMs: number) => void) | undefined;
  /** Starts the thread. */
  spawn: ProbeThreadSpawn;
}

/** Tunables of the proxy itself. */
export interface ProbeThreadOptions {
  /**
   * Wait before restarting a crashed thread, ms; doubles per consecutive crash, up to 60 s (a
   * thread that ran for 60 s before it ended starts the count afresh).
   */
  restartDelayMs: number;
  /** pino level of the thread's logger. */
  logLevel: string;
  /** Longest a result waits in the thread before its batch is posted, ms; undefined for the thread's default (20). */
  flushEveryMs: number | undefined;
  /** Nice value of the probe thread (-20..19; below the process's needs CAP_SYS_NICE); undefined leaves it. */
  niceness: number | undefined;
}

export const defaultProbeThreadOptions: ProbeThreadOptions = {
  restartDelayMs: 1000,
  logLevel: 'info',
  flushEveryMs: undefined,
  niceness: undefined,
};
/** The proxy's own counters. */
export interface ProbeThreadCounters {
  /** Threads started (1 + restarts). */
  spawnsTotal: number;
  /** Threads that ended without being asked to (crash, failed start). */
  crashesTotal: number;
  /** Batches received. */
  batchesTotal: number;
  /** Records received. */
  recordsTotal: number;
}
