import type { Clock, TimerHandle } from '../clock/clock.js';
import type { IcmpSocketInfo } from '../icmp/open.js';
import type { IcmpPingerStats } from '../icmp/pinger.js';
import type { Logger } from '../log/log.js';
import type { Pinger } from '../model/ping.js';
import type { PingBreakerState } from './breaker.js';
import { PingScheduler } from './ping-scheduler.js';
import { ResultEncoder, type ResultBatch } from './probe-codec.js';
import type { FromProbeThread, ProbeCommand, ProbeThreadInit, ToProbeThread } from './probe-thread-protocol.js';
import type { StallMonitor } from './stall-monitor.js';
import { mergeIntervalSendLag, type IntervalSendLag } from './stats.js';

/** Tunables of {@link ProbeThreadHost}. */
export interface ProbeThreadHostOptions {
  /** Longest a record waits in the thread before its batch is posted, ms. */
  flushEveryMs: number;
  /** A batch is posted at once when it holds this many records. */
  maxBatchRecords: number;
  /** Period of the stats snapshot posted even when nothing else happens, ms. */
  statsEveryMs: number;
}

/**
 * Defaults: a 20 ms batch window (about 400 pings at 20k pings/s; 5 ms cost the process about 0.03
 * core more at 2,000 pings/s in wakeups of both threads), snapshots four times a second.
 */
export const defaultProbeThreadHostOptions: ProbeThreadHostOptions = {
  flushEveryMs: 20,
  maxBatchRecords: 4096,
  statsEveryMs: 250,
};

/** Collaborators of {@link ProbeThreadHost}. */
export interface ProbeThreadHostDeps {
  /** The thread's clock (the real one in a Worker; a FakeClock in tests). */
  clock: Clock;
  /** The thread's ICMP engine. */
  pinger: Pinger;
  /** The thread's logger (its lines should reach {@link ProbeThreadHost.logLine}, or anywhere else). */
  logger: Logger;
  /** Posts one message to the main thread; `transfer` lists buffers to move rather than copy. */
  post(msg: FromProbeThread, transfer: ArrayBuffer[]): void;
  /** The thread's ICMP engine counters and sockets, when it owns an engine. */
  engine?: { stats(): IcmpPingerStats; sockets(): IcmpSocketInfo[] } | undefined;
  /** Stall detector for the scheduler (default: its own on `clock`). */
  stallMonitor?: StallMonitor;
  /** Called once after the last batch was posted (the worker entry stops its engine and exits). */
  stopped?: () => void;
}

/** A device's breaker as the thread keeps it. */
interface MirrorBreaker {
  fails: number;
  untilMs: number;
  /** Number (from 1) of the last breaker record that changed it; 0 for none. */
  lastRecord: number;
}

/** True for a breaker that is not closed and clear (fails or a suspension, even one that has expired). */
const dirty = (b: MirrorBreaker): boolean => b.fails !== 0 || b.untilMs !== 0;

/**
 * The ping breaker where the scheduler can read it synchronously: a copy of the store's breaker per
 * scheduled device, seeded when the device is added and updated exactly as the store updates its own
 * (DeviceStore.recordPingFailure: trip at maxFails, fails back to 0, suspended until now + backoff).
 * Every call is also recorded for the main thread, which replays it on the store, so the state
 * file, /health counts and device_info keep following the probes.
 *
 * While no kept breaker is dirty (the healthy case) a success or a suspension check needs no lookup:
 * a success on a clean breaker changes nothing, here or in the store, so it is not numbered; a
 * removed device's breaker is kept until the store has applied every record made before its
 * removal (and any the probe it left in flight adds), for a quick re-add's seed.
 */
class MirrorBreakerState implements PingBreakerState {
  readonly #clock: Clock;
  readonly #enc: ResultEncoder;
  readonly #recorded: () => void;
  readonly #devices = new Map<string, MirrorBreaker>();
  /**
   * Breakers of removed devices with records the store may not have applied yet: a quick re-add
   * keeps this copy, as the store's seed would miss those records. In removal order for pruning.
   */
  readonly #removed = new Map<string, MirrorBreaker>();
  #removedOrder: string[] = [];
  #records = 0;
  /** Dirty breakers in #devices and #removed. */
  #dirty = 0;

