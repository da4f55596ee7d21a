/**
 * IPv6 prefixes and ranges for the sweep. An IPv6 sweep is only practical on a small slice of a
 * network (a /64 holds 2^64 addresses), so a prefix or range is swept only up to
 * {@link MAX_IPV6_SWEEP_ADDRESSES}; larger ones are refused with advice. Set operations use
 * 128-bit bigints (they run once per sweep); enumeration copies a 16-byte base and adds the offset.
 */
import { formatIpv6, parseIpv6, wordAt } from '../net/ipv6.js';
import { parsePrefixText } from '../net/prefix.js';
import { rangeAtPosition, type AddressRange } from './address-ranges.js';

/** The shortest IPv6 prefix a sweep accepts: a /112 holds 65,536 addresses. */
export const MIN_IPV6_SWEEP_PREFIX = 112;

/** Most addresses one IPv6 prefix or range may hold to be swept (2^(128-112)). */
export const MAX_IPV6_SWEEP_ADDRESSES = 2 ** (128 - MIN_IPV6_SWEEP_PREFIX);

/** A parsed IPv6 prefix. */
export interface Ipv6Cidr {
  /** Network address (host bits cleared) as a 128-bit integer. */
  readonly network: bigint;
  /** Prefix length, 0..128. */
  readonly prefix: number;
}

/** An inclusive range of IPv6 addresses as 128-bit integers; `first <= last`. */
export type Ipv6Range = AddressRange<bigint>;

const ALL_ONES = (1n << 128n) - 1n;

/** The 16 bytes (from `offset`) as a 128-bit integer. */
export function ipv6ToBigInt(bytes: Uint8Array, offset = 0): bigint {
  let v = 0n;
  for (let k = 0; k < 16; k += 4) v = (v << 32n) | BigInt(wordAt(bytes, offset + k));
  return v;
}

/** Writes a 128-bit integer as 16 bytes into `out` at `offset`. */
export function bigIntToIpv6(v: bigint, out: Uint8Array = new Uint8Array(16), offset = 0): Uint8Array {
  let x = v;
  for (let k = 15; k >= 0; k--) {
    out[offset + k] = Number(x & 0xffn);
    x >>= 8n;
  }
  return out;
}

/** Canonical (RFC 5952) text of a 128-bit address. */
export function formatIpv6BigInt(v: bigint): string {
  return formatIpv6(bigIntToIpv6(v));
}

/** Parses IPv6 address text into a 128-bit integer, or undefined when it is not one. */
export function parseIpv6BigInt(text: string): bigint | undefined {
  const bytes = parseIpv6(text);
  return bytes === undefined ? undefined : ipv6ToBigInt(bytes);
}

/**
 * Parses `addr/n` (IPv6, prefix 0..128, host bits cleared as Go's net.ParseCIDR does). With
 * `allowBareAddress`, a plain address is read as a /128. Returns undefined when invalid.
 */
export function parseIpv6Cidr(text: string, opts: { allowBareAddress?: boolean } = {}): Ipv6Cidr | undefined {
  const p = parsePrefixText(text, {
    maxPrefix: 128,
    allowBareAddress: opts.allowBareAddress,
    parseAddress: parseIpv6BigInt,
  });
  if (!p) return undefined;
  const hostMask = ALL_ONES >> BigInt(p.prefix);
  return { network: p.address & ~hostMask & ALL_ONES, prefix: p.prefix };
}

/** Every address of the prefix: IPv6 has no broadcast, so none is skipped. */
export function ipv6CidrRange(c: Ipv6Cidr): Ipv6Range {
  return { first: c.network, last: c.network | (ALL_ONES >> BigInt(c.prefix)) };
}

/** Number of addresses in a range, as a bigint (a /0 does not fit a number). */
export function ipv6RangeSize(r: Ipv6Range): bigint {
  return r.last - r.first + 1n;
}

