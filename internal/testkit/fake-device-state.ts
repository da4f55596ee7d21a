import type { Clock } from '../clock/clock.js';
import type { Device, DeviceEvent, DeviceListener, RemovalCause } from '../model/device.js';

interface Rec {
  ip: string;
  firstSeenMs: number;
  lastSeenMs: number;
  fails: number;
  suspendedUntilMs: number;
}

/**
 * An in-memory stand-in for internal/state's DeviceStore with the same method names and the same
 * semantics where the scheduler and reconciler depend on them: LRU eviction at capacity, change
 * events emitted synchronously, and the Go ping breaker (fails++; at `maxFails` trip: fails = 0,
 * suspendedUntil = now + backoff, `suspended` event; a success resets and clears, `resumed` event).
 */
export class FakeDeviceState {
  readonly #clock: Clock;
  readonly #capacity: number;
  readonly #devices = new Map<string, Rec>();
  readonly #listeners = new Set<DeviceListener>();
  /** Ping failures reported, per IP (for assertions). */
  readonly failuresReported = new Map<string, number>();

  /** @param capacity max devices before the least recently seen is evicted */
  constructor(clock: Clock, capacity = Number.POSITIVE_INFINITY) {
    this.#clock = clock;
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#devices.size;
  }

  ips(): IterableIterator<string> {
    return this.#devices.keys();
  }

  has(ip: string): boolean {
    return this.#devices.has(ip);
  }

  get(ip: string): Device | undefined {
    const r = this.#devices.get(ip);
    if (r === undefined) return undefined;
    return {
      ip: r.ip,
      hostname: r.ip,
      snmp: undefined,
      firstSeenMs: r.firstSeenMs,
      lastSeenMs: r.lastSeenMs,
      lastSnmpMs: 0,
      ping: { consecutiveFails: r.fails, suspendedUntilMs: r.suspendedUntilMs },
      snmpBreaker: { consecutiveFails: 0, suspendedUntilMs: 0 },
    };
  }

  /** Discovery saw `ip`: adds it (evicting the least recently seen at capacity) or refreshes it. */
  markSeen(ip: string): { added: boolean; evicted: string | undefined } {
    const now = this.#clock.now();
    const existing = this.#devices.get(ip);
    if (existing !== undefined) {
      this.#refresh(existing, now);
      return { added: false, evicted: undefined };
    }
    let evicted: string | undefined;
    if (this.#devices.size >= this.#capacity) {
      // O(n) scan for the least recently seen: fine for a test fake, and it keeps touch() O(1).
      let oldest: Rec | undefined;
      for (const r of this.#devices.values()) if (oldest === undefined || r.lastSeenMs < oldest.lastSeenMs) oldest = r;
      if (oldest !== undefined) {
        evicted = oldest.ip;
        this.remove(evicted, 'evicted');
      }
    }
    this.#devices.set(ip, { ip, firstSeenMs: now, lastSeenMs: now, fails: 0, suspendedUntilMs: 0 });
    this.#emit({ type: 'added', ip });
    return { added: true, evicted };
  }

  touch(ip: string): void {
    const r = this.#devices.get(ip);
    if (r !== undefined) this.#refresh(r, this.#clock.now());
  }

  /** Test helper: removes a device with the given cause; returns whether it existed. */
  remove(ip: string, cause: RemovalCause = 'removed'): boolean {
    if (!this.#devices.delete(ip)) return false;
    this.#emit({ type: 'removed', ip, cause });
    return true;
  }

  /** Test helper: removes devices not seen for `olderThanMs`; returns their IPs. */
  prune(olderThanMs: number): string[] {
    const cutoff = this.#clock.now() - olderThanMs;
    const gone: string[] = [];
    for (const r of this.#devices.values()) if (r.lastSeenMs < cutoff) gone.push(r.ip);
    for (const ip of gone) this.remove(ip, 'pruned');
    return gone;
  }

  /** A reply: refreshes lastSeen (as DeviceStore does), resets fails, clears a suspension. */
  recordPingSuccess(ip: string): void {
    const r = this.#devices.get(ip);
    if (r === undefined) return;
    this.#refresh(r, this.#clock.now());
    r.fails = 0;
    if (r.suspendedUntilMs !== 0) {
      r.suspendedUntilMs = 0;
      this.#emit({ type: 'resumed', ip, kind: 'ping' });
    }
  }

  recordPingFailure(ip: string, maxFails: number, backoffMs: number): boolean {
    this.failuresReported.set(ip, (this.failuresReported.get(ip) ?? 0) + 1);
    const r = this.#devices.get(ip);
    if (r === undefined) return false;
    r.fails++;
    if (r.fails < maxFails) return false;
    r.fails = 0;
    r.suspendedUntilMs = this.#clock.now() + backoffMs;
    this.#emit({ type: 'suspended', ip, kind: 'ping', untilMs: r.suspendedUntilMs });
    return true;
  }

  isPingSuspended(ip: string): boolean {
    const r = this.#devices.get(ip);
    return r !== undefined && r.suspendedUntilMs > this.#clock.now();
  }

  pingSuspendedCount(): number {
    const now = this.#clock.now();
    let n = 0;
    for (const r of this.#devices.values()) if (r.suspendedUntilMs > now) n++;
    return n;
  }

  subscribe(listener: DeviceListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  #refresh(r: Rec, now: number): void {
    r.lastSeenMs = now;
  }

  #emit(e: DeviceEvent): void {
    for (const l of this.#listeners) l(e);
  }
}
