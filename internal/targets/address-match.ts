import { parseIpv4 } from '../model/ipv4.js';
import { ipv6ToBigInt, parseIpv6BigInt } from '../sweep/cidr6.js';
import { hostIp, parseIpv6 } from '../net/ipv6.js';
import { addressHash128, addressHash32, type Shard } from '../sweep/shard.js';
import { buildSweepSpace, parseTarget, type AddressSpec, type SweepSpace } from '../sweep/targets.js';
import { fmix32, fnv1a32 } from '../hash/hash.js';

/**
 * Membership of one address (either family, as text) in a set of networks minus exclusions.
 * IPv4 is a binary search over u32 ranges; IPv6 parses once into a bigint and searches its ranges.
 */
export class AddressMatch {
  readonly #space: SweepSpace;
  readonly #bytes = new Uint8Array(16);

  /** Networks and exclusions as `networks`/`exclude` spell them; unparsable entries are ignored (the config check reports them). */
  constructor(include: readonly string[], exclude: readonly string[] = []) {
    const specs = (list: readonly string[], ex: boolean): AddressSpec[] =>
      list.flatMap((t) => {
        const p = parseTarget(t.trim(), { exclude: ex });
        return p.ok && p.target.family !== 'name' ? [p.target] : [];
      });
    this.#space = buildSweepSpace(specs(include, false), specs(exclude, true));
  }

  /** Number of addresses in the set. */
  get size(): number {
    return this.#space.size;
  }

  /** True when `ip` (dotted IPv4 or IPv6 text) is in the set. */
  has(ip: string): boolean {
    const v4 = parseIpv4(ip);
    if (v4 !== undefined) return this.#space.ipv4.has(v4);
    const v6 = parseIpv6(ip, this.#bytes);
    return v6 !== undefined && this.#space.ipv6.has(ipv6ToBigInt(v6));
  }
}

/** One `exclude` entry as a range of addresses. */
type ExcludeRange =
  | { readonly family: 'ipv4'; readonly first: number; readonly last: number }
  | { readonly family: 'ipv6'; readonly first: bigint; readonly last: bigint };

/** Which `exclude` entry an address falls in (the config check and the target loop both ask). */
export class Exclusions {
  readonly #ranges: Array<ExcludeRange | undefined>;

  /** `exclude` as the config spells it; unparsable entries never match (the config check reports them). */
  constructor(readonly entries: readonly string[]) {
    this.#ranges = entries.map((t) => {
      const p = parseTarget(t.trim(), { exclude: true });
      if (!p.ok || p.target.family === 'name') return undefined;
      const spec = p.target;
      return spec.family === 'ipv4'
        ? { family: 'ipv4', first: spec.range.first, last: spec.range.last }
        : { family: 'ipv6', first: spec.range.first, last: spec.range.last };
    });
  }

  /** Index in `exclude` of the first entry holding `ip` (dotted IPv4 or IPv6 text), or -1. */
  indexOf(ip: string): number {
    if (this.entries.length === 0) return -1;
    const v4 = parseIpv4(ip);
    const v6 = v4 === undefined ? parseIpv6BigInt(ip) : undefined;
    return this.#ranges.findIndex(
      (r) =>
        r !== undefined &&
        (r.family === 'ipv4'
          ? v4 !== undefined && v4 >= r.first && v4 <= r.last
          : v6 !== undefined && v6 >= r.first && v6 <= r.last),
    );
  }
}

/**
 * Whether `shard` owns a target: an address by the same hash as the sweep uses, so a target that
 * is also inside a network belongs to the same agent; a host name by a hash of its lower-case text,
 * so it stays with one agent whatever it resolves to.
 */
export function targetInShard(host: string, shard: Shard): boolean {
  if (shard.count <= 1) return true;
  // An IPv4-mapped address is pinged as its IPv4 address: it belongs where that address does.
  const v4 = parseIpv4(hostIp(host) ?? host);
  if (v4 !== undefined) return addressHash32(v4) % shard.count === shard.index;
  const v6 = parseIpv6(host);
  if (v6 !== undefined) return addressHash128(v6) % shard.count === shard.index;
  return fmix32(fnv1a32(host.toLowerCase())) % shard.count === shard.index;
}
