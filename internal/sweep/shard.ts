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
