import type { Clock, TimerHandle } from '../clock/clock.js';
import { OptionChecks } from '../errors/option-checks.js';
import type { Logger } from '../log/log.js';
import type { DeviceEvent } from '../model/device.js';

/** The slice of the state manager (internal/state DeviceStore) the reconciler reads. */
export interface DeviceSource {
  /** Subscribes to change events (emitted synchronously); returns the unsubscribe function. */
  subscribe(listener: (e: DeviceEvent) => void): () => void;
  /** Every device IP in the state. */
  ips(): IterableIterator<string>;
  /** True when `ip` is in the state. */
  has(ip: string): boolean;
}

/** What the reconciler drives: one monitoring schedule per IP (the PingScheduler). */
export interface MonitorTarget {
  /** Gives `ip` a schedule; must be a no-op when it has one. */
  add(ip: string): void;
  /** Ends `ip`'s schedule; must be a no-op when it has none. */
  remove(ip: string): void;
  /** True when `ip` has a schedule. */
  has(ip: string): boolean;
  /** Number of scheduled IPs. */
  readonly size: number;
  /** Scheduled IPs. */
  ips(): IterableIterator<string>;
}

/** Options for {@link Reconciler}. */
export interface ReconcilerOptions {
  /** Most devices monitored at once; the rest wait, counted, for a free place (`max_concurrent_pingers`). */
  maxMonitored: number;
  /** A full resync runs this often as a safety net (it should find nothing to repair), ms; 0 disables. */
  resyncIntervalMs: number;
  /** The "devices left unmonitored" warning waits this long so it names the whole burst, ms. */
  warnDebounceMs: number;
}

/** Defaults: Go's `max_concurrent_pingers` default, a resync every 5 minutes, a 1 s warning debounce. */
export const defaultReconcilerOptions: ReconcilerOptions = {
  maxMonitored: 20_000,
  resyncIntervalMs: 300_000,
  warnDebounceMs: 1_000,
};

/** Throws one ConfigError (stage reconcile) naming every option of `o` out of range. */
function checkReconcilerOptions(o: ReconcilerOptions): void {
  new OptionChecks('reconcile')
    .integer('maxMonitored', o.maxMonitored, 1)
    .nonNegative('resyncIntervalMs', o.resyncIntervalMs)
    .nonNegative('warnDebounceMs', o.warnDebounceMs)
    .throwIfAny();
}

/** Collaborators of {@link Reconciler}. */
export interface ReconcilerDeps {
  /** The device state. */
  source: DeviceSource;
  /** The monitoring schedules. */
  target: MonitorTarget;
  /** Time source for the resync and warning timers. */
  clock: Clock;
  /** Parent logger; the reconciler logs under `stage: reconcile`. */
  logger: Logger;
}

/** What one full resync changed. */
export interface ResyncResult {
  /** Schedules started. */
  readonly added: number;
  /** Schedules stopped. */
  readonly removed: number;
  /** Devices left waiting for a free place. */
  readonly unmonitored: number;
  /** False when the prepare step failed and nothing was touched. */
  readonly ok: boolean;
}

/** Counters for /health. */
export interface ReconcilerStats {
  /** Devices with a schedule. */
  readonly monitored: number;
  /** Devices in the state left without a schedule by `max_concurrent_pingers`. */
  readonly unmonitored: number;
  /** The cap in force. */
  readonly maxMonitored: number;
  /** Change events handled. */
  readonly eventsTotal: number;
  /** Full resyncs run. */
  readonly resyncsTotal: number;
  /** Schedules a resync had to start or stop (events missed, or a restore); should stay 0. */
  readonly driftRepairedTotal: number;
  /** Resyncs whose prepare step failed. */
  readonly resyncFailuresTotal: number;
}

/**
 * Keeps exactly one monitoring schedule per device in the state, within `max_concurrent_pingers`.
 *
 * Driven by the state's change events, so steady-state cost is O(churn): an `added` device gets a
 * schedule (or a place in the FIFO waiting list when the cap is reached), a `removed` one loses it
 * and the first waiting device takes its place. A full resync (start, config reload, snapshot
 * restore, and a periodic safety net) is prepare -> diff -> apply: the desired set is built first,
 * and if that throws nothing running is touched.
 *
 * Going over the cap logs ONE warning naming how many devices are unmonitored (debounced so a
 * discovery burst is one line, unlike Go's line per device every 5 s), and one info line when every
 * device is monitored again; the live count is in stats() for /health.
 */