  constructor(clock: Clock, enc: ResultEncoder, recorded: () => void) {
    this.#clock = clock;
    this.#enc = enc;
    this.#recorded = recorded;
  }

  /** `ip` is added with the store's breaker, as it stood after this thread's first `applied` records. */
  seed(ip: string, fails: number, untilMs: number, applied: number): void {
    this.#prune(applied);
    const kept = this.#removed.get(ip);
    this.#removed.delete(ip);
    this.#drop(this.#devices.get(ip));
    if (kept !== undefined && kept.lastRecord > applied) {
      this.#devices.set(ip, kept);
      return;
    }
    this.#drop(kept);
    const b = { fails, untilMs, lastRecord: 0 };
    if (dirty(b)) this.#dirty++;
    this.#devices.set(ip, b);
  }

  forget(ip: string): void {
    const b = this.#devices.get(ip);
    this.#devices.delete(ip);
    if (b === undefined) return;
    // Kept until the store has applied every record made so far, even when none changed it (a
    // success on a clean breaker is not numbered): a probe still in flight may yet fail, and a
    // quick re-add must not take the store's breaker without that failure.
    b.lastRecord = this.#records;
    if (b.lastRecord === 0) {
      this.#drop(b);
      return;
    }
    this.#drop(this.#removed.get(ip));
    this.#removed.set(ip, b);
    this.#removedOrder.push(ip);
  }

  /** `b` (when defined) leaves both maps. */
  #drop(b: MirrorBreaker | undefined): void {
    if (b !== undefined && dirty(b)) this.#dirty--;
  }

  /** Drops the kept breakers whose records the store has all applied. */
  #prune(applied: number): void {
    let i = 0;
    for (; i < this.#removedOrder.length; i++) {
      const ip = this.#removedOrder[i]!;
      const b = this.#removed.get(ip);
      if (b !== undefined && b.lastRecord > applied) break;
      if (b !== undefined) {
        this.#drop(b);
        this.#removed.delete(ip);
      }
    }
    if (i > 0) this.#removedOrder = this.#removedOrder.slice(i);
  }

  isPingSuspended(ip: string): boolean {
    if (this.#dirty === 0) return false;
    const b = this.#devices.get(ip);
    return b !== undefined && this.#clock.now() < b.untilMs;
  }

  recordPingSuccess(ip: string): void {
    this.#records++;
    const b = this.#dirty === 0 ? undefined : (this.#devices.get(ip) ?? this.#removed.get(ip));
    if (b !== undefined && dirty(b)) {
      this.#dirty--;
      b.fails = 0;
      b.untilMs = 0;
      b.lastRecord = this.#records;
    }
    this.#enc.breakerSuccess(ip);
    this.#recorded();
  }

  recordPingFailure(ip: string, maxFails: number, backoffMs: number): boolean {
    this.#enc.breakerFailure(ip, maxFails, backoffMs);
    this.#recorded();
    this.#records++;
    const b = this.#devices.get(ip) ?? this.#removed.get(ip);
    if (b === undefined) return false;
    const was = dirty(b);
    b.lastRecord = this.#records;
    b.fails++;
    let tripped = false;
    if (b.fails >= maxFails) {
      b.fails = 0;
      b.untilMs = this.#clock.now() + backoffMs;
      tripped = true;
    }
    if (dirty(b) !== was) this.#dirty += was ? -1 : 1;
    return tripped;
  }
}

/**
 * The probe thread's side: a {@link PingScheduler} whose sink, observer and breaker state record
 * into one {@link ResultEncoder}, posted as one message every `flushEveryMs` (or `maxBatchRecords`
 * records), and the commands of the main thread applied in order. Runs in the Worker, or in the
 * test's own thread behind a fake port (same messages, simulated time).
 */
export class ProbeThreadHost {
  readonly #deps: ProbeThreadHostDeps;
  readonly #opts: ProbeThreadHostOptions;
  readonly #enc = new ResultEncoder();
  readonly #state: MirrorBreakerState;
  readonly #sched: PingScheduler;
  #flushTimer: TimerHandle | undefined;
  #statsTimer: TimerHandle | undefined;
  #answered = 0;
  /** Intervals closed by `takeInterval` commands, not posted yet. */
  #taken: IntervalSendLag | undefined;
  #stopping = false;
  #queue: Promise<void> = Promise.resolve();
  readonly #recorded = (): void => this.#onRecord();

