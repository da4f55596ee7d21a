import { setMaxListeners } from 'node:events';
import { monoMs, type Clock, type TimerHandle } from '../clock/clock.js';
import { ConfigError, errorMessage, hasCode } from '../errors/errors.js';
import type { Logger } from '../log/log.js';
import type { PingFailureReason, PingOutcome, Pinger } from '../model/ping.js';
import type { Point, PointSink } from '../model/point.js';
import { TokenBucket } from '../ratelimit/token-bucket.js';
import { phaseMs, slotAfter, slotsBetween, summaryOffsetMs } from './phase.js';
import { pingPoint, suspendedPingPoint } from '../writer/points.js';
import { pingSummaryPoint } from './points.js';
import { RecentSamples } from './quantile.js';
import { SlotHeap, type HeapItem } from './slot-heap.js';
import { EventLoopStallMonitor, type StallMonitor, type StallStats } from './stall-monitor.js';
import { SummaryPool, xorshift32 } from './summary.js';

/** The slice of the state manager (internal/state DeviceStore) the scheduler needs: the ping breaker. */
export interface PingBreakerState {
  /** True while the device's ping breaker is open (now < suspendedUntil). */
  isPingSuspended(ip: string): boolean;
  /** A reply came back: refreshes last-seen, resets the failure count and closes the breaker. */
  recordPingSuccess(ip: string): void;
  /** A host-side failure; returns true when this failure opened the breaker. */
  recordPingFailure(ip: string, maxFails: number, backoffMs: number): boolean;
}

/** Tunables of {@link PingScheduler}; config keys in parentheses. */
export interface PingSchedulerOptions {
  /** Time between two probes of one device, ms (`ping_interval`). */
  intervalMs: number;
  /** How long a probe waits for its reply, ms (`ping_timeout`). */
  timeoutMs: number;
  /** Global monitoring send rate, probes per second; separate from the sweep's (`ping_rate_limit`). */
  ratePerSec: number;
  /** Token-bucket capacity, probes (`ping_burst_limit`). */
  burst: number;
  /** Consecutive host-side failures that open a device's breaker (`ping_max_consecutive_fails`). */
  maxConsecutiveFails: number;
  /** How long an open breaker suspends probing, ms (`ping_backoff_duration`). */
  backoffMs: number;
  /** Length of one `ping_summary` window, ms; 0 turns summaries off (`ping_summary_interval`). */
  summaryIntervalMs: number;
  /** Write one `ping` point per slot (`ping_raw_points`). */
  rawPoints: boolean;
  /**
   * A timed-out probe whose window overlapped an agent stall this long, or whose send lagged its
   * dispatch this long, is recorded as `agent_overloaded` instead of a failure, ms (`ping_overload_threshold`).
   */
  overloadThresholdMs: number;
  /**
   * Most RTT samples kept per device per summary window for p50/p95 (4 bytes each); the pool keeps
   * min(this, summary interval ÷ ping interval), so quantiles are exact.
   */
  summaryMaxSamples: number;
  /** A send later than this after its slot counts in `lateSendsTotal`, ms. */
  lateSendToleranceMs: number;
  /** Most slots served per timer callback before yielding to I/O. */
  maxDispatchPerTick: number;
  /** Disagreement between wall-clock and monotonic elapsed time that triggers a reschedule, ms. */
  clockJumpThresholdMs: number;
}

/**
 * Defaults. Interval, timeout, rate, burst, fails and backoff are the Go netscan defaults (docs/go-parity.md);
 * note that 64 probes/s serves only 128 devices at 2 s, which the scheduler reports (MANUAL.md, "Pacing").
 */
export const defaultPingSchedulerOptions: PingSchedulerOptions = {
  intervalMs: 2_000,
  timeoutMs: 3_000,
  ratePerSec: 64,
  burst: 256,
  maxConsecutiveFails: 10,
  backoffMs: 300_000,
  summaryIntervalMs: 60_000,
  rawPoints: true,
  overloadThresholdMs: 200,
  summaryMaxSamples: 120,
  lateSendToleranceMs: 50,
  maxDispatchPerTick: 2_000,
  clockJumpThresholdMs: 1_000,
};

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
}

