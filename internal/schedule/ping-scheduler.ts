import { setMaxListeners } from 'node:events';
import type { Clock } from '../clock/clock.js';
import { errorMessage, hasCode } from '../errors/errors.js';
import type { Logger } from '../log/log.js';
import type { PingFailureReason, PingOutcome, Pinger } from '../model/ping.js';
import type { PointSink } from '../model/point.js';
import { pingPoint, suspendedPingPoint } from '../model/points.js';
import { PingBreaker, type PingBreakerState } from './breaker.js';
import { GuardedSink } from './guarded-sink.js';
import { defaultPingSchedulerOptions, validatePingSchedulerOptions, type PingSchedulerOptions } from './options.js';
import { phaseMs, slotAfter } from './phase.js';
import { RecentSamples } from './quantile.js';
import { SlotPacer, type PacedDevice } from './slot-pacer.js';
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
interface Entry extends PacedDevice, WindowedDevice {
  readonly ip: string;
  /** In the heap at a token-granted send time rather than at a slot. */
  paced: boolean;
  /** A probe is outstanding. */
  inFlight: boolean;
  /** remove() was called while a probe was in flight; the entry goes when the probe settles. */
  removed: boolean;
  /** Slot served by the probe in flight. */
  probeSlotMs: number;
  /** When the probe in flight was handed to the pinger, ms since the epoch. */
  probeDispatchMs: number;
  /** Generation of the latest probe; a settlement carrying an older one (an abandoned probe) is ignored. */
  probeGen: number;
  /** The missed-devices generation in which this device last missed a slot (see resetMissedDevices). */
  missGen: number;
}

/** True for a PingOutcome about `ip` (a fulfilment), false for anything else (a rejection reason). */
function isOutcome(v: unknown, ip: string): v is PingOutcome {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { ok?: unknown }).ok === 'boolean' &&
    (v as { ip?: unknown }).ip === ip
  );
}

/**
 * Pings every monitored device on its own fixed-phase schedule, with one timer for all of them.
 *
 * Each device has a phase = hash(ip) mod interval and is due at phase + k * interval (wall-clock
 * ms), computed from the schedule, never from when the last probe fired; the {@link SlotPacer}
 * keeps every device in one heap under one timer. At its slot a device either writes a suspended
 * point (breaker open, no probe), skips the tick (previous probe still in flight; counted, never
 * queued), or takes a token from the global bucket and probes. Every probe becomes a `ping` point
 * and feeds the device's `ping_summary` window ({@link SummaryWindows}); failures feed the
 * breaker ({@link PingBreaker}) unless an agent stall makes them `agent_overloaded`.
 *
 * Exactly one schedule per device: add() of a present IP is a no-op, and an IP removed while its
 * probe is in flight keeps its entry (marked removed) until the probe settles, so a quick re-add
 * revives that entry instead of starting a second one (the Go stop/start race, docs/go-parity.md).
 */