  constructor(deps: ProbeThreadHostDeps, init: ProbeThreadInit, opts: Partial<ProbeThreadHostOptions> = {}) {
    this.#deps = deps;
    this.#opts = {
      ...defaultProbeThreadHostOptions,
      ...(init.flushEveryMs === undefined ? {} : { flushEveryMs: init.flushEveryMs }),
      ...opts,
    };
    this.#state = new MirrorBreakerState(deps.clock, this.#enc, this.#recorded);
    const enc = this.#enc;
    this.#sched = new PingScheduler(
      {
        clock: deps.clock,
        pinger: deps.pinger,
        logger: deps.logger,
        state: this.#state,
        ...(deps.stallMonitor ? { stallMonitor: deps.stallMonitor } : {}),
        sink: {
          write: (p) => {
            enc.point(p);
            this.#onRecord();
            return 0;
          },
        },
        observer: {
          probed: (o) => {
            enc.probed(o);
            this.#onRecord();
          },
          suspended: (ip) => {
            enc.suspended(ip);
            this.#onRecord();
          },
          removed: (ip) => {
            enc.removed(ip);
            this.#onRecord();
          },
        },
      },
      init.options,
    );
  }

  /** A JSON log line of the thread's logger; it travels with the records. */
  logLine(line: string): void {
    this.#enc.log(line);
    this.#onRecord();
  }

  /** Applies one message of the main thread. Commands run in order, a stop after what precedes it. */
  receive(msg: ToProbeThread): void {
    this.#queue = this.#queue
      .then(() => this.#apply(msg.cmds))
      .catch((err: unknown) => this.#deps.logger.error({ err }, 'probe thread command failed'));
  }

  async #apply(cmds: readonly ProbeCommand[]): Promise<void> {
    let stop = false;
    for (const cmd of cmds) {
      if (this.#stopping) return;
      switch (cmd.c) {
        case 'add':
          this.#state.seed(cmd.ip, cmd.fails, cmd.untilMs, cmd.applied);
          this.#sched.add(cmd.ip);
          break;
        case 'remove':
          this.#sched.remove(cmd.ip);
          this.#state.forget(cmd.ip);
          break;
        case 'interval':
          this.#sched.setDeviceInterval(cmd.ip, cmd.intervalMs ?? undefined);
          break;
        case 'reconfigure':
          this.#sched.reconfigure(cmd.opts);
          break;
        case 'start':
          this.#sched.start();
          this.#armStats();
          break;
        case 'resetMissed':
          this.#sched.resetMissedDevices();
          break;
        case 'takeInterval':
          this.#taken = mergeIntervalSendLag(this.#taken, this.#sched.takeInterval());
          break;
        case 'stats':
          this.#answered = Math.max(this.#answered, cmd.id);
          break;
        case 'stop':
          stop = true;
          break;
      }
      if (stop) break;
    }
    if (!stop) {
      this.#flush(true, false);
      return;
    }
    this.#stopping = true;
    this.#statsTimer?.cancel();
    await this.#sched.stop();
    this.#flush(true, true);
    this.#deps.stopped?.();
  }

  #onRecord(): void {
    if (this.#enc.records >= this.#opts.maxBatchRecords) this.#flush(false, false);
    else this.#flushTimer ??= this.#deps.clock.setTimeout(() => this.#flush(false, false), this.#opts.flushEveryMs);
  }

  #armStats(): void {
    this.#statsTimer = this.#deps.clock.setTimeout(() => {
      this.#flush(true, false);
      if (!this.#stopping) this.#armStats();
    }, this.#opts.statsEveryMs);
  }

  #flush(withStats: boolean, stopped: boolean): void {
    this.#flushTimer?.cancel();
    this.#flushTimer = undefined;
    const batch: ResultBatch | undefined = this.#enc.take();
    if (batch === undefined && !withStats) return;
    const engine = this.#deps.engine;
    const stats = withStats
      ? { scheduler: this.#sched.stats(), engine: engine?.stats(), sockets: engine?.sockets() }
      : undefined;
    const taken = this.#taken;
    this.#taken = undefined;
    this.#deps.post(
      { t: 'batch', batch, stats, answered: this.#answered, taken, stopped },
      batch ? [batch.nums.buffer as ArrayBuffer] : [],
    );
  }
}