/** Counters and gauges for /health and health_metrics. */
export interface PingSchedulerStats {
  /** Devices with a schedule. */
  readonly devicesScheduled: number;
  /** Configured interval, ms. */
  readonly intervalMs: number;
  /** Interval each device actually gets: max(interval, devices / rate), ms. */
  readonly effectiveIntervalMs: number;
  /** True when `ping_rate_limit` cannot serve every device once per interval. */
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
}

interface Entry extends HeapItem {
  readonly ip: string;
  /** Phase within the interval, ms. */
  phase: number;
  /** Next slot; while `paced`, the slot being served. */
  slotMs: number;
  /** In the heap at a token-granted send time rather than at a slot. */
  paced: boolean;
  /** A probe is outstanding. */
  inFlight: boolean;
  /** remove() was called while a probe was in flight; the entry goes when the probe settles. */
  removed: boolean;
  /** The device's slot in the summary pool, or -1 before its first result. */
  summary: number;
  /** Start of the device's summary windows within the summary interval, ms (see summaryOffsetMs). */
  summaryOffset: number;
  /** Slot served by the probe in flight. */
  probeSlotMs: number;
  /** When the probe in flight was handed to the pinger, ms since the epoch. */
  probeDispatchMs: number;
  /** Generation of the latest probe; a settlement carrying an older one (an abandoned probe) is ignored. */
  probeGen: number;
}

const MAX_TIMER_DELAY_MS = 10_000;

/** True for a PingOutcome about `ip` (a fulfilment), false for anything else (a rejection reason). */
function isOutcome(v: unknown, ip: string): v is PingOutcome {
  return typeof v === 'object' && v !== null && typeof (v as { ok?: unknown }).ok === 'boolean' && (v as { ip?: unknown }).ip === ip;
}
const LOG_EVERY_MS = 60_000;

/** A summary pool sized so a window's replies all fit: min(summaryMaxSamples, summary ÷ interval). */
function newPool(o: PingSchedulerOptions): SummaryPool {
  const perWindow = o.summaryIntervalMs > 0 ? Math.ceil(o.summaryIntervalMs / o.intervalMs) : 1;
  return new SummaryPool(Math.max(1, Math.min(o.summaryMaxSamples, perWindow)));
}

function validate(o: PingSchedulerOptions): void {
  const problems: string[] = [];
  const need = (ok: boolean, msg: string): void => {
    if (!ok) problems.push(msg);
  };
  need(Number.isFinite(o.intervalMs) && o.intervalMs >= 1, `ping_interval: must be at least 1 ms (got ${o.intervalMs})`);
  need(Number.isFinite(o.timeoutMs) && o.timeoutMs > 0, `ping_timeout: must be greater than 0 (got ${o.timeoutMs})`);
  need(Number.isFinite(o.ratePerSec) && o.ratePerSec > 0, `ping_rate_limit: must be greater than 0 (got ${o.ratePerSec})`);
  need(Number.isFinite(o.burst) && o.burst >= 1, `ping_burst_limit: must be at least 1 (got ${o.burst})`);
  need(Number.isInteger(o.maxConsecutiveFails) && o.maxConsecutiveFails >= 1, `ping_max_consecutive_fails: must be a positive integer (got ${o.maxConsecutiveFails})`);
  need(Number.isFinite(o.backoffMs) && o.backoffMs >= 0, `ping_backoff_duration: must not be negative (got ${o.backoffMs})`);
  need(Number.isFinite(o.summaryIntervalMs) && o.summaryIntervalMs >= 0, `ping_summary_interval: must not be negative (got ${o.summaryIntervalMs})`);
  need(Number.isFinite(o.overloadThresholdMs) && o.overloadThresholdMs > 0, `ping_overload_threshold: must be greater than 0 (got ${o.overloadThresholdMs})`);
  if (problems.length > 0) throw new ConfigError(problems, { stage: 'schedule' });
}

