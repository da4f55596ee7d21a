/**
 * Inclusive address ranges of either family, IPv4 as unsigned 32-bit numbers and IPv6 as 128-bit
 * bigints: merging, subtracting, membership, and finding the range that holds the n-th address of
 * a set through its prefix sums. The IPv4 and IPv6 address sets share these.
 */

/** An inclusive range of addresses; `first <= last`. */
export interface AddressRange<T extends number | bigint> {
  /** First address. */
  readonly first: T;
  /** Last address (inclusive). */
  readonly last: T;
}

/** The address after and before another one, in one family's arithmetic. */
export interface AddressStep<T extends number | bigint> {
  /** `v + 1`. */
  next(v: T): T;
  /** `v - 1`. */
  prev(v: T): T;
}

/** IPv4 arithmetic for the range operations. */
export const ipv4Step: AddressStep<number> = { next: (v) => v + 1, prev: (v) => v - 1 };

/** IPv6 arithmetic for the range operations. */
export const ipv6Step: AddressStep<bigint> = { next: (v) => v + 1n, prev: (v) => v - 1n };

/** Sorts and coalesces ranges into disjoint, non-adjacent ranges in ascending order. */
export function mergeAddressRanges<T extends number | bigint>(
  ranges: readonly AddressRange<T>[],
  step: AddressStep<T>,
): AddressRange<T>[] {
  const sorted = ranges
    .filter((r) => r.first <= r.last)
    .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: Array<{ first: T; last: T }> = [];
  for (const r of sorted) {
    const top = out[out.length - 1];
    if (top && r.first <= step.next(top.last)) {
      if (r.last > top.last) top.last = r.last;
    } else {
      out.push({ first: r.first, last: r.last });
    }
  }
  return out;
}

/** `ranges` minus every address in `minus`; both may overlap and be unsorted. Result is merged. */
export function subtractAddressRanges<T extends number | bigint>(
  ranges: readonly AddressRange<T>[],
  minus: readonly AddressRange<T>[],
  step: AddressStep<T>,
): AddressRange<T>[] {
  const holes = mergeAddressRanges(minus, step);
  const out: AddressRange<T>[] = [];
  for (const r of mergeAddressRanges(ranges, step)) {
    let first = r.first;
    for (const h of holes) {
      if (h.last < first) continue;
      if (h.first > r.last) break;
      if (h.first > first) out.push({ first, last: step.prev(h.first) });
      first = step.next(h.last);
      if (first > r.last) break;
    }
    if (first <= r.last) out.push({ first, last: r.last });
  }
  return out;
}

/** True when `v` is in one of `ranges` (disjoint and ascending, as merged). */
export function rangesHave<T extends number | bigint>(ranges: readonly AddressRange<T>[], v: T): boolean {
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const r = ranges[mid]!;
    if (v < r.first) hi = mid - 1;
    else if (v > r.last) lo = mid + 1;
    else return true;
  }
  return false;
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
