import type { Clock, TimerHandle } from '../clock/clock.js';
import { errorMessage, NetscanError } from '../errors/errors.js';
import { redactSecrets, type Logger } from '../log/log.js';
import type { Point, PointSink } from '../model/point.js';
import { backoffDelayMs, classifyWriteError, writeErrorClasses, type ClassifiedWriteError, type WriteErrorClass } from './classify.js';
import { toLineProtocol, type LineProtocolOptions } from './line-protocol.js';
import { defaultSpoolSegmentBytes, Spool, type SpoolEntry } from './spool.js';
import type { LineTransport, WriteTarget } from './transport.js';

/** Options for {@link InfluxWriter}. */
export interface InfluxWriterOptions {
  /** Where batches go (InfluxDB v2, v1, a file, or a fake). */
  transport: LineTransport;
  /** Time source for flush timers, backoff and timestamps in stats. */
  clock: Clock;
  /** Logger (a child with `stage: writer` is made). */
  logger: Logger;
  /** Lines per request; a full batch is sent at once (config `influxdb.batch_size`). */
  batchSize: number;
  /** Cap on one request body, in bytes (UTF-16 code units, close to bytes for line protocol). */
  maxBatchBytes: number;
  /** A partial batch is sent after this long, in ms (config `influxdb.flush_interval`). */
  flushIntervalMs: number;
  /** Points held in memory (not yet in a request or the spool) before the oldest are dropped. */
  maxBufferPoints: number;
  /** Requests in flight at once. */
  maxConcurrentWrites: number;
  /** Directory of the durable spool; undefined keeps failed batches in memory only. */
  spoolDir: string | undefined;
  /** Upper bound of the spool on disk, in bytes; the oldest data is dropped past it. */
  spoolMaxBytes: number;
  /** Spool segment file size, in bytes. */
  spoolSegmentBytes: number;
  /** Queued points above which sealed batches go to the spool even while the server is up; default half of maxBufferPoints. */
  spoolThresholdPoints: number | undefined;
  /** First retry delay, in ms. */
  minRetryDelayMs: number;
  /** Cap on the retry delay, in ms. */
  maxRetryDelayMs: number;
  /** Backoff growth per consecutive failure. */
  exponentialBase: number;
  /** Default deadline of {@link InfluxWriter.stop}, in ms. */
  closeTimeoutMs: number;
  /** Random source in [0, 1) for backoff jitter. */
  random: () => number;
}

/** Defaults for {@link InfluxWriterOptions}; sized for 20,000 points/s. */
export const defaultInfluxWriterOptions = {
  batchSize: 5000,
  maxBatchBytes: 4 * 1024 * 1024,
  flushIntervalMs: 5000,
  maxBufferPoints: 200_000,
  maxConcurrentWrites: 2,
  spoolDir: undefined,
  spoolMaxBytes: 1024 * 1024 * 1024,
  spoolSegmentBytes: defaultSpoolSegmentBytes,
  spoolThresholdPoints: undefined,
  minRetryDelayMs: 1000,
  maxRetryDelayMs: 10_000,
  exponentialBase: 2,
  closeTimeoutMs: 10_000,
  random: Math.random,
} as const satisfies Partial<InfluxWriterOptions>;

/** Why points were dropped. Every drop is counted under one of these. */
export type DropReason =
  /** The memory queue was full (no spool, or the spool could not keep up): oldest points dropped. */
  | 'buffer_full'
  /** The spool reached spool_max_bytes: oldest spooled points dropped. */
  | 'spool_full'
  /** The server refused the batch as invalid (400/422). */
  | 'rejected'
  /** A single line was too large for the server (413 after splitting down to one line). */
  | 'too_large'
  /** The point had no representable field (NaN, Infinity, empty measurement). */
  | 'invalid'
  /** Written after close(). */
  | 'closed'
  /** Could not be sent before the close deadline and there is no spool. */
  | 'shutdown';

