import type { Clock } from '../clock/clock.js';
import { OptionChecks } from '../errors/option-checks.js';
import { createLogger, type Logger } from '../log/log.js';
import type { Device, DeviceListener, RemovalCause, SnmpInfo } from '../model/device.js';
import { nodeStateFs, type StateFs } from './state-file.js';
import { DeviceEventQueue } from './device-events.js';
import { loadRestored, StorePersistence, type PersistenceStats } from './store-persistence.js';
import { DeviceSlots } from './device-slots.js';
import { StoreBreakers } from './store-breakers.js';
import { copySnmpInfo, deviceView } from './device-view.js';
import { StoreRetention, type RemovalStats } from './store-retention.js';
import { StoreLifecycle } from './store-lifecycle.js';

const MINUTE_MS = 60_000;
const HOUR_MS = 60 * MINUTE_MS;

/** Options for {@link DeviceStore}. */
export interface DeviceStoreOptions {
  /** Capacity in devices (>= 1); adding a new device at capacity evicts the least recently seen one. */
  maxDevices: number;
  /** Time source for timestamps, suspensions and timers. */
  clock: Clock;
  /** Parent logger; the store logs as `stage: state`. Silent when absent. */
  logger?: Logger;
  /** Devices not seen for this long are removed by the periodic prune, in ms (config `prune_after`). */
  pruneAfterMs: number;
  /** Period of the prune timer in ms (config `prune_interval`); 0 disables it. */
  pruneIntervalMs: number;
  /** Snapshot path (config `state_file`); '' disables restore and snapshots. */
  stateFile: string;
  /** Period of background snapshots in ms (config `state_snapshot_interval`); 0 keeps only the final one at stop(). */
  snapshotIntervalMs: number;
  /** Devices serialised per write while snapshotting; bounds how long the event loop is held. */
  snapshotChunkDevices: number;
  /** File system used for the state file. */
  fs: StateFs;
}

/**
 * Defaults. `stateFile` is '' here so a bare DeviceStore (tests, tools) never touches the disk;
 * the agent passes the config's `state_file` (default `data/state.json`).
 */
export const defaultDeviceStoreOptions: Readonly<Omit<DeviceStoreOptions, 'clock' | 'logger'>> = Object.freeze({
  maxDevices: 20_000,
  pruneAfterMs: 24 * HOUR_MS,
  pruneIntervalMs: HOUR_MS,
  stateFile: '',
  snapshotIntervalMs: 5 * MINUTE_MS,
  snapshotChunkDevices: 500,
  fs: nodeStateFs,
});

/** Result of {@link DeviceStore.markSeen}. */
export interface MarkSeenResult {
  /** True when the IP was new. */
  readonly added: boolean;
  /** IP evicted to make room, if the store was full. */
  readonly evicted: string | undefined;
}

const KNOWN: MarkSeenResult = Object.freeze({ added: false, evicted: undefined });
const ADDED: MarkSeenResult = Object.freeze({ added: true, evicted: undefined });

export type { PersistenceStats } from './store-persistence.js';
export type { RemovalStats } from './store-retention.js';

let quiet: Logger | undefined;
const quietLogger = (): Logger => (quiet ??= createLogger({ level: 'silent' }));

/**
 * The single source of truth about devices: who exists, when each was last seen, what SNMP said,
 * and the ping and SNMP circuit breakers. Replaces the Go StateManager (docs/go-parity.md) without its
 * counter bugs A–D and R1–R4.
 *
 * - Storage: {@link DeviceSlots}, struct-of-arrays records by slot number behind an
 *   open-addressing index of IPv4 addresses as integers (O(1), one cache line per lookup).
 * - Eviction: devices sit in an intrusive doubly linked list in sighting order (oldest first).
 *   A sighting moves the device to the young end in O(1); eviction takes the old end in O(1).
 *   "Least recently seen" means the device whose latest sighting was recorded first; while the
 *   wall clock does not step back this is also the smallest `lastSeenMs`.
 * - Breakers and suspended counts: {@link StoreBreakers}, one SuspensionTracker per kind (a lazily
 *   popped min-heap of end times), exact at every read, O(1) amortised.
 * - Events: {@link DeviceEventQueue}, queued while an operation runs and delivered when it has
 *   finished, so listeners always see a consistent store and may call back into it.
 * - Persistence: {@link StorePersistence}; start() restores the state file, a timer snapshots it,
 *   stop() writes a final one.
 * - Retention: {@link StoreRetention}, the pinned targets, the eviction victim and pruning.
 */
