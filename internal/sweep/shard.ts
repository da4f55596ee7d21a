/**
 * Splits the address space between agents: an agent with shard `{index, count}` owns the
 * addresses whose stable hash modulo `count` equals `index`, so `count` agents with indexes
 * 0..count-1 cover every address exactly once. The hash depends only on the address, so
 * ownership survives restarts and never depends on the order of discovery.
 */

import { fmix32 } from '../hash/hash.js';

/** Which slice of the fleet an agent owns. */
export interface Shard {
  /** This agent's shard, 0 <= index < count. */
  readonly index: number;
  /** Number of shards (agents). */
  readonly count: number;
}

/** Hash of the address for shard ownership (salted so it is independent of the ping phase hash). */
export function addressHash32(ip: number): number {
  return fmix32(ip ^ 0x9e3779b9);
}

/** The shard that owns `ip` (unsigned 32-bit IPv4) among `count`. */
export function shardOf(ip: number, count: number): number {
  return count <= 1 ? 0 : addressHash32(ip) % count;
}

/** A predicate for the Sweeper's `accept`: true for addresses `shard` owns. */
export function inShard(shard: Shard): (ip: number) => boolean {
  if (shard.count <= 1) return () => true;
  return (ip) => addressHash32(ip) % shard.count === shard.index;
}

/**
 * Hash of a 16-byte IPv6 address (from `offset`) for shard ownership: the four big-endian 32-bit
 * words folded through murmur3's finaliser, salted like {@link addressHash32}. Stable across
 * restarts and versions, like the IPv4 hash.
 */
export function addressHash128(bytes: Uint8Array, offset = 0): number {
  let h = 0x9e3779b9;
  for (let k = 0; k < 16; k += 4) {
    const word =
      ((bytes[offset + k]! << 24) |
        (bytes[offset + k + 1]! << 16) |
        (bytes[offset + k + 2]! << 8) |
        bytes[offset + k + 3]!) >>>
      0;
    h = fmix32((h ^ word) + k);
  }
  return h;
}

/** The shard that owns a 16-byte IPv6 address among `count`. */
export function shardOfIpv6(bytes: Uint8Array, count: number): number {
  return count <= 1 ? 0 : addressHash128(bytes) % count;
}

/** A predicate for the Sweeper's `acceptIpv6`: true for IPv6 addresses `shard` owns. */
export function inShardIpv6(shard: Shard): (bytes: Uint8Array) => boolean {
  if (shard.count <= 1) return () => true;
  return (bytes) => addressHash128(bytes) % shard.count === shard.index;
}
