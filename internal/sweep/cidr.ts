/**
 * IPv4 CIDR utilities for the sweep and the config validator: strict parsing, host ranges with
 * Go netscan's network/broadcast rule, merging and subtracting ranges, and an indexable address
 * set that never materialises the addresses (a /8 is two numbers, not 16M strings).
 */
import { formatIpv4, parseIpv4 } from '../icmp/ipv4.js';
import { parsePrefixText } from '../net/prefix.js';
import { rangeAtPosition, type AddressRange } from './address-ranges.js';

export { formatIpv4, parseIpv4 };

/** A parsed IPv4 network. */
export interface Ipv4Cidr {
  /** Network address (host bits cleared) as an unsigned 32-bit integer. */
  readonly network: number;
  /** Prefix length, 0..32. */
  readonly prefix: number;
  /** True when the text had host bits set (e.g. `127.0.0.5/24`); they are cleared, as Go's net.ParseCIDR does. */
  readonly hostBitsSet: boolean;
}

/** An inclusive range of IPv4 addresses as unsigned 32-bit integers; `first <= last`. */
export type Ipv4Range = AddressRange<number>;

/**
 * Parses `a.b.c.d/n` strictly (dotted quad without leading zeros, prefix 0..32, no spaces).
 * With `allowBareAddress`, a plain address is read as a /32. Returns undefined when invalid.
 */
export function parseCidr(text: string, opts: { allowBareAddress?: boolean } = {}): Ipv4Cidr | undefined {
  const p = parsePrefixText(text, { maxPrefix: 32, allowBareAddress: opts.allowBareAddress, parseAddress: parseIpv4 });
  if (!p) return undefined;
  const network = (p.address & prefixMask(p.prefix)) >>> 0;
  return { network, prefix: p.prefix, hostBitsSet: network !== p.address };
}

/** Formats a network as `a.b.c.d/n`. */
export function formatCidr(c: Ipv4Cidr): string {
  return `${formatIpv4(c.network)}/${c.prefix}`;
}

/** Netmask of a prefix length as an unsigned 32-bit integer (/0 → 0). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Number of addresses in the network, including network and broadcast (2^(32-prefix)). */
export function cidrSize(c: Ipv4Cidr): number {
  return 2 ** (32 - c.prefix);
}

/** The whole network as a range, network and broadcast included. */
export function cidrRange(c: Ipv4Cidr): Ipv4Range {
  return { first: c.network, last: c.network + cidrSize(c) - 1 };
}

/**
 * The addresses a sweep probes in this network: below /31 the network and broadcast addresses
 * are skipped (RFC 3021 keeps both for /31; Go netscan #47), so /30 → .1-.2, /24 → 254 hosts.
 */
export function hostRange(c: Ipv4Cidr): Ipv4Range {
  const r = cidrRange(c);
  return c.prefix < 31 ? { first: r.first + 1, last: r.last - 1 } : r;
}

/** Number of addresses {@link hostRange} yields. */
export function hostCount(c: Ipv4Cidr): number {
  return c.prefix < 31 ? cidrSize(c) - 2 : cidrSize(c);
}

/** True when the network address is in 127.0.0.0/8 (Go's validateCIDR checks only the network address). */
export function isLoopbackNetwork(c: Ipv4Cidr): boolean {
  return c.network >>> 24 === 127;
}

/** True when the network address is multicast (224.0.0.0/4). */
export function isMulticastNetwork(c: Ipv4Cidr): boolean {
  return c.network >>> 28 === 0xe;
}

/** True when the network address is link-local (169.254.0.0/16). */
export function isLinkLocalNetwork(c: Ipv4Cidr): boolean {
  return c.network >>> 16 === 0xa9fe;
}

// mergeRanges, subtractRanges and AddressSet.has mirror their IPv6 versions in cidr6.ts on purpose:
// one function fed both numbers and bigints loses V8's type feedback and runs two to three times
// slower in a process that handles both families.
/** Sorts and coalesces ranges into disjoint, non-adjacent ranges in ascending order. */
export function mergeRanges(ranges: readonly Ipv4Range[]): Ipv4Range[] {
  const sorted = ranges.filter((r) => r.first <= r.last).sort((a, b) => a.first - b.first || a.last - b.last);
  const out: Array<{ first: number; last: number }> = [];
  for (const r of sorted) {
    const top = out[out.length - 1];
    if (top && r.first <= top.last + 1) top.last = Math.max(top.last, r.last);
    else out.push({ first: r.first, last: r.last });
  }
  return out;
}

/** `ranges` minus every address in `minus`; both may overlap and be unsorted. Result is merged. */
export function subtractRanges(ranges: readonly Ipv4Range[], minus: readonly Ipv4Range[]): Ipv4Range[] {
  const holes = mergeRanges(minus);
  const out: Ipv4Range[] = [];
  for (const r of mergeRanges(ranges)) {
    let first = r.first;
    for (const h of holes) {
      if (h.last < first) continue;
      if (h.first > r.last) break;
      if (h.first > first) out.push({ first, last: h.first - 1 });
      first = h.last + 1;
      if (first > r.last) break;
    }
    if (first <= r.last) out.push({ first, last: r.last });
  }
  return out;
}

/**
 * The deduplicated set of addresses a sweep probes: the union of the host ranges of `include`,
 * minus every address of `exclude`. Held as disjoint ranges with prefix sums, so `at(i)` is a
 * binary search and memory is O(ranges), whatever the number of addresses.
 */
export class AddressSet {
  readonly #ranges: readonly Ipv4Range[];
  readonly #starts: Float64Array;
  readonly #size: number;

  constructor(ranges: readonly Ipv4Range[]) {
    this.#ranges = mergeRanges(ranges);
    this.#starts = new Float64Array(this.#ranges.length);
    let total = 0;
    this.#ranges.forEach((r, i) => {
      this.#starts[i] = total;
      total += r.last - r.first + 1;
    });
    this.#size = total;
  }

  /** Builds the set from networks: union of host ranges (network/broadcast skipped below /31) minus `exclude`. */
  static fromCidrs(include: readonly Ipv4Cidr[], exclude: readonly Ipv4Cidr[] = []): AddressSet {
    return new AddressSet(subtractRanges(include.map(hostRange), exclude.map(cidrRange)));
  }

  /** Number of distinct addresses. */
  get size(): number {
    return this.#size;
  }

  /** The disjoint ranges, ascending. */
  get ranges(): readonly Ipv4Range[] {
    return this.#ranges;
  }

  /** The `index`-th address in ascending order (0 <= index < size), as an unsigned 32-bit integer. */
  at(index: number): number {
    const i = rangeAtPosition(this.#starts, index);
    return this.#ranges[i]!.first + (index - this.#starts[i]!);
  }

  /** True when `ip` (unsigned 32-bit) is in the set. */
  has(ip: number): boolean {
    let lo = 0;
    let hi = this.#ranges.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.#ranges[mid]!;
      if (ip < r.first) hi = mid - 1;
      else if (ip > r.last) lo = mid + 1;
      else return true;
    }
    return false;
  }
}
