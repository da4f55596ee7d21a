import type { Clock, TimerHandle } from '../clock/clock.js';
import { NetscanError } from '../errors/errors.js';
import { createLogger, type Logger } from '../log/log.js';
import type { BreakerState, Device, DeviceEvent, DeviceListener, RemovalCause, SnmpInfo } from '../model/device.js';
import { nodeStateFs, readStateFile, StateFileError, writeStateFile, type StateFs } from './state-file.js';
import { Breaker, SuspensionTracker } from './suspensions.js';

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

/** Counters about persistence, for health and logs. */
export interface PersistenceStats {
  /** Snapshots written. */
  snapshots: number;
  /** Snapshots that failed (the previous file was kept). */
  failures: number;
  /** Periodic snapshots skipped because the previous one was still being written. */
  skipped: number;
  /** When the last successful snapshot started, ms since the epoch; 0 if none. */
  lastSnapshotMs: number;
  /** Devices in the last successful snapshot. */
  lastCount: number;
  /** Size of the last successful snapshot in bytes. */
  lastBytes: number;
  /** Wall duration of the last successful snapshot in ms. */
  lastDurationMs: number;
}

type Kind = 'ping' | 'snmp';

// The record behind one device. Data fields are written only by the data-updating methods;
// `older`/`newer` (LRU list) and Breaker.expiry (suspension heap) only by bookkeeping.
class Entry {
  ip: string;
  hostname: string;
  snmp: SnmpInfo | undefined = undefined;
  firstSeenMs: number;
  lastSeenMs: number;
  lastSnmpMs = 0;
  ping: Breaker | undefined = undefined;
  snmpBreaker: Breaker | undefined = undefined;
  older: Entry | undefined = undefined;
  newer: Entry | undefined = undefined;

  constructor(ip: string, firstSeenMs: number, lastSeenMs: number) {
    this.ip = ip;
    this.hostname = ip;
    this.firstSeenMs = firstSeenMs;
    this.lastSeenMs = lastSeenMs;
  }

  // Turns an evicted record into a new device. At capacity every add evicts, and recycling the
  // record keeps the steady state allocation-free (no old-generation garbage at 1M devices).
  // Safe because nothing keeps an Entry after removal: heap nodes are judged by their Breaker,
  // which is dropped here, and events carry only the IP.
  recycle(ip: string, nowMs: number): this {
    this.ip = ip;
    this.hostname = ip;
    this.snmp = undefined;
    this.firstSeenMs = nowMs;
    this.lastSeenMs = nowMs;
    this.lastSnmpMs = 0;
    this.ping = undefined;
    this.snmpBreaker = undefined;
    return this;
  }
}

const NO_BREAKER: BreakerState = Object.freeze({ consecutiveFails: 0, suspendedUntilMs: 0 });

function breakerView(b: Breaker | undefined): BreakerState {
  return b === undefined || (b.fails === 0 && b.untilMs === 0) ? NO_BREAKER : { consecutiveFails: b.fails, suspendedUntilMs: b.untilMs };
}

function view(e: Entry): Device {
  return {
    ip: e.ip,
    hostname: e.hostname,
    snmp: e.snmp,
    firstSeenMs: e.firstSeenMs,
    lastSeenMs: e.lastSeenMs,
    lastSnmpMs: e.lastSnmpMs,
    ping: breakerView(e.ping),
    snmpBreaker: breakerView(e.snmpBreaker),
  };
}

function copySnmpInfo(i: SnmpInfo): SnmpInfo {
  return Object.freeze({
    sysName: i.sysName,
    sysDescr: i.sysDescr,
    sysObjectId: i.sysObjectId,
    sysLocation: i.sysLocation,
    sysContact: i.sysContact,
    sysUptimeS: i.sysUptimeS,
    credentialId: i.credentialId,
  });
}

let quiet: Logger | undefined;
const quietLogger = (): Logger => (quiet ??= createLogger({ level: 'silent' }));