export class PingScheduler {
  readonly #clock: Clock;
  readonly #pinger: Pinger;
  readonly #log: Logger;
  readonly #errors: LimitedErrorLog;
  readonly #stalls: StallMonitor;
  readonly #sink: GuardedSink;
  readonly #observer: ProbeObserver | undefined;
  readonly #breaker: PingBreaker;
  readonly #pacer: SlotPacer<Entry>;
  readonly #windows: SummaryWindows;
  #opts: PingSchedulerOptions;
  /** Scheduled devices. */
  readonly #entries = new Map<string, Entry>();
  /** Devices removed while their probe was in flight; they leave when it settles, or return on add(). */
  readonly #draining = new Map<string, Entry>();
  readonly #abort = new AbortController();
  readonly #lags = new RecentSamples(8192);
  #running = false;
  #stopping = false;
  #stopPromise: Promise<void> | undefined;
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #removeAbortListener: (() => void) | undefined;
  #sent = 0;
  #replies = 0;
  #failures: Record<PingFailureReason, number> = {
    timeout: 0,
    unreachable: 0,
    send_error: 0,
    agent_overloaded: 0,
    agent_error: 0,
    dns: 0,
  };
  #skipped = 0;
  #suspendedTicks = 0;
  #lateSends = 0;
  #hung = 0;
  /** Send lags since the last takeInterval(). */
  readonly #intervalLags = new RecentSamples(8192);
  #intervalLagMaxMs = Number.NaN;
  #missGen = 1;
  #devicesMissed = 0;

  constructor(deps: PingSchedulerDeps, opts: Partial<PingSchedulerOptions> = {}) {
    this.#opts = { ...defaultPingSchedulerOptions, ...opts };
    validatePingSchedulerOptions(this.#opts);
    this.#clock = deps.clock;
    this.#pinger = deps.pinger;
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
    this.#pacer = new SlotPacer<Entry>(
      {
        clock: deps.clock,
        log: this.#log,
        errors: this.#errors,
        serve: (e, now) => this.#serve(e, now),
        deviceCount: () => this.#entries.size,
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

  /** Current options (a copy). */
  get options(): PingSchedulerOptions {
    return { ...this.#opts };
  }

  /** Starts serving slots; `signal` aborting stops the scheduler. Idempotent. */
  start(signal?: AbortSignal): void {
    if (this.#running || this.#stopping) return;
    this.#running = true;
    setMaxListeners(0, this.#abort.signal);
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

  /** Gives `ip` a schedule; a no-op when it has one. Its first slot is at most one interval away. */
  add(ip: string): void {
    if (this.#stopping) return;
    if (this.#entries.has(ip)) return;
    const now = this.#clock.now();
    const phase = phaseMs(ip, this.#opts.intervalMs);
    const slotMs = slotAfter(phase, this.#opts.intervalMs, now - 1);
    let e = this.#draining.get(ip);
    if (e !== undefined) {
      // Re-added while its previous probe is still in flight: revive the same entry.
      this.#draining.delete(ip);
      e.removed = false;
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
        dueMs: slotMs,
        seq: 0,
        heapIndex: -1,
      };
    }
    this.#entries.set(ip, e);
    this.#pacer.add(e);
    this.#pacer.checkRate();
  }

  /** Ends `ip`'s schedule; a probe in flight finishes and is recorded, then the entry goes. */
  remove(ip: string): void {
    const e = this.#entries.get(ip);
    if (e === undefined) return;
    this.#entries.delete(ip);
    this.#pacer.remove(e);
    this.#observer?.removed(ip);
    if (e.inFlight) {
      e.removed = true;
      this.#draining.set(ip, e);
      // A removed entry is never served again, so the hung-probe check of #serve cannot reach it.
      const gen = e.probeGen;
      const giveUpAt = e.probeDispatchMs + this.#hungAfterMs();
      this.#clock.setTimeout(
        () => {
          if (this.#draining.get(ip) === e && e.inFlight && e.probeGen === gen && !this.#stopping) this.#abandon(e);
        },
        Math.max(0, giveUpAt - this.#clock.now()),
      );
    } else {
      this.#windows.release(e);
    }
    this.#pacer.checkRate();
  }

  /**
   * Applies new options at runtime (config reload). A new interval re-phases every device; with the
   * interval unchanged devices keep their phase. Rate and burst apply to the next token. A new
   * summary interval closes the open windows first.
   */
  reconfigure(opts: Partial<PingSchedulerOptions>): void {
    const next = { ...this.#opts, ...opts };
    validatePingSchedulerOptions(next);
    this.#opts = next;
    this.#breaker.configure(next);
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
    const needMs = Math.ceil((this.#entries.size * 1000) / ratePerSec);
    return {
      devicesScheduled: this.#entries.size,
      intervalMs,
      effectiveIntervalMs: Math.max(intervalMs, needMs),
      rateLimited: needMs > intervalMs,
      pingsSentTotal: this.#sent,
      inFlight: this.#inFlight,
      repliesTotal: this.#replies,
      failuresByReason: { ...this.#failures },
      overloadedTotal: this.#failures.agent_overloaded,
      skippedTicksTotal: this.#skipped,
      missedSlotsTotal: this.#pacer.missedSlotsTotal,
      suspendedTicksTotal: this.#suspendedTicks,
      breakerTripsTotal: this.#breaker.tripsTotal,
      sendLagP50Ms: this.#lags.quantile(0.5),
      sendLagP99Ms: this.#lags.quantile(0.99),
      sendLagMaxMs: this.#lags.max(),
      lateSendsTotal: this.#lateSends,
      pointsWrittenTotal: this.#sink.writtenTotal,
      pointsDroppedTotal: this.#sink.droppedTotal,
      summariesWrittenTotal: this.#windows.writtenTotal,
      sinkErrorsTotal: this.#sink.errorsTotal,
      hungProbesTotal: this.#hung,
      stalls: this.#stalls.stats(),
      interval: this.#intervalFigures(),
      devicesMissed: this.#devicesMissed,
    };
  }

  /** The send-lag figures since the previous call (see {@link PingSchedulerStats.interval}), then starts a new interval. */
  takeInterval(): IntervalSendLag {
    const out = this.#intervalFigures();
    this.#intervalLags.clear();
    this.#intervalLagMaxMs = Number.NaN;
    return out;
  }

  /** Starts counting the devices that miss a slot afresh (`devicesMissed` becomes 0). */
  resetMissedDevices(): void {
    this.#missGen++;
    this.#devicesMissed = 0;
  }

  #intervalFigures(): IntervalSendLag {
    return {
      sends: this.#intervalLags.total,
      sendLagP99Ms: this.#intervalLags.quantile(0.99),
      sendLagMaxMs: this.#intervalLagMaxMs,
    };
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
    this.#abort.abort(new Error('ping scheduler stopped'));
    if (this.#inFlight > 0) {
      const giveUp = new AbortController();
      const drained = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      await Promise.race([
        drained,
        this.#clock.sleep(this.#opts.timeoutMs + 1000, giveUp.signal).catch(() => undefined),
      ]);
      giveUp.abort();
      if (this.#inFlight > 0)
        this.#log.warn(
          { count: this.#inFlight },
          'ping probes still in flight after stop; their results are discarded',
        );
    }
    for (const map of [this.#entries, this.#draining]) for (const e of map.values()) this.#windows.flush(e);
    this.#stalls.stop();
    this.#log.info({ pings_sent_total: this.#sent }, 'ping scheduler stopped');
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
      if (now - e.probeDispatchMs <= this.#hungAfterMs()) {
        this.#skipped++;
        this.#windows.recordSkipped(e, slot);
        this.#pacer.reschedule(e, slot, now);
        return;
      }
      this.#abandon(e);
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
    e.inFlight = true;
    e.probeSlotMs = slot;
    e.probeDispatchMs = now;
    const gen = ++e.probeGen;
    this.#inFlight++;
    this.#sent++;
    let p: Promise<PingOutcome>;
    try {
      p = this.#pinger.ping(e.ip, { timeoutMs: this.#opts.timeoutMs, signal: this.#abort.signal });
    } catch (err) {
      p = Promise.reject(err);
    }
    // One handler for both outcomes (it catches everything), so the derived promise never rejects.
    const settled = (v: unknown): void => this.#settle(e, gen, v);
    void p.then(settled, settled);
  }

  /**
   * The pinger never settled this probe (an engine bug): without this watchdog the device would
   * skip every slot forever, monitored in name only (the Go zombie pinger, docs/go-parity.md). Record an
   * agent_error (the host was never judged) and let the device be probed again; the late
   * settlement, if any, is ignored.
   */
  #abandon(e: Entry): void {
    this.#hung++;
    this.#errors.error(
      'hung',
      { ip: e.ip, count: this.#hung },
      'pinger never settled a probe; recorded as agent_error',
    );
    e.probeGen++;
    this.#complete(e, e.probeSlotMs, e.probeDispatchMs, {
      ok: false,
      ip: e.ip,
      reason: 'agent_error',
      sentAtMs: e.probeDispatchMs,
      detail: 'no result from the pinger',
    });
  }

  /**
   * Records a settled probe: `v` is the pinger's outcome, or what it rejected with. A Pinger never
   * rejects for network conditions (those are outcomes), so a rejection is the agent's fault, not
   * the host's: `agent_error`. A failed ICMP socket (ERR_ICMP_SOCKET) is logged by the engine;
   * anything else is logged here.
   */
  #settle(e: Entry, gen: number, v: unknown): void {
    if (gen !== e.probeGen) return;
    try {
      let o: PingOutcome;
      if (isOutcome(v, e.ip)) {
        o = v;
      } else {
        if (!hasCode(v, 'ERR_ICMP_SOCKET'))
          this.#errors.error('pinger', { err: v, ip: e.ip }, 'pinger rejected; recorded as agent_error');
        o = { ok: false, ip: e.ip, reason: 'agent_error', sentAtMs: e.probeDispatchMs, detail: errorMessage(v) };
      }
      this.#complete(e, e.probeSlotMs, e.probeDispatchMs, o);
    } catch (err) {
      this.#errors.error('complete', { err, ip: e.ip }, 'recording a ping result failed');
    }
  }

  /** Turns a probe's outcome into data: send-lag stats, the summary window, the breaker and a `ping` point. */
  #complete(e: Entry, slot: number, dispatchMs: number, o: PingOutcome): void {
    e.inFlight = false;
    this.#inFlight--;
    if (this.#stopping) {
      if (this.#inFlight === 0) this.#drained?.();
      return;
    }
    const now = this.#clock.now();
    const sentAt = Number.isFinite(o.sentAtMs) ? o.sentAtMs : dispatchMs;
    const lag = sentAt - slot;
    this.#lags.add(lag);
    this.#intervalLags.add(lag);
    if (!(lag <= this.#intervalLagMaxMs)) this.#intervalLagMaxMs = lag;
    if (lag > this.#opts.lateSendToleranceMs) this.#lateSends++;
    let result = o;
    if (o.ok) {
      this.#replies++;
      this.#windows.recordReply(e, slot, o.rttMs);
      this.#breaker.recordSuccess(e.ip);
    } else {
      let reason = o.reason;
      if (reason === 'timeout' && this.#overloaded(dispatchMs, sentAt, now)) {
        reason = 'agent_overloaded';
        result = { ...o, reason };
      }
      this.#failures[reason]++;
      if (reason === 'agent_overloaded' || reason === 'agent_error') {
        this.#windows.recordOverloaded(e, slot);
      } else {
        this.#windows.recordLoss(e, slot);
        this.#breaker.recordFailure(e.ip, reason);
      }
    }
    if (this.#opts.rawPoints)
      this.#sink.write(pingPoint(result, { timeMs: sentAt, failedRttZero: this.#opts.failedRttZero }));
    if (e.removed) this.#finalize(e);
    else this.#observer?.probed(result);
  }

  /** How long after dispatch a probe the pinger has not settled counts as hung: 2 × timeout + 1 s. */
  #hungAfterMs(): number {
    return 2 * this.#opts.timeoutMs + 1000;
  }

  #overloaded(dispatchMs: number, sentAtMs: number, nowMs: number): boolean {
    const t = this.#opts.overloadThresholdMs;
    return sentAtMs - dispatchMs >= t || this.#stalls.maxStallMs(dispatchMs, nowMs) >= t;
  }

  /** A removed device's last probe settled: it leaves for good. */
  #finalize(e: Entry): void {
    if (this.#draining.get(e.ip) === e) this.#draining.delete(e.ip);
    this.#windows.release(e);
  }
}