export class Reconciler {
  readonly #source: DeviceSource;
  readonly #target: MonitorTarget;
  readonly #clock: Clock;
  readonly #log: Logger;
  #opts: ReconcilerOptions;
  /** Devices in the state without a schedule because of the cap, in arrival order. */
  readonly #waiting = new Set<string>();
  #unsubscribe: (() => void) | undefined;
  #resyncTimer: TimerHandle | undefined;
  #warnTimer: TimerHandle | undefined;
  #warned = false;
  #running = false;
  #stopped = false;
  #repairQueued = false;
  #events = 0;
  #resyncs = 0;
  #drift = 0;
  #resyncFailures = 0;

  constructor(deps: ReconcilerDeps, opts: Partial<ReconcilerOptions> = {}) {
    this.#opts = { ...defaultReconcilerOptions, ...opts };
    this.#source = deps.source;
    this.#target = deps.target;
    this.#clock = deps.clock;
    this.#log = deps.logger.child({ stage: 'reconcile' });
  }

  /** Subscribes to the state's events and runs the first full resync. Idempotent. Throws ConfigError for bad options. */
  start(): void {
    if (this.#running || this.#stopped) return;
    checkReconcilerOptions(this.#opts);
    this.#running = true;
    this.#unsubscribe = this.#source.subscribe((e) => this.#onEvent(e));
    this.resync();
    this.#armResync();
  }

  /** Unsubscribes and cancels timers; schedules are left to their owner to stop. Idempotent. */
  stop(): Promise<void> {
    this.#stopped = true;
    this.#running = false;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#resyncTimer?.cancel();
    this.#resyncTimer = undefined;
    this.#warnTimer?.cancel();
    this.#warnTimer = undefined;
    return Promise.resolve();
  }

  /**
   * Applies a new cap now (config reload): excess schedules stop, waiting devices take free places.
   * Throws ConfigError for bad options, and the old ones stay in force.
   */
  reconfigure(opts: Partial<ReconcilerOptions>): void {
    const old = this.#opts;
    const next = { ...old, ...opts };
    checkReconcilerOptions(next);
    this.#opts = next;
    if (this.#opts.resyncIntervalMs !== old.resyncIntervalMs) this.#armResync();
    if (this.#running) this.resync();
  }

  /**
   * Full resync, O(devices) lookups and no O(devices) allocation: prepare (walk the state and the
   * schedules and collect what to stop and what to start; a throw here leaves everything as it
   * is), then apply (stop first, then start up to the cap, oldest waiting first). For start,
   * config reload and snapshot restore.
   */
  resync(): ResyncResult {
    this.#resyncs++;
    const toStop: string[] = [];
    const toQueue: string[] = [];
    const gone: string[] = [];
    try {
      for (const ip of this.#target.ips()) if (!this.#source.has(ip)) toStop.push(ip);
      for (const ip of this.#waiting) if (!this.#source.has(ip)) gone.push(ip);
      for (const ip of this.#source.ips()) if (!this.#target.has(ip) && !this.#waiting.has(ip)) toQueue.push(ip);
    } catch (err) {
      this.#resyncFailures++;
      this.#log.error({ err }, 'reconcile prepare failed; running schedules left unchanged');
      return { added: 0, removed: 0, unmonitored: this.#waiting.size, ok: false };
    }
    for (const ip of gone) this.#waiting.delete(ip);
    let removed = 0;
    for (const ip of toStop) removed += this.#stopOne(ip) ? 1 : 0;
    const cap = this.#opts.maxMonitored;
    if (this.#waiting.size === 0 && this.#target.size + toQueue.length <= cap) {
      // Room for all (the start, a restored snapshot): start them at once rather than through the queue.
      for (const ip of toQueue) this.#target.add(ip);
      this.#afterChange();
      return { added: toQueue.length, removed, unmonitored: 0, ok: true };
    }
    for (const ip of toQueue) this.#waiting.add(ip);
    if (this.#target.size > cap) {
      // A lowered cap: the most recently started schedules give up their places first.
      const excess = [...this.#target.ips()].slice(cap);
      for (const ip of excess) {
        this.#stopOne(ip);
        removed++;
      }
      const rest = [...this.#waiting];
      this.#waiting.clear();
      for (const ip of [...excess, ...rest]) this.#waiting.add(ip);
    }
    const added = this.#fill();
    this.#afterChange();
    return { added, removed, unmonitored: this.#waiting.size, ok: true };
  }

  /** Counters for /health. */
  stats(): ReconcilerStats {
    return {
      monitored: this.#target.size,
      unmonitored: this.#waiting.size,
      maxMonitored: this.#opts.maxMonitored,
      eventsTotal: this.#events,
      resyncsTotal: this.#resyncs,
      driftRepairedTotal: this.#drift,
      resyncFailuresTotal: this.#resyncFailures,
    };
  }

  /** Devices currently waiting for a free place, oldest first. */
  unmonitored(): string[] {
    return [...this.#waiting];
  }

  #onEvent(e: DeviceEvent): void {
    if (!this.#running) return;
    this.#events++;
    try {
      if (e.type === 'added') {
        if (this.#target.has(e.ip) || this.#waiting.has(e.ip)) return;
        if (this.#target.size < this.#opts.maxMonitored) this.#target.add(e.ip);
        else this.#waiting.add(e.ip);
        this.#afterChange();
      } else if (e.type === 'removed') {
        if (this.#waiting.delete(e.ip)) {
          this.#afterChange();
          return;
        }
        this.#target.remove(e.ip);
        this.#fill();
        this.#afterChange();
      }
    } catch (err) {
      // Never let a failure escape into the state manager's emit loop; repair with a resync instead.
      this.#log.error({ err, ip: e.ip }, 'reconcile event failed; a full resync follows');
      this.#queueRepair();
    }
  }

  /** Starts waiting devices while there is room; returns how many started. */
  #fill(): number {
    let n = 0;
    const cap = this.#opts.maxMonitored;
    for (const ip of this.#waiting) {
      if (this.#target.size >= cap) break;
      this.#waiting.delete(ip);
      this.#target.add(ip);
      n++;
    }
    return n;
  }

  #stopOne(ip: string): boolean {
    if (!this.#target.has(ip)) return false;
    this.#target.remove(ip);
    return true;
  }

  #afterChange(): void {
    const n = this.#waiting.size;
    if (n === 0) {
      this.#warnTimer?.cancel();
      this.#warnTimer = undefined;
      if (this.#warned) {
        this.#warned = false;
        this.#log.info(
          { max_pingers: this.#opts.maxMonitored, count: this.#target.size },
          'every device is monitored again',
        );
      }
      return;
    }
    if (this.#warned || this.#warnTimer !== undefined) return;
    this.#warnTimer = this.#clock.setTimeout(() => {
      this.#warnTimer = undefined;
      const left = this.#waiting.size;
      if (left === 0 || this.#warned || !this.#running) return;
      this.#warned = true;
      this.#log.warn(
        { max_pingers: this.#opts.maxMonitored, count: left },
        `max_concurrent_pingers (${this.#opts.maxMonitored}) reached: ${left} device${left === 1 ? ' is' : 's are'} not monitored; they start as others leave (raise max_concurrent_pingers to monitor all)`,
      );
    }, this.#opts.warnDebounceMs);
  }

  #queueRepair(): void {
    if (this.#repairQueued) return;
    this.#repairQueued = true;
    queueMicrotask(() => {
      this.#repairQueued = false;
      if (this.#running) this.#safetyResync();
    });
  }

  /** A resync that should find nothing to do: events keep schedules in step, so anything it changes is drift. */
  #safetyResync(): void {
    const r = this.resync();
    if (!r.ok) return;
    const repaired = r.added + r.removed;
    if (repaired > 0) {
      this.#drift += repaired;
      this.#log.warn(
        { count: repaired, added: r.added, removed: r.removed },
        'reconcile resync repaired schedules out of step with the state',
      );
    }
  }

  #armResync(): void {
    this.#resyncTimer?.cancel();
    this.#resyncTimer = undefined;
    if (!this.#running || this.#opts.resyncIntervalMs <= 0) return;
    this.#resyncTimer = this.#clock.setTimeout(() => {
      this.#resyncTimer = undefined;
      if (!this.#running) return;
      this.#safetyResync();
      this.#armResync();
    }, this.#opts.resyncIntervalMs);
  }
}
