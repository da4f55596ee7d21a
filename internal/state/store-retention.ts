import type { Clock, TimerHandle } from '../clock/clock.js';
import type { Logger } from '../log/log.js';
import type { RemovalCause } from '../model/device.js';
import type { DeviceSlots } from './device-slots.js';
import { nextDueMs } from './store-persistence.js';

/** Options for {@link StoreRetention}. */
export interface StoreRetentionOptions {
  /** The store's device records, in sighting order (oldest first). */
  slots: DeviceSlots;
  /** Timer source for the prune timer. */
  clock: Clock;
  /** The store's logger. */
  log: Logger;
  /** Age at which the prune timer removes a device, in ms. */
  pruneAfterMs: number;
  /** Period of the prune timer in ms; 0 disables it. */
  pruneIntervalMs: number;
  /** Removes the device in slot `s` as pruned (the store emits the event). */
  remove: (s: number) => void;
  /** The store's full prune (reads the clock, flushes events); the timer runs it. */
  prune: (olderThanMs: number) => string[];
}

/** Devices the store let go on its own since start (a removal asked for is not counted). */
export interface RemovalStats {
  /** Devices evicted to make room for a newly discovered one (max_devices reached). */
  evicted: number;
  /** Devices removed by pruning (not seen for prune_after). */
  pruned: number;
  /** Newly discovered hosts not added because every device in a full store was a pinned target. */
  notAdded: number;
}

/**
 * Which devices the device store keeps: the pinned set (configured targets, never evicted or
 * pruned), the choice of eviction victim, and pruning of devices not seen for a while, once per
 * call and periodically while started. Tracks whether sighting order is still lastSeen order, so
 * a prune can stop at the first fresh device.
 */
export class StoreRetention {
  readonly #opts: StoreRetentionOptions;
  readonly #pinned = new Set<string>();
  // True while list order equals lastSeenMs order, which lets prune stop at the first fresh device.
  #orderedByLastSeen = true;
  #running = false;
  #timer: TimerHandle | undefined = undefined;
  readonly #removals: RemovalStats = { evicted: 0, pruned: 0, notAdded: 0 };

  constructor(opts: StoreRetentionOptions) {
    this.#opts = opts;
  }

  /** Pins `ip`: it is never chosen for eviction or pruning. */
  pin(ip: string): void {
    this.#pinned.add(ip);
  }

  /** Releases `ip` to the usual eviction and pruning. */
  unpin(ip: string): void {
    this.#pinned.delete(ip);
  }

  /** Whether `ip` is pinned. */
  isPinned(ip: string): boolean {
    return this.#pinned.has(ip);
  }

  /**
   * The least recently seen device that is not pinned, for a new device to take its place; -1 when
   * every device is pinned, and the new device is counted as turned away. O(pinned devices older than it).
   */
  evictable(): number {
    const slots = this.#opts.slots;
    let s = slots.oldest;
    if (this.#pinned.size === 0) return s;
    while (s >= 0 && this.#pinned.has(slots.ip(s))) s = slots.newer(s);
    if (s < 0) this.#removals.notAdded++;
    return s;
  }

  /** Counts a device the store removed; only evictions and prunes are counted. */
  removed(cause: RemovalCause): void {
    if (cause === 'evicted') this.#removals.evicted++;
    else if (cause === 'pruned') this.#removals.pruned++;
  }

  /** Devices evicted, pruned, and discovered hosts turned away since start (a copy). */
  stats(): RemovalStats {
    return { ...this.#removals };
  }

  /**
   * Notes a sighting at `now` about to be placed right after slot `before` (-1: none): sighting
   * order stays lastSeen order unless this sighting is earlier than that one.
   */
  sighting(before: number, now: number): void {
    if (before >= 0 && now < this.#opts.slots.lastSeenMs(before)) this.#orderedByLastSeen = false;
  }

  /** Records that the slots were just loaded in lastSeen order (a restore). */
  ordered(): void {
    this.#orderedByLastSeen = true;
  }

  /**
   * Removes every unpinned device with lastSeen < cutoffMs and returns their IPs, oldest first.
   * O(pruned) while the clock has not stepped back, else one O(n) pass. Callers flush events.
   */
  prune(cutoffMs: number): string[] {
    const slots = this.#opts.slots;
    const victims: number[] = [];
    if (this.#orderedByLastSeen) {
      for (let s = slots.oldest; s >= 0 && slots.lastSeenMs(s) < cutoffMs; s = slots.newer(s)) victims.push(s);
    } else {
      let ordered = true;
      let prevMs = -Infinity;
      for (let s = slots.oldest; s >= 0; s = slots.newer(s)) {
        const lastSeenMs = slots.lastSeenMs(s);
        if (lastSeenMs < cutoffMs) {
          victims.push(s);
        } else {
          if (lastSeenMs < prevMs) ordered = false;
          prevMs = lastSeenMs;
        }
      }
      this.#orderedByLastSeen = ordered;
    }
    const pruned: string[] = [];
    for (const s of victims) {
      if (this.#pinned.size > 0 && this.#pinned.has(slots.ip(s))) continue;
      pruned.push(slots.ip(s));
      this.#opts.remove(s);
    }
    return pruned;
  }

  /** Starts the prune timer (unless `pruneIntervalMs` is 0). */
  start(): void {
    this.#running = true;
    const { clock, pruneIntervalMs } = this.#opts;
    if (pruneIntervalMs > 0) this.#arm(clock.now() + pruneIntervalMs);
  }

  /** Stops the prune timer. */
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  #arm(dueMs: number): void {
    const { clock, log, pruneAfterMs, pruneIntervalMs } = this.#opts;
    this.#timer = clock.setTimeout(() => {
      if (!this.#running) return;
      try {
        const pruned = this.#opts.prune(pruneAfterMs);
        if (pruned.length > 0) log.info({ count: pruned.length, prune_after_ms: pruneAfterMs }, 'pruned stale devices');
      } catch (err) {
        log.error({ err }, 'prune failed');
      }
      this.#arm(nextDueMs(clock, dueMs, pruneIntervalMs));
    }, dueMs - clock.now());
  }
}
