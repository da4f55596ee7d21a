import type { SnmpInfo } from '../model/device.js';
import { IpIndex, ipv4Key } from './ip-index.js';
import type { Breaker } from './suspensions.js';

// Hot record of one slot: 32 bytes in one ArrayBuffer, seen as Float64Array (index 4s) and
// Int32Array (index 8s + field). Everything an eviction or a sighting reads sits in this one
// record: at most one cache line per device, wherever the device is in memory.
const F64_STRIDE = 4; // lastSeenMs at f64[4s]
const I32_STRIDE = 8; // f64[4s] covers i32[8s] and i32[8s + 1]
const OLDER = 2; // LRU list: next older slot, -1 at the oldest (free list link while free)
const NEWER = 3; // LRU list: next newer slot, -1 at the newest
const INS_PREV = 4; // insertion-order list: previous slot, -1 at the first
const INS_NEXT = 5; // insertion-order list: next slot, -1 at the last
const KEY = 6; // ipv4Key(ip) | 0
const FLAGS = 7; // which cold fields hold data (below)
const RECORD_BYTES = 32;

// Cold fields are read only when their flag is set, so adding, evicting or touching a device
// with no SNMP data and no breaker never reads a cold array.
const HAS_PING = 1;
const HAS_SNMP_BREAKER = 2;
const HAS_SNMP_DATA = 4;
const NOT_IPV4 = 8;

const NONE = -1;
const MIN_SLOTS = 64;

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * Device storage for {@link DeviceStore}: struct-of-arrays records addressed by slot number,
 * an {@link IpIndex} from IP to slot, a doubly linked LRU list and an insertion-order list, both
 * threaded through the records by slot number (Int32 links, no objects).
 *
 * Slots of removed devices are reused (LIFO), so a full store evicting and adding makes no
 * garbage and writes the new device into the lines the victim just occupied. Storage grows by
 * doubling up to `maxSlots` (an O(n) copy and re-index, only while the store is filling); a
 * store at capacity never re-allocates or re-hashes.
 *
 * This class keeps lists and index consistent; it knows nothing of suspensions or events.
 */
export class DeviceSlots {
  readonly #maxSlots: number;
  #capacity = 0;
  #used = 0; // slots ever handed out; slots >= #used are untouched
  #size = 0;
  #freeHead = NONE;
  #buf = new ArrayBuffer(0);
  #f64 = new Float64Array(this.#buf);
  #i32 = new Int32Array(this.#buf);
  #firstSeenMs = new Float64Array(0);
  #lastSnmpMs = new Float64Array(0);
  readonly #ips: string[] = [];
  readonly #hostnames: string[] = [];
  readonly #snmp: (SnmpInfo | undefined)[] = [];
  readonly #ping: (Breaker | undefined)[] = [];
  readonly #snmpBreaker: (Breaker | undefined)[] = [];
  readonly #index: IpIndex;
  #oldest = NONE;
  #newest = NONE;
  #first = NONE;
  #last = NONE;
  // Open insertion-order iterators, held weakly: an abandoned iterator must not be kept alive.
  readonly #cursors = new Set<WeakRef<SlotCursor>>();

  /** Storage for up to `maxSlots` devices; memory is allocated as devices arrive. */
  constructor(maxSlots: number) {
    this.#maxSlots = maxSlots;
    this.#index = new IpIndex(0);
    this.#grow(Math.min(maxSlots, MIN_SLOTS));
  }

  /** Devices held. */
  get size(): number {
    return this.#size;
  }

  /** Slots allocated (grows by doubling up to maxSlots). */
  get capacity(): number {
    return this.#capacity;
  }

  /** The parsed key {@link find} and {@link add} expect: `ipv4Key(ip)`. */
  keyOf(ip: string): number {
    return ipv4Key(ip);
  }

  /** Slot of `ip`, or -1. `key` is {@link keyOf}(ip). */
  find(ip: string, key: number): number {
    return this.#index.find(ip, key);
  }