/**
 * Pings every monitored device on its own fixed-phase schedule, with one timer for all of them.
 *
 * Each device has a phase = hash(ip) mod interval and is due at phase + k * interval (wall-clock
 * ms), computed from the schedule, never from when the last probe fired. All devices live in one
 * indexed min-heap; a single Clock timer is armed for the earliest slot. At its slot a device
 * either writes a suspended point (breaker open, no probe), skips the tick (previous probe still
 * in flight; counted, never queued), or takes a token from the global bucket and probes. Every
 * probe becomes a `ping` point and feeds the device's `ping_summary` window; failures feed the
 * breaker unless an agent stall makes them `agent_overloaded`.
 *
 * Exactly one schedule per device: add() of a present IP is a no-op, and an IP removed while its
 * probe is in flight keeps its entry (marked removed) until the probe settles, so a quick re-add
 * revives that entry instead of starting a second one (the Go stop/start race, docs/go-parity.md).
 */
export class PingScheduler {
  readonly #clock: Clock;
  readonly #pinger: Pinger;
  readonly #sink: PointSink;
  readonly #state: PingBreakerState;
  readonly #log: Logger;
  readonly #stalls: StallMonitor;
  #opts: PingSchedulerOptions;
  readonly #bucket: TokenBucket;
  /** Scheduled devices. */
  readonly #entries = new Map<string, Entry>();
  /** Devices removed while their probe was in flight; they leave when it settles, or return on add(). */
  readonly #draining = new Map<string, Entry>();
  readonly #heap = new SlotHeap<Entry>();
  readonly #abort = new AbortController();
  readonly #lags = new RecentSamples(8192);
  readonly #random = xorshift32(0x5eed1234);
  #pool: SummaryPool;
  #running = false;
  #stopping = false;
  #stopPromise: Promise<void> | undefined;
  #firing = false;
  #timer: TimerHandle | undefined;
  #armedDueMs = Number.POSITIVE_INFINITY;
  #sweepTimer: TimerHandle | undefined;
  #rateTimer: TimerHandle | undefined;
  #rateWarned = false;
  #lastWallMs = 0;
  #lastMonoMs = 0;
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #removeAbortListener: (() => void) | undefined;
  #sent = 0;
  #replies = 0;
  #failures: Record<PingFailureReason, number> = { timeout: 0, unreachable: 0, send_error: 0, agent_overloaded: 0, agent_error: 0 };
  #skipped = 0;
  #missed = 0;
  #suspendedTicks = 0;
  #trips = 0;
  #lateSends = 0;
  #pointsWritten = 0;
  #pointsDropped = 0;
  #summaries = 0;
  #sinkErrors = 0;
  #hung = 0;
  #errorLogAtMs = new Map<string, number>();