// mergeIpv6Ranges, subtractIpv6Ranges and Ipv6AddressSet.has mirror their IPv4 versions in cidr.ts
// on purpose: one function fed both numbers and bigints loses V8's type feedback and runs two to
// three times slower in a process that handles both families.
/** Sorts and coalesces ranges into disjoint, non-adjacent ranges in ascending order. */
export function mergeIpv6Ranges(ranges: readonly Ipv6Range[]): Ipv6Range[] {
  const sorted = ranges
    .filter((r) => r.first <= r.last)
    .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const out: Array<{ first: bigint; last: bigint }> = [];
  for (const r of sorted) {
    const top = out[out.length - 1];
    if (top && r.first <= top.last + 1n) {
      if (r.last > top.last) top.last = r.last;
    } else {
      out.push({ first: r.first, last: r.last });
    }
  }
  return out;
}

/** `ranges` minus every address in `minus`; both may overlap and be unsorted. Result is merged. */
export function subtractIpv6Ranges(ranges: readonly Ipv6Range[], minus: readonly Ipv6Range[]): Ipv6Range[] {
  const holes = mergeIpv6Ranges(minus);
  const out: Ipv6Range[] = [];
  for (const r of mergeIpv6Ranges(ranges)) {
    let first = r.first;
    for (const h of holes) {
      if (h.last < first) continue;
      if (h.first > r.last) break;
      if (h.first > first) out.push({ first, last: h.first - 1n });
      first = h.last + 1n;
      if (first > r.last) break;
    }
    if (first <= r.last) out.push({ first, last: r.last });
  }
  return out;
}

/**
 * A deduplicated set of IPv6 addresses held as disjoint ranges with prefix sums: `bytesAt(i)` is a
 * binary search, a 16-byte copy and an add with carry, so enumeration allocates nothing and never
 * touches a bigint. Each range comes from an input of at most {@link MAX_IPV6_SWEEP_ADDRESSES}
 * addresses, but merged neighbours may be larger; the total must stay below 2^53.
 */
export class Ipv6AddressSet {
  readonly #ranges: readonly Ipv6Range[];
  readonly #starts: Float64Array;
  readonly #bases: Uint8Array;
  readonly #size: number;

  constructor(ranges: readonly Ipv6Range[]) {
    this.#ranges = mergeIpv6Ranges(ranges);
    this.#starts = new Float64Array(this.#ranges.length);
    this.#bases = new Uint8Array(16 * this.#ranges.length);
    let total = 0;
    this.#ranges.forEach((r, i) => {
      this.#starts[i] = total;
      bigIntToIpv6(r.first, this.#bases, 16 * i);
      total += Number(ipv6RangeSize(r));
    });
    if (!Number.isSafeInteger(total)) throw new RangeError(`IPv6 sweep set too large: ${total} addresses`);
    this.#size = total;
  }

  /** Number of distinct addresses. */
  get size(): number {
    return this.#size;
  }

  /** The disjoint ranges, ascending. */
  get ranges(): readonly Ipv6Range[] {
    return this.#ranges;
  }

  /** Writes the `index`-th address in ascending order (0 <= index < size) into `out` and returns it. */
  bytesAt(index: number, out: Uint8Array = new Uint8Array(16)): Uint8Array {
    const i = rangeAtPosition(this.#starts, index);
    out.set(this.#bases.subarray(16 * i, 16 * i + 16));
    let add = index - this.#starts[i]!;
    for (let k = 15; k >= 0 && add > 0; k--) {
      const sum = out[k]! + (add % 256);
      out[k] = sum & 0xff;
      add = Math.floor(add / 256) + (sum >> 8);
    }
    return out;
  }

  /** True when the 128-bit address is in the set. */
  has(v: bigint): boolean {
    let lo = 0;
    let hi = this.#ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.#ranges[mid]!;
      if (v < r.first) hi = mid - 1;
      else if (v > r.last) lo = mid + 1;
      else return true;
    }
    return false;
  }
}
