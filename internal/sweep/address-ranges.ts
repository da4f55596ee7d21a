/**
 * What the IPv4 and IPv6 address sets share: the inclusive range type, and finding the range that
 * holds the n-th address of a set through its prefix sums. Merging, subtracting and membership
 * stay per family (numbers and bigints), where V8 keeps each monomorphic.
 */

/** An inclusive range of addresses; `first <= last`. */
export interface AddressRange<T extends number | bigint> {
  /** First address. */
  readonly first: T;
  /** Last address (inclusive). */
  readonly last: T;
}

/**
 * The range that holds the `index`-th address of a set, given `starts`, the position of each
 * range's first address (ascending prefix sums, `starts[0] === 0`).
 */
export function rangeAtPosition(starts: Float64Array, index: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (starts[mid]! <= index) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