  constructor(deps: PingSchedulerDeps, opts: Partial<PingSchedulerOptions> = {}) {
    this.#opts = { ...defaultPingSchedulerOptions, ...opts };
    validate(this.#opts);
    this.#clock = deps.clock;
    this.#pinger = deps.pinger;
    this.#sink = deps.sink;
    this.#state = deps.state;
    this.#log = deps.logger.child({ stage: 'schedule' });
    this.#stalls = deps.stallMonitor ?? new EventLoopStallMonitor({ clock: deps.clock });
    this.#bucket = new TokenBucket({ ratePerSec: this.#opts.ratePerSec, burst: this.#opts.burst, clock: deps.clock });
    this.#pool = newPool(this.#opts);
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
    this.#lastWallMs = this.#clock.now();
    this.#lastMonoMs = monoMs(this.#clock);
    // Devices added before start() got slots relative to their add time; move them to the first slot from now.
    this.#resetSlots(this.#lastWallMs, false);
    this.#arm();
    this.#armSweep();
    this.#checkRate();
    this.#log.info(
      { interval_ms: this.#opts.intervalMs, timeout_ms: this.#opts.timeoutMs, rate_limit: this.#opts.ratePerSec, burst_limit: this.#opts.burst, count: this.#entries.size },
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
    const existing = this.#draining.get(ip);
    if (existing !== undefined) {
      // Re-added while its previous probe is still in flight: revive the same entry.
      this.#draining.delete(ip);
      this.#entries.set(ip, existing);
      existing.removed = false;
      existing.phase = phaseMs(ip, this.#opts.intervalMs);
      existing.slotMs = slotAfter(existing.phase, this.#opts.intervalMs, now - 1);
      existing.summaryOffset = summaryOffsetMs(ip, this.#opts.summaryIntervalMs);
      this.#heap.push(existing, existing.slotMs);
    } else {
      const phase = phaseMs(ip, this.#opts.intervalMs);
      const slot = slotAfter(phase, this.#opts.intervalMs, now - 1);
      const e: Entry = {
        ip, phase, slotMs: slot, paced: false, inFlight: false, removed: false, summary: -1,
        summaryOffset: summaryOffsetMs(ip, this.#opts.summaryIntervalMs),
        probeSlotMs: 0, probeDispatchMs: 0, probeGen: 0, dueMs: slot, seq: 0, heapIndex: -1,
      };
      this.#entries.set(ip, e);
      this.#heap.push(e, slot);
    }
    this.#arm();
    this.#checkRate();
  }

  /** Ends `ip`'s schedule; a probe in flight finishes and is recorded, then the entry goes. */
  remove(ip: string): void {
    const e = this.#entries.get(ip);
    if (e === undefined) return;
    this.#entries.delete(ip);
    if (this.#heap.remove(e) && e.paced) {
      this.#bucket.cancel();
      e.paced = false;
    }
    if (e.inFlight) {
      e.removed = true;
      this.#draining.set(ip, e);
      // A removed entry is never served again, so the hung-probe check of #serve cannot reach it.
      const gen = e.probeGen;
      const giveUpAt = e.probeDispatchMs + this.#hungAfterMs();
      this.#clock.setTimeout(() => {
        if (this.#draining.get(ip) === e && e.inFlight && e.probeGen === gen && !this.#stopping) this.#abandon(e);
      }, Math.max(0, giveUpAt - this.#clock.now()));
    } else {
      this.#release(e);
    }
    this.#checkRate();
  }

  /**
   * Applies new options at runtime (config reload). A new interval re-phases every device; with the
   * interval unchanged devices keep their phase. Rate and burst apply to the next token. A new
   * summary interval closes the open windows first.
   */
  reconfigure(opts: Partial<PingSchedulerOptions>): void {
    const old = this.#opts;
    const next = { ...old, ...opts };
    validate(next);
    this.#opts = next;
    if (next.ratePerSec !== old.ratePerSec || next.burst !== old.burst) {
      this.#bucket.setRate(next.ratePerSec, next.burst);
      // Devices waiting for a token were given send times at the old rate: hand the tokens back
      // and let each reserve again, at its own slot, under the new rate.
      let requeued = 0;
      for (const e of this.#heap.values()) {
        if (!e.paced) continue;
        this.#bucket.cancel();
        e.paced = false;
        e.dueMs = e.slotMs;
        requeued++;
      }
      if (requeued > 0) this.#rebuildHeap();
    }
    if (next.summaryIntervalMs !== old.summaryIntervalMs || next.summaryMaxSamples !== old.summaryMaxSamples) {
      // New windows: close the open ones under the old settings, then start a fresh pool.
      // (A changed ping_interval alone keeps the pool; a shorter one makes p50/p95 reservoir-sampled.)
      for (const map of [this.#entries, this.#draining]) {
        for (const e of map.values()) {
          this.#flushSummary(e, old.summaryIntervalMs);
          e.summary = -1;
          e.summaryOffset = summaryOffsetMs(e.ip, next.summaryIntervalMs);
        }
      }
      this.#pool = newPool(next);
      this.#armSweep();
    }
    if (next.intervalMs !== old.intervalMs) this.#resetSlots(this.#clock.now(), true);
    if (next.ratePerSec !== old.ratePerSec || next.intervalMs !== old.intervalMs) {
      this.#rateWarned = false;
      this.#checkRate();
    }
    this.#log.info({ interval_ms: next.intervalMs, rate_limit: next.ratePerSec, burst_limit: next.burst }, 'ping scheduler reconfigured');
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
      missedSlotsTotal: this.#missed,
      suspendedTicksTotal: this.#suspendedTicks,
      breakerTripsTotal: this.#trips,
      sendLagP50Ms: this.#lags.quantile(0.5),
      sendLagP99Ms: this.#lags.quantile(0.99),
      sendLagMaxMs: this.#lags.max(),
      lateSendsTotal: this.#lateSends,
      pointsWrittenTotal: this.#pointsWritten,
      pointsDroppedTotal: this.#pointsDropped,
      summariesWrittenTotal: this.#summaries,
      sinkErrorsTotal: this.#sinkErrors,
      hungProbesTotal: this.#hung,
      stalls: this.#stalls.stats(),
    };
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#running = false;
    this.#removeAbortListener?.();
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#sweepTimer?.cancel();
    this.#sweepTimer = undefined;
    this.#rateTimer?.cancel();
    this.#rateTimer = undefined;
    this.#abort.abort(new Error('ping scheduler stopped'));
    if (this.#inFlight > 0) {
      const giveUp = new AbortController();
      const drained = new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
      await Promise.race([drained, this.#clock.sleep(this.#opts.timeoutMs + 1000, giveUp.signal).catch(() => undefined)]);
      giveUp.abort();
      if (this.#inFlight > 0) this.#log.warn({ count: this.#inFlight }, 'ping probes still in flight after stop; their results are discarded');
    }
    for (const map of [this.#entries, this.#draining]) for (const e of map.values()) this.#flushSummary(e, this.#opts.summaryIntervalMs);
    this.#stalls.stop();
    this.#log.info({ pings_sent_total: this.#sent }, 'ping scheduler stopped');
  }


  /** Arms the one clock timer for the earliest due entry, unless an earlier one is armed. */
  #arm(): void {
    if (!this.#running || this.#firing) return;
    const top = this.#heap.peek();
    if (top === undefined) return;
    if (this.#timer !== undefined && this.#armedDueMs <= top.dueMs) return;
    this.#timer?.cancel();
    const now = this.#clock.now();
    const delay = Math.min(Math.max(0, top.dueMs - now), MAX_TIMER_DELAY_MS);
    this.#armedDueMs = now + delay;
    this.#timer = this.#clock.setTimeout(() => this.#fire(), delay);
  }

  #fire(): void {
    this.#timer = undefined;
    this.#armedDueMs = Number.POSITIVE_INFINITY;
    if (!this.#running) return;
    this.#checkClockJump();
    const now = this.#clock.now();
    const max = this.#opts.maxDispatchPerTick;
    this.#firing = true;
    try {
      let n = 0;
      for (let top = this.#heap.peek(); top !== undefined && top.dueMs <= now && n < max; top = this.#heap.peek()) {
        this.#heap.pop();
        n++;
        try {
          this.#serve(top, now);
        } catch (err) {
          this.#logError('serve', { err, ip: top.ip }, 'ping slot failed; device stays scheduled');
          if (!top.removed && !this.#heap.has(top)) this.#reschedule(top, top.slotMs, now);
        }
      }
    } finally {
      this.#firing = false;
    }
    this.#arm();
  }

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
        this.#reschedule(e, slot, now);
        return;
      }
      this.#abandon(e);
    }
    if (this.#isSuspended(e.ip)) {
      this.#suspendedTicks++;
      this.#reschedule(e, slot, now);
      if (this.#opts.rawPoints) this.#write(suspendedPingPoint(e.ip, slot));
      const acc = this.#summarySlot(e, slot);
      if (acc >= 0) this.#pool.recordSuspended(acc);
      return;
    }
    const waitMs = this.#bucket.reserve();
    if (waitMs > 0) {
      e.paced = true;
      this.#heap.push(e, now + waitMs);
      return;
    }
    this.#dispatch(e, slot, now);
  }

  /** Sends the probe for `slot`; the next slot is in the heap before the pinger is called. */
  #dispatch(e: Entry, slot: number, now: number): void {
    this.#reschedule(e, slot, now);
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
    this.#logError('hung', { ip: e.ip, count: this.#hung }, 'pinger never settled a probe; recorded as agent_error');
    e.probeGen++;
    this.#complete(e, e.probeSlotMs, e.probeDispatchMs, { ok: false, ip: e.ip, reason: 'agent_error', sentAtMs: e.probeDispatchMs, detail: 'no result from the pinger' });
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
        if (!hasCode(v, 'ERR_ICMP_SOCKET')) this.#logError('pinger', { err: v, ip: e.ip }, 'pinger rejected; recorded as agent_error');
        o = { ok: false, ip: e.ip, reason: 'agent_error', sentAtMs: e.probeDispatchMs, detail: errorMessage(v) };
      }
      this.#complete(e, e.probeSlotMs, e.probeDispatchMs, o);
    } catch (err) {
      this.#logError('complete', { err, ip: e.ip }, 'recording a ping result failed');
    }
  }

  /** Puts `e` back in the heap at its first slot after both `servedSlot` and `now`, counting slots passed over. */
  #reschedule(e: Entry, servedSlot: number, now: number): void {
    const { intervalMs } = this.#opts;
    const missed = slotsBetween(e.phase, intervalMs, servedSlot, now);
    if (missed > 0) this.#missed += missed;
    e.slotMs = slotAfter(e.phase, intervalMs, Math.max(servedSlot, now));
    this.#heap.push(e, e.slotMs);
    this.#arm();
  }

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
    if (lag > this.#opts.lateSendToleranceMs) this.#lateSends++;
    let result = o;
    const acc = this.#summarySlot(e, slot);
    if (o.ok) {
      this.#replies++;
      if (acc >= 0) this.#pool.recordReply(acc, o.rttMs, this.#random);
      this.#recordSuccess(e.ip);
    } else {
      let reason = o.reason;
      if (reason === 'timeout' && this.#overloaded(dispatchMs, sentAt, now)) {
        reason = 'agent_overloaded';
        result = { ...o, reason };
      }
      this.#failures[reason]++;
      if (reason === 'agent_overloaded' || reason === 'agent_error') {
        if (acc >= 0) this.#pool.recordOverloaded(acc);
      } else {
        if (acc >= 0) this.#pool.recordLoss(acc);
        this.#stateCall(e.ip, () => {
          if (this.#state.recordPingFailure(e.ip, this.#opts.maxConsecutiveFails, this.#opts.backoffMs)) {
            this.#trips++;
            this.#log.warn(
              { ip: e.ip, reason, fails: this.#opts.maxConsecutiveFails, backoff_ms: this.#opts.backoffMs },
              'device failed its maximum consecutive pings; suspending it (circuit breaker tripped)',
            );
          }
        });
      }
    }
    if (this.#opts.rawPoints) this.#write(pingPoint(result, { timeMs: sentAt }));
    if (e.removed) this.#finalize(e);
  }

  /** How long after dispatch a probe the pinger has not settled counts as hung: 2 × timeout + 1 s. */
  #hungAfterMs(): number {
    return 2 * this.#opts.timeoutMs + 1000;
  }

  #overloaded(dispatchMs: number, sentAtMs: number, nowMs: number): boolean {
    const t = this.#opts.overloadThresholdMs;
    return sentAtMs - dispatchMs >= t || this.#stalls.maxStallMs(dispatchMs, nowMs) >= t;
  }

  #isSuspended(ip: string): boolean {
    try {
      return this.#state.isPingSuspended(ip);
    } catch (err) {
      this.#logError('state', { err, ip }, 'state manager call failed');
      return false;
    }
  }

  #recordSuccess(ip: string): void {
    try {
      this.#state.recordPingSuccess(ip);
    } catch (err) {
      this.#logError('state', { err, ip }, 'state manager call failed');
    }
  }

  #stateCall(ip: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#logError('state', { err, ip }, 'state manager call failed');
    }
  }

  /**
   * The device's summary slot for the window containing `slotMs` (-1 when summaries are off),
   * writing out the previous window first when a new one starts.
   */
  #summarySlot(e: Entry, slotMs: number): number {
    const windowMs = this.#opts.summaryIntervalMs;
    if (windowMs <= 0) return -1;
    const w = Math.floor((slotMs - e.summaryOffset) / windowMs);
    if (e.summary < 0) {
      e.summary = this.#pool.alloc(w);
    } else if (w > this.#pool.windowIndex(e.summary)) {
      if (!this.#pool.isEmpty(e.summary)) this.#emitSummary(e, e.summary, windowMs);
      this.#pool.reset(e.summary, w);
    }
    return e.summary;
  }

  #emitSummary(e: Entry, slot: number, windowMs: number): void {
    this.#summaries++;
    this.#write(pingSummaryPoint(e.ip, this.#pool.snapshot(slot, this.#pool.windowIndex(slot) * windowMs + e.summaryOffset)));
  }

  /** Writes the device's open window, if any, and clears it. */
  #flushSummary(e: Entry, windowMs: number): void {
    const slot = e.summary;
    if (slot < 0 || windowMs <= 0) return;
    if (!this.#pool.isEmpty(slot)) this.#emitSummary(e, slot, windowMs);
    this.#pool.reset(slot, this.#pool.windowIndex(slot));
  }

  /** A device leaves for good: its open window is written and its summary slot freed. */
  #release(e: Entry): void {
    this.#flushSummary(e, this.#opts.summaryIntervalMs);
    if (e.summary >= 0) this.#pool.release(e.summary);
    e.summary = -1;
  }

  /** A removed device's last probe settled: it leaves for good. */
  #finalize(e: Entry): void {
    if (this.#draining.get(e.ip) === e) this.#draining.delete(e.ip);
    this.#release(e);
  }

  /**
   * Summaries are written lazily by each device's first result in its next window (windows are
   * staggered per device by summaryOffsetMs). This sweep, once per summary interval, writes the
   * windows that ended more than one interval + timeout ago without a result since (skipped,
   * paced or rate-limited devices).
   */
  #armSweep(): void {
    this.#sweepTimer?.cancel();
    this.#sweepTimer = undefined;
    const windowMs = this.#opts.summaryIntervalMs;
    if (!this.#running || windowMs <= 0) return;
    const grace = this.#opts.intervalMs + this.#opts.timeoutMs;
    const now = this.#clock.now();
    const nextAt = (Math.floor((now - grace) / windowMs) + 1) * windowMs + grace;
    this.#sweepTimer = this.#clock.setTimeout(() => this.#sweep(), Math.min(MAX_TIMER_DELAY_MS * 6, nextAt - now));
  }

  #sweep(): void {
    this.#sweepTimer = undefined;
    if (!this.#running) return;
    const windowMs = this.#opts.summaryIntervalMs;
    const settled = this.#clock.now() - this.#opts.intervalMs - this.#opts.timeoutMs;
    const pool = this.#pool;
    for (const e of this.#entries.values()) {
      const slot = e.summary;
      const cutoff = Math.floor((settled - e.summaryOffset) / windowMs);
      if (slot < 0 || e.inFlight || e.paced || pool.windowIndex(slot) >= cutoff) continue;
      if (!pool.isEmpty(slot)) this.#emitSummary(e, slot, windowMs);
      pool.reset(slot, cutoff);
    }
    this.#armSweep();
  }

  #write(p: Point): void {
    try {
      const dropped = this.#sink.write(p);
      this.#pointsWritten++;
      if (dropped > 0) this.#pointsDropped += dropped;
    } catch (err) {
      this.#sinkErrors++;
      this.#logError('sink', { err, count: this.#sinkErrors }, 'point sink write failed; point lost');
    }
  }