  /**
   * Adds an absent `ip` (size < maxSlots) at the newest end of the LRU list and the end of the
   * insertion order, with no SNMP data and no breakers. Returns its slot.
   */
  add(ip: string, key: number, firstSeenMs: number, lastSeenMs: number): number {
    let s = this.#freeHead;
    if (s !== NONE) {
      this.#freeHead = this.#i32[s * I32_STRIDE + OLDER]!;
    } else {
      if (this.#used === this.#capacity) this.#grow(Math.min(this.#maxSlots, this.#capacity * 2));
      s = this.#used++;
    }
    const r = s * I32_STRIDE;
    const i32 = this.#i32;
    this.#f64[s * F64_STRIDE] = lastSeenMs;
    i32[r + KEY] = key | 0;
    i32[r + FLAGS] = key < 0 ? NOT_IPV4 : 0;
    this.#firstSeenMs[s] = firstSeenMs;
    this.#ips[s] = ip;
    this.#index.insert(ip, key, s);
    // Newest end of the LRU list.
    const tail = this.#newest;
    i32[r + OLDER] = tail;
    i32[r + NEWER] = NONE;
    if (tail === NONE) this.#oldest = s;
    else i32[tail * I32_STRIDE + NEWER] = s;
    this.#newest = s;
    // End of the insertion order.
    const last = this.#last;
    i32[r + INS_PREV] = last;
    i32[r + INS_NEXT] = NONE;
    if (last === NONE) this.#first = s;
    else i32[last * I32_STRIDE + INS_NEXT] = s;
    this.#last = s;
    this.#size++;
    return s;
  }

  /** Removes the device in slot `s` from the index and both lists and frees the slot. */
  remove(s: number): void {
    const r = s * I32_STRIDE;
    const i32 = this.#i32;
    const flags = i32[r + FLAGS]!;
    const ip = this.#ips[s]!;
    this.#index.delete(ip, flags & NOT_IPV4 ? -1 : i32[r + KEY]! >>> 0);
    this.#unlinkLru(s);
    const prev = i32[r + INS_PREV]!;
    const next = i32[r + INS_NEXT]!;
    if (this.#cursors.size > 0) this.#retreatCursors(s, prev);
    if (prev === NONE) this.#first = next;
    else i32[prev * I32_STRIDE + INS_NEXT] = next;
    if (next === NONE) this.#last = prev;
    else i32[next * I32_STRIDE + INS_PREV] = prev;
    // Drop references so a freed slot keeps nothing alive.
    if (flags & HAS_PING) this.#ping[s] = undefined;
    if (flags & HAS_SNMP_BREAKER) this.#snmpBreaker[s] = undefined;
    if (flags & HAS_SNMP_DATA) {
      this.#snmp[s] = undefined;
      this.#hostnames[s] = '';
    }
    this.#ips[s] = '';
    i32[r + FLAGS] = 0;
    i32[r + OLDER] = this.#freeHead;
    this.#freeHead = s;
    this.#size--;
  }

  // ------------------------------------------------------------ LRU list (sighting order)

  /** Least recently sighted slot, or -1 when empty. */
  get oldest(): number {
    return this.#oldest;
  }

  /** Most recently sighted slot, or -1 when empty. */
  get newest(): number {
    return this.#newest;
  }

  /** Next newer slot in sighting order, or -1. */
  newer(s: number): number {
    return this.#i32[s * I32_STRIDE + NEWER]!;
  }

  /** Next older slot in sighting order, or -1. */
  older(s: number): number {
    return this.#i32[s * I32_STRIDE + OLDER]!;
  }

  /** Moves slot `s` to the newest end of the sighting order. */
  moveToNewest(s: number): void {
    if (s === this.#newest) return;
    this.#unlinkLru(s);
    const i32 = this.#i32;
    const tail = this.#newest;
    i32[s * I32_STRIDE + OLDER] = tail;
    i32[s * I32_STRIDE + NEWER] = NONE;
    if (tail === NONE) this.#oldest = s;
    else i32[tail * I32_STRIDE + NEWER] = s;
    this.#newest = s;
  }

  /** Re-links the whole sighting order as `order` (oldest first), which must hold every slot in use once. */
  relinkLru(order: ArrayLike<number>): void {
    const i32 = this.#i32;
    let prev = NONE;
    for (let k = 0; k < order.length; k++) {
      const s = order[k]!;
      i32[s * I32_STRIDE + OLDER] = prev;
      if (prev !== NONE) i32[prev * I32_STRIDE + NEWER] = s;
      prev = s;
    }
    if (prev !== NONE) i32[prev * I32_STRIDE + NEWER] = NONE;
    this.#oldest = order.length > 0 ? order[0]! : NONE;
    this.#newest = prev;
  }

  // ------------------------------------------------------------ insertion order

  /** First slot in insertion order, or -1. */
  get first(): number {
    return this.#first;
  }

  /** Next slot in insertion order, or -1. */
  next(s: number): number {
    return this.#i32[s * I32_STRIDE + INS_NEXT]!;
  }

  /**
   * A live iterator over the devices in insertion order, like a Map's: devices added while it is
   * open are included, devices removed before it reaches them are skipped. `value` maps a slot.
   */
  iterate<T>(value: (s: number) => T): IterableIterator<T> {
    const it = new SlotIterator(this, value);
    this.#cursors.add(it.ref);
    return it;
  }

  /** Iterators neither finished nor collected (for tests). */
  get openIterators(): number {
    let n = 0;
    for (const ref of this.#cursors) if (ref.deref() !== undefined) n++;
    return n;
  }

  /** Stops updating a finished iterator (internal to {@link SlotIterator}). */
  release(ref: WeakRef<SlotCursor>): void {
    this.#cursors.delete(ref);
  }

  // ------------------------------------------------------------ fields

  /** The IP in slot `s`. */
  ip(s: number): string {
    return this.#ips[s]!;
  }

  /** Last sighting, ms since the epoch. */
  lastSeenMs(s: number): number {
    return this.#f64[s * F64_STRIDE]!;
  }

  /** Sets the last sighting, ms since the epoch. */
  setLastSeenMs(s: number, ms: number): void {
    this.#f64[s * F64_STRIDE] = ms;
  }

  /** First sighting, ms since the epoch. */
  firstSeenMs(s: number): number {
    return this.#firstSeenMs[s]!;
  }

  /** sysName when SNMP answered with one, else the IP. */
  hostname(s: number): string {
    return this.#i32[s * I32_STRIDE + FLAGS]! & HAS_SNMP_DATA ? this.#hostnames[s]! : this.#ips[s]!;
  }

  /** Latest SNMP answer, or undefined. */
  snmp(s: number): SnmpInfo | undefined {
    return this.#i32[s * I32_STRIDE + FLAGS]! & HAS_SNMP_DATA ? this.#snmp[s] : undefined;
  }

  /** Last successful SNMP poll, ms since the epoch; 0 if never. */
  lastSnmpMs(s: number): number {
    return this.#i32[s * I32_STRIDE + FLAGS]! & HAS_SNMP_DATA ? this.#lastSnmpMs[s]! : 0;
  }

  /** Sets hostname, SNMP answer and last SNMP time together. */
  setSnmp(s: number, hostname: string, info: SnmpInfo | undefined, lastSnmpMs: number): void {
    this.#i32[s * I32_STRIDE + FLAGS]! |= HAS_SNMP_DATA;
    this.#hostnames[s] = hostname;
    this.#snmp[s] = info;
    this.#lastSnmpMs[s] = lastSnmpMs;
  }

  /** Ping breaker, or undefined when the device never failed a ping. */
  pingBreaker(s: number): Breaker | undefined {
    return this.#i32[s * I32_STRIDE + FLAGS]! & HAS_PING ? this.#ping[s] : undefined;
  }

  /** Attaches the ping breaker. */
  setPingBreaker(s: number, b: Breaker): void {
    this.#i32[s * I32_STRIDE + FLAGS]! |= HAS_PING;
    this.#ping[s] = b;
  }

  /** SNMP breaker, or undefined when SNMP never failed. */
  snmpBreaker(s: number): Breaker | undefined {
    return this.#i32[s * I32_STRIDE + FLAGS]! & HAS_SNMP_BREAKER ? this.#snmpBreaker[s] : undefined;
  }

  /** Attaches the SNMP breaker. */
  setSnmpBreaker(s: number, b: Breaker): void {
    this.#i32[s * I32_STRIDE + FLAGS]! |= HAS_SNMP_BREAKER;
    this.#snmpBreaker[s] = b;
  }

  // ------------------------------------------------------------ internals

  #unlinkLru(s: number): void {
    const i32 = this.#i32;
    const older = i32[s * I32_STRIDE + OLDER]!;
    const newer = i32[s * I32_STRIDE + NEWER]!;
    if (older === NONE) this.#oldest = newer;
    else i32[older * I32_STRIDE + NEWER] = newer;
    if (newer === NONE) this.#newest = older;
    else i32[newer * I32_STRIDE + OLDER] = older;
  }

  // An iterator whose last yielded slot is being removed steps back to the previous one, which it
  // has also yielded (or to the start), so it continues exactly where a Map iterator would.
  #retreatCursors(s: number, prev: number): void {
    for (const ref of this.#cursors) {
      const c = ref.deref();
      if (c === undefined) this.#cursors.delete(ref);
      else if (c.anchor === s) c.anchor = prev;
    }
  }

  #grow(capacity: number): void {
    if (capacity <= this.#capacity) throw new RangeError(`DeviceSlots is full (${this.#capacity} slots)`);
    const buf = new ArrayBuffer(capacity * RECORD_BYTES);
    new Uint8Array(buf).set(new Uint8Array(this.#buf));
    this.#buf = buf;
    this.#f64 = new Float64Array(buf);
    this.#i32 = new Int32Array(buf);
    this.#firstSeenMs = grown(this.#firstSeenMs, capacity);
    this.#lastSnmpMs = grown(this.#lastSnmpMs, capacity);
    for (let s = this.#capacity; s < capacity; s++) {
      this.#ips.push('');
      this.#hostnames.push('');
      this.#snmp.push(undefined);
      this.#ping.push(undefined);
      this.#snmpBreaker.push(undefined);
    }
    this.#capacity = capacity;
    this.#index.resize(capacity);
  }
}

function grown(a: Float64Array<ArrayBuffer>, length: number): Float64Array<ArrayBuffer> {
  const b = new Float64Array(length);
  b.set(a);
  return b;
}

/** Position of an open iterator: the last slot it yielded (still present), or -1 before the first. */
interface SlotCursor {
  anchor: number;
}

class SlotIterator<T> implements IterableIterator<T>, SlotCursor {
  anchor = NONE;
  readonly ref: WeakRef<SlotIterator<T>> = new WeakRef(this);
  #slots: DeviceSlots | undefined;
  readonly #value: (s: number) => T;

  constructor(slots: DeviceSlots, value: (s: number) => T) {
    this.#slots = slots;
    this.#value = value;
  }

  next(): IteratorResult<T, undefined> {
    const slots = this.#slots;
    if (slots === undefined) return DONE;
    const s = this.anchor === NONE ? slots.first : slots.next(this.anchor);
    if (s === NONE) return this.return();
    this.anchor = s;
    return { done: false, value: this.#value(s) };
  }

  return(): IteratorResult<T, undefined> {
    this.#slots?.release(this.ref);
    this.#slots = undefined;
    return DONE;
  }

  [Symbol.iterator](): this {
    return this;
  }
}
