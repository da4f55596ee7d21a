import type { Clock } from '../clock/clock.js';
import type { Logger } from '../log/log.js';
import type { PingOutcome, Pinger } from '../model/ping.js';
import type { PointSink } from '../model/point.js';
import { suspendedPingPoint } from '../model/points.js';
import { PingBreaker, type PingBreakerState } from './breaker.js';
import { GuardedSink } from './guarded-sink.js';
import { defaultPingSchedulerOptions, validatePingSchedulerOptions, type PingSchedulerOptions } from './options.js';
import { OwnIntervals } from './own-intervals.js';
import { phaseMs, slotAfter } from './phase.js';
import { ProbeRunner, type ProbeDevice } from './probe-runner.js';
import { SlotPacer, type PacedDevice, type PingLoad } from './slot-pacer.js';
import { EventLoopStallMonitor, type StallMonitor } from './stall-monitor.js';
import type { IntervalSendLag, PingSchedulerStats } from './stats.js';
import { SummaryWindows, type WindowedDevice } from './summary-windows.js';
import { limitedErrorLog, type LimitedErrorLog } from '../log/log-limiter.js';

/** Shortest time between two error lines of one kind, ms: a broken dependency cannot flood the log. */
const ERROR_LOG_EVERY_MS = 60_000;

export type { PingBreakerState } from './breaker.js';
export { defaultPingSchedulerOptions, type PingSchedulerOptions } from './options.js';
export type { IntervalSendLag, PingSchedulerStats } from './stats.js';

/** Collaborators of {@link PingScheduler}. */
export interface PingSchedulerDeps {
  /** Time source for slots, pacing and timestamps. */
  clock: Clock;
  /** The ICMP engine. */
  pinger: Pinger;
  /** Where `ping` and `ping_summary` points go (the writer). */
  sink: PointSink;
  /** The ping breaker kept by the state manager. */
  state: PingBreakerState;
  /** Parent logger; the scheduler logs under `stage: schedule`. */
  logger: Logger;
  /** Stall detector; default an {@link EventLoopStallMonitor} on `clock`. The scheduler starts and stops it. */
  stallMonitor?: StallMonitor;
  /** Told what is recorded per device (the per-device Prometheus series); absent = nobody. */
  observer?: ProbeObserver | undefined;
}

/** Receives the scheduler's per-device record as it is made. */
export interface ProbeObserver {
  /** A probe of a still-monitored device settled (after the `agent_overloaded` reclassification). */
  probed(outcome: PingOutcome): void;
  /** A slot of `ip` passed while its ping breaker was open. */
  suspended(ip: string): void;
  /** `ip` lost its schedule; nothing more is reported for it until it is added again. */
  removed(ip: string): void;
}

/** One device's schedule: its slots (the pacer's part), its summary window, and the probe in flight. */
interface Entry extends PacedDevice, WindowedDevice, ProbeDevice {
  readonly ip: string;
  /** In the heap at a token-granted send time rather than at a slot. */
  paced: boolean;
  /** A probe is outstanding. */
  inFlight: boolean;
  /** remove() was called while a probe was in flight; the entry goes when the probe settles. */
  removed: boolean;
  /** The missed-devices generation in which this device last missed a slot (see resetMissedDevices). */
  missGen: number;
  /** Mutable here: setDeviceInterval changes it. */
  ownIntervalMs: number | undefined;
}

/** Options of {@link PingScheduler.add}. */
export interface AddDeviceOptions {
  /** The device's own interval, ms (at least 1); absent = as set by setDeviceInterval, else the global one. */
  intervalMs?: number | undefined;
}

/**
 * Pings every monitored device on its own fixed-phase schedule, with one timer for all of them.
 *
 * Each device has a phase = hash(ip) mod interval (its own interval, else the global one) and is
 * due at phase + k * interval (wall-clock ms), computed from the schedule, never from when the
 * last probe fired; the {@link SlotPacer} keeps every device in one heap under one timer. At its slot a device either writes a suspended
 * point (breaker open, no probe), skips the tick (previous probe still in flight; counted, never
 * queued), or takes a token from the global bucket and probes ({@link ProbeRunner}). Every probe becomes a `ping` point
 * and feeds the device's `ping_summary` window ({@link SummaryWindows}); failures feed the
 * breaker ({@link PingBreaker}) unless an agent stall makes them `agent_overloaded`.
 *
 * Exactly one schedule per device: add() of a present IP is a no-op, and an IP removed while its
 * probe is in flight keeps its entry (marked removed) until the probe settles, so a quick re-add
 * revives that entry instead of starting a second one (the Go stop/start race, docs/go-parity.md).
 */
