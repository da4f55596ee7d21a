import type { IcmpPingerStats } from '../icmp/pinger.js';
import type { IcmpSocketInfo } from '../icmp/open.js';
import type { PingSchedulerOptions } from './options.js';
import type { ResultBatch } from './probe-codec.js';
import type { IntervalSendLag, PingSchedulerStats } from './stats.js';

/** One change or request for the probe thread; they are applied in the order sent. */
export type ProbeCommand =
  /**
   * Gives `ip` a schedule, its breaker seeded with the store's (consecutive fails, suspended until
   * ms) as it stood after the first `applied` breaker records of this thread.
   */
  | {
      readonly c: 'add';
      readonly ip: string;
      readonly fails: number;
      readonly untilMs: number;
      readonly applied: number;
    }
  /** Ends `ip`'s schedule. */
  | { readonly c: 'remove'; readonly ip: string }
  /** PingScheduler.setDeviceInterval (null: back to the global interval). */
  | { readonly c: 'interval'; readonly ip: string; readonly intervalMs: number | null }
  /** PingScheduler.reconfigure. */
  | { readonly c: 'reconfigure'; readonly opts: Partial<PingSchedulerOptions> }
  /** Starts serving slots. */
  | { readonly c: 'start' }
  /** PingScheduler.resetMissedDevices. */
  | { readonly c: 'resetMissed' }
  /** PingScheduler.takeInterval. */
  | { readonly c: 'takeInterval' }
  /** Asks for a stats snapshot now; the reply carries `answered: id`. */
  | { readonly c: 'stats'; readonly id: number }
  /** Stops the scheduler, drains, sends the last batch with `stopped: true`. */
  | { readonly c: 'stop' };

/** Main thread to probe thread: a batch of commands (one postMessage). */
export interface ToProbeThread {
  readonly cmds: readonly ProbeCommand[];
}

/** What the probe thread reports about itself besides the records. */
export interface ProbeThreadSnapshot {
  /** The scheduler's stats() in the thread. */
  readonly scheduler: PingSchedulerStats;
  /** The thread's ICMP engine counters, when it owns one. */
  readonly engine: IcmpPingerStats | undefined;
  /** The thread's ICMP sockets, when it owns an engine. */
  readonly sockets: readonly IcmpSocketInfo[] | undefined;
}

/** Probe thread to main thread. */
export type FromProbeThread =
  | {
      readonly t: 'batch';
      /** Records since the previous batch. */
      readonly batch: ResultBatch | undefined;
      /** A fresh snapshot (with every batch after a command, and every few hundred ms). */
      readonly stats: ProbeThreadSnapshot | undefined;
      /** Highest `stats` request id answered by this snapshot. */
      readonly answered: number;
      /** The send-lag intervals `takeInterval` commands closed since the previous message, as one. */
      readonly taken: IntervalSendLag | undefined;
      /** The scheduler stopped and drained; this is the last batch. */
      readonly stopped: boolean;
    }
  /** The thread could not start (its ICMP engine failed); it exits. */
  | { readonly t: 'failed'; readonly code: string; readonly message: string };

/** Engine settings the probe thread builds its own ICMP engine from (plain data: they cross threads). */
export interface ProbeEngineSettings {
  /** `icmp_mode`. */
  mode: 'auto' | 'raw' | 'dgram';
  /** `icmp_payload_bytes`. */
  payloadBytes: number;
  /** `icmp_tos`; undefined keeps the kernel default. */
  tos: number | undefined;
  /** `icmp_ttl`; undefined keeps the kernel default. */
  ttl: number | undefined;
  /** `icmp_interface`; undefined for any. */
  interfaceName: string | undefined;
  /** `icmp_source_ipv4`; undefined lets the routing table choose. */
  sourceIpv4: string | undefined;
  /** `icmp_source_ipv6`; undefined lets the routing table choose. */
  sourceIpv6: string | undefined;
}

/** What a probe thread starts with (workerData of the real Worker). */
export interface ProbeThreadInit {
  /** Scheduler options at spawn time (later changes arrive as `reconfigure`). */
  readonly options: PingSchedulerOptions;
  /** pino level of the thread's logger (lines below it are never built). */
  readonly logLevel: string;
  /** Nice value the thread sets for itself (Linux threads have their own); undefined leaves the inherited one. */
  readonly niceness?: number | undefined;
  /** Longest a record waits in the thread before its batch is posted, ms (default 20). */
  readonly flushEveryMs?: number | undefined;
}

/** One running probe thread as the proxy sees it (a Worker, or an in-process host in tests). */
export interface ProbeThreadPort {
  /** Posts one batch of commands. */
  post(cmds: readonly ProbeCommand[]): void;
  /** Stops the thread at once (after a stop that did not end in time). */
  terminate(): Promise<void>;
}

/** What a spawned thread reports back to the proxy. */
export interface ProbeThreadEvents {
  /** A message of the thread. */
  message(m: FromProbeThread): void;
  /** The thread ended: `err` is its uncaught error, if any. */
  exit(code: number, err: unknown): void;
}

/** Starts one probe thread. */
export type ProbeThreadSpawn = (init: ProbeThreadInit, events: ProbeThreadEvents) => ProbeThreadPort;
