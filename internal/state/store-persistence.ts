import type { Clock, TimerHandle } from '../clock/clock.js';
import { NetscanError } from '../errors/errors.js';
import type { Logger } from '../log/log.js';
import type { Device } from '../model/device.js';
import type { DeviceEventQueue } from './device-events.js';
import type { DeviceSlots } from './device-slots.js';
import { readStateFile, StateFileError, writeStateFile, type StateFs } from './state-file.js';
import type { StoreBreakers } from './store-breakers.js';
import { Breaker } from './suspensions.js';

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
  /** Devices restored from the state file at start. */
  restored: number;
  /** Devices of the state file left out at start because max_devices was reached (the least recently seen). */
  restoreDropped: number;
  /** Unusable or repeated device entries of the state file, left out at start. */
  restoreSkipped: number;
  /** Why the state file was not restored (`missing`, `truncated`, `corrupt`, `unsupported_version`, `unreadable`); null when it was, or none is configured. */
  restoreProblem: string | null;
}

/** What {@link StorePersistence} needs from the store it saves and restores. */
export interface PersistedStore {
  /** Devices to snapshot, read lazily while the file is written chunk by chunk. */
  devices(): Iterable<Device>;
  /** Inserts restored devices; returns how many were loaded and how many did not fit. */
  load(devices: Device[]): { restored: number; dropped: number };
  /** Extra fields for the "device state restored" log line (suspended counts). */
  restoredLogFields(): Record<string, number>;
}

/** Options for {@link StorePersistence}. */
export interface StorePersistenceOptions {
  /** Snapshot path; '' disables restore and snapshots. */
  stateFile: string;
  /** Period of background snapshots in ms; 0 keeps only the final one. */
  snapshotIntervalMs: number;
  /** Devices serialised per write while snapshotting. */
  snapshotChunkDevices: number;
  /** File system used for the state file. */
  fs: StateFs;
  /** Time source for timestamps, durations and the snapshot timer. */
  clock: Clock;
  /** The store's logger (`stage: state`). */
  log: Logger;
  /** The store saved and restored. */
  store: PersistedStore;
}

/**
 * Next tick from the schedule, not from when this one ran; missed ticks are skipped, not queued.
 * Shared by the store's prune timer and the snapshot timer.
 */
export function nextDueMs(clock: Clock, dueMs: number, intervalMs: number): number {
  const now = clock.now();
  let next = dueMs + intervalMs;
  if (next <= now) next = now + intervalMs;
  return next;
}

/**
 * The device store's state file: restore at start, periodic snapshots (one at a time, a tick that
 * finds one still running is skipped and counted), explicit snapshots queued behind each other,
 * and the final snapshot at stop; {@link loadRestored} puts restored devices into the store. The
 * store keeps the index, the LRU order and the breakers.
 */
