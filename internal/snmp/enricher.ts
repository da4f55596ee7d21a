import { Heap } from 'heap-js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import { ConfigError, errorMessage } from '../errors/errors.js';
import type { Logger } from '../log/log.js';
import type { Device, DeviceEvent, SnmpInfo } from '../model/device.js';
import type { PointSink } from '../model/point.js';
import { TokenBucket } from '../ratelimit/token-bucket.js';
import { deviceInfoPoint } from '../model/points.js';
import {
  identifyCredentials,
  validateCredentials,
  type IdentifiedCredential,
  type SnmpCredential,
} from './credentials.js';
import type { SnmpFailureClass, SnmpGetResult, SnmpSession } from './session.js';
import { allMissing, defaultMaxStringBytes, systemOidList, toSnmpInfo } from './system-info.js';

/**
 * The slice of the state manager (internal/state DeviceStore) the enricher needs. The names
 * are DeviceStore's, so the real store satisfies it.
 */
export interface SnmpDeviceState {
  /** SNMP answered: store the info (hostname = sysName || ip) and close the SNMP breaker. */
  recordSnmpSuccess(ip: string, info: SnmpInfo): void;
  /** SNMP failed; returns true when this failure opened the breaker for `backoffMs`. */
  recordSnmpFailure(ip: string, maxFails: number, backoffMs: number): boolean;
  /** True while the device's SNMP breaker is open. */
  isSnmpSuspended(ip: string): boolean;
  /** A copy of the device, or undefined when unknown. */
  get(ip: string): Device | undefined;
  /** Whether the device is in the state. */
  has(ip: string): boolean;
}

/** Tunables of {@link SnmpEnricher}; config keys in parentheses. */
export interface SnmpEnricherOptions {
  /** Credentials tried in order per device; the one that answered is tried first next time (`snmp.credentials`, or Go's `snmp.community`). */
  credentials: readonly SnmpCredential[];
  /** Agent UDP port (`snmp.port`). */
  port: number;
  /** Per-attempt timeout, ms (`snmp.timeout`). */
  timeoutMs: number;
  /** Extra attempts per credential after a timeout (`snmp.retries`). */
  retries: number;
  /** Budget for one device's whole query, all credentials and retries included, ms (`snmp.deadline`). */
  deadlineMs: number;
  /** Time between two enrichments of one device, ms (`snmp_interval`). */
  intervalMs: number;
  /** Global query start rate, devices per second (`snmp_rate_limit`). */
  ratePerSec: number;
  /** Token-bucket capacity, queries (`snmp_burst_limit`). */
  burst: number;
  /** Devices queried at once; size it >= rate x deadline when many agents may be dead (`snmp.max_in_flight`). */
  maxInFlight: number;
  /** Consecutive failed enrichments that open a device's SNMP breaker (`snmp_max_consecutive_fails`). */
  maxConsecutiveFails: number;
  /** How long an open breaker suspends a device's enrichment, ms (`snmp_backoff_duration`). */
  backoffMs: number;
  /** Re-enrich this soon after sysUpTime went backwards (a reboot), ms (`snmp.reboot_recheck`). */
  rebootRecheckMs: number;
  /** Longest string kept from an agent, UTF-8 bytes (`snmp.max_string_bytes`). */
  maxStringBytes: number;
}

/** Defaults: Go netscan values for every key it had (docs/go-parity.md); see MANUAL.md, "SNMP". */
export const defaultSnmpEnricherOptions: Omit<SnmpEnricherOptions, 'credentials'> = {
  port: 161,
  timeoutMs: 5_000,
  retries: 0,
  deadlineMs: 10_000,
  intervalMs: 3_600_000,
  ratePerSec: 10,
  burst: 50,
  maxInFlight: 50,
  maxConsecutiveFails: 5,
  backoffMs: 3_600_000,
  rebootRecheckMs: 60_000,
  maxStringBytes: defaultMaxStringBytes,
};

/** Collaborators of {@link SnmpEnricher}. */
export interface SnmpEnricherDeps {
  /** Time source for schedules, the deadline, pacing and timestamps. */
  clock: Clock;
  /** The SNMP transport (net-snmp, or a fake). */
  session: SnmpSession;
  /** Where results and the breaker live. */
  state: SnmpDeviceState;
  /** Where `device_info` points go (the writer). */
  sink: PointSink;
  /** Parent logger; the enricher logs under `stage: snmp`. */
  logger: Logger;
}

