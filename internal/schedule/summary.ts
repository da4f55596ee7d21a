import type { PingSummary } from '../model/ping.js';
import { sortedQuantile } from './quantile.js';

// Layout of one slot's statistics in the shared Float64Array.
const WINDOW = 0;
const SENT = 1;
const RECEIVED = 2;
const OVERLOADED = 3;
const SUSPENDED = 4;
const MIN = 5;
const MAX = 6;
const MEAN = 7;
const M2 = 8;
const JITTER_SUM = 9;
const JITTER_N = 10;
const LAST_RTT = 11;
const KEPT = 12;
const MISSED = 13;
const SKIPPED = 14;
const STRIDE = 15;
/** Slots per chunk: growth adds one chunk (no copy), so at most one chunk is unused. */
const CHUNK_BITS = 10;
const CHUNK = 1 << CHUNK_BITS;
const MASK = CHUNK - 1;

let scratch = new Float64Array(128);

/** `x` rounded to the 7 significant digits a float32 sample carries. */
export function float32Digits(x: number): number {
  return Number.isFinite(x) && x !== 0 ? Number(x.toPrecision(7)) : x;
}

/**
 * Streaming per-window statistics for many devices in shared typed arrays (chunks of 1,024 slots),
 * one fixed-size slot per device: no per-device objects, so memory is (15 × 8 + 4 × samplesPerSlot)
 * bytes per device plus at most one partly used chunk. Count, min, max, Welford mean/variance and jitter are exact; p50/p95 come from
 * up to `samplesPerSlot` RTTs per window (exact while the window holds no more replies than that,
 * Vitter's reservoir sampling beyond). Size `samplesPerSlot` to the replies a window can hold
 * (summary interval ÷ ping interval) and every quantile is exact.
 */
export class SummaryPool {
  /** RTT samples kept per slot and window. */
  readonly samplesPerSlot: number;
  readonly #stats: Float64Array[] = [];
  readonly #samples: Float32Array[] = [];
  #used = 0;
  readonly #free: number[] = [];

  /** @param samplesPerSlot RTT samples kept per device per window (4 bytes each) */
  constructor(samplesPerSlot: number) {
    this.samplesPerSlot = Math.max(1, Math.floor(samplesPerSlot));
  }

  /** Slots in use. */
  get size(): number {
    return this.#used - this.#free.length;
  }

  /** Bytes held by the arrays (all allocated slots, used or not). */
  get bytes(): number {
    return this.#stats.length * CHUNK * (STRIDE * 8 + this.samplesPerSlot * 4);
  }

  /** Takes a slot, cleared and set to window `windowIndex`. */
  alloc(windowIndex: number): number {
    let slot = this.#free.pop();
    if (slot === undefined) {
      if (this.#used === this.#stats.length * CHUNK) {
        this.#stats.push(new Float64Array(CHUNK * STRIDE));
        this.#samples.push(new Float32Array(CHUNK * this.samplesPerSlot));
      }
      slot = this.#used++;
    }
    this.reset(slot, windowIndex);
    return slot;
  }

  /** Returns a slot for reuse. */
  release(slot: number): void {
    this.#free.push(slot);
  }

  /** Index of the window being accumulated in `slot` (floor(slotMs / windowMs)). */
  windowIndex(slot: number): number {
    return this.#stats[slot >>> CHUNK_BITS]![(slot & MASK) * STRIDE + WINDOW]!;
  }

  /** True when nothing was recorded in `slot` since its last reset. */
  isEmpty(slot: number): boolean {
    const b = (slot & MASK) * STRIDE;
    const s = this.#stats[slot >>> CHUNK_BITS]!;
    return (
      s[b + SENT] === 0 &&
      s[b + OVERLOADED] === 0 &&
      s[b + SUSPENDED] === 0 &&
      s[b + MISSED] === 0 &&
      s[b + SKIPPED] === 0
    );
  }

  /** Clears `slot` and starts window `windowIndex`. */
  reset(slot: number, windowIndex: number): void {
    const b = (slot & MASK) * STRIDE;
    const s = this.#stats[slot >>> CHUNK_BITS]!;
    s.fill(0, b, b + STRIDE);
    s[b + WINDOW] = windowIndex;
    s[b + MIN] = Infinity;
    s[b + MAX] = -Infinity;
    s[b + LAST_RTT] = NaN;
  }

