import type { TimerHandle } from '../clock/clock.js';
import { errorMessage } from '../errors/errors.js';
import type { IcmpSocketInfo } from '../icmp/open.js';
import type { IcmpPingerStats } from '../icmp/pinger.js';
import type { Logger } from '../log/log.js';
import { defaultPingSchedulerOptions, validatePingSchedulerOptions, type PingSchedulerOptions } from './options.js';
import { checkOwnInterval } from './own-intervals.js';
import { ProbeRoster } from './probe-thread-roster.js';
import type { AddDeviceOptions } from './ping-scheduler.js';
import { ResultDecoder } from './probe-codec.js';
import type {
  FromProbeThread,
  ProbeCommand,
  ProbeThreadEvents,
  ProbeThreadPort,
  ProbeThreadSnapshot,
} from './probe-thread-protocol.js';
import {
  defaultProbeThreadOptions,
  type ProbeThreadCounters,
  type ProbeThreadDeps,
  type ProbeThreadOptions,
} from './probe-thread-deps.js';
import { ProbeResults } from './probe-thread-results.js';
import { withEndedEngines, withEndedThreads, zeroSchedulerStats } from './probe-thread-stats.js';
import { mergeIntervalSendLag, type IntervalSendLag, type PingSchedulerStats } from './stats.js';

export type { ProbeThreadEvents, ProbeThreadPort, ProbeThreadSpawn } from './probe-thread-protocol.js';
export type {
  PingBreakerSource,
  ProbeThreadCounters,
  ProbeThreadDeps,
  ProbeThreadOptions,
} from './probe-thread-deps.js';

const MAX_RESTART_DELAY_MS = 60_000;

/**
 * The ping scheduler, run in its own thread: the same surface as PingScheduler on the main thread
 * (add, remove, has, ips, nextSlotMs, start, stop, reconfigure, stats, takeInterval,
 * resetMissedDevices), with the scheduler and its ICMP engine in a worker thread so nothing the
 * main thread does (HTTP, /metrics, the writer, SNMP, snapshots, their GC) can delay a send.
 *
 * Device changes go in as batched commands (one message per turn of the main event loop); points,
 * observer calls and breaker updates come back in batches ({@link ResultDecoder}) and are handed to
 * the sink, the observer and the store in the order the scheduler made them. stats() answers from
 * the latest snapshot (at most a few hundred ms old; device counts from the proxy's own list).
 * A thread that dies is logged, counted and restarted with every device after a growing delay.
 */
export class ProbeThread {
  readonly #deps: ProbeThreadDeps;
  readonly #log: Logger;
  readonly #popts: ProbeThreadOptions;
  #opts: PingSchedulerOptions;
  /** Devices, own intervals (re-sent to every new thread before its devices), load and down time. */
  readonly #roster = new ProbeRoster();
  #pending: ProbeCommand[] = [];
  #flushQueued = false;
  #port: ProbeThreadPort | undefined;
  #decoder = new ResultDecoder();
  #snapshot: ProbeThreadSnapshot | undefined;
  /** The since-start counters of the threads that crashed, carried into the totals of the next. */
  #ended: PingSchedulerStats | undefined;
  /** The ICMP engine counters of those threads, likewise. */
  #endedEngine: IcmpPingerStats | undefined;
  #running = false;
  #stopping = false;
  #stopPromise: Promise<void> | undefined;
  #stopped: (() => void) | undefined;
  /** Resolves when the current thread has exited. */
  #exited: Promise<void> = Promise.resolve();
  #removeAbortListener: (() => void) | undefined;
  #restartTimer: TimerHandle | undefined;
  #consecutiveCrashes = 0;
  /** When the current thread was started, main-thread clock ms. */
  #spawnedAtMs = 0;
  #failure: string | undefined;
  #statsId = 0;
  readonly #waiters: Array<{ id: number; resolve: () => void }> = [];
  /** Send-lag intervals the thread closed for {@link takeIntervalExact}, not yet handed out. */
  #taken: IntervalSendLag | undefined;
  readonly #counters: ProbeThreadCounters = { spawnsTotal: 0, crashesTotal: 0, batchesTotal: 0, recordsTotal: 0 };
  readonly #results: ProbeResults;