export class DeviceStore {
  readonly #opts: DeviceStoreOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #slots: DeviceSlots;
  readonly #events: DeviceEventQueue;
  readonly #persistence: StorePersistence;
  readonly #breakers: StoreBreakers;
  readonly #retention: StoreRetention;
  readonly #lifecycle: StoreLifecycle;
  #lastNowMs = -Infinity;

  constructor(opts: Partial<DeviceStoreOptions> & { clock: Clock }) {
    this.#opts = { ...defaultDeviceStoreOptions, ...opts };
    this.#clock = opts.clock;
    this.#log = (opts.logger ?? quietLogger()).child({ stage: 'state' });
    const o = this.#opts;
    new OptionChecks('state')
      .integer('maxDevices', o.maxDevices, 1)
      .positive('pruneAfterMs', o.pruneAfterMs)
      .nonNegative('pruneIntervalMs', o.pruneIntervalMs)
      .nonNegative('snapshotIntervalMs', o.snapshotIntervalMs)
      .integer('snapshotChunkDevices', o.snapshotChunkDevices, 1)
      .throwIfAny();
    this.#slots = new DeviceSlots(this.#opts.maxDevices);
    this.#events = new DeviceEventQueue(this.#log);
    this.#breakers = new StoreBreakers({
      slots: this.#slots,
      events: this.#events,
      clock: this.#clock,
      now: () => this.#now(),
    });
    this.#retention = new StoreRetention({
      slots: this.#slots,
      clock: this.#clock,
      log: this.#log,
      pruneAfterMs: this.#opts.pruneAfterMs,
      pruneIntervalMs: this.#opts.pruneIntervalMs,
      remove: (s) => this.#delete(s, 'pruned'),
      prune: (olderThanMs) => this.prune(olderThanMs),
    });
    const { stateFile, snapshotIntervalMs, snapshotChunkDevices, fs } = this.#opts;
    this.#persistence = new StorePersistence({
      stateFile,
      snapshotIntervalMs,
      snapshotChunkDevices,
      fs,
      clock: this.#clock,
      log: this.#log,
      store: {
        devices: () => this.devices(),
        load: (devices) => {
          const target = {
            slots: this.#slots,
            breakers: this.#breakers,
            events: this.#events,
            maxDevices: this.#opts.maxDevices,
          };
          const loaded = loadRestored({ ...target, now: this.#now() }, devices);
          this.#retention.ordered();
          this.#events.flush();
          return loaded;
        },
        restoredLogFields: () => ({
          ping_suspended: this.#breakers.counted('ping'),
          snmp_suspended: this.#breakers.counted('snmp'),
        }),
      },
    });
    this.#lifecycle = new StoreLifecycle({
      persistence: this.#persistence,
      retention: this.#retention,
      breakers: this.#breakers,
      log: this.#log,
      startedFields: () => ({ count: this.#slots.size, max_devices: this.#opts.maxDevices }),
    });
  }

  // ---------------------------------------------------------------- devices

  /**
   * Records that discovery found `ip` alive. A new IP is added (evicting the least recently seen
   * device when full); a known IP has its lastSeen refreshed. Go did not refresh on rediscovery;
   * we do, because a discovery reply is a sighting like any other.
   */
  markSeen(ip: string): MarkSeenResult {
    const now = this.#now();
    const slots = this.#slots;
    const key = slots.keyOf(ip);
    const known = slots.find(ip, key);
    if (known >= 0) {
      this.#sighted(known, now);
      this.#events.flush();
      return KNOWN;
    }
    let evicted: string | undefined;
    if (slots.size >= this.#opts.maxDevices) {
      const victim = this.#retention.evictable();
      // Every device is pinned: a configured target outranks a newly discovered host (counted).
      if (victim < 0) return KNOWN;
      evicted = slots.ip(victim);
      this.#delete(victim, 'evicted');
    }
    this.#retention.sighting(slots.newest, now);
    slots.add(ip, key, now, now);
    if (this.#events.listening) this.#events.push({ type: 'added', ip });
    this.#events.flush();
    return evicted === undefined ? ADDED : { added: true, evicted };
  }

  /**
   * Holds `ip` (a configured target) in the state: it is never evicted or pruned until
   * {@link unpin}. Adds it (as seen now) when unknown. Costs nothing on the IPv4 path: the pinned
   * set is consulted only when choosing a victim.
   */
  pin(ip: string): void {
    this.#retention.pin(ip);
    if (!this.has(ip)) this.markSeen(ip);
  }

  /** Releases `ip` to the usual eviction and pruning (it stays in the state). */
  unpin(ip: string): void {
    this.#retention.unpin(ip);
  }

  /** Whether `ip` is pinned. */
  isPinned(ip: string): boolean {
    return this.#retention.isPinned(ip);
  }

  /** Sets lastSeen to now (a successful probe); no-op for an unknown IP. */
  touch(ip: string): void {
    const s = this.#find(ip);
    if (s >= 0) this.#sighted(s, this.#now());
    this.#events.flush();
  }

  /** A copy of the device, or undefined. Changing the copy changes nothing in the store. */
  get(ip: string): Device | undefined {
    const s = this.#find(ip);
    return s < 0 ? undefined : deviceView(this.#slots, s);
  }

  /** Whether `ip` is known. */
  has(ip: string): boolean {
    return this.#find(ip) >= 0;
  }

  /** Number of devices. */
  get size(): number {
    return this.#slots.size;
  }

  /** Configured capacity in devices. */
  get maxDevices(): number {
    return this.#opts.maxDevices;
  }

  /** Known IPs in insertion order; a live iterator (devices added meanwhile are included, removed ones skipped). */
  ips(): IterableIterator<string> {
    return this.#slots.iterate(this.#ipOf);
  }

  /** Copies of all devices in insertion order; live like {@link ips}. */
  devices(): IterableIterator<Device> {
    return this.#slots.iterate(this.#viewOf);
  }

  /** The IP the next eviction would remove, or undefined when empty. */
  leastRecentlySeen(): string | undefined {
    const s = this.#slots.oldest;
    return s < 0 ? undefined : this.#slots.ip(s);
  }

  /** Removes a device (event cause `removed`); returns whether it existed. */
  remove(ip: string): boolean {
    const s = this.#find(ip);
    if (s < 0) return false;
    this.#delete(s, 'removed');
    this.#events.flush();
    return true;
  }

  /**
   * Removes every device with lastSeen < now − olderThanMs (event cause `pruned`) and returns
   * their IPs, oldest first. O(pruned) while the clock has not stepped back, else one O(n) pass.
   */
  prune(olderThanMs: number): string[] {
    const pruned = this.#retention.prune(this.#now() - olderThanMs);
    this.#events.flush();
    return pruned;
  }

  // ---------------------------------------------------------------- breakers

  /** A reply arrived: lastSeen = now, fails reset, suspension cleared ('resumed' if one was counted). */
  recordPingSuccess(ip: string): void {
    const s = this.#find(ip);
    if (s < 0) return;
    this.#sighted(s, this.#now());
    this.#breakers.succeed(s, 'ping');
    this.#events.flush();
  }

  /**
   * A probe failed. After `maxFails` consecutive failures the breaker trips: fails reset to 0,
   * suspended until now + backoffMs, 'suspended' emitted. Returns true when this call tripped it;
   * false for an unknown IP. Does not change lastSeen.
   */
  recordPingFailure(ip: string, maxFails: number, backoffMs: number): boolean {
    const s = this.#find(ip);
    if (s < 0) return false;
    const tripped = this.#breakers.fail(s, 'ping', { maxFails, backoffMs, now: this.#now() });
    this.#events.flush();
    return tripped;
  }

  /** Whether pinging `ip` is suspended right now; false for an unknown IP. */
  isPingSuspended(ip: string): boolean {
    const s = this.#find(ip);
    const b = s < 0 ? undefined : this.#slots.pingBreaker(s);
    const active = b !== undefined && this.#now() < b.untilMs;
    this.#events.flush();
    return active;
  }

  /**
   * SNMP answered: stores a copy of `info`, hostname = sysName || ip, lastSnmpMs = now, SNMP
   * breaker reset. Deliberately does NOT refresh lastSeen (Go did, which made devices that stop
   * answering ICMP but still answer SNMP immune to pruning and eviction; docs/go-parity.md).
   */
  recordSnmpSuccess(ip: string, info: SnmpInfo): void {
    const s = this.#find(ip);
    if (s < 0) return;
    this.#slots.setSnmp(s, info.sysName || ip, copySnmpInfo(info), this.#now());
    this.#breakers.succeed(s, 'snmp');
    this.#events.flush();
  }

  /** SNMP mirror of {@link recordPingFailure}. */
  recordSnmpFailure(ip: string, maxFails: number, backoffMs: number): boolean {
    const s = this.#find(ip);
    if (s < 0) return false;
    const tripped = this.#breakers.fail(s, 'snmp', { maxFails, backoffMs, now: this.#now() });
    this.#events.flush();
    return tripped;
  }

  /** Whether SNMP polling of `ip` is suspended right now; false for an unknown IP. */
  isSnmpSuspended(ip: string): boolean {
    const s = this.#find(ip);
    const b = s < 0 ? undefined : this.#slots.snmpBreaker(s);
    const active = b !== undefined && this.#now() < b.untilMs;
    this.#events.flush();
    return active;
  }

  /**
   * Devices whose ping suspension is active right now (exactly the brute-force count). O(1)
   * amortised; suspensions found expired here emit their 'resumed' event first.
   */
  pingSuspendedCount(): number {
    const count = this.#breakers.activeCount('ping', this.#now());
    this.#events.flush();
    return count;
  }

  /** SNMP mirror of {@link pingSuspendedCount}. */
  snmpSuspendedCount(): number {
    const count = this.#breakers.activeCount('snmp', this.#now());
    this.#events.flush();
    return count;
  }

  // ---------------------------------------------------------------- events

  /**
   * Registers a listener for added / removed(cause) / suspended(kind, untilMs) / resumed(kind).
   * Events are delivered synchronously after the operation that caused them completes.
   * A removed device gets no 'resumed'. A suspension that simply runs out emits 'resumed' at its
   * end time while the store is started, or at the next count read, whichever comes first.
   * New subscribers get no replay: read {@link devices} once, then apply events.
   * Returns the unsubscribe function (idempotent).
   */
  subscribe(listener: DeviceListener): () => void {
    return this.#events.subscribe(listener);
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Restores the state file (missing, truncated or corrupt: one warning, start empty; an unusable
   * file is kept beside it as `<state_file>.bad`), then starts the prune, snapshot and expiry
   * timers. Restored devices emit 'added' (and 'suspended' for suspensions still active), so
   * subscribe before start() to see them. Idempotent.
   */
  start(): Promise<void> {
    return this.#lifecycle.start();
  }

  /**
   * Stops the timers, waits for a snapshot in progress and writes a final one (only if start()
   * ran: a store that never restored must not overwrite the file). Never rejects: a failed final
   * snapshot is logged. Idempotent; concurrent callers share one completion.
   */
  stop(): Promise<void> {
    return this.#lifecycle.stop();
  }

  /**
   * Writes a snapshot now (queued behind one in progress). Resolves when it is on disk; rejects
   * when it failed (the previous file is then intact). No-op when `stateFile` is ''.
   */
  snapshot(): Promise<void> {
    return this.#persistence.snapshot();
  }

  /** Persistence counters (a copy). */
  persistenceStats(): PersistenceStats {
    return this.#persistence.stats();
  }

  /** Devices evicted, pruned, and discovered hosts turned away since start (a copy). */
  removalStats(): RemovalStats {
    return this.#retention.stats();
  }

  // ---------------------------------------------------------------- internals

  // Every read of time goes through here so a wall clock stepping back is noticed once.
  #now(): number {
    const t = this.#clock.now();
    const prev = this.#lastNowMs;
    this.#lastNowMs = t;
    if (t < prev) this.#clockSteppedBack(t, prev);
    return t;
  }

  #clockSteppedBack(now: number, prevMs: number): void {
    this.#log.warn({ by_ms: prevMs - now }, 'wall clock stepped back; re-checking suspensions');
    this.#breakers.recount(now);
  }

  // Slot of `ip` or -1, parsing it once.
  #find(ip: string): number {
    return this.#slots.find(ip, this.#slots.keyOf(ip));
  }

  readonly #ipOf = (s: number): string => this.#slots.ip(s);
  readonly #viewOf = (s: number): Device => deviceView(this.#slots, s);

  #sighted(s: number, now: number): void {
    const slots = this.#slots;
    this.#retention.sighting(s === slots.newest ? slots.older(s) : slots.newest, now);
    slots.setLastSeenMs(s, now);
    slots.moveToNewest(s);
  }

  // Removal ends any counted suspension whether active or expired-but-unread (Go D and R1).
  #delete(s: number, cause: RemovalCause): void {
    const slots = this.#slots;
    this.#breakers.untrack(s);
    if (this.#events.listening) this.#events.push({ type: 'removed', ip: slots.ip(s), cause });
    this.#retention.removed(cause);
    slots.remove(s);
  }
}