/** Every drop reason, in a fixed order. */
export const dropReasons: readonly DropReason[] = ['buffer_full', 'spool_full', 'rejected', 'too_large', 'invalid', 'closed', 'shutdown'];

/** What the writer is doing: `writing` normally; `spooling`/`buffering` while the server fails (with/without a spool). */
export type WriterState = 'idle' | 'writing' | 'spooling' | 'buffering' | 'stopped';

/** Counters and gauges of one writer (a plain object, safe to serialise). */
export interface WriterStats {
  /** Points passed to write(). */
  pointsReceived: number;
  /** Points the server acknowledged. */
  pointsWritten: number;
  /** Points dropped, all reasons. */
  pointsDropped: number;
  /** Points dropped, by reason. */
  droppedByReason: Record<DropReason, number>;
  /** Points appended to the spool since start (cumulative). */
  pointsSpooled: number;
  /** Points in the spool now, not in a request and not yet acknowledged by the server. */
  spoolPoints: number;
  /** Bytes of the spool on disk now. */
  spoolBytes: number;
  /** Points in memory now, waiting for a request or the spool. */
  queueDepth: number;
  /** Points in requests now. */
  inFlightPoints: number;
  /** Requests acknowledged (Go `influxdb_successful_batches`). */
  batchesOk: number;
  /** Requests that failed, any class, every attempt (Go `influxdb_failed_batches`). */
  batchesFailed: number;
  /** Failed requests by class. */
  writeErrors: Record<WriteErrorClass, number>;
  /** Last failure, one line; undefined if none yet. */
  lastError: string | undefined;
  /** Time of the last failure, ms since the epoch; 0 if none. */
  lastErrorMs: number;
  /** Time of the last acknowledged request, ms since the epoch; 0 if none. */
  lastSuccessMs: number;
  /** Current state. */
  state: WriterState;
}

/** Adds up the stats of several writers (for one health point when several sinks run). */
export function sumWriterStats(list: readonly WriterStats[]): WriterStats {
  const out = emptyStats();
  for (const s of list) {
    for (const k of ['pointsReceived', 'pointsWritten', 'pointsDropped', 'pointsSpooled', 'spoolPoints', 'spoolBytes', 'queueDepth', 'inFlightPoints', 'batchesOk', 'batchesFailed'] as const) out[k] += s[k];
    for (const r of dropReasons) out.droppedByReason[r] += s.droppedByReason[r];
    for (const c of writeErrorClasses) out.writeErrors[c] += s.writeErrors[c];
    if (s.lastErrorMs > out.lastErrorMs) {
      out.lastErrorMs = s.lastErrorMs;
      out.lastError = s.lastError;
    }
    out.lastSuccessMs = Math.max(out.lastSuccessMs, s.lastSuccessMs);
  }
  out.state = list.find((s) => s.state !== 'writing')?.state ?? (list.length > 0 ? 'writing' : 'idle');
  return out;
}

function emptyStats(): WriterStats {
  return {
    pointsReceived: 0, pointsWritten: 0, pointsDropped: 0,
    droppedByReason: Object.fromEntries(dropReasons.map((r) => [r, 0])) as Record<DropReason, number>,
    pointsSpooled: 0, spoolPoints: 0, spoolBytes: 0, queueDepth: 0, inFlightPoints: 0, batchesOk: 0, batchesFailed: 0,
    writeErrors: Object.fromEntries(writeErrorClasses.map((c) => [c, 0])) as Record<WriteErrorClass, number>,
    lastError: undefined, lastErrorMs: 0, lastSuccessMs: 0, state: 'idle',
  };
}

