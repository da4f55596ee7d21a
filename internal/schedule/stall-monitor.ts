import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { monoMs, type Clock, type TimerHandle } from '../clock/clock.js';

/** Sampling period of perf_hooks' event-loop delay histogram, ms. */
const LOOP_DELAY_RESOLUTION_MS = 10;

/** Counters a stall monitor exposes for /health. */
export interface StallStats {
  /** Stalls recorded since start (gaps at least `minStallMs` long). */
  readonly stallsTotal: number;
  /** Sum of recorded stall lengths, ms. */
  readonly stallMsTotal: number;
  /** Longest stall recorded, ms. */
  readonly maxStallMs: number;
  /** p99 event-loop delay from perf_hooks over the last completed `loopDelayWindowMs` (since start until one completes), ms; NaN when not measured. */
  readonly loopDelayP99Ms: number;
}

/**
 * Tells whether the agent itself was stalled (event loop blocked: GC, a long synchronous job,
 * CPU starvation) during a time window. The scheduler asks it about every timed-out probe, so a
 * stall is never mistaken for a down host (MANUAL.md, "Agent overloaded" is not "host down"). Tests inject stalls with
 * internal/testkit/fake-stall-monitor.ts.
 */
export interface StallMonitor {
  /** Starts measuring; idempotent. */
  start(): void;
  /** Stops measuring and releases timers; idempotent. */
  stop(): void;
  /**
   * Length in ms of the longest stall overlapping [fromMs, toMs] (Clock.now() times), counting a
   * stall still in progress at the time of the call; 0 when none.
   */
  maxStallMs(fromMs: number, toMs: number): number;
  /** Counters for /health. */
  stats(): StallStats;
}

/** Options for {@link EventLoopStallMonitor}. */
export interface EventLoopStallMonitorOptions {
  /** Time source. */
  clock: Clock;
  /** How often the probe timer runs, ms. */
  sampleIntervalMs?: number;
  /** Timer lateness at or above this is recorded as a stall, ms. */
  minStallMs?: number;
  /** How many recent stalls are kept for overlap queries. */
  historySize?: number;
  /** Window of the reported event-loop delay p99, ms: a stall an hour ago must not hold it up. */
  loopDelayWindowMs?: number;
}

/** Defaults for {@link EventLoopStallMonitor}. */
export const defaultEventLoopStallMonitorOptions = {
  sampleIntervalMs: 20,
  minStallMs: 20,
  historySize: 512,
  loopDelayWindowMs: 60_000,
} as const;

/**
 * Localises event-loop stalls in time. perf_hooks.monitorEventLoopDelay only gives a histogram
 * (kept here for the p99 stat), so a light timer runs every `sampleIntervalMs` and records each
 * late firing as a stall interval [expected, actual] in a ring. A gap since the last sample that
 * is already longer than a stall counts too, because a probe's timeout and this timer become due
 * in the same turn after a stall and either may run first.
 */
export class EventLoopStallMonitor implements StallMonitor {
  readonly #clock: Clock;
  readonly #sampleMs: number;
  readonly #minStallMs: number;
  readonly #starts: Float64Array;
  readonly #ends: Float64Array;
  #next = 0;
  #count = 0;
  #stallsTotal = 0;
  #stallMsTotal = 0;
  #maxStall = 0;
  #timer: TimerHandle | undefined;
  #expectedMono = 0;
  #lastSampleWall = 0;
  #histogram: IntervalHistogram | undefined;
  readonly #windowMs: number;
  #windowEndMono = 0;
  #lastWindowP99Ms = Number.NaN;

  constructor(opts: EventLoopStallMonitorOptions) {
    const o = { ...defaultEventLoopStallMonitorOptions, ...opts };
    this.#clock = o.clock;
    this.#sampleMs = o.sampleIntervalMs;
    this.#minStallMs = o.minStallMs;
    this.#starts = new Float64Array(o.historySize);
    this.#ends = new Float64Array(o.historySize);
    this.#windowMs = o.loopDelayWindowMs;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#lastSampleWall = this.#clock.now();
    this.#expectedMono = monoMs(this.#clock) + this.#sampleMs;
    this.#windowEndMono = this.#expectedMono - this.#sampleMs + this.#windowMs;
    this.#timer = this.#clock.setTimeout(() => this.#sample(), this.#sampleMs);
    try {
      this.#histogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
      this.#histogram.enable();
    } catch {
      this.#histogram = undefined;
    }
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#histogram?.disable();
  }

  maxStallMs(fromMs: number, toMs: number): number {
    let worst = 0;
    const n = this.#count;
    for (let i = 0; i < n; i++) {
      const s = this.#starts[i] as number;
      const e = this.#ends[i] as number;
      if (s <= toMs && e >= fromMs) worst = Math.max(worst, e - s);
    }
    if (this.#timer !== undefined) {
      const now = this.#clock.now();
      const openStart = this.#lastSampleWall + this.#sampleMs;
      const open = now - openStart;
      if (open >= this.#minStallMs && openStart <= toMs && now >= fromMs) worst = Math.max(worst, open);
    }
    return worst;
  }

  stats(): StallStats {
    return {
      stallsTotal: this.#stallsTotal,
      stallMsTotal: this.#stallMsTotal,
      maxStallMs: this.#maxStall,
      loopDelayP99Ms: Number.isFinite(this.#lastWindowP99Ms) ? this.#lastWindowP99Ms : this.#histogramP99Ms(),
    };
  }

  #histogramP99Ms(): number {
    const h = this.#histogram;
    // The histogram records the time between its timer's runs, resolution included (an idle
    // loop reads ~10.2 ms); report only the delay beyond it.
    return h !== undefined && h.count > 0 ? Math.max(0, h.percentile(99) / 1e6 - LOOP_DELAY_RESOLUTION_MS) : NaN;
  }

  #sample(): void {
    const mono = monoMs(this.#clock);
    const wall = this.#clock.now();
    const late = mono - this.#expectedMono;
    if (late >= this.#minStallMs) this.#record(wall - late, wall);
    if (mono >= this.#windowEndMono) {
      this.#lastWindowP99Ms = this.#histogramP99Ms();
      this.#histogram?.reset();
      this.#windowEndMono = mono + this.#windowMs;
    }
    this.#lastSampleWall = wall;
    this.#expectedMono = mono + this.#sampleMs;
    this.#timer = this.#clock.setTimeout(() => this.#sample(), this.#sampleMs);
  }

  #record(startMs: number, endMs: number): void {
    const len = endMs - startMs;
    this.#starts[this.#next] = startMs;
    this.#ends[this.#next] = endMs;
    this.#next = (this.#next + 1) % this.#starts.length;
    if (this.#count < this.#starts.length) this.#count++;
    this.#stallsTotal++;
    this.#stallMsTotal += len;
    if (len > this.#maxStall) this.#maxStall = len;
  }
}