export class StorePersistence {
  readonly #opts: StorePersistenceOptions;
  #timer: TimerHandle | undefined = undefined;
  #running = false;
  #tail: Promise<void> = Promise.resolve();
  #pending = 0;
  readonly #stats: PersistenceStats = {
    snapshots: 0,
    failures: 0,
    skipped: 0,
    lastSnapshotMs: 0,
    lastCount: 0,
    lastBytes: 0,
    lastDurationMs: 0,
    restored: 0,
    restoreDropped: 0,
    restoreSkipped: 0,
    restoreProblem: null,
  };

  constructor(opts: StorePersistenceOptions) {
    this.#opts = opts;
  }

  /** Whether a state file is configured. */
  get enabled(): boolean {
    return this.#opts.stateFile !== '';
  }

  /** Persistence counters (a copy). */
  stats(): PersistenceStats {
    return { ...this.#stats };
  }

  /**
   * Reads the state file into the store. Missing, truncated or corrupt: one warning, nothing
   * loaded; an unusable file is kept beside it as `<state_file>.bad`. Never rejects.
   */
  async restore(): Promise<void> {
    const { stateFile: path, clock, log } = this.#opts;
    if (path === '') return;
    const t0 = clock.monoNs();
    let devices: Device[];
    try {
      const snap = await readStateFile(this.#opts.fs, path);
      devices = snap.devices;
      this.#stats.restoreSkipped = snap.skipped;
      if (snap.skipped > 0) {
        log.warn(
          { path, skipped: snap.skipped, first_reason: snap.firstSkipReason },
          'state file had unusable device entries; restored the others',
        );
      }
    } catch (err) {
      if (!(err instanceof StateFileError)) {
        // EACCES, EIO, EISDIR...: the file may be fine; leave it alone (the next snapshot replaces it).
        this.#stats.restoreProblem = 'unreadable';
        log.warn({ err, path }, 'state file could not be read, starting with no devices');
        return;
      }
      this.#stats.restoreProblem = err.problem;
      if (err.problem === 'missing') {
        log.warn({ path }, 'no state file yet, starting with no devices');
        return;
      }
      // Keep the unusable file for inspection (a newer netscan's file survives a downgrade).
      const keptAs = `${path}.bad`;
      const kept = await this.#opts.fs.rename(path, keptAs).then(
        () => true,
        () => false,
      );
      log.warn(
        { err, path, problem: err.problem, kept_as: kept ? keptAs : undefined },
        'state file unusable, starting with no devices',
      );
      return;
    }
    const { restored, dropped } = this.#opts.store.load(devices);
    this.#stats.restored = restored;
    this.#stats.restoreDropped = dropped;
    log.info(
      {
        path,
        count: restored,
        dropped,
        ...this.#opts.store.restoredLogFields(),
        duration_ms: Number(clock.monoNs() - t0) / 1e6,
      },
      'device state restored',
    );
  }

  /** Arms the periodic snapshot timer (when a file and an interval are configured). */
  start(): void {
    this.#running = true;
    if (this.enabled && this.#opts.snapshotIntervalMs > 0)
      this.#arm(this.#opts.clock.now() + this.#opts.snapshotIntervalMs);
  }

  /** Cancels the snapshot timer; a snapshot in progress goes on. Idempotent. */
  stopTimer(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Writes the final snapshot (after one in progress). Never rejects: a failure is logged. */
  async finalSnapshot(): Promise<void> {
    if (!this.enabled) return;
    const { stateFile: path, log } = this.#opts;
    try {
      await this.snapshot();
      log.info({ path, count: this.#stats.lastCount }, 'final state snapshot written');
    } catch (err) {
      log.error({ err, path }, 'final state snapshot failed; changes since the previous snapshot are lost');
    }
  }

  /**
   * Writes a snapshot now (queued behind one in progress). Resolves when it is on disk; rejects
   * when it failed (the previous file is then intact). No-op when no state file is configured.
   */
  snapshot(): Promise<void> {
    this.#pending++;
    const run = this.#tail
      .then(() => this.#write())
      .finally(() => {
        this.#pending--;
      });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #write(): Promise<void> {
    const { stateFile: path, clock } = this.#opts;
    if (path === '') return;
    const t0 = clock.monoNs();
    const savedAtMs = clock.now();
    try {
      const { count, bytes } = await writeStateFile({
        fs: this.#opts.fs,
        path,
        savedAtMs,
        devices: this.#opts.store.devices(),
        chunkDevices: this.#opts.snapshotChunkDevices,
      });
      const durationMs = Number(clock.monoNs() - t0) / 1e6;
      Object.assign(this.#stats, {
        snapshots: this.#stats.snapshots + 1,
        lastSnapshotMs: savedAtMs,
        lastCount: count,
        lastBytes: bytes,
        lastDurationMs: durationMs,
      });
      this.#opts.log.debug({ path, count, bytes, duration_ms: durationMs }, 'state snapshot written');
    } catch (err) {
      this.#stats.failures++;
      throw new NetscanError('ERR_STATE', `writing state file ${path} failed: ${(err as Error).message}`, {
        stage: 'state',
        cause: err,
      });
    }
  }

  #arm(dueMs: number): void {
    const { clock, log, stateFile: path } = this.#opts;
    this.#timer = clock.setTimeout(() => {
      if (!this.#running) return;
      if (this.#pending > 0) {
        this.#stats.skipped++;
        log.warn({ path }, 'previous state snapshot still being written; skipping this one');
      } else {
        this.snapshot().catch((err: unknown) => {
          log.error({ err, path }, 'state snapshot failed; the previous snapshot is kept');
        });
      }
      this.#arm(nextDueMs(clock, dueMs, this.#opts.snapshotIntervalMs));
    }, dueMs - clock.now());
  }
}

/** The parts of a device store that {@link loadRestored} writes into. */
export interface RestoreTarget {
  /** The store's records. */
  slots: DeviceSlots;
  /** The store's breakers; suspensions still active are counted. */
  breakers: StoreBreakers;
  /** The store's event queue ('added', 'suspended'); the caller flushes it. */
  events: DeviceEventQueue;
  /** Capacity in devices. */
  maxDevices: number;
  /** The time of the restore, ms since the epoch. */
  now: number;
}

/**
 * Inserts restored devices (skipping IPs already present, keeping the most recently seen when
 * over capacity), then rebuilds the LRU list in lastSeen order. Suspension end times are absolute,
 * so a suspension that ran out while the agent was down is simply not counted. Queues 'added'
 * (and 'suspended') events without flushing them.
 */
export function loadRestored(target: RestoreTarget, devices: Device[]): { restored: number; dropped: number } {
  const { slots, breakers, events, maxDevices, now } = target;
  const fresh = devices
    .filter((d) => slots.find(d.ip, slots.keyOf(d.ip)) < 0)
    .sort((a, b) => a.lastSeenMs - b.lastSeenMs);
  const room = Math.max(0, maxDevices - slots.size);
  const dropped = Math.max(0, fresh.length - room);
  const existing: number[] = [];
  for (let s = slots.oldest; s >= 0; s = slots.newer(s)) existing.push(s);
  const loaded: number[] = [];
  for (let i = dropped; i < fresh.length; i++) {
    const d = fresh[i]!;
    const s = slots.add(d.ip, slots.keyOf(d.ip), d.firstSeenMs, d.lastSeenMs);
    // readStateFile built and froze d.snmp; nobody else holds it.
    if (d.hostname !== d.ip || d.snmp !== undefined || d.lastSnmpMs !== 0)
      slots.setSnmp(s, d.hostname, d.snmp, d.lastSnmpMs);
    if (d.ping.consecutiveFails !== 0 || d.ping.suspendedUntilMs !== 0)
      slots.setPingBreaker(s, new Breaker(d.ping.consecutiveFails, d.ping.suspendedUntilMs));
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
  for (const s of loaded) {
    if (events.listening) events.push({ type: 'added', ip: slots.ip(s) });
    const ping = slots.pingBreaker(s);
    if (ping !== undefined && now < ping.untilMs) breakers.suspend(s, 'ping', ping);
    const snmp = slots.snmpBreaker(s);
    if (snmp !== undefined && now < snmp.untilMs) breakers.suspend(s, 'snmp', snmp);
  }
  return { restored: loaded.length, dropped };
}