/**
 * The single source of truth about devices: who exists, when each was last seen, what SNMP said,
 * and the ping and SNMP circuit breakers. Replaces the Go StateManager (parity §6) without its
 * counter bugs A–D and R1–R4.
 *
 * - Eviction: devices sit in an intrusive doubly linked list in sighting order (oldest first).
 *   A sighting moves the device to the young end in O(1); eviction takes the old end in O(1).
 *   "Least recently seen" means the device whose latest sighting was recorded first; while the
 *   wall clock does not step back this is also the smallest `lastSeenMs`.
 * - Suspended counts: one {@link SuspensionTracker} per kind (a lazily popped min-heap of end
 *   times), exact at every read, O(1) amortised.
 * - Events are queued while an operation runs and delivered when it has finished, so listeners
 *   always see a consistent store and may call back into it.
 * - Persistence: start() restores the state file, a timer snapshots it, stop() writes a final one.
 */
export class DeviceStore {
  readonly #opts: DeviceStoreOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #map = new Map<string, Entry>();
  #oldest: Entry | undefined = undefined;
  #newest: Entry | undefined = undefined;
  // True while list order equals lastSeenMs order, which lets prune stop at the first fresh device.
  #orderedByLastSeen = true;
  readonly #pingSusp = new SuspensionTracker<Entry>();
  readonly #snmpSusp = new SuspensionTracker<Entry>();
  readonly #onPingEnd = (e: Entry): void => this.#emitResumed(e.ip, 'ping');
  readonly #onSnmpEnd = (e: Entry): void => this.#emitResumed(e.ip, 'snmp');
  #listeners: readonly DeviceListener[] = [];
  readonly #queue: DeviceEvent[] = [];
  #flushing = false;
  #lastNowMs = -Infinity;

  #startPromise: Promise<void> | undefined = undefined;
  #stopPromise: Promise<void> | undefined = undefined;
  #stopRequested = false;
  #restored = false;
  #running = false;
  #pruneTimer: TimerHandle | undefined = undefined;
  #snapshotTimer: TimerHandle | undefined = undefined;
  #expiryTimer: TimerHandle | undefined = undefined;
  #expiryDueMs = Infinity;
  #snapshotTail: Promise<void> = Promise.resolve();
  #snapshotsPending = 0;
  readonly #stats: PersistenceStats = { snapshots: 0, failures: 0, skipped: 0, lastSnapshotMs: 0, lastCount: 0, lastBytes: 0, lastDurationMs: 0 };