  /** Restores heap order after due times changed in place, and re-arms the timer for the new top. */
  #rebuildHeap(): void {
    this.#heap.rebuild();
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#arm();
  }

  /** Moves every scheduled device to its first slot at or after `now`; with `rephase`, recomputes phases too. */
  #resetSlots(now: number, rephase: boolean): void {
    const { intervalMs } = this.#opts;
    for (const e of this.#heap.values()) {
      if (rephase) e.phase = phaseMs(e.ip, intervalMs);
      if (e.paced) continue;
      e.slotMs = slotAfter(e.phase, intervalMs, now - 1);
      e.dueMs = e.slotMs;
    }
    if (rephase) for (const e of this.#draining.values()) e.phase = phaseMs(e.ip, intervalMs);
    this.#rebuildHeap();
  }

  #checkClockJump(): void {
    const wall = this.#clock.now();
    const mono = monoMs(this.#clock);
    const driftMs = wall - this.#lastWallMs - (mono - this.#lastMonoMs);
    this.#lastWallMs = wall;
    this.#lastMonoMs = mono;
    if (Math.abs(driftMs) <= this.#opts.clockJumpThresholdMs) return;
    this.#log.warn({ jump_ms: Math.round(driftMs) }, 'wall clock jumped; rescheduling every device from now');
    for (const e of this.#heap.values()) if (e.paced) e.dueMs += driftMs;
    this.#resetSlots(wall, false);
    this.#armSweep();
  }

  /** Warns once (after a 1 s debounce, so a discovery burst is summarised) when the rate cannot serve every device per interval. */
  #checkRate(): void {
    if (!this.#running) return;
    const { intervalMs, ratePerSec } = this.#opts;
    const needPerSec = (this.#entries.size * 1000) / intervalMs;
    if (this.#rateWarned) {
      if (needPerSec <= 0.9 * ratePerSec) {
        this.#rateWarned = false;
        this.#log.info({ count: this.#entries.size, rate_limit: ratePerSec }, 'ping_rate_limit now serves every device once per ping_interval');
      }
      return;
    }
    if (needPerSec <= ratePerSec || this.#rateTimer !== undefined) return;
    this.#rateTimer = this.#clock.setTimeout(() => {
      this.#rateTimer = undefined;
      if (!this.#running || this.#rateWarned) return;
      const need = (this.#entries.size * 1000) / this.#opts.intervalMs;
      if (need <= this.#opts.ratePerSec) return;
      this.#rateWarned = true;
      const effectiveMs = Math.ceil((this.#entries.size * 1000) / this.#opts.ratePerSec);
      this.#log.warn(
        { count: this.#entries.size, interval_ms: this.#opts.intervalMs, rate_limit: this.#opts.ratePerSec, needed_rate: Math.ceil(need), effective_interval_ms: effectiveMs },
        `ping_rate_limit ${this.#opts.ratePerSec}/s cannot ping ${this.#entries.size} devices every ${this.#opts.intervalMs} ms; each device is pinged about every ${effectiveMs} ms (raise ping_rate_limit to at least ${Math.ceil(need)})`,
      );
    }, 1000);
  }

  /** Logs an error at most once a minute per kind, so a broken dependency cannot flood the log. */
  #logError(kind: string, obj: Record<string, unknown>, msg: string): void {
    const now = this.#clock.now();
    const last = this.#errorLogAtMs.get(kind);
    if (last !== undefined && now - last < LOG_EVERY_MS) return;
    this.#errorLogAtMs.set(kind, now);
    this.#log.error(obj, msg);
  }
}
