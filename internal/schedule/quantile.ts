/**
 * Linear-interpolated quantile (Hyndman & Fan type 7, what numpy and R use by default) of the
 * first `n` values of `sorted`, which must be sorted ascending. NaN when `n` is 0.
 */
export function sortedQuantile(sorted: ArrayLike<number>, n: number, q: number): number {
  if (n <= 0) return NaN;
  const pos = (n - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.min(n - 1, lo + 1);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (pos - lo);
}

/**
 * The most recent `capacity` samples in a ring, for "p99 of the last few thousand" style stats
 * with fixed memory (one Float64Array). Quantiles sort a copy on demand; reads are rare.
 */
export class RecentSamples {
  readonly #buf: Float64Array;
  #next = 0;
  #count = 0;
  #total = 0;

  /** @param capacity how many of the most recent samples are kept */
  constructor(capacity: number) {
    this.#buf = new Float64Array(Math.max(1, capacity));
  }

  /** Samples ever added. */
  get total(): number {
    return this.#total;
  }

  /** Adds one sample, overwriting the oldest when full. */
  add(v: number): void {
    this.#buf[this.#next] = v;
    this.#next = (this.#next + 1) % this.#buf.length;
    if (this.#count < this.#buf.length) this.#count++;
    this.#total++;
  }

  /** Forgets every sample (`total` too). */
  clear(): void {
    this.#next = 0;
    this.#count = 0;
    this.#total = 0;
  }

  /** Quantile `q` (0..1) of the kept samples; NaN when empty. */
  quantile(q: number): number {
    const s = this.#buf.slice(0, this.#count).sort();
    return sortedQuantile(s, this.#count, q);
  }

  /** Largest kept sample; NaN when empty. */
  max(): number {
    if (this.#count === 0) return NaN;
    let m = -Infinity;
    for (let i = 0; i < this.#count; i++) m = Math.max(m, this.#buf[i] as number);
    return m;
  }
}