interface Batch {
  readonly target: WriteTarget;
  readonly body: string;
  readonly points: number;
  /** Sealing order, to put a retried batch back in its place. */
  readonly seq: number;
  /** Set when the batch came from the spool (it is acknowledged there). */
  readonly entry: SpoolEntry | undefined;
  /** The one request allowed while the output fails (decided when the batch was taken). */
  probe?: boolean;
  /** Given up by close() after the deadline: a late outcome of its request changes nothing. */
  abandoned?: boolean;
}

/** How long a spool that failed to take a batch is left alone before it is tried again. */
const SPOOL_RETRY_MS = 30_000;

/** How long close() waits, after aborting, for requests whose transport ignores the abort. */
const ABORT_GRACE_MS = 1000;

interface OpenBatch {
  lines: string[];
  bytes: number;
}

// A Retry-After beyond this is treated as this: the spool holds the data meanwhile anyway.
const MAX_RETRY_AFTER_MS = 300_000;

// One log line per event: a repeated drop reason is summarised at most this often.
const DROP_LOG_INTERVAL_MS = 60_000;

/**
 * The output stage: a non-blocking {@link PointSink} with a bounded memory queue, batching by
 * count, bytes and time, at most N concurrent requests, one retry layer (errors classified in
 * classify.ts), a durable spool for outages and saturation, and a bounded close. No point is
 * counted as written before the server acknowledged it, and every point that is not written
 * is counted as dropped (by reason) or is still queued/spooled:
 *
 *     received = written + dropped + queueDepth + inFlightPoints + spoolPoints
 *
 * While the server fails, requests pause (one probe per backoff period, Retry-After honoured)
 * and sealed batches go to the spool; when a probe succeeds the spool is replayed oldest-first
 * at full concurrency, and new batches go through the spool until it is empty so order holds.
 */
export class InfluxWriter implements PointSink {
  readonly #o: InfluxWriterOptions;
  readonly #log: Logger;
  readonly #lp: LineProtocolOptions;
  readonly #spool: Spool | undefined;
  readonly #spoolThreshold: number;
  #open: Record<WriteTarget, OpenBatch> = { primary: { lines: [], bytes: 0 }, health: { lines: [], bytes: 0 } };
  #ready: Batch[] = [];
  #queued = 0;
  #spooling = 0;
  #spoolAppends: Promise<unknown> = Promise.resolve();
  #spoolBroken = false;
  /** When a broken spool is tried again (a full disk may have been cleaned up). */
  #spoolRetryAtMs = 0;
  #inFlight = 0;
  #inFlightFromSpool = 0;
  #seq = 0;
  #started = false;
  #closed = false;
  #draining = false;
  #halt = false;
  #failing: ClassifiedWriteError | undefined;
  #failures = 0;
  #retryDue = false;
  #probeInFlight = false;
  /** Batches whose request is running (close() gives them up when the transport ignores aborts). */
  readonly #sending = new Set<Batch>();
  /** A spool read failed; cleared by the next successful one (one log line per episode). */
  #spoolReadFailing = false;
  #failingSinceMs: number | undefined;
  #waiters: Array<() => void> = [];
  #workers: Array<Promise<void>> = [];
  #flushTimer: TimerHandle | undefined;
  #retryTimer: TimerHandle | undefined;
  #nextFlushMs = 0;
  #abort = new AbortController();
  #closing: Promise<void> | undefined;
  #starting: Promise<void> | undefined;
  #stats = emptyStats();
  #dropLog = new Map<string, { lastMs: number; suppressed: number }>();