  constructor(
    deps: ProbeThreadDeps,
    opts: Partial<PingSchedulerOptions> = {},
    popts: Partial<ProbeThreadOptions> = {},
  ) {
    this.#opts = { ...defaultPingSchedulerOptions, ...opts };
    validatePingSchedulerOptions(this.#opts);
    this.#deps = deps;
    this.#popts = { ...defaultProbeThreadOptions, ...popts };
    this.#log = deps.logger.child({ stage: 'schedule', thread: 'probe' });
    this.#results = new ProbeResults(deps, this.#log);
  }

  /** Devices with a schedule. */
  get size(): number {
    return this.#roster.size;
  }

  /** True when `ip` has a schedule. */
  has(ip: string): boolean {
    return this.#roster.has(ip);
  }

  /** Scheduled IPs, in the order they were (re)added. */
  ips(): IterableIterator<string> {
    return this.#roster.ips();
  }

  /** The device's next slot by its phase, ms since the epoch (the thread may be serving an earlier one). */
  nextSlotMs(ip: string): number | undefined {
    return this.#roster.nextSlotMs(ip, this.#opts.intervalMs, this.#deps.clock.now());
  }

  /** Current options (a copy). */
  get options(): PingSchedulerOptions {
    return { ...this.#opts };
  }

  /** The proxy's counters (threads started and crashed, batches and records received). */
  counters(): ProbeThreadCounters {
    return { ...this.#counters };
  }

  /** The thread's ICMP engine counters and sockets, from the latest snapshot. */
  engineFigures(): { stats: IcmpPingerStats | undefined; sockets: readonly IcmpSocketInfo[] } {
    return {
      stats: withEndedEngines(this.#endedEngine, this.#snapshot?.engine),
      sockets: this.#snapshot?.sockets ?? [],
    };
  }

  /** Starts the thread and its scheduler; `signal` aborting stops it. Idempotent. */
  start(signal?: AbortSignal): void {
    if (this.#running || this.#stopping) return;
    this.#running = true;
    if (signal !== undefined) {
      const onAbort = (): void => {
        this.stop().catch((err: unknown) => this.#log.error({ err }, 'probe thread stop failed'));
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.#removeAbortListener = () => signal.removeEventListener('abort', onAbort);
    }
    this.#spawn();
  }

  /** Stops the scheduler, waits for its last results and for the thread to exit. Idempotent; safe before start(). */
  stop(): Promise<void> {
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  /** Gives `ip` a schedule; with `opts.intervalMs`, its own interval (as {@link setDeviceInterval}). */
  add(ip: string, opts: AddDeviceOptions = {}): void {
    if (this.#stopping) return;
    if (opts.intervalMs !== undefined) this.setDeviceInterval(ip, opts.intervalMs);
    if (!this.#roster.add(ip)) return;
    if (this.#port !== undefined) this.#queue(this.#addCommand(ip));
  }

  /**
   * Gives `ip` an interval of its own, ms, or with undefined returns it to the global one; kept for
   * the address whether or not it is scheduled now (the thread keeps it the same way).
   */
  setDeviceInterval(ip: string, intervalMs: number | undefined): void {
    // Checked here, as the scheduler checks it: in the thread a throw would lose the rest of the command batch.
    checkOwnInterval(ip, intervalMs);
    if (!this.#roster.setOwnInterval(ip, intervalMs)) return;
    if (this.#port !== undefined) this.#queue({ c: 'interval', ip, intervalMs: intervalMs ?? null });
  }

  /** Ends `ip`'s schedule. */
  remove(ip: string): void {
    if (!this.#roster.remove(ip)) return;
    if (this.#port !== undefined) {
      this.#results.removalSent(ip);
      this.#queue({ c: 'remove', ip });
    } else this.#results.removedNow(ip);
  }

  /** Applies new options at runtime; invalid ones throw here, before the thread sees them. */
  reconfigure(opts: Partial<PingSchedulerOptions>): void {
    const next = { ...this.#opts, ...opts };
    validatePingSchedulerOptions(next);
    this.#opts = next;
    if (this.#port !== undefined) this.#queue({ c: 'reconfigure', opts });
  }

  /** Counters and gauges for /health, from the thread's latest snapshot. */
  stats(): PingSchedulerStats {
    const counted = withEndedThreads(this.#ended, this.#snapshot?.scheduler ?? zeroSchedulerStats(this.#opts));
    // Slots that passed while no thread ran were missed too.
    const { intervalMs, ratePerSec } = this.#opts;
    const now = this.#deps.clock.now();
    const s = {
      ...counted,
      missedSlotsTotal: counted.missedSlotsTotal + this.#roster.missedWhileDown(now, intervalMs),
    };
    const { own, perSec } = this.#roster.expectedLoad(intervalMs);
    const rateLimited = perSec > ratePerSec;
    return {
      ...s,
      devicesScheduled: this.#roster.size,
      intervalMs,
      ownIntervalDevices: own,
      expectedPingsPerSec: perSec,
      effectiveIntervalMs: rateLimited ? Math.ceil((intervalMs * perSec) / ratePerSec) : intervalMs,
      rateLimited,
      pointsDroppedTotal: s.pointsDroppedTotal + this.#results.drops,
      sinkErrorsTotal: s.sinkErrorsTotal + this.#results.sinkErrors,
    };
  }

  /** Why `/health` cannot be `healthy` on the probe thread's account: none running after a crash. */
  downReasons(): string[] {
    const downMs = this.#roster.downForMs(this.#deps.clock.now());
    if (downMs === undefined) return [];
    const s = Math.round(downMs / 1000);
    return [
      `probe thread is down for ${s} s after ${this.#counters.crashesTotal} crash(es); nothing is pinged until it restarts`,
    ];
  }

  /** Fresh stats: waits until the thread has applied everything sent so far and answered. */
  async refresh(): Promise<PingSchedulerStats> {
    if (this.#port !== undefined && !this.#stopping) {
      const id = ++this.#statsId;
      const answered = new Promise<void>((resolve) => this.#waiters.push({ id, resolve }));
      this.#queue({ c: 'stats', id });
      await answered;
    }
    return this.stats();
  }

  /** The send-lag figures of the latest snapshot, then starts a new interval (in the thread too). */
  takeInterval(): IntervalSendLag {
    const s = this.#snapshot;
    const out = s?.scheduler.interval ?? { sends: 0, sendLagP99Ms: Number.NaN, sendLagMaxMs: Number.NaN };
    if (s !== undefined)
      this.#snapshot = {
        ...s,
        scheduler: { ...s.scheduler, interval: { sends: 0, sendLagP99Ms: Number.NaN, sendLagMaxMs: Number.NaN } },
      };
    if (this.#port !== undefined) this.#queue({ c: 'takeInterval' });
    return out;
  }

  /**
   * Closes the send-lag interval in the thread itself and answers what it held: every send falls
   * in exactly one interval (takeInterval answers from a snapshot up to statsEveryMs old, and the
   * sends after it are left out). Without a running thread, as takeInterval.
   */
  async takeIntervalExact(): Promise<IntervalSendLag> {
    if (this.#port === undefined || this.#stopping) return this.takeInterval();
    this.#queue({ c: 'takeInterval' });
    await this.refresh();
    const out = this.#taken ?? { sends: 0, sendLagP99Ms: Number.NaN, sendLagMaxMs: Number.NaN };
    this.#taken = undefined;
    return out;
  }

  /** Starts counting the devices that miss a slot afresh. */
  resetMissedDevices(): void {
    const s = this.#snapshot;
    if (s !== undefined) this.#snapshot = { ...s, scheduler: { ...s.scheduler, devicesMissed: 0 } };
    if (this.#port !== undefined) this.#queue({ c: 'resetMissed' });
  }

  #addCommand(ip: string): ProbeCommand {
    // A store that cannot say starts the thread's copy closed (logged, counted as a state error).
    const b = this.#results.storeBreaker(ip);
    const applied = this.#results.breakerApplied;
    return { c: 'add', ip, fails: b?.consecutiveFails ?? 0, untilMs: b?.suspendedUntilMs ?? 0, applied };
  }

  #queue(cmd: ProbeCommand): void {
    this.#pending.push(cmd);
    if (this.#flushQueued) return;
    this.#flushQueued = true;
    queueMicrotask(() => this.#flushCommands());
  }

  #flushCommands(): void {
    this.#flushQueued = false;
    if (this.#pending.length === 0 || this.#port === undefined) return;
    const cmds = this.#pending;
    this.#pending = [];
    this.#port.post(cmds);
  }

  #spawn(): void {
    this.#restartTimer = undefined;
    if (this.#stopping) return;
    this.#decoder = new ResultDecoder();
    this.#results.breakerApplied = 0;
    this.#pending = [];
    this.#failure = undefined;
    this.#counters.spawnsTotal++;
    this.#spawnedAtMs = this.#deps.clock.now();
    const self: { port?: ProbeThreadPort } = {};
    let exited!: () => void;
    this.#exited = new Promise<void>((resolve) => {
      exited = resolve;
    });
    const events: ProbeThreadEvents = {
      message: (m) => {
        if (this.#port === self.port) this.#onMessage(m);
      },
      exit: (code, err) => {
        exited();
        if (this.#port === self.port) this.#onExit(code, err);
      },
    };
    self.port = this.#deps.spawn(
      {
        options: this.#opts,
        logLevel: this.#popts.logLevel,
        flushEveryMs: this.#popts.flushEveryMs,
        niceness: this.#popts.niceness,
      },
      events,
    );
    this.#port = self.port;
    for (const [ip, intervalMs] of this.#roster.ownIntervals()) this.#pending.push({ c: 'interval', ip, intervalMs });
    for (const ip of this.#roster.ips()) this.#pending.push(this.#addCommand(ip));
    this.#queue({ c: 'start' });
    this.#log.info({ count: this.#roster.size, spawns: this.#counters.spawnsTotal }, 'probe thread started');
  }

  #onMessage(m: FromProbeThread): void {
    this.#roster.up(this.#deps.clock.now(), this.#opts.intervalMs);
    if (m.t === 'failed') {
      this.#failure = `${m.code}: ${m.message}`;
      return;
    }
    if (m.batch !== undefined) {
      this.#counters.batchesTotal++;
      this.#counters.recordsTotal += m.batch.records;
      try {
        this.#decoder.decode(m.batch, this.#results.handler);
      } catch (err) {
        this.#log.error({ err }, 'probe thread batch could not be read; its remaining records are lost');
      }
    }
    if (m.stats !== undefined) this.#snapshot = m.stats;
    if (m.taken !== undefined) this.#taken = mergeIntervalSendLag(this.#taken, m.taken);
    while (this.#waiters.length > 0 && this.#waiters[0]!.id <= m.answered) this.#waiters.shift()!.resolve();
    if (m.stopped) this.#stopped?.();
  }

  #onExit(code: number, err: unknown): void {
    this.#port = undefined;
    for (const w of this.#waiters.splice(0)) w.resolve();
    if (this.#stopping) {
      this.#stopped?.();
      return;
    }
    // Removals the thread never answered: told here, as the scheduler on the main thread would have.
    this.#results.threadEnded();
    // The next thread counts from 0: what this one counted (as of its last snapshot) carries over.
    const last = this.#snapshot;
    if (last !== undefined) {
      this.#ended = withEndedThreads(this.#ended, last.scheduler);
      this.#endedEngine = withEndedEngines(this.#endedEngine, last.engine);
      this.#snapshot = { ...last, scheduler: zeroSchedulerStats(this.#opts), engine: undefined, sockets: [] };
    }
    this.#counters.crashesTotal++;
    // A thread answers at once after it starts, so an answer proves nothing: only a long run ends a crash loop.
    if (this.#deps.clock.now() - this.#spawnedAtMs >= MAX_RESTART_DELAY_MS) this.#consecutiveCrashes = 0;
    this.#consecutiveCrashes++;
    this.#roster.down(this.#deps.clock.now());
    const delayMs = Math.min(
      MAX_RESTART_DELAY_MS,
      this.#popts.restartDelayMs * 2 ** Math.min(16, this.#consecutiveCrashes - 1),
    );
    this.#log.error(
      {
        exit_code: code,
        err: err === undefined ? this.#failure : errorMessage(err),
        crashes: this.#counters.crashesTotal,
        restart_in_ms: delayMs,
      },
      'probe thread ended unexpectedly; probes in flight and open summary windows are lost; restarting it',
    );
    this.#restartTimer = this.#deps.clock.setTimeout(() => this.#spawn(), delayMs);
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#running = false;
    this.#removeAbortListener?.();
    this.#restartTimer?.cancel();
    const port = this.#port;
    if (port === undefined) return;
    const done = new Promise<void>((resolve) => {
      this.#stopped = resolve;
    });
    this.#flushCommands();
    port.post([{ c: 'stop' }]);
    const giveUp = new AbortController();
    const boundMs = this.#opts.timeoutMs + 5000;
    const inTime = await Promise.race([
      done.then(() => true),
      this.#deps.clock.sleep(boundMs, giveUp.signal).then(
        () => false,
        () => false,
      ),
    ]);
    giveUp.abort();
    if (!inTime) this.#log.warn({ duration_ms: boundMs }, 'probe thread did not stop in time; terminating it');
    // The thread closes its sockets and exits by itself after its last batch; a short wait, then terminate.
    const exitWait = new AbortController();
    const exited = await Promise.race([
      this.#exited.then(() => true),
      this.#deps.clock.sleep(inTime ? 2000 : 0, exitWait.signal).then(
        () => false,
        () => false,
      ),
    ]);
    exitWait.abort();
    this.#port = undefined;
    if (!exited) await port.terminate();
    this.#log.info(
      { spawns: this.#counters.spawnsTotal, crashes: this.#counters.crashesTotal },
      'probe thread stopped',
    );
  }
}
