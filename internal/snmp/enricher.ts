import { Heap } from 'heap-js';
import type { TimerHandle } from '../clock/clock.js';
import { errorMessage } from '../errors/errors.js';
import type { Logger } from '../log/log.js';
import type { DeviceEvent } from '../model/device.js';
import { TokenBucket } from '../ratelimit/token-bucket.js';
import { deviceInfoPoint } from '../model/points.js';
import { identifyCredentials, type IdentifiedCredential } from './credentials.js';
import { queryDevice, type CredentialQuery, type QueryResult } from './credential-query.js';
import {
  checkEnricherOptions,
  defaultSnmpEnricherOptions,
  type SnmpEnricherDeps,
  type SnmpEnricherOptions,
  type SnmpEnricherStats,
  type SnmpFailureCounts,
} from './enricher-options.js';

export {
  defaultSnmpEnricherOptions,
  type SnmpDeviceState,
  type SnmpEnricherDeps,
  type SnmpEnricherOptions,
  type SnmpEnricherStats,
  type SnmpFailureCounts,
} from './enricher-options.js';

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
  readonly #querier: CredentialQuery;
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
    this.#opts = { ...defaultSnmpEnricherOptions, ...opts };
    this.#deps = deps;
    this.#log = deps.logger.child({ stage: 'snmp' });
    this.#creds = identifyCredentials(this.#opts.credentials);
    this.#querier = {
      session: deps.session,
      log: this.#log,
      creds: this.#creds,
      opts: this.#opts,
      onAttempt: () => {
        this.#counts.attempts++;
      },
    };
  }

  /**
   * Validates the options and starts serving queued devices. Throws ConfigError for unusable
   * options. Idempotent; a stopped enricher does not start again.
   */
  async start(): Promise<void> {
    if (this.#started || this.#stopping) return;
    checkEnricherOptions(this.#opts);
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
    const run: Promise<void> = queryDevice(this.#querier, e, abort.signal)
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