  constructor(opts: Partial<DeviceStoreOptions> & { clock: Clock }) {
    // Keys passed as undefined keep their default (a plain spread would overwrite it with undefined).
    const merged: Record<string, unknown> = { ...defaultDeviceStoreOptions };
    for (const [k, v] of Object.entries(opts)) if (v !== undefined) merged[k] = v;
    this.#opts = merged as unknown as DeviceStoreOptions;
    this.#clock = opts.clock;
    this.#log = (opts.logger ?? quietLogger()).child({ stage: 'state' });
    if (!Number.isSafeInteger(this.#opts.maxDevices) || this.#opts.maxDevices < 1) {
      throw new NetscanError('ERR_CONFIG', `DeviceStore maxDevices must be an integer >= 1, got ${this.#opts.maxDevices}`, { stage: 'state' });
    }
  }

  // ---------------------------------------------------------------- devices

  /**
   * Records that discovery found `ip` alive. A new IP is added (evicting the least recently seen
   * device when full); a known IP has its lastSeen refreshed. Go did not refresh on rediscovery;
   * we do, because a discovery reply is a sighting like any other.
   */
  markSeen(ip: string): MarkSeenResult {
    const now = this.#now();
    const known = this.#map.get(ip);
    if (known !== undefined) {
      this.#sighted(known, now);
      this.#flush();
      return KNOWN;
    }
    let evicted: string | undefined;
    let e: Entry;
    const victim = this.#oldest;
    if (this.#map.size >= this.#opts.maxDevices && victim !== undefined) {
      evicted = victim.ip;
      this.#delete(victim, 'evicted');
      e = victim.recycle(ip, now);
    } else {
      e = new Entry(ip, now, now);
    }
    this.#map.set(ip, e);
    this.#append(e);
    if (this.#listeners.length > 0) this.#queue.push({ type: 'added', ip });
    this.#flush();
    return evicted === undefined ? ADDED : { added: true, evicted };
  }

  /** Sets lastSeen to now (a successful probe); no-op for an unknown IP. */
  touch(ip: string): void {
    const e = this.#map.get(ip);
    if (e !== undefined) this.#sighted(e, this.#now());
    this.#flush();
  }

  /** A copy of the device, or undefined. Changing the copy changes nothing in the store. */
  get(ip: string): Device | undefined {
    const e = this.#map.get(ip);
    return e === undefined ? undefined : view(e);
  }

  /** Whether `ip` is known. */
  has(ip: string): boolean {
    return this.#map.has(ip);
  }

  /** Number of devices. */
  get size(): number {
    return this.#map.size;
  }

  /** Configured capacity in devices. */
  get maxDevices(): number {
    return this.#opts.maxDevices;
  }

  /** Known IPs in insertion order; a live iterator (devices added meanwhile are included, removed ones skipped). */
  ips(): IterableIterator<string> {
    return this.#map.keys();
  }

  /** Copies of all devices in insertion order; live like {@link ips}. */
  *devices(): IterableIterator<Device> {
    for (const e of this.#map.values()) yield view(e);
  }

  /** The IP the next eviction would remove, or undefined when empty. */
  leastRecentlySeen(): string | undefined {
    return this.#oldest?.ip;
  }

  /** Removes a device (event cause `removed`); returns whether it existed. */
  remove(ip: string): boolean {
    const e = this.#map.get(ip);
    if (e === undefined) return false;
    this.#delete(e, 'removed');
    this.#flush();
    return true;
  }

  /**
   * Removes every device with lastSeen < now − olderThanMs (event cause `pruned`) and returns
   * their IPs, oldest first. O(pruned) while the clock has not stepped back, else one O(n) pass.
   */
  prune(olderThanMs: number): string[] {
    const cutoffMs = this.#now() - olderThanMs;
    const victims: Entry[] = [];
    if (this.#orderedByLastSeen) {
      for (let e = this.#oldest; e !== undefined && e.lastSeenMs < cutoffMs; e = e.newer) victims.push(e);
    } else {
      let ordered = true;
      let prevMs = -Infinity;
      for (let e = this.#oldest; e !== undefined; e = e.newer) {
        if (e.lastSeenMs < cutoffMs) {
          victims.push(e);
        } else {
          if (e.lastSeenMs < prevMs) ordered = false;
          prevMs = e.lastSeenMs;
        }
      }
      this.#orderedByLastSeen = ordered;
    }
    const pruned: string[] = [];
    for (const e of victims) {
      this.#delete(e, 'pruned');
      pruned.push(e.ip);
    }
    this.#flush();
    return pruned;
  }

  // ---------------------------------------------------------------- breakers

  /** A reply arrived: lastSeen = now, fails reset, suspension cleared ('resumed' if one was counted). */
  recordPingSuccess(ip: string): void {
    const e = this.#map.get(ip);
    if (e === undefined) return;
    this.#sighted(e, this.#now());
    this.#succeed(e, 'ping');
    this.#flush();
  }

  /**
   * A probe failed. After `maxFails` consecutive failures the breaker trips: fails reset to 0,
   * suspended until now + backoffMs, 'suspended' emitted. Returns true when this call tripped it;
   * false for an unknown IP. Does not change lastSeen.
   */
  recordPingFailure(ip: string, maxFails: number, backoffMs: number): boolean {
    const e = this.#map.get(ip);
    if (e === undefined) return false;
    const tripped = this.#fail(e, 'ping', maxFails, backoffMs);
    this.#flush();
    return tripped;
  }

  /** Whether pinging `ip` is suspended right now; false for an unknown IP. */
  isPingSuspended(ip: string): boolean {
    const b = this.#map.get(ip)?.ping;
    const active = b !== undefined && this.#now() < b.untilMs;
    this.#flush();
    return active;
  }

  /**
   * SNMP answered: stores a copy of `info`, hostname = sysName || ip, lastSnmpMs = now, SNMP
   * breaker reset. Deliberately does NOT refresh lastSeen (Go did, which made devices that stop
   * answering ICMP but still answer SNMP immune to pruning and eviction, parity §5.5).
   */
  recordSnmpSuccess(ip: string, info: SnmpInfo): void {
    const e = this.#map.get(ip);
    if (e === undefined) return;
    e.snmp = copySnmpInfo(info);
    e.hostname = info.sysName || ip;
    e.lastSnmpMs = this.#now();
    this.#succeed(e, 'snmp');
    this.#flush();
  }

  /** SNMP mirror of {@link recordPingFailure}. */
  recordSnmpFailure(ip: string, maxFails: number, backoffMs: number): boolean {
    const e = this.#map.get(ip);
    if (e === undefined) return false;
    const tripped = this.#fail(e, 'snmp', maxFails, backoffMs);
    this.#flush();
    return tripped;
  }

  /** Whether SNMP polling of `ip` is suspended right now; false for an unknown IP. */
  isSnmpSuspended(ip: string): boolean {
    const b = this.#map.get(ip)?.snmpBreaker;
    const active = b !== undefined && this.#now() < b.untilMs;
    this.#flush();
    return active;
  }

  /**
   * Devices whose ping suspension is active right now (exactly the brute-force count). O(1)
   * amortised; suspensions found expired here emit their 'resumed' event first.
   */
  pingSuspendedCount(): number {
    this.#pingSusp.expire(this.#now(), this.#onPingEnd);
    this.#flush();
    return this.#pingSusp.active;
  }

  /** SNMP mirror of {@link pingSuspendedCount}. */
  snmpSuspendedCount(): number {
    this.#snmpSusp.expire(this.#now(), this.#onSnmpEnd);
    this.#flush();
    return this.#snmpSusp.active;
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
    this.#listeners = [...this.#listeners, listener];
    return () => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Restores the state file (missing, truncated or corrupt: one warning, start empty; an unusable
   * file is kept beside it as `<state_file>.bad`), then starts the prune, snapshot and expiry
   * timers. Restored devices emit 'added' (and 'suspended' for suspensions still active), so
   * subscribe before start() to see them. Idempotent.
   */
  start(): Promise<void> {
    this.#startPromise ??= this.#start();
    return this.#startPromise;
  }

  /**
   * Stops the timers, waits for a snapshot in progress and writes a final one (only if start()
   * ran: a store that never restored must not overwrite the file). Never rejects: a failed final
   * snapshot is logged. Idempotent; concurrent callers share one completion.
   */
  stop(): Promise<void> {
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  /**
   * Writes a snapshot now (queued behind one in progress). Resolves when it is on disk; rejects
   * when it failed (the previous file is then intact). No-op when `stateFile` is ''.
   */
  snapshot(): Promise<void> {
    this.#snapshotsPending++;
    const run = this.#snapshotTail.then(() => this.#writeSnapshot()).finally(() => {
      this.#snapshotsPending--;
    });
    this.#snapshotTail = run.catch(() => undefined);
    return run;
  }

  /** Persistence counters (a copy). */
  persistenceStats(): PersistenceStats {
    return { ...this.#stats };
  }

  async #start(): Promise<void> {
    if (this.#stopRequested) throw new NetscanError('ERR_STATE', 'DeviceStore cannot start after stop()', { stage: 'state' });
    if (this.#opts.stateFile !== '') await this.#restore();
    this.#restored = true;
    if (this.#stopRequested) return;
    this.#running = true;
    const now = this.#clock.now();
    if (this.#opts.pruneIntervalMs > 0) this.#armPrune(now + this.#opts.pruneIntervalMs);
    if (this.#opts.stateFile !== '' && this.#opts.snapshotIntervalMs > 0) this.#armSnapshot(now + this.#opts.snapshotIntervalMs);
    this.#onExpiryTimer();
    this.#log.info({ count: this.#map.size, max_devices: this.#opts.maxDevices }, 'device state started');
  }

  async #stop(): Promise<void> {
    this.#stopRequested = true;
    if (this.#startPromise !== undefined) await this.#startPromise.catch(() => undefined);
    this.#running = false;
    this.#pruneTimer?.cancel();
    this.#snapshotTimer?.cancel();
    this.#expiryTimer?.cancel();
    this.#pruneTimer = this.#snapshotTimer = this.#expiryTimer = undefined;
    if (!this.#restored || this.#opts.stateFile === '') return;
    try {
      await this.snapshot();
      this.#log.info({ path: this.#opts.stateFile, count: this.#stats.lastCount }, 'final state snapshot written');
    } catch (err) {
      this.#log.error({ err, path: this.#opts.stateFile }, 'final state snapshot failed; changes since the previous snapshot are lost');
    }
  }

  async #restore(): Promise<void> {
    const path = this.#opts.stateFile;
    const t0 = this.#clock.monoNs();
    let devices: Device[];
    try {
      devices = (await readStateFile(this.#opts.fs, path)).devices;
    } catch (err) {
      if (!(err instanceof StateFileError)) {
        // EACCES, EIO, EISDIR...: the file may be fine; leave it alone (the next snapshot replaces it).
        this.#log.warn({ err, path }, 'state file could not be read, starting with no devices');
        return;
      }
      if (err.problem === 'missing') {
        this.#log.warn({ path }, 'no state file yet, starting with no devices');
        return;
      }
      // Keep the unusable file for inspection (a newer netscan's file survives a downgrade).
      const keptAs = `${path}.bad`;
      const kept = await this.#opts.fs.rename(path, keptAs).then(() => true, () => false);
      this.#log.warn({ err, path, problem: err.problem, kept_as: kept ? keptAs : undefined }, 'state file unusable, starting with no devices');
      return;
    }
    const { restored, dropped } = this.#load(devices);
    this.#log.info(
      {
        path, count: restored, dropped,
        ping_suspended: this.#pingSusp.active, snmp_suspended: this.#snmpSusp.active,
        duration_ms: Number(this.#clock.monoNs() - t0) / 1e6,
      },
      'device state restored',
    );
  }

  // Inserts restored devices (skipping IPs already present, keeping the most recently seen when
  // over capacity), then rebuilds the list in lastSeen order. Suspension end times are absolute,
  // so a suspension that ran out while the agent was down is simply not counted.
  #load(devices: Device[]): { restored: number; dropped: number } {
    const now = this.#now();
    const fresh = devices.filter((d) => !this.#map.has(d.ip)).sort((a, b) => a.lastSeenMs - b.lastSeenMs);
    const room = Math.max(0, this.#opts.maxDevices - this.#map.size);
    const dropped = Math.max(0, fresh.length - room);
    const loaded: Entry[] = [];
    for (let i = dropped; i < fresh.length; i++) {
      const d = fresh[i]!;
      const e = new Entry(d.ip, d.firstSeenMs, d.lastSeenMs);
      e.hostname = d.hostname;
      e.snmp = d.snmp; // readStateFile built and froze it; nobody else holds it
      e.lastSnmpMs = d.lastSnmpMs;
      if (d.ping.consecutiveFails !== 0 || d.ping.suspendedUntilMs !== 0) e.ping = new Breaker(d.ping.consecutiveFails, d.ping.suspendedUntilMs);
      if (d.snmpBreaker.consecutiveFails !== 0 || d.snmpBreaker.suspendedUntilMs !== 0) {
        e.snmpBreaker = new Breaker(d.snmpBreaker.consecutiveFails, d.snmpBreaker.suspendedUntilMs);
      }
      this.#map.set(d.ip, e);
      loaded.push(e);
    }
    let all = loaded;
    if (this.#oldest !== undefined) {
      all = [...loaded];
      for (let e: Entry | undefined = this.#oldest; e !== undefined; e = e.newer) all.push(e);
      all.sort((a, b) => a.lastSeenMs - b.lastSeenMs);
    }
    this.#oldest = this.#newest = undefined;
    for (const e of all) this.#append(e);
    this.#orderedByLastSeen = true;
    for (const e of loaded) {
      if (this.#listeners.length > 0) this.#queue.push({ type: 'added', ip: e.ip });
      if (e.ping !== undefined && now < e.ping.untilMs) this.#suspend(e, 'ping', e.ping);
      if (e.snmpBreaker !== undefined && now < e.snmpBreaker.untilMs) this.#suspend(e, 'snmp', e.snmpBreaker);
    }
    this.#flush();
    return { restored: loaded.length, dropped };
  }

  async #writeSnapshot(): Promise<void> {
    const path = this.#opts.stateFile;
    if (path === '') return;
    const t0 = this.#clock.monoNs();
    const savedAtMs = this.#clock.now();
    try {
      const { count, bytes } = await writeStateFile({
        fs: this.#opts.fs, path, savedAtMs, devices: this.devices(), chunkDevices: this.#opts.snapshotChunkDevices,
      });
      const durationMs = Number(this.#clock.monoNs() - t0) / 1e6;
      Object.assign(this.#stats, { snapshots: this.#stats.snapshots + 1, lastSnapshotMs: savedAtMs, lastCount: count, lastBytes: bytes, lastDurationMs: durationMs });
      this.#log.debug({ path, count, bytes, duration_ms: durationMs }, 'state snapshot written');
    } catch (err) {
      this.#stats.failures++;
      throw new NetscanError('ERR_STATE', `writing state file ${path} failed: ${(err as Error).message}`, { stage: 'state', cause: err });
    }
  }

  // Next tick from the schedule, not from when this one ran; missed ticks are skipped, not queued.
  #nextDue(dueMs: number, intervalMs: number): number {
    const now = this.#clock.now();
    let next = dueMs + intervalMs;
    if (next <= now) next = now + intervalMs;
    return next;
  }

  #armPrune(dueMs: number): void {
    this.#pruneTimer = this.#clock.setTimeout(() => {
      if (!this.#running) return;
      try {
        const pruned = this.prune(this.#opts.pruneAfterMs);
        if (pruned.length > 0) this.#log.info({ count: pruned.length, prune_after_ms: this.#opts.pruneAfterMs }, 'pruned stale devices');
      } catch (err) {
        this.#log.error({ err }, 'prune failed');
      }
      this.#armPrune(this.#nextDue(dueMs, this.#opts.pruneIntervalMs));
    }, dueMs - this.#clock.now());
  }

  #armSnapshot(dueMs: number): void {
    this.#snapshotTimer = this.#clock.setTimeout(() => {
      if (!this.#running) return;
      if (this.#snapshotsPending > 0) {
        this.#stats.skipped++;
        this.#log.warn({ path: this.#opts.stateFile }, 'previous state snapshot still being written; skipping this one');
      } else {
        this.snapshot().catch((err: unknown) => {
          this.#log.error({ err, path: this.#opts.stateFile }, 'state snapshot failed; the previous snapshot is kept');
        });
      }
      this.#armSnapshot(this.#nextDue(dueMs, this.#opts.snapshotIntervalMs));
    }, dueMs - this.#clock.now());
  }

  // Pops every expired suspension (emitting 'resumed'), then sleeps until the earliest end time left.
  #onExpiryTimer(): void {
    this.#expiryTimer = undefined;
    this.#expiryDueMs = Infinity;
    if (!this.#running) return;
    const now = this.#now();
    this.#pingSusp.expire(now, this.#onPingEnd);
    this.#snmpSusp.expire(now, this.#onSnmpEnd);
    this.#flush();
    this.#armExpiry();
  }

  #armExpiry(): void {
    if (!this.#running) return;
    const a = this.#pingSusp.nextMs();
    const b = this.#snmpSusp.nextMs();
    const next = a === undefined ? b : b === undefined ? a : Math.min(a, b);
    if (next === undefined || next >= this.#expiryDueMs) return;
    this.#expiryTimer?.cancel();
    this.#expiryDueMs = next;
    this.#expiryTimer = this.#clock.setTimeout(() => this.#onExpiryTimer(), next - this.#clock.now());
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

  // Suspensions already counted out may be active again under the earlier time: count them back
  // in (emitting 'suspended'), so counts stay equal to "now < untilMs". O(n), once per step.
  #clockSteppedBack(now: number, prevMs: number): void {
    this.#log.warn({ by_ms: prevMs - now }, 'wall clock stepped back; re-checking suspensions');
    for (const e of this.#map.values()) {
      if (e.ping !== undefined && e.ping.expiry === undefined && now < e.ping.untilMs) this.#suspend(e, 'ping', e.ping);
      if (e.snmpBreaker !== undefined && e.snmpBreaker.expiry === undefined && now < e.snmpBreaker.untilMs) this.#suspend(e, 'snmp', e.snmpBreaker);
    }
  }

  #sighted(e: Entry, now: number): void {
    e.lastSeenMs = now;
    if (e !== this.#newest) {
      this.#unlink(e);
      this.#append(e);
    } else if (e.older !== undefined && now < e.older.lastSeenMs) {
      this.#orderedByLastSeen = false;
    }
  }

  #append(e: Entry): void {
    const tail = this.#newest;
    e.older = tail;
    e.newer = undefined;
    if (tail === undefined) {
      this.#oldest = e;
    } else {
      if (e.lastSeenMs < tail.lastSeenMs) this.#orderedByLastSeen = false;
      tail.newer = e;
    }
    this.#newest = e;
  }

  #unlink(e: Entry): void {
    if (e.older === undefined) this.#oldest = e.newer;
    else e.older.newer = e.newer;
    if (e.newer === undefined) this.#newest = e.older;
    else e.newer.older = e.older;
    e.older = e.newer = undefined;
  }

  // Removal ends any counted suspension whether active or expired-but-unread (Go D and R1).
  #delete(e: Entry, cause: RemovalCause): void {
    this.#map.delete(e.ip);
    this.#unlink(e);
    if (e.ping !== undefined) this.#pingSusp.untrack(e.ping);
    if (e.snmpBreaker !== undefined) this.#snmpSusp.untrack(e.snmpBreaker);
    if (this.#listeners.length > 0) this.#queue.push({ type: 'removed', ip: e.ip, cause });
  }

  #succeed(e: Entry, kind: Kind): void {
    const b = kind === 'ping' ? e.ping : e.snmpBreaker;
    if (b === undefined) return;
    b.fails = 0;
    b.untilMs = 0;
    if ((kind === 'ping' ? this.#pingSusp : this.#snmpSusp).untrack(b)) this.#emitResumed(e.ip, kind);
  }

  #fail(e: Entry, kind: Kind, maxFails: number, backoffMs: number): boolean {
    const now = this.#now();
    const tracker = kind === 'ping' ? this.#pingSusp : this.#snmpSusp;
    let b = kind === 'ping' ? e.ping : e.snmpBreaker;
    if (b === undefined) {
      b = new Breaker();
      if (kind === 'ping') e.ping = b;
      else e.snmpBreaker = b;
    }
    // A suspension that ran out unread ends here, before any re-trip, so it is never counted twice (Go R2).
    if (b.expiry !== undefined && b.untilMs <= now && tracker.untrack(b)) this.#emitResumed(e.ip, kind);
    b.fails++;
    if (b.fails < maxFails) return false;
    b.fails = 0;
    b.untilMs = now + backoffMs;
    if (now < b.untilMs) this.#suspend(e, kind, b);
    else if (tracker.untrack(b)) this.#emitResumed(e.ip, kind);
    return true;
  }

  #suspend(e: Entry, kind: Kind, b: Breaker): void {
    (kind === 'ping' ? this.#pingSusp : this.#snmpSusp).track(e, b);
    if (this.#listeners.length > 0) this.#queue.push({ type: 'suspended', ip: e.ip, kind, untilMs: b.untilMs });
    this.#armExpiry();
  }

  #emitResumed(ip: string, kind: Kind): void {
    if (this.#listeners.length > 0) this.#queue.push({ type: 'resumed', ip, kind });
  }

  // Delivers queued events in order. Events queued by listeners (re-entrant calls) are delivered
  // by this same loop, after the ones already queued.
  #flush(): void {
    if (this.#flushing || this.#queue.length === 0) return;
    this.#flushing = true;
    try {
      for (let i = 0; i < this.#queue.length; i++) {
        const ev = this.#queue[i]!;
        for (const l of this.#listeners) {
          try {
            l(ev);
          } catch (err) {
            this.#log.error({ err, event: ev.type, ip: ev.ip }, 'device event listener threw; continuing');
          }
        }
      }
    } finally {
      this.#queue.length = 0;
      this.#flushing = false;
    }
  }
}
