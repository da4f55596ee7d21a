import { sortedQuantile } from './quantile.js';

/** One device's statistics over one summary window (the `ping_summary` point's content). */
export interface PingSummary {
  /** Window start, ms since the epoch (the point's timestamp). */
  readonly windowStartMs: number;
  /** Probes sent and judged (replies + host failures); agent_overloaded probes are not counted. */
  readonly sent: number;
  /** Replies received. */
  readonly received: number;
  /** Probes whose result was invalidated by an agent stall (reason agent_overloaded). */
  readonly overloaded: number;
  /** Slots skipped because the device's ping breaker was open. */
  readonly suspendedTicks: number;
  /** Loss in percent of `sent`; NaN when nothing was sent. */
  readonly lossPct: number;
  /** Smallest RTT in ms; NaN without replies (likewise for every RTT statistic below). */
  readonly rttMinMs: number;
  /** Mean RTT in ms. */
  readonly rttAvgMs: number;
  /** Largest RTT in ms. */
  readonly rttMaxMs: number;
  /** Median RTT in ms (type-7 interpolation over the kept samples). */
  readonly rttP50Ms: number;
  /** 95th-percentile RTT in ms (type-7 interpolation over the kept samples). */
  readonly rttP95Ms: number;
  /** Population standard deviation of the RTT in ms. */
  readonly rttStddevMs: number;
  /** Mean |ΔRTT| of consecutive replies within the window, in ms; NaN with fewer than two replies. */
  readonly jitterMs: number;
}

let scratch = new Float64Array(128);

/**
 * Streaming statistics for one device and one window, in bounded memory: count, min, max, Welford
 * mean/variance and jitter are exact; quantiles come from up to `maxSamples` RTTs kept in a
 * Float32Array (exact while the window holds no more replies than that, Vitter's reservoir
 * sampling beyond). The buffer starts at 8 samples and doubles up to `maxSamples` as windows need
 * it, so a device pinged 12 times a window holds 64 bytes, not 4 × maxSamples. At the default
 * 60 s window and a 1 s interval every reply is kept.
 */
export class SummaryAccumulator {
  /** Index of the window being accumulated (floor(slotMs / windowMs)); -1 before the first sample. */
  windowIndex = -1;
  #sent = 0;
  #received = 0;
  #overloaded = 0;
  #suspendedTicks = 0;
  #min = Infinity;
  #max = -Infinity;
  #mean = 0;
  #m2 = 0;
  #jitterSum = 0;
  #jitterN = 0;
  #lastRtt = NaN;
  #samples: Float32Array | undefined;
  #kept = 0;
  readonly #maxSamples: number;

  /** @param maxSamples RTT samples kept per window for the quantiles (memory: 4 bytes each) */
  constructor(maxSamples: number) {
    this.#maxSamples = Math.max(1, maxSamples);
  }

  /** True when nothing was recorded since the last reset. */
  get empty(): boolean {
    return this.#sent === 0 && this.#overloaded === 0 && this.#suspendedTicks === 0;
  }

  /** Records a reply; `random` returns a uniform number in [0, 1) for reservoir replacement. */
  recordReply(rttMs: number, random: () => number): void {
    this.#sent++;
    const n = ++this.#received;
    if (rttMs < this.#min) this.#min = rttMs;
    if (rttMs > this.#max) this.#max = rttMs;
    const d = rttMs - this.#mean;
    this.#mean += d / n;
    this.#m2 += d * (rttMs - this.#mean);
    if (!Number.isNaN(this.#lastRtt)) {
      this.#jitterSum += Math.abs(rttMs - this.#lastRtt);
      this.#jitterN++;
    }
    this.#lastRtt = rttMs;
    const cap = this.#maxSamples;
    let buf = this.#samples;
    if (buf === undefined) {
      buf = new Float32Array(Math.min(8, cap));
      this.#samples = buf;
    } else if (this.#kept === buf.length && buf.length < cap) {
      const grown = new Float32Array(Math.min(cap, buf.length * 2));
      grown.set(buf);
      buf = grown;
      this.#samples = buf;
    }
    if (this.#kept < cap) {
      buf[this.#kept++] = rttMs;
    } else {
      const j = Math.floor(random() * n);
      if (j < cap) buf[j] = rttMs;
    }
  }

  /** Records a probe that got no reply (any host-side failure reason). */
  recordLoss(): void {
    this.#sent++;
  }

  /** Records a probe invalidated by an agent stall. */
  recordOverloaded(): void {
    this.#overloaded++;
  }

  /** Records a slot skipped because the breaker was open. */
  recordSuspended(): void {
    this.#suspendedTicks++;
  }

  /** The statistics so far, stamped with `windowStartMs`. */
  snapshot(windowStartMs: number): PingSummary {
    const k = this.#kept;
    let p50 = NaN;
    let p95 = NaN;
    if (k > 0 && this.#samples !== undefined) {
      if (scratch.length < k) scratch = new Float64Array(Math.max(k, scratch.length * 2));
      for (let i = 0; i < k; i++) scratch[i] = this.#samples[i] as number;
      const view = scratch.subarray(0, k).sort();
      p50 = sortedQuantile(view, k, 0.5);
      p95 = sortedQuantile(view, k, 0.95);
    }
    const r = this.#received;
    return {
      windowStartMs,
      sent: this.#sent,
      received: r,
      overloaded: this.#overloaded,
      suspendedTicks: this.#suspendedTicks,
      lossPct: this.#sent > 0 ? (100 * (this.#sent - r)) / this.#sent : NaN,
      rttMinMs: r > 0 ? this.#min : NaN,
      rttAvgMs: r > 0 ? this.#mean : NaN,
      rttMaxMs: r > 0 ? this.#max : NaN,
      rttP50Ms: p50,
      rttP95Ms: p95,
      rttStddevMs: r > 0 ? Math.sqrt(this.#m2 / r) : NaN,
      jitterMs: this.#jitterN > 0 ? this.#jitterSum / this.#jitterN : NaN,
    };
  }

  /** Clears everything and starts window `windowIndex`; keeps the sample buffer for reuse. */
  reset(windowIndex: number): void {
    this.windowIndex = windowIndex;
    this.#sent = 0;
    this.#received = 0;
    this.#overloaded = 0;
    this.#suspendedTicks = 0;
    this.#min = Infinity;
    this.#max = -Infinity;
    this.#mean = 0;
    this.#m2 = 0;
    this.#jitterSum = 0;
    this.#jitterN = 0;
    this.#lastRtt = NaN;
    this.#kept = 0;
  }
}

/** A small deterministic PRNG (xorshift32) so reservoir sampling is reproducible in tests. */
export function xorshift32(seed: number): () => number {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}