  constructor(opts: Partial<InfluxWriterOptions> & Pick<InfluxWriterOptions, 'transport' | 'clock' | 'logger'>) {
    this.#o = { ...defaultInfluxWriterOptions, ...opts };
    this.#log = opts.logger.child({ stage: 'writer', output: opts.transport.name });
    this.#lp = { unsignedAsInteger: opts.transport.unsignedAsInteger };
    this.#spool = this.#o.spoolDir === undefined ? undefined : new Spool({
      dir: this.#o.spoolDir, maxBytes: this.#o.spoolMaxBytes, segmentBytes: this.#o.spoolSegmentBytes, logger: this.#log,
    });
    this.#spoolThreshold = this.#o.spoolThresholdPoints ?? Math.floor(this.#o.maxBufferPoints / 2);
  }

  /** Opens the spool (queuing leftovers from a previous run for replay), starts the senders and the flush timer; idempotent. */
  start(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    this.#started = true;
    if (this.#spool) {
      const rec = await this.#spool.open().catch((cause: unknown) => {
        // Not started: the state stays `idle`, so readiness says the output is not writing.
        this.#started = false;
        throw new NetscanError('ERR_WRITE', `cannot open spool_dir ${this.#o.spoolDir}: ${errorMessage(cause)} (check that the directory is writable, or set spool_dir: "" to disable the spool)`, { stage: 'writer', cause });
      });
      if (rec.points > 0) this.#log.info({ count: rec.points, batches: rec.records }, 'Spool holds points from a previous run; replaying them');
    }
    if (this.#closed) return;
    for (let i = 0; i < Math.max(1, this.#o.maxConcurrentWrites); i++) {
      this.#workers.push(this.#worker().catch((err: unknown) => {
        this.#log.error({ err }, 'Writer sender stopped on an unexpected error');
      }));
    }
    this.#nextFlushMs = this.#o.clock.now() + this.#o.flushIntervalMs;
    this.#scheduleFlush();
    this.#route();
    this.#wake();
  }

  /**
   * Enqueues one point; never blocks. Returns the number of points dropped by this call: 1 if
   * this point is invalid or the writer is closed, or the oldest queued points shed to make room.
   */
  write(point: Point): number {
    this.#stats.pointsReceived++;
    if (this.#closed) return this.#drop('closed', 1);
    const line = toLineProtocol(point, this.#lp);
    if (line === undefined) return this.#drop('invalid', 1);
    const target: WriteTarget = point.bucket === 'health' ? 'health' : 'primary';
    const b = this.#open[target];
    b.lines.push(line);
    b.bytes += line.length + 1;
    this.#queued++;
    if (b.lines.length >= this.#o.batchSize || b.bytes >= this.#o.maxBatchBytes) this.#seal(target);
    return this.#queued + this.#spooling > this.#o.maxBufferPoints ? this.#shed(this.#queued + this.#spooling - this.#o.maxBufferPoints) : 0;
  }

  /** Seals the partial batches now (they are sent as soon as a sender is free). */
  flush(): void {
    this.#seal('primary');
    this.#seal('health');
  }

  /** A copy of the counters. */
  stats(): WriterStats {
    const s = this.#stats;
    return {
      ...s,
      droppedByReason: { ...s.droppedByReason },
      writeErrors: { ...s.writeErrors },
      spoolPoints: (this.#spool?.pendingPoints ?? 0) - this.#inFlightFromSpool,
      spoolBytes: this.#spool?.bytes ?? 0,
      queueDepth: this.#queued + this.#spooling,
      inFlightPoints: this.#inFlight,
      state: this.#state(),
    };
  }

  /** True when points are being written or kept safely in the spool; false when failing without a spool, on a config error, or stopped. */
  isHealthy(): boolean {
    const st = this.#state();
    return st === 'writing' || (st === 'spooling' && this.#failing?.errorClass !== 'config');
  }

  /** {@link close} with the default deadline (`closeTimeoutMs`). */
  stop(): Promise<void> {
    return this.close(this.#o.closeTimeoutMs);
  }

  /**
   * Sends what is queued, waiting at most `deadlineMs`; what is not acknowledged by then
   * (in-flight requests are aborted) goes to the spool, or is counted as dropped (`shutdown`)
   * without one. Idempotent; concurrent callers share one completion. The spool's backlog from
   * an outage is left on disk for the next start rather than replayed under a deadline.
   */
  close(deadlineMs: number = this.#o.closeTimeoutMs): Promise<void> {
    this.#closing ??= this.#close(deadlineMs);
    return this.#closing;
  }

  async #close(deadlineMs: number): Promise<void> {
    this.#closed = true;
    this.#draining = true;
    await this.#starting?.catch(() => undefined);
    this.#flushTimer?.cancel();
    this.flush();
    let abandoned = false;
    if (this.#started) {
      this.#route();
      this.#wake();
      const done = Promise.all(this.#workers);
      if (!(await this.#settlesWithin(done, deadlineMs))) {
        this.#halt = true;
        this.#abort.abort(new Error('writer close deadline passed'));
        this.#wake();
        if (!(await this.#settlesWithin(done, ABORT_GRACE_MS))) {
          this.#abandonSending();
          abandoned = true;
        }
      }
    }
    if (this.#spool && this.#ready.length > 0) {
      // A spool that would not open is no place for them: they are counted as dropped below.
      const usable = this.#started || await this.#spool.open().then(() => true, () => false);
      if (usable) this.#route(true);
    }
    this.#retryTimer?.cancel();
    await this.#spoolAppends;
    const left = this.#queued;
    if (left > 0) {
      this.#ready = [];
      this.#queued = 0;
      this.#drop('shutdown', left);
    }
    await this.#spool?.close();
    // A transport stuck in a request it would not abort gets a grace period to close, not more.
    if (abandoned) await this.#settlesWithin(this.#o.transport.close(), ABORT_GRACE_MS);
    else await this.#o.transport.close();
    const s = this.stats();
    this.#log.info({ written: s.pointsWritten, dropped: s.pointsDropped, spooled: s.spoolPoints }, 'Writer stopped');
  }

  /** Waits for `p` at most `ms` of the writer's clock; true when `p` settled (either way) in time. */
  async #settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
    const timer = new AbortController();
    try {
      return await Promise.race([p.then(() => true, () => true), this.#o.clock.sleep(ms, timer.signal).then(() => false, () => true)]);
    } finally {
      timer.abort();
    }
  }

  /**
   * The transport ignored the abort (a hung file system, ...): give up its requests. Their points
   * go back to the queue (then the spool, or dropped as `shutdown`); spooled ones stay on disk.
   */
  #abandonSending(): void {
    let points = 0;
    for (const b of this.#sending) {
      b.abandoned = true;
      this.#inFlight -= b.points;
      if (b.entry) {
        this.#inFlightFromSpool -= b.points;
      } else {
        this.#ready.push({ ...b, abandoned: false });
        this.#queued += b.points;
      }
      points += b.points;
    }
    this.#log.warn({ count: points, batches: this.#sending.size }, 'Output ignored the close deadline; its requests were given up');
    this.#sending.clear();
  }

  #state(): WriterState {
    if (this.#closed) return 'stopped';
    if (!this.#started) return 'idle';
    if (!this.#failing) return 'writing';
    return this.#spool && !this.#spoolBroken ? 'spooling' : 'buffering';
  }

  #seal(target: WriteTarget): void {
    const b = this.#open[target];
    if (b.lines.length === 0) return;
    this.#open[target] = { lines: [], bytes: 0 };
    this.#ready.push({ target, body: b.lines.join('\n'), points: b.lines.length, seq: this.#seq++, entry: undefined });
    this.#route();
    this.#wake();
  }

  /** Moves sealed batches to the spool while the server fails, the spool has a backlog (order) or memory runs deep. */
  #route(force = false): void {
    const spool = this.#spool;
    if (this.#spoolBroken && !force && this.#o.clock.now() >= this.#spoolRetryAtMs) this.#spoolBroken = false;
    if (!spool || (!this.#started && !force) || (this.#spoolBroken && !force)) return;
    const useSpool = force || this.#failing !== undefined || spool.pendingPoints > 0 || this.#spooling > 0 || this.#queued > this.#spoolThreshold;
    if (!useSpool) return;
    while (this.#ready.length > 0) {
      const b = this.#ready.shift()!;
      this.#queued -= b.points;
      this.#spooling += b.points;
      const appended = spool.append(b.target, b.body, b.points).then((lost) => {
        this.#spooling -= b.points;
        this.#stats.pointsSpooled += b.points;
        if (lost > 0) this.#drop('spool_full', lost);
        this.#wake();
      }, (err: unknown) => {
        this.#spooling -= b.points;
        this.#ready.unshift(b);
        this.#queued += b.points;
        if (!this.#spoolBroken) this.#log.error({ err, spool_dir: this.#o.spoolDir, retry_in_ms: SPOOL_RETRY_MS }, 'Cannot write the spool; keeping data in memory');
        this.#spoolBroken = true;
        this.#spoolRetryAtMs = this.#o.clock.now() + SPOOL_RETRY_MS;
        this.#wake();
      });
      this.#spoolAppends = this.#spoolAppends.then(() => appended);
    }
  }

  /** Drops the oldest queued points (whole sealed batches first, then the oldest open lines). */
  #shed(n: number): number {
    let dropped = 0;
    while (dropped < n && this.#ready.length > 0) {
      const b = this.#ready.shift()!;
      this.#queued -= b.points;
      dropped += b.points;
    }
    for (const target of ['primary', 'health'] as const) {
      const b = this.#open[target];
      if (dropped >= n || b.lines.length === 0) continue;
      const k = Math.min(n - dropped, b.lines.length);
      const gone = b.lines.splice(0, k);
      for (const l of gone) b.bytes -= l.length + 1;
      this.#queued -= k;
      dropped += k;
    }
    return dropped > 0 ? this.#drop('buffer_full', dropped) : 0;
  }

  #drop(reason: DropReason, n: number, detail?: string): number {
    this.#stats.pointsDropped += n;
    this.#stats.droppedByReason[reason] += n;
    // Keyed by reason only: server messages often quote the offending line, so they differ per batch.
    const key = reason;
    const now = this.#o.clock.now();
    const entry = this.#dropLog.get(key);
    if (entry && now - entry.lastMs < DROP_LOG_INTERVAL_MS) {
      entry.suppressed += n;
      return n;
    }
    const count = n + (entry?.suppressed ?? 0);
    this.#dropLog.set(key, { lastMs: now, suppressed: 0 });
    const fields = { reason, count, total_dropped: this.#stats.pointsDropped, ...(detail === undefined ? {} : { server_reason: detail }) };
    const msg = {
      buffer_full: 'Write queue full: dropped the oldest points',
      spool_full: 'Spool full: dropped the oldest spooled points',
      rejected: 'Server rejected a batch as invalid: dropped it',
      too_large: 'Server refused a single line as too large: dropped it',
      invalid: 'Point has no valid field: dropped it',
      closed: 'Point written after the writer closed: dropped it',
      shutdown: 'Points not sent before the close deadline and no spool: dropped them',
    }[reason];
    if (reason === 'invalid' || reason === 'closed') this.#log.warn(fields, msg);
    else this.#log.error(fields, msg);
    return n;
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const fn of w) fn();
  }

  #scheduleFlush(): void {
    const delay = Math.max(0, this.#nextFlushMs - this.#o.clock.now());
    this.#flushTimer = this.#o.clock.setTimeout(() => {
      // Next tick from the schedule, not from when this one ran (STYLE rule 9).
      this.#nextFlushMs += this.#o.flushIntervalMs;
      if (this.#nextFlushMs <= this.#o.clock.now()) this.#nextFlushMs = this.#o.clock.now() + this.#o.flushIntervalMs;
      this.flush();
      this.#route();
      this.#scheduleFlush();
    }, delay);
  }

  /** May a sender start a request now? All may while healthy; one probe per backoff period while failing. */
  #mayStart(): boolean {
    if (!this.#failing) return true;
    return !this.#probeInFlight && this.#retryDue;
  }

  async #worker(): Promise<void> {
    for (;;) {
      const batch = await this.#next();
      if (!batch) return;
      await this.#deliver(batch);
    }
  }

  async #next(): Promise<Batch | undefined> {
    for (;;) {
      if (this.#halt) return undefined;
      if (this.#mayStart()) {
        const probe = this.#failing !== undefined;
        if (this.#spool && !this.#draining && this.#spool.unreadPoints > 0) {
          if (probe) this.#probeInFlight = true;
          let entry: SpoolEntry | undefined;
          try {
            entry = await this.#spool.take();
            this.#spoolReadFailing = false;
          } catch (err) {
            if (!this.#spoolReadFailing) this.#log.error({ err, spool_dir: this.#o.spoolDir }, 'Cannot read the spool; retrying');
            this.#spoolReadFailing = true;
          }
          if (entry && this.#halt) {
            // close() passed its deadline while the batch was read: it stays in the spool.
            this.#spool.release(entry);
            entry = undefined;
          }
          if (entry) return { target: entry.target, body: entry.body, points: entry.points, seq: -1, entry, probe };
          if (probe) this.#probeInFlight = false;
          // A failed read is retried after a pause, never in a tight loop.
          if (this.#spoolReadFailing && !this.#halt) await this.#o.clock.sleep(this.#o.minRetryDelayMs);
          continue;
        }
        const b = this.#ready.shift();
        if (b) {
          if (probe) this.#probeInFlight = true;
          this.#queued -= b.points;
          b.probe = probe;
          return b;
        }
      }
      if (this.#draining && this.#ready.length === 0) return undefined;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  async #deliver(batch: Batch): Promise<void> {
    const wasProbe = batch.probe === true;
    if (this.#abort.signal.aborted) {
      // close() passed its deadline before this request started: never start one it cannot abort.
      if (wasProbe) this.#probeInFlight = false;
      this.#requeue(batch);
      return;
    }
    const fromSpool = batch.entry ? batch.points : 0;
    this.#inFlight += batch.points;
    this.#inFlightFromSpool += fromSpool;
    // One controller per request: the client's transport adds an abort listener to the signal
    // it is given and never removes it, so a shared long-lived signal would leak one per request.
    const request = new AbortController();
    const onAbort = (): void => request.abort(this.#abort.signal.reason);
    this.#abort.signal.addEventListener('abort', onAbort, { once: true });
    this.#sending.add(batch);
    try {
      await this.#o.transport.send(batch.body, batch.target, request.signal);
      if (batch.abandoned) return;
      this.#inFlight -= batch.points;
      this.#inFlightFromSpool -= fromSpool;
      this.#onSuccess(batch);
    } catch (err) {
      // The client reports a socket timeout without destroying the request: abort it so the
      // hung connection is closed instead of leaking.
      request.abort();
      if (batch.abandoned) return;
      this.#inFlight -= batch.points;
      this.#inFlightFromSpool -= fromSpool;
      this.#onFailure(batch, classifyWriteError(err, this.#o.clock.now()), wasProbe);
    } finally {
      this.#sending.delete(batch);
      this.#abort.signal.removeEventListener('abort', onAbort);
      if (wasProbe) this.#probeInFlight = false;
      this.#wake();
    }
  }

  #onSuccess(batch: Batch): void {
    const s = this.#stats;
    s.pointsWritten += batch.points;
    s.batchesOk++;
    s.lastSuccessMs = this.#o.clock.now();
    if (batch.entry) this.#spool!.ack(batch.entry);
    if (this.#failing) {
      const backlog = (this.#spool?.pendingPoints ?? 0) + this.#queued + this.#spooling;
      this.#log.info({ count: backlog, failed_for_ms: s.lastSuccessMs - (this.#failingSinceMs ?? s.lastSuccessMs) }, `Output back, replaying ${backlog} points`);
      this.#failing = undefined;
      this.#failingSinceMs = undefined;
      this.#failures = 0;
      this.#retryTimer?.cancel();
    }
  }

  #onFailure(batch: Batch, classified: ClassifiedWriteError, wasProbe: boolean): void {
    // A server may echo the token or password in its error body: never let it reach /health or a log.
    const c = { ...classified, message: redactSecrets(classified.message, this.#o.transport.secrets ?? []) };
    const s = this.#stats;
    s.batchesFailed++;
    s.writeErrors[c.errorClass]++;
    s.lastError = c.message;
    s.lastErrorMs = this.#o.clock.now();
    if (this.#abort.signal.aborted) {
      this.#requeue(batch);
      return;
    }
    switch (c.errorClass) {
      case 'drop': {
        if (batch.entry) this.#spool!.ack(batch.entry);
        // A partial write stored the other lines: they count as written, only the refused ones as dropped.
        const refused = c.partialDropped !== undefined && c.partialDropped < batch.points ? c.partialDropped : batch.points;
        s.pointsWritten += batch.points - refused;
        this.#drop('rejected', refused, c.message);
        return;
      }
      case 'split': {
        if (batch.entry) this.#spool!.ack(batch.entry);
        if (batch.points <= 1) {
          this.#drop('too_large', batch.points, c.message);
          return;
        }
        const lines = batch.body.split('\n');
        const mid = Math.ceil(lines.length / 2);
        const halves = [lines.slice(0, mid), lines.slice(mid)].map((l): Batch => ({ target: batch.target, body: l.join('\n'), points: l.length, seq: batch.seq, entry: undefined }));
        this.#ready.unshift(...halves);
        this.#queued += batch.points;
        return;
      }
      default:
        this.#requeue(batch);
        if (this.#failing && !wasProbe) return;
        this.#enterFailing(c);
    }
  }

  #requeue(batch: Batch): void {
    if (batch.entry) {
      const lost = this.#spool!.release(batch.entry);
      if (lost > 0) this.#drop('spool_full', lost);
      return;
    }
    // Back in sealing order, so a retried outage keeps the points in the order they were written.
    let i = 0;
    while (i < this.#ready.length && this.#ready[i]!.seq <= batch.seq) i++;
    this.#ready.splice(i, 0, batch);
    this.#queued += batch.points;
    this.#route();
  }

  #enterFailing(c: ClassifiedWriteError): void {
    const was = this.#failing;
    this.#failures++;
    this.#failing = c;
    this.#failingSinceMs ??= this.#o.clock.now();
    const delay = c.retryAfterMs === undefined
      ? backoffDelayMs(this.#failures, this.#o, this.#o.random)
      : Math.min(c.retryAfterMs, MAX_RETRY_AFTER_MS);
    // Driven by the timer alone: a real timer may fire a millisecond before the wall clock agrees.
    this.#retryDue = false;
    this.#retryTimer?.cancel();
    this.#retryTimer = this.#o.clock.setTimeout(() => {
      this.#retryDue = true;
      this.#wake();
    }, delay);
    if (!was || was.errorClass !== c.errorClass) {
      const where = this.#spool && !this.#spoolBroken ? 'spooling to disk' : 'buffering in memory';
      const fields = { err_class: c.errorClass, status: c.status, error: c.message, retry_in_ms: delay };
      if (c.errorClass === 'config') {
        this.#log.error(fields, `Output refused our credentials or target (check influxdb url, token, org, bucket/database); keeping data, ${where}`);
      } else if (c.errorClass === 'throttle') {
        this.#log.warn(fields, `Output asked us to slow down; ${where}`);
      } else {
        this.#log.warn(fields, `Output unreachable; ${where}`);
      }
    }
    this.#route();
  }
}
