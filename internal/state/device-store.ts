import type { Clock, TimerHandle } from '../clock/clock.js';
import { NetscanError } from '../errors/errors.js';
import { createLogger, type Logger } from '../log/log.js';
import type { BreakerState, Device, DeviceEvent, DeviceListener, RemovalCause, SnmpInfo } from '../model/device.js';
import { nodeStateFs, readStateFile, StateFileError, writeStateFile, type StateFs } from './state-file.js';
import { DeviceSlots } from './device-slots.js';
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

const NO_BREAKER: BreakerState = Object.freeze({ consecutiveFails: 0, suspendedUntilMs: 0 });

function breakerView(b: Breaker | undefined): BreakerState {
  return b === undefined || (b.fails === 0 && b.untilMs === 0) ? NO_BREAKER : { consecutiveFails: b.fails, suspendedUntilMs: b.untilMs };
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
 * and the ping and SNMP circuit breakers. Replaces the Go StateManager (docs/go-parity.md) without its
 * counter bugs A–D and R1–R4.
 *
 * - Storage: {@link DeviceSlots}, struct-of-arrays records by slot number behind an
 *   open-addressing index of IPv4 addresses as integers (O(1), one cache line per lookup).
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
  readonly #slots: DeviceSlots;
  // True while list order equals lastSeenMs order, which lets prune stop at the first fresh device.
  #orderedByLastSeen = true;
  // Heap owners are slot numbers. A slot is reused only after its device's breakers were
  // untracked, and the tracker reports only live nodes, so an owner always names the right device.
  readonly #pingSusp = new SuspensionTracker<number>();
  readonly #snmpSusp = new SuspensionTracker<number>();
  readonly #onPingEnd = (s: number): void => this.#emitResumed(this.#slots.ip(s), 'ping');
  readonly #onSnmpEnd = (s: number): void => this.#emitResumed(this.#slots.ip(s), 'snmp');
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
    this.#slots = new DeviceSlots(this.#opts.maxDevices);
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
      this.#flush();
      return KNOWN;
    }
    let evicted: string | undefined;
    const victim = slots.oldest;
    if (slots.size >= this.#opts.maxDevices && victim >= 0) {
      evicted = slots.ip(victim);
      this.#delete(victim, 'evicted');
    }
    const newest = slots.newest;
    if (newest >= 0 && now < slots.lastSeenMs(newest)) this.#orderedByLastSeen = false;
    slots.add(ip, key, now, now);
    if (this.#listeners.length > 0) this.#queue.push({ type: 'added', ip });
    this.#flush();
    return evicted === undefined ? ADDED : { added: true, evicted };
  }

  /** Sets lastSeen to now (a successful probe); no-op for an unknown IP. */
  touch(ip: string): void {
    const s = this.#find(ip);
    if (s >= 0) this.#sighted(s, this.#now());
    this.#flush();
  }

  /** A copy of the device, or undefined. Changing the copy changes nothing in the store. */
  get(ip: string): Device | undefined {
    const s = this.#find(ip);
    return s < 0 ? undefined : this.#view(s);
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
    this.#flush();
    return true;
  }

  /**
   * Removes every device with lastSeen < now − olderThanMs (event cause `pruned`) and returns
   * their IPs, oldest first. O(pruned) while the clock has not stepped back, else one O(n) pass.
   */
  prune(olderThanMs: number): string[] {
    const cutoffMs = this.#now() - olderThanMs;
    const slots = this.#slots;
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
      pruned.push(slots.ip(s));
      this.#delete(s, 'pruned');
    }
    this.#flush();
    return pruned;
  }

  // ---------------------------------------------------------------- breakers

  /** A reply arrived: lastSeen = now, fails reset, suspension cleared ('resumed' if one was counted). */
  recordPingSuccess(ip: string): void {
    const s = this.#find(ip);
    if (s < 0) return;
    this.#sighted(s, this.#now());
    this.#succeed(s, 'ping');
    this.#flush();
  }

  /**
   * A probe failed. After `maxFails` consecutive failures the breaker trips: fails reset to 0,
   * suspended until now + backoffMs, 'suspended' emitted. Returns true when this call tripped it;
   * false for an unknown IP. Does not change lastSeen.
   */
  recordPingFailure(ip: string, maxFails: number, backoffMs: number): boolean {
    const s = this.#find(ip);
    if (s < 0) return false;
    const tripped = this.#fail(s, 'ping', maxFails, backoffMs);
    this.#flush();
    return tripped;
  }

  /** Whether pinging `ip` is suspended right now; false for an unknown IP. */
  isPingSuspended(ip: string): boolean {
    const s = this.#find(ip);
    const b = s < 0 ? undefined : this.#slots.pingBreaker(s);
    const active = b !== undefined && this.#now() < b.untilMs;
    this.#flush();
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
    this.#succeed(s, 'snmp');
    this.#flush();
  }

  /** SNMP mirror of {@link recordPingFailure}. */
  recordSnmpFailure(ip: string, maxFails: number, backoffMs: number): boolean {
    const s = this.#find(ip);
    if (s < 0) return false;
    const tripped = this.#fail(s, 'snmp', maxFails, backoffMs);
    this.#flush();
    return tripped;
  }

  /** Whether SNMP polling of `ip` is suspended right now; false for an unknown IP. */
  isSnmpSuspended(ip: string): boolean {
    const s = this.#find(ip);
    const b = s < 0 ? undefined : this.#slots.snmpBreaker(s);
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
    this.#log.info({ count: this.#slots.size, max_devices: this.#opts.maxDevices }, 'device state started');
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
      const snap = await readStateFile(this.#opts.fs, path);
      devices = snap.devices;
      if (snap.skipped > 0) {
        this.#log.warn({ path, skipped: snap.skipped, first_reason: snap.firstSkipReason }, 'state file had unusable device entries; restored the others');
      }
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
    const slots = this.#slots;
    const fresh = devices.filter((d) => !this.has(d.ip)).sort((a, b) => a.lastSeenMs - b.lastSeenMs);
    const room = Math.max(0, this.#opts.maxDevices - slots.size);
    const dropped = Math.max(0, fresh.length - room);
    const existing: number[] = [];
    for (let s = slots.oldest; s >= 0; s = slots.newer(s)) existing.push(s);
    const loaded: number[] = [];
    for (let i = dropped; i < fresh.length; i++) {
      const d = fresh[i]!;
      const s = slots.add(d.ip, slots.keyOf(d.ip), d.firstSeenMs, d.lastSeenMs);
      // readStateFile built and froze d.snmp; nobody else holds it.
      if (d.hostname !== d.ip || d.snmp !== undefined || d.lastSnmpMs !== 0) slots.setSnmp(s, d.hostname, d.snmp, d.lastSnmpMs);
      if (d.ping.consecutiveFails !== 0 || d.ping.suspendedUntilMs !== 0) slots.setPingBreaker(s, new Breaker(d.ping.consecutiveFails, d.ping.suspendedUntilMs));
      if (d.snmpBreaker.consecutiveFails !== 0 || d.snmpBreaker.suspendedUntilMs !== 0) {
        slots.setSnmpBreaker(s, new Breaker(d.snmpBreaker.consecutiveFails, d.snmpBreaker.suspendedUntilMs));
      }
      loaded.push(s);
    }
    let all = loaded;
    if (existing.length > 0) {
      all = [...loaded, ...existing];
      all.sort((a, b) => slots.lastSeenMs(a) - slots.lastSeenMs(b));
    }
    slots.relinkLru(all);
    this.#orderedByLastSeen = true;
    for (const s of loaded) {
      if (this.#listeners.length > 0) this.#queue.push({ type: 'added', ip: slots.ip(s) });
      const ping = slots.pingBreaker(s);
      if (ping !== undefined && now < ping.untilMs) this.#suspend(s, 'ping', ping);
      const snmp = slots.snmpBreaker(s);
      if (snmp !== undefined && now < snmp.untilMs) this.#suspend(s, 'snmp', snmp);
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
    const slots = this.#slots;
    for (let s = slots.first; s >= 0; s = slots.next(s)) {
      const ping = slots.pingBreaker(s);
      if (ping !== undefined && ping.expiry === undefined && now < ping.untilMs) this.#suspend(s, 'ping', ping);
      const snmp = slots.snmpBreaker(s);
      if (snmp !== undefined && snmp.expiry === undefined && now < snmp.untilMs) this.#suspend(s, 'snmp', snmp);
    }
  }

  // Slot of `ip` or -1, parsing it once.
  #find(ip: string): number {
    return this.#slots.find(ip, this.#slots.keyOf(ip));
  }

  readonly #ipOf = (s: number): string => this.#slots.ip(s);
  readonly #viewOf = (s: number): Device => this.#view(s);

  #view(s: number): Device {
    const slots = this.#slots;
    return {
      ip: slots.ip(s),
      hostname: slots.hostname(s),
      snmp: slots.snmp(s),
      firstSeenMs: slots.firstSeenMs(s),
      lastSeenMs: slots.lastSeenMs(s),
      lastSnmpMs: slots.lastSnmpMs(s),
      ping: breakerView(slots.pingBreaker(s)),
      snmpBreaker: breakerView(slots.snmpBreaker(s)),
    };
  }

  #sighted(s: number, now: number): void {
    const slots = this.#slots;
    // Sighting order stays lastSeen order unless this sighting is earlier than the one before it.
    const before = s === slots.newest ? slots.older(s) : slots.newest;
    if (before >= 0 && now < slots.lastSeenMs(before)) this.#orderedByLastSeen = false;
    slots.setLastSeenMs(s, now);
    slots.moveToNewest(s);
  }

  // Removal ends any counted suspension whether active or expired-but-unread (Go D and R1).
  #delete(s: number, cause: RemovalCause): void {
    const slots = this.#slots;
    const ping = slots.pingBreaker(s);
    if (ping !== undefined) this.#pingSusp.untrack(ping);
    const snmp = slots.snmpBreaker(s);
    if (snmp !== undefined) this.#snmpSusp.untrack(snmp);
    if (this.#listeners.length > 0) this.#queue.push({ type: 'removed', ip: slots.ip(s), cause });
    slots.remove(s);
  }

  #succeed(s: number, kind: Kind): void {
    const b = kind === 'ping' ? this.#slots.pingBreaker(s) : this.#slots.snmpBreaker(s);
    if (b === undefined) return;
    b.fails = 0;
    b.untilMs = 0;
    if ((kind === 'ping' ? this.#pingSusp : this.#snmpSusp).untrack(b)) this.#emitResumed(this.#slots.ip(s), kind);
  }

  #fail(s: number, kind: Kind, maxFails: number, backoffMs: number): boolean {
    const now = this.#now();
    const slots = this.#slots;
    const tracker = kind === 'ping' ? this.#pingSusp : this.#snmpSusp;
    let b = kind === 'ping' ? slots.pingBreaker(s) : slots.snmpBreaker(s);
    if (b === undefined) {
      b = new Breaker();
      if (kind === 'ping') slots.setPingBreaker(s, b);
      else slots.setSnmpBreaker(s, b);
    }
    // A suspension that ran out unread ends here, before any re-trip, so it is never counted twice (Go's bug R2).
    if (b.expiry !== undefined && b.untilMs <= now && tracker.untrack(b)) this.#emitResumed(slots.ip(s), kind);
    b.fails++;
    if (b.fails < maxFails) return false;
    b.fails = 0;
    b.untilMs = now + backoffMs;
    if (now < b.untilMs) this.#suspend(s, kind, b);
    else if (tracker.untrack(b)) this.#emitResumed(slots.ip(s), kind);
    return true;
  }

  #suspend(s: number, kind: Kind, b: Breaker): void {
    (kind === 'ping' ? this.#pingSusp : this.#snmpSusp).track(s, b);
    if (this.#listeners.length > 0) this.#queue.push({ type: 'suspended', ip: this.#slots.ip(s), kind, untilMs: b.untilMs });
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