/** Failed enrichments per class. */
export type SnmpFailureCounts = Record<SnmpFailureClass, number>;

/** Counters and gauges for /health and health_metrics. */
export interface SnmpEnricherStats {
  /** Devices with a schedule. */
  readonly devicesTracked: number;
  /** Tracked devices whose SNMP answered at least once (this run or before a restart). */
  readonly devicesEnriched: number;
  /** Tracked devices whose SNMP breaker is open right now. */
  readonly devicesSuspended: number;
  /** Device queries started (one per device per round, whatever the credential count). */
  readonly queriesTotal: number;
  /** GETs sent, one per credential tried. */
  readonly attemptsTotal: number;
  /** Queries that returned data. */
  readonly successesTotal: number;
  /** Failed queries per class (the most telling class among the credentials tried). */
  readonly failuresByClass: Readonly<SnmpFailureCounts>;
  /** Device queries in flight right now. */
  readonly inFlight: number;
  /** Devices due now and waiting for a token or an in-flight slot. */
  readonly queued: number;
  /** Due rounds skipped because the device's breaker was open. */
  readonly suspendedSkipsTotal: number;
  /** Times a device's breaker opened. */
  readonly breakerTripsTotal: number;
  /** Times sysUpTime went backwards (agent restart or 497-day TimeTicks wrap). */
  readonly rebootsDetectedTotal: number;
  /** `device_info` points handed to the sink. */
  readonly pointsWrittenTotal: number;
  /** Points the sink reported dropping on our writes. */
  readonly pointsDroppedTotal: number;
}

interface Entry {
  readonly ip: string;
  /** When the next query is due, ms; meaningless while in flight. */
  dueMs: number;
  /** Identifies the live heap item; older items for this entry are stale. */
  seq: number;
  /** Set while a query runs. */
  abort: AbortController | undefined;
  /** enqueue() arrived during a query: run again as soon as it ends. */
  expedite: boolean;
  /** Id of the credential that answered last. */
  credentialId: string | undefined;
  /** Where the next round starts in the credential list when no remembered one answers. */
  cursor: number;
  /** sysUpTime seen last, s. */
  lastUptimeS: number | undefined;
  /** SNMP answered at least once. */
  enriched: boolean;
}

interface HeapItem {
  readonly dueMs: number;
  readonly seq: number;
  readonly entry: Entry;
}

type QueryResult =
  | { readonly ok: true; readonly info: SnmpInfo }
  | { readonly ok: false; readonly failure: SnmpFailureClass; readonly detail: string; readonly nextCursor: number };

// Which failure to report when credentials failed differently: any answer says more than silence.
const failureRank: Record<SnmpFailureClass, number> = { auth: 3, no_such: 2, other: 1, timeout: 0 };

/**
 * Asks every device who it is over SNMP: right after discovery (`enqueue`), then every
 * `intervalMs`, and again soon after its sysUpTime goes backwards. Writes one `device_info` point
 * per success and keeps the result in the state.
 *
 * All devices share one heap ordered by due time and one timer. A global token bucket paces query
 * starts and an in-flight cap bounds concurrency; a query holds its slot for at most `deadlineMs`,
 * so dead agents never block live ones behind them: N devices take about N / rate once
 * maxInFlight >= rate x deadline x (share of dead agents).
 */
