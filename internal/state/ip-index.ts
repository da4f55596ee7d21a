import { parseIpv4 } from '../model/ipv4.js';

/**
 * The index key of `ip`: its 32-bit value when it is a canonical dotted-quad IPv4 address, else -1.
 *
 * Only the canonical spelling is accepted so that number and string are interchangeable: every
 * value has exactly one string. "127.0.0.01" is not "127.0.0.1" to a `Map<string, …>`, and it
 * must not be to {@link IpIndex} either, so such strings take the fallback path.
 */
export function ipv4Key(ip: string): number {
  return parseIpv4(ip) ?? -1;
}

/** Fibonacci hashing multiplier, 2^32 / golden ratio. */
const GOLDEN = 0x9e3779b1;
const MIN_TABLE = 16;

/**
 * Map from IP string to a slot number (a non-negative int32), built for millions of keys.
 *
 * Canonical IPv4 strings are keyed by their 32-bit value in an open-addressing table: one
 * Int32Array of (key, slot + 1) pairs, linear probing, backward-shift deletion (no tombstones,
 * so lookups never slow down with churn), a power-of-two size at least twice the slot capacity
 * (load ≤ 0.5). A lookup reads one 8-byte pair and usually no other line; a V8 `Map<string, …>`
 * at 1M keys reads a bucket, a chain entry and often the stored key string, each a cache miss.
 * Keys are scattered by Fibonacci hashing, so neighbouring addresses do not form long probe runs.
 *
 * Any other string (IPv6, a name, a non-canonical IPv4 spelling) goes to a plain Map, so the
 * index accepts every string a `Map<string, number>` would and gives the same answers.
 *
 * Callers parse the IP once with {@link ipv4Key} and pass both forms to every call.
 */
export class IpIndex {
  #table: Int32Array;
  #mask: number;
  #shift: number;
  readonly #other = new Map<string, number>();

  /** Sized for `slotCapacity` keys; call {@link resize} before holding more. */
  constructor(slotCapacity: number) {
    const size = tableSizeFor(slotCapacity);
    this.#table = new Int32Array(size * 2);
    this.#mask = size - 1;
    this.#shift = 32 - Math.log2(size);
  }

  /** Table positions (for tests and sizing notes). */
  get tableSize(): number {
    return this.#mask + 1;
  }

  /** Table position where the probe for IPv4 `key` starts (tests use it to build collisions). */
  home(key: number): number {
    return Math.imul(key | 0, GOLDEN) >>> this.#shift;
  }

  /** Slot of `ip`, or -1. `key` is `ipv4Key(ip)`. */
  find(ip: string, key: number): number {
    if (key < 0) return this.#other.get(ip) ?? -1;
    const t = this.#table;
    const m = this.#mask;
    const k = key | 0;
    for (let i = Math.imul(k, GOLDEN) >>> this.#shift; ; i = (i + 1) & m) {
      const v = t[2 * i + 1]!;
      if (v === 0) return -1;
      if (t[2 * i] === k) return v - 1;
    }
  }

  /** Adds `ip` -> `slot`. `ip` must be absent and the index sized for one more key. */
  insert(ip: string, key: number, slot: number): void {
    if (key < 0) {
      this.#other.set(ip, slot);
      return;
    }
    const t = this.#table;
    const m = this.#mask;
    const k = key | 0;
    let i = Math.imul(k, GOLDEN) >>> this.#shift;
    while (t[2 * i + 1] !== 0) i = (i + 1) & m;
    t[2 * i] = k;
    t[2 * i + 1] = slot + 1;
  }

  /** Removes `ip`, which must be present. */
  delete(ip: string, key: number): void {
    if (key < 0) {
      this.#other.delete(ip);
      return;
    }
    const t = this.#table;
    const m = this.#mask;
    const shift = this.#shift;
    const k = key | 0;
    let hole = Math.imul(k, GOLDEN) >>> shift;
    while (t[2 * hole] !== k || t[2 * hole + 1] === 0) hole = (hole + 1) & m;
    // Backward shift (Knuth 6.4, algorithm R): pull later members of the probe run into the hole
    // when their home position is not cyclically inside (hole, j]; stop at the first empty one.
    for (let j = (hole + 1) & m; t[2 * j + 1] !== 0; j = (j + 1) & m) {
      const home = Math.imul(t[2 * j]!, GOLDEN) >>> shift;
      if (((j - home) & m) >= ((j - hole) & m)) {
        t[2 * hole] = t[2 * j]!;
        t[2 * hole + 1] = t[2 * j + 1]!;
        hole = j;
      }
    }
    t[2 * hole] = 0;
    t[2 * hole + 1] = 0;
  }

  /** Re-sizes the table for `slotCapacity` keys, re-inserting every IPv4 key. O(table). */
  resize(slotCapacity: number): void {
    const size = tableSizeFor(slotCapacity);
    if (size === this.#mask + 1) return;
    const old = this.#table;
    this.#table = new Int32Array(size * 2);
    this.#mask = size - 1;
    this.#shift = 32 - Math.log2(size);
    const t = this.#table;
    const m = this.#mask;
    for (let p = 0; p < old.length; p += 2) {
      const v = old[p + 1]!;
      if (v === 0) continue;
      const k = old[p]!;
      let i = Math.imul(k, GOLDEN) >>> this.#shift;
      while (t[2 * i + 1] !== 0) i = (i + 1) & m;
      t[2 * i] = k;
      t[2 * i + 1] = v;
    }
  }
}

// Power of two, at least twice the capacity: linear probing stays short (≈1.5 probes per hit,
// ≈2.5 per miss at load 0.5) and 1M devices take 16 MiB.
function tableSizeFor(slotCapacity: number): number {
  let size = MIN_TABLE;
  while (size < slotCapacity * 2) size *= 2;
  return size;
}