export class PingScheduler {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #errors: LimitedErrorLog;
  readonly #stalls: StallMonitor;
  readonly #sink: GuardedSink;
  readonly #observer: ProbeObserver | undefined;
  readonly #breaker: PingBreaker;
  readonly #pacer: SlotPacer<Entry>;
  readonly #windows: SummaryWindows;
  readonly #probes: ProbeRunner<Entry>;
  #opts: PingSchedulerOptions;
  /** Scheduled devices. */
  readonly #entries = new Map<string, Entry>();
  /** Devices removed while their probe was in flight; they leave when it settles, or return on add(). */
  readonly #draining = new Map<string, Entry>();
  /** Devices with an interval of their own. */
  readonly #own = new OwnIntervals();
  #running = false;
  #stopping = false;
  #stopPromise: Promise<void> | undefined;
  #removeAbortListener: (() => void) | undefined;
  #skipped = 0;
  #suspendedTicks = 0;
  #missGen = 1;
  #devicesMissed = 0;

  constructor(deps: PingSchedulerDeps, opts: Partial<PingSchedulerOptions> = {}) {
    this.#opts = { ...defaultPingSchedulerOptions, ...opts };
    validatePingSchedulerOptions(this.#opts);
    this.#clock = deps.clock;
    this.#log = deps.logger.child({ stage: 'schedule' });
    this.#errors = limitedErrorLog(this.#log, () => deps.clock.now(), ERROR_LOG_EVERY_MS);
    this.#stalls = deps.stallMonitor ?? new EventLoopStallMonitor({ clock: deps.clock });
    this.#sink = new GuardedSink(deps.sink, this.#errors);
    this.#observer = deps.observer;
    this.#breaker = new PingBreaker({ state: deps.state, log: this.#log, errors: this.#errors }, this.#opts);
    this.#windows = new SummaryWindows(
      { clock: deps.clock, write: (p) => this.#sink.write(p), devices: () => this.#entries.values() },
      this.#opts,
    );
    this.#probes = new ProbeRunner<Entry>(
      {
        clock: deps.clock,
        pinger: deps.pinger,
        log: this.#log,
        errors: this.#errors,
        sink: this.#sink,
        breaker: this.#breaker,
        windows: this.#windows,
        stalls: this.#stalls,
        probed: (outcome) => this.#observer?.probed(outcome),
        finalize: (e) => this.#finalize(e),
      },
      this.#opts,
    );
    this.#pacer = new SlotPacer<Entry>(
      {
        clock: deps.clock,
        log: this.#log,
        errors: this.#errors,
        serve: (e, now) => this.#serve(e, now),
        load: () => this.#load(),
        onClockJump: () => this.#windows.rearm(),
        onMissed: (e, afterSlotMs, count) => this.#onMissed(e, afterSlotMs, count),
      },
      this.#opts,
    );
  }

  /** Devices with a schedule. */
  get size(): number {
    return this.#entries.size;
  }

  /** True when `ip` has a schedule. */
  has(ip: string): boolean {
    return this.#entries.has(ip);
  }

  /** Scheduled IPs, in the order they were (re)added. */
  ips(): IterableIterator<string> {
    return this.#entries.keys();
  }

  /** The device's next slot (or, while it waits for a token, the slot being served), ms since the epoch. */
  nextSlotMs(ip: string): number | undefined {
    return this.#entries.get(ip)?.slotMs;
  }

  /** The interval `ip` is (or, once scheduled, will be) pinged at, ms: its own, else the global one. */
  intervalMsOf(ip: string): number {
    return this.#own.get(ip) ?? this.#opts.intervalMs;
  }

  /** Current options (a copy). */
  get options(): PingSchedulerOptions {
    return { ...this.#opts };
  }

  /** Starts serving slots; `signal` aborting stops the scheduler. Idempotent. */
  start(signal?: AbortSignal): void {
    if (this.#running || this.#stopping) return;
    this.#running = true;
    if (signal !== undefined) {
      const onAbort = (): void => {
        this.stop().catch((err: unknown) => this.#log.error({ err }, 'ping scheduler stop failed'));
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      this.#removeAbortListener = () => signal.removeEventListener('abort', onAbort);
    }
    this.#stalls.start();
    this.#pacer.start();
    this.#windows.start();
    this.#pacer.checkRate();
    this.#log.info(
      {
        interval_ms: this.#opts.intervalMs,
        timeout_ms: this.#opts.timeoutMs,
        rate_limit: this.#opts.ratePerSec,
        burst_limit: this.#opts.burst,
        count: this.#entries.size,
      },
      'ping scheduler started',
    );
  }

  /**
   * Stops serving slots, aborts probes in flight (their results are discarded), waits for them
   * (at most timeout + 1 s), writes the open summary windows. Idempotent; safe before start().
   */
  stop(): Promise<void> {
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  /**
   * Gives `ip` a schedule; with `opts.intervalMs`, its own interval (as {@link setDeviceInterval}).
   * Adding a scheduled device only applies that interval. Its first slot is at most one interval away.
   */
  add(ip: string, opts: AddDeviceOptions = {}): void {
    if (this.#stopping) return;
    if (opts.intervalMs !== undefined) this.setDeviceInterval(ip, opts.intervalMs);
    if (this.#entries.has(ip)) return;
    const now = this.#clock.now();
    const own = this.#own.get(ip);
    const intervalMs = own ?? this.#opts.intervalMs;
    const phase = phaseMs(ip, intervalMs);
    const slotMs = slotAfter(phase, intervalMs, now - 1);
    let e = this.#draining.get(ip);
    if (e !== undefined) {
      // Re-added while its previous probe is still in flight: revive the same entry.
      this.#draining.delete(ip);
      e.removed = false;
      e.ownIntervalMs = own;
      e.phase = phase;
      e.slotMs = slotMs;
      e.summaryOffset = this.#windows.offsetFor(ip);
    } else {
      e = {
        ip,
        phase,
        slotMs,
        paced: false,
        inFlight: false,
        removed: false,
        summary: -1,
        summaryOffset: this.#windows.offsetFor(ip),
        probeSlotMs: 0,
        probeDispatchMs: 0,
        probeGen: 0,
        missGen: 0,
        ownIntervalMs: own,
        dueMs: slotMs,
        seq: 0,
        heapIndex: -1,
      };
    }
    this.#entries.set(ip, e);
    this.#own.count(own, 1);
    this.#pacer.add(e);
    this.#pacer.checkRate();
  }

  /**
   * Gives `ip` an interval of its own, ms, or with undefined returns it to the global one; kept for
   * the address whether or not it is scheduled now. A scheduled device whose interval changes is
   * re-phased to hash(ip) mod its new interval and takes its first new slot from now.
   */
  setDeviceInterval(ip: string, intervalMs: number | undefined): void {
    if (!this.#own.set(ip, intervalMs)) return;
    const scheduled = this.#entries.get(ip);
    const e = scheduled ?? this.#draining.get(ip);
    if (e === undefined) return;
    if (scheduled) this.#own.count(e.ownIntervalMs, -1);
    e.ownIntervalMs = intervalMs;
    if (scheduled) this.#own.count(intervalMs, 1);
    this.#pacer.rephase(e);
    this.#log.debug({ ip, interval_ms: this.#pacer.intervalOf(e) }, 'device interval changed');
    this.#pacer.checkRate();
  }

  /** Ends `ip`'s schedule; a probe in flight finishes and is recorded, then the entry goes. */
  remove(ip: string): void {
    const e = this.#entries.get(ip);
    if (e === undefined) return;
    this.#entries.delete(ip);
    this.#own.count(e.ownIntervalMs, -1);
    this.#pacer.remove(e);
    this.#observer?.removed(ip);
    if (e.inFlight) {
      e.removed = true;
      this.#draining.set(ip, e);
      // A removed entry is never served again, so the hung-probe check of #serve cannot reach it.
      const gen = e.probeGen;
      const giveUpAt = e.probeDispatchMs + this.#probes.hungAfterMs();
      this.#clock.setTimeout(
        () => {
          if (this.#draining.get(ip) === e && e.inFlight && e.probeGen === gen && !this.#stopping)
            this.#probes.abandon(e);
        },
        Math.max(0, giveUpAt - this.#clock.now()),
      );
    } else {
      this.#windows.release(e);
    }
    this.#pacer.checkRate();
  }

  /**
   * Applies new options at runtime (config reload). A new interval re-phases every device without
   * an interval of its own; the others, and every device when the interval is unchanged, keep their phase. Rate and burst apply to the next token. A new
   * summary interval closes the open windows first.
   */
  reconfigure(opts: Partial<PingSchedulerOptions>): void {
    const next = { ...this.#opts, ...opts };
    validatePingSchedulerOptions(next);
    this.#opts = next;
    this.#breaker.configure(next);
    this.#probes.configure(next);
    this.#pacer.reconfigure(next, this.#draining.values());
    this.#windows.reconfigure(next, [...this.#entries.values(), ...this.#draining.values()]);
    this.#log.info(
      { interval_ms: next.intervalMs, rate_limit: next.ratePerSec, burst_limit: next.burst },
      'ping scheduler reconfigured',
    );
  }

  /** Counters and gauges for /health. */
  stats(): PingSchedulerStats {
    const { intervalMs, ratePerSec } = this.#opts;
    const load = this.#load();
    const rateLimited = load.perSec > ratePerSec;
    const probes = this.#probes;
    const failuresByReason = probes.failuresByReason;
    return {
      devicesScheduled: this.#entries.size,
      ownIntervalDevices: load.ownInterval,
      intervalMs,
      expectedPingsPerSec: load.perSec,
      effectiveIntervalMs: rateLimited ? Math.ceil((intervalMs * load.perSec) / ratePerSec) : intervalMs,
      rateLimited,
      pingsSentTotal: probes.sentTotal,
      inFlight: probes.inFlight,
      repliesTotal: probes.repliesTotal,
      failuresByReason,
      overloadedTotal: failuresByReason.agent_overloaded,
      skippedTicksTotal: this.#skipped,
      missedSlotsTotal: this.#pacer.missedSlotsTotal,
      suspendedTicksTotal: this.#suspendedTicks,
      breakerTripsTotal: this.#breaker.tripsTotal,
      sendLagP50Ms: probes.lagQuantile(0.5),
      sendLagP99Ms: probes.lagQuantile(0.99),
      sendLagMaxMs: probes.lagMax(),
      lateSendsTotal: probes.lateSendsTotal,
      pointsWrittenTotal: this.#sink.writtenTotal,
      pointsDroppedTotal: this.#sink.droppedTotal,
      summariesWrittenTotal: this.#windows.writtenTotal,
      sinkErrorsTotal: this.#sink.errorsTotal,
      hungProbesTotal: probes.hungTotal,
      stalls: this.#stalls.stats(),
      interval: probes.intervalFigures(),
      devicesMissed: this.#devicesMissed,
    };
  }

  /** The send-lag figures since the previous call (see {@link PingSchedulerStats.interval}), then starts a new interval. */
  takeInterval(): IntervalSendLag {
    return this.#probes.takeInterval();
  }

  /** Starts counting the devices that miss a slot afresh (`devicesMissed` becomes 0). */
  resetMissedDevices(): void {
    this.#missGen++;
    this.#devicesMissed = 0;
  }

  #load(): PingLoad {
    return this.#own.load(this.#entries.size, this.#opts.intervalMs);
  }

  #onMissed(e: Entry, afterSlotMs: number, count: number): void {
    if (e.missGen !== this.#missGen) {
      e.missGen = this.#missGen;
      this.#devicesMissed++;
    }
    this.#windows.recordMissed(e, afterSlotMs, count);
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#running = false;
    this.#removeAbortListener?.();
    this.#pacer.stop();
    this.#windows.stop();
    await this.#probes.stop();
    for (const map of [this.#entries, this.#draining]) for (const e of map.values()) this.#windows.flush(e);
    this.#stalls.stop();
    this.#log.info({ pings_sent_total: this.#probes.sentTotal }, 'ping scheduler stopped');
  }

  /** Serves `e`, popped from the heap at its slot (or at its token-granted send time while paced). */
  #serve(e: Entry, now: number): void {
    if (e.paced) {
      e.paced = false;
      this.#dispatch(e, e.slotMs, now);
      return;
    }
    const slot = e.slotMs;
    if (e.inFlight) {
      if (now - e.probeDispatchMs <= this.#probes.hungAfterMs()) {
        this.#skipped++;
        this.#windows.recordSkipped(e, slot);
        this.#pacer.reschedule(e, slot, now);
        return;
      }
      this.#probes.abandon(e);
    }
    if (this.#breaker.isSuspended(e.ip)) {
      this.#suspendedTicks++;
      this.#pacer.reschedule(e, slot, now);
      if (this.#opts.rawPoints) this.#sink.write(suspendedPingPoint(e.ip, slot, this.#opts.failedRttZero));
      this.#windows.recordSuspended(e, slot);
      this.#observer?.suspended(e.ip);
      return;
    }
    if (this.#pacer.takeToken(e, now)) this.#dispatch(e, slot, now);
  }

  /** Sends the probe for `slot`; the next slot is in the heap before the pinger is called. */
  #dispatch(e: Entry, slot: number, now: number): void {
    this.#pacer.reschedule(e, slot, now);
    this.#probes.dispatch(e, slot, now);
  }

  /** A removed device's last probe settled: it leaves for good. */
  #finalize(e: Entry): void {
    if (this.#draining.get(e.ip) === e) this.#draining.delete(e.ip);
    this.#windows.release(e);
  }
}