export class SnmpEnricher {
  readonly #opts: SnmpEnricherOptions;
  readonly #deps: SnmpEnricherDeps;
  readonly #log: Logger;
  readonly #creds: readonly IdentifiedCredential[];
  readonly #entries = new Map<string, Entry>();
  readonly #heap = new Heap<HeapItem>((a, b) => a.dueMs - b.dueMs || a.seq - b.seq);
  readonly #running = new Set<Promise<void>>();
  #bucket: TokenBucket | undefined = undefined;
  #timer: TimerHandle | undefined = undefined;
  #timerDueMs = Infinity;
  #pumpQueued = false;
  #seq = 0;
  #started = false;
  #stopping = false;
  #stopPromise: Promise<void> | undefined = undefined;
  #inFlight = 0;
  #unsubscribe: (() => void) | undefined = undefined;
  readonly #counts = {
    queries: 0,
    attempts: 0,
    successes: 0,
    suspendedSkips: 0,
    trips: 0,
    reboots: 0,
    points: 0,
    dropped: 0,
    failures: { timeout: 0, auth: 0, no_such: 0, other: 0 } as SnmpFailureCounts,
  };

  constructor(deps: SnmpEnricherDeps, opts: Partial<SnmpEnricherOptions> & Pick<SnmpEnricherOptions, 'credentials'>) {
    const merged: Record<string, unknown> = { ...defaultSnmpEnricherOptions };
    for (const [k, v] of Object.entries(opts)) if (v !== undefined) merged[k] = v;
    this.#opts = merged as unknown as SnmpEnricherOptions;
    this.#deps = deps;
    this.#log = deps.logger.child({ stage: 'snmp' });
    this.#creds = identifyCredentials(this.#opts.credentials);
  }

  /**
   * Validates the options and starts serving queued devices. Throws ConfigError for unusable
   * options. Idempotent; a stopped enricher does not start again.
   */
  async start(): Promise<void> {
    if (this.#started || this.#stopping) return;
    this.#checkOptions();
    this.#started = true;
    const o = this.#opts;
    this.#bucket = new TokenBucket({ ratePerSec: o.ratePerSec, burst: o.burst, clock: this.#deps.clock });
    // Little's law: a dead agent holds its slot for every credential's timeouts, capped by the deadline.
    const deadCostMs = Math.min(o.deadlineMs, this.#creds.length * o.timeoutMs * (o.retries + 1));
    const sustainable = o.maxInFlight / (deadCostMs / 1000);
    if (sustainable < o.ratePerSec) {
      this.#log.warn(
        {
          max_in_flight: o.maxInFlight,
          dead_agent_cost_ms: deadCostMs,
          rate_limit: o.ratePerSec,
          dead_agent_rate: Math.round(sustainable * 10) / 10,
        },
        'snmp max_in_flight is too small for snmp_rate_limit: while agents time out, enrichment runs at dead_agent_rate devices/s',
      );
    }
    this.#log.info(
      {
        credentials: this.#creds.map((c) => c.id),
        rate_limit: o.ratePerSec,
        max_in_flight: o.maxInFlight,
        interval_ms: o.intervalMs,
        deadline_ms: o.deadlineMs,
      },
      'SNMP enricher started',
    );
    this.#schedulePump();
  }

  /**
   * Stops scheduling, aborts queries in flight (their results are discarded) and waits for them to
   * settle. Idempotent, safe before start; concurrent callers share one completion.
   */
  stop(): Promise<void> {
    this.#stopPromise ??= this.#stop();
    return this.#stopPromise;
  }

  /**
   * A device to enrich now: a new one is queued at once (rate-limited); a known one is moved to
   * the front, or re-run as soon as its query in flight ends. Call it from the state's `added` event.
   */
  enqueue(ip: string): void {
    if (this.#stopping) return;
    const e = this.#entries.get(ip);
    if (e === undefined) this.#schedule(this.#newEntry(ip), this.#deps.clock.now());
    else if (e.abort !== undefined) e.expedite = true;
    else if (e.dueMs > this.#deps.clock.now()) this.#schedule(e, this.#deps.clock.now());
    this.#schedulePump();
  }

  /**
   * A device restored from a snapshot: scheduled at its last SNMP success + interval (now when
   * it never answered). No-op for a tracked device.
   */
  track(ip: string): void {
    if (this.#stopping || this.#entries.has(ip)) return;
    const last = this.#deps.state.get(ip)?.lastSnmpMs ?? 0;
    const now = this.#deps.clock.now();
    this.#schedule(this.#newEntry(ip), last > 0 ? Math.max(now, last + this.#opts.intervalMs) : now);
    this.#schedulePump();
  }

  /** Forgets a device; a query in flight for it is aborted and its result discarded. */
  remove(ip: string): void {
    const e = this.#entries.get(ip);
    if (e === undefined) return;
    this.#entries.delete(ip);
    e.abort?.abort();
  }

  /** Feeds state change events: `added` enqueues, `removed` forgets. Pass it to DeviceStore.subscribe. */
  onDeviceEvent(event: DeviceEvent): void {
    if (event.type === 'added') this.enqueue(event.ip);
    else if (event.type === 'removed') this.remove(event.ip);
  }

  /** Subscribes {@link onDeviceEvent} to a store; the subscription ends at stop(). */
  follow(store: { subscribe(listener: (event: DeviceEvent) => void): () => void }): void {
    this.#unsubscribe?.();
    this.#unsubscribe = store.subscribe((ev) => this.onDeviceEvent(ev));
  }

  /** Counters and gauges; O(devices) for the suspended/enriched/queued gauges. */
  stats(): SnmpEnricherStats {
    const now = this.#deps.clock.now();
    let enriched = 0;
    let suspended = 0;
    let queued = 0;
    for (const e of this.#entries.values()) {
      if (e.enriched) enriched++;
      if (this.#deps.state.isSnmpSuspended(e.ip)) suspended++;
      else if (e.abort === undefined && e.dueMs <= now) queued++;
    }
    const c = this.#counts;
    return {
      devicesTracked: this.#entries.size,
      devicesEnriched: enriched,
      devicesSuspended: suspended,
      queriesTotal: c.queries,
      attemptsTotal: c.attempts,
      successesTotal: c.successes,
      failuresByClass: { ...c.failures },
      inFlight: this.#inFlight,
      queued,
      suspendedSkipsTotal: c.suspendedSkips,
      breakerTripsTotal: c.trips,
      rebootsDetectedTotal: c.reboots,
      pointsWrittenTotal: c.points,
      pointsDroppedTotal: c.dropped,
    };
  }

  // ---------------------------------------------------------------- scheduling

  #checkOptions(): void {
    const o = this.#opts;
    const problems = validateCredentials(o.credentials, 'snmp.credentials').errors;
    const positive: Array<[string, number]> = [
      ['snmp.timeout', o.timeoutMs],
      ['snmp.deadline', o.deadlineMs],
      ['snmp_interval', o.intervalMs],
      ['snmp_rate_limit', o.ratePerSec],
      ['snmp_burst_limit', o.burst],
      ['snmp.max_in_flight', o.maxInFlight],
      ['snmp_max_consecutive_fails', o.maxConsecutiveFails],
      ['snmp_backoff_duration', o.backoffMs],
      ['snmp.reboot_recheck', o.rebootRecheckMs],
      ['snmp.max_string_bytes', o.maxStringBytes],
    ];
    for (const [key, v] of positive)
      if (!(Number.isFinite(v) && v > 0)) problems.push(`${key}: must be greater than 0, got ${v}`);
    if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535)
      problems.push(`snmp.port: snmp port must be between 1 and 65535, got ${o.port}`);
    if (!Number.isInteger(o.retries) || o.retries < 0 || o.retries > 10)
      problems.push(`snmp.retries: snmp retries must be between 0 and 10, got ${o.retries}`);
    if (problems.length > 0) throw new ConfigError(problems, { stage: 'snmp' });
  }

  #newEntry(ip: string): Entry {
    const known = this.#deps.state.get(ip)?.snmp;
    const e: Entry = {
      ip,
      dueMs: Infinity,
      seq: 0,
      abort: undefined,
      expedite: false,
      credentialId: known?.credentialId,
      cursor: 0,
      lastUptimeS: known?.sysUptimeS,
      enriched: known !== undefined,
    };
    this.#entries.set(ip, e);
    return e;
  }

  #schedule(e: Entry, dueMs: number): void {
    e.dueMs = dueMs;
    e.seq = ++this.#seq;
    this.#heap.push({ dueMs, seq: e.seq, entry: e });
    if (this.#started && !this.#stopping && dueMs < this.#timerDueMs) this.#arm(dueMs);
  }

  /** Coalesces the pumps asked for by a burst of enqueue() calls into one. */
  #schedulePump(): void {
    if (!this.#started || this.#stopping || this.#pumpQueued) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      this.#pump();
    });
  }

  #arm(dueMs: number): void {
    this.#timer?.cancel();
    this.#timerDueMs = dueMs;
    this.#timer = this.#deps.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#timerDueMs = Infinity;
      this.#pump();
    }, dueMs - this.#deps.clock.now());
  }

  /** The live heap top, discarding items superseded by a reschedule or a removal. */
  #peek(): HeapItem | undefined {
    for (;;) {
      const top = this.#heap.peek();
      if (top === undefined) return undefined;
      if (top.seq === top.entry.seq && this.#entries.get(top.entry.ip) === top.entry && top.entry.abort === undefined)
        return top;
      this.#heap.pop();
    }
  }

  #pump(): void {
    if (!this.#started || this.#stopping) return;
    const bucket = this.#bucket!;
    const now = this.#deps.clock.now();
    while (this.#inFlight < this.#opts.maxInFlight) {
      const top = this.#peek();
      if (top === undefined) return;
      if (top.dueMs > now) {
        if (top.dueMs < this.#timerDueMs) this.#arm(top.dueMs);
        return;
      }
      const e = top.entry;
      if (!this.#deps.state.has(e.ip)) {
        // Removed from the state without a 'removed' event reaching us: stop polling it.
        this.#heap.pop();
        this.#entries.delete(e.ip);
        continue;
      }
      if (this.#deps.state.isSnmpSuspended(e.ip)) {
        this.#heap.pop();
        this.#counts.suspendedSkips++;
        const until = this.#deps.state.get(e.ip)?.snmpBreaker.suspendedUntilMs ?? 0;
        this.#schedule(e, until > now ? until : now + this.#opts.intervalMs);
        continue;
      }
      if (!bucket.tryTake()) {
        const waitMs = Math.max(1, Math.ceil(((1 - bucket.available()) / bucket.ratePerSec) * 1000));
        if (now + waitMs < this.#timerDueMs) this.#arm(now + waitMs);
        return;
      }
      this.#heap.pop();
      this.#launch(e, now);
    }
  }

  #launch(e: Entry, startedMs: number): void {
    const abort = new AbortController();
    e.abort = abort;
    this.#inFlight++;
    this.#counts.queries++;
    const deadline = this.#deps.clock.setTimeout(() => abort.abort(), this.#opts.deadlineMs);
    const run: Promise<void> = this.#query(e, abort.signal)
      .then((result) => this.#complete(e, startedMs, result))
      .catch((err: unknown) => {
        // A bug in the session, state or sink: logged, and the device keeps its schedule.
        this.#log.error({ ip: e.ip, err: errorMessage(err) }, 'SNMP enrichment crashed');
        return startedMs + this.#opts.intervalMs;
      })
      .then((nextDueMs) => {
        deadline.cancel();
        e.abort = undefined;
        this.#inFlight--;
        this.#running.delete(run);
        if (this.#entries.get(e.ip) === e && !this.#stopping) {
          this.#schedule(e, e.expedite ? this.#deps.clock.now() : nextDueMs);
          e.expedite = false;
        }
        this.#pump();
      })
      .catch((err: unknown) =>
        this.#log.error({ ip: e.ip, err: errorMessage(err) }, 'SNMP scheduler failed after a query'),
      );
    this.#running.add(run);
  }

  /** Remembered credential first, then the rest in configured order starting at the cursor. */
  #order(e: Entry): IdentifiedCredential[] {
    const n = this.#creds.length;
    const order: IdentifiedCredential[] = [];
    const remembered = this.#creds.find((c) => c.id === e.credentialId);
    if (remembered !== undefined) order.push(remembered);
    for (let i = 0; i < n; i++) {
      const c = this.#creds[(e.cursor + i) % n]!;
      if (c !== remembered) order.push(c);
    }
    return order;
  }

  async #query(e: Entry, signal: AbortSignal): Promise<QueryResult> {
    const o = this.#opts;
    const order = this.#order(e);
    let worst: { failure: SnmpFailureClass; detail: string } | undefined;
    let nextCursor = e.cursor;
    for (const [i, cred] of order.entries()) {
      if (signal.aborted) break;
      this.#counts.attempts++;
      let r: SnmpGetResult = await this.#deps.session.get({
        ip: e.ip,
        port: o.port,
        credential: cred.credential,
        oids: systemOidList,
        timeoutMs: o.timeoutMs,
        retries: o.retries,
        signal,
      });
      if (r.ok && allMissing(r.values))
        r = { ok: false, failure: 'no_such', detail: 'the agent has none of the system group objects' };
      if (r.ok) return { ok: true, info: toSnmpInfo(r.values, cred.id, o.maxStringBytes) };
      this.#log.debug(
        { ip: e.ip, credential: cred.id, failure: r.failure, detail: r.detail },
        'SNMP credential failed',
      );
      if (worst === undefined || failureRank[r.failure] > failureRank[worst.failure]) worst = r;
      // The next round starts with the first credential this round did not finish, so with
      // many credentials and a short deadline every one of them is eventually tried first. A
      // credential that had the whole deadline to itself is passed over, or the rotation would stall.
      const at = this.#creds.indexOf(cred);
      nextCursor = signal.aborted && i > 0 ? at : (at + 1) % this.#creds.length;
    }
    return {
      ok: false,
      ...(worst ?? { failure: 'timeout', detail: 'deadline passed before any credential was tried' }),
      nextCursor,
    };
  }

  /** Records the result; returns when the device is next due. */
  #complete(e: Entry, startedMs: number, r: QueryResult): number {
    const o = this.#opts;
    if (this.#stopping || this.#entries.get(e.ip) !== e) return startedMs + o.intervalMs;
    const now = this.#deps.clock.now();
    if (!r.ok) {
      this.#counts.failures[r.failure]++;
      e.cursor = r.nextCursor;
      // Forget the remembered credential: put first every round, a silent one would use the whole
      // deadline and starve the others (a rotated community would never be found).
      e.credentialId = undefined;
      const tripped = this.#deps.state.recordSnmpFailure(e.ip, o.maxConsecutiveFails, o.backoffMs);
      this.#log.debug(
        { ip: e.ip, failure: r.failure, detail: r.detail, duration_ms: now - startedMs },
        'SNMP enrichment failed',
      );
      if (tripped) {
        this.#counts.trips++;
        this.#log.warn(
          { ip: e.ip, failure: r.failure, backoff_ms: o.backoffMs },
          'SNMP failed max attempts, suspending SNMP (circuit breaker tripped)',
        );
        return now + o.backoffMs;
      }
      return startedMs + o.intervalMs;
    }
    const info = r.info;
    this.#counts.successes++;
    const rebooted = e.lastUptimeS !== undefined && info.sysUptimeS !== undefined && info.sysUptimeS < e.lastUptimeS;
    e.lastUptimeS = info.sysUptimeS;
    e.credentialId = info.credentialId;
    e.enriched = true;
    this.#deps.state.recordSnmpSuccess(e.ip, info);
    const dropped = this.#deps.sink.write(
      deviceInfoPoint(
        e.ip,
        {
          hostname: info.sysName || e.ip,
          sysDescr: info.sysDescr,
          sysObjectId: info.sysObjectId,
          sysLocation: info.sysLocation,
          sysContact: info.sysContact,
          sysUptimeS: info.sysUptimeS,
        },
        now,
      ),
    );
    this.#counts.points++;
    this.#counts.dropped += dropped;
    this.#log.debug(
      { ip: e.ip, hostname: info.sysName || e.ip, credential: info.credentialId, duration_ms: now - startedMs },
      'SNMP enrichment succeeded',
    );
    if (rebooted) {
      this.#counts.reboots++;
      this.#log.info(
        { ip: e.ip, uptime_s: info.sysUptimeS, recheck_ms: o.rebootRecheckMs },
        'sysUpTime went backwards (agent restarted); re-enriching early',
      );
      return now + o.rebootRecheckMs;
    }
    return startedMs + o.intervalMs;
  }

  async #stop(): Promise<void> {
    this.#stopping = true;
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerDueMs = Infinity;
    for (const e of this.#entries.values()) e.abort?.abort();
    await Promise.allSettled([...this.#running]);
    if (this.#started)
      this.#log.info(
        this.#counts.queries > 0 ? { queries: this.#counts.queries, successes: this.#counts.successes } : {},
        'SNMP enricher stopped',
      );
  }
}