  /** Records a reply; `random` returns a uniform number in [0, 1) for reservoir replacement. */
  recordReply(slot: number, rttMs: number, random: () => number): void {
    const b = (slot & MASK) * STRIDE;
    const s = this.#stats[slot >>> CHUNK_BITS]!;
    s[b + SENT]!++;
    const n = ++s[b + RECEIVED]!;
    if (rttMs < s[b + MIN]!) s[b + MIN] = rttMs;
    if (rttMs > s[b + MAX]!) s[b + MAX] = rttMs;
    const mean = s[b + MEAN]!;
    const d = rttMs - mean;
    const newMean = mean + d / n;
    s[b + MEAN] = newMean;
    s[b + M2] = s[b + M2]! + d * (rttMs - newMean);
    const last = s[b + LAST_RTT]!;
    if (!Number.isNaN(last)) {
      s[b + JITTER_SUM] = s[b + JITTER_SUM]! + Math.abs(rttMs - last);
      s[b + JITTER_N]!++;
    }
    s[b + LAST_RTT] = rttMs;
    const cap = this.samplesPerSlot;
    const kept = s[b + KEPT]!;
    const samples = this.#samples[slot >>> CHUNK_BITS]!;
    const base = (slot & MASK) * cap;
    if (kept < cap) {
      samples[base + kept] = rttMs;
      s[b + KEPT] = kept + 1;
    } else {
      const j = Math.floor(random() * n);
      if (j < cap) samples[base + j] = rttMs;
    }
  }

  /** Records a probe that got no reply (any host-side failure reason). */
  recordLoss(slot: number): void {
    this.#stats[slot >>> CHUNK_BITS]![(slot & MASK) * STRIDE + SENT]!++;
  }

  /** Records a probe invalidated by an agent stall. */
  recordOverloaded(slot: number): void {
    this.#stats[slot >>> CHUNK_BITS]![(slot & MASK) * STRIDE + OVERLOADED]!++;
  }

  /** Records a slot skipped because the breaker was open. */
  recordSuspended(slot: number): void {
    this.#stats[slot >>> CHUNK_BITS]![(slot & MASK) * STRIDE + SUSPENDED]!++;
  }

  /** Records `count` slots the agent let pass unprobed. */
  recordMissed(slot: number, count: number): void {
    const s = this.#stats[slot >>> CHUNK_BITS]!;
    const i = (slot & MASK) * STRIDE + MISSED;
    s[i] = s[i]! + count;
  }

  /** Records a slot skipped because the previous probe was still in flight. */
  recordSkipped(slot: number): void {
    this.#stats[slot >>> CHUNK_BITS]![(slot & MASK) * STRIDE + SKIPPED]!++;
  }

  /** The statistics of `slot` so far, stamped with `windowStartMs`. */
  snapshot(slot: number, windowStartMs: number): PingSummary {
    const b = (slot & MASK) * STRIDE;
    const s = this.#stats[slot >>> CHUNK_BITS]!;
    const k = s[b + KEPT]!;
    let p50 = NaN;
    let p95 = NaN;
    if (k > 0) {
      if (scratch.length < k) scratch = new Float64Array(Math.max(k, scratch.length * 2));
      const samples = this.#samples[slot >>> CHUNK_BITS]!;
      const base = (slot & MASK) * this.samplesPerSlot;
      for (let i = 0; i < k; i++) scratch[i] = samples[base + i]!;
      const view = scratch.subarray(0, k).sort();
      // Samples are float32 (7 significant digits): report that precision, not its binary noise.
      p50 = float32Digits(sortedQuantile(view, k, 0.5));
      p95 = float32Digits(sortedQuantile(view, k, 0.95));
    }
    const sent = s[b + SENT]!;
    const r = s[b + RECEIVED]!;
    const jn = s[b + JITTER_N]!;
    return {
      windowStartMs,
      sent,
      received: r,
      overloaded: s[b + OVERLOADED]!,
      suspendedTicks: s[b + SUSPENDED]!,
      missedSlots: s[b + MISSED]!,
      skippedTicks: s[b + SKIPPED]!,
      // A suspended device is skipped because it kept failing: its window is all loss, so it stays
      // on every "worst by loss" view instead of dropping out of it (sent = 0 has no ratio).
      lossPct: sent > 0 ? (100 * (sent - r)) / sent : s[b + SUSPENDED]! > 0 ? 100 : NaN,
      rttMinMs: r > 0 ? s[b + MIN]! : NaN,
      rttAvgMs: r > 0 ? s[b + MEAN]! : NaN,
      rttMaxMs: r > 0 ? s[b + MAX]! : NaN,
      rttP50Ms: p50,
      rttP95Ms: p95,
      rttStddevMs: r > 0 ? Math.sqrt(s[b + M2]! / r) : NaN,
      jitterMs: jn > 0 ? s[b + JITTER_SUM]! / jn : NaN,
    };
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
