import type { TimerHandle } from '../clock/clock.js';
import { errorMessage, NetscanError } from '../errors/errors.js';
import type { Logger } from '../log/log.js';
import type { Point, PointSink } from '../model/point.js';
import { BatchQueue } from './batch-queue.js';
import { DropLog } from './drop-log.js';
import { Ledger, type DropReason, type WriterStats } from './ledger.js';
import type { LineProtocolOptions } from './line-protocol.js';
import { OutputHealth } from './output-health.js';
import { RetryLayer } from './retry-layer.js';
import { Senders } from './senders.js';
import { SpoolHandoff } from './spool-handoff.js';
import { Spool } from './spool.js';
import { Wal, type WalStats } from './wal.js';
import type { WriteTarget } from './transport.js';
import { defaultInfluxWriterOptions, validateInfluxWriterOptions, type InfluxWriterOptions } from './writer-options.js';

export { dropReasons, sumWriterStats, type DropReason, type WriterStats } from './ledger.js';
export type { WriterState } from './output-health.js';
export { defaultInfluxWriterOptions, type InfluxWriterOptions } from './writer-options.js';

/** How long close() waits, after aborting, for requests whose transport ignores the abort. */
const ABORT_GRACE_MS = 1000;

/**
 * The output stage: a non-blocking {@link PointSink} with a bounded memory queue, batching by
 * count, bytes and time, at most N concurrent requests, one retry layer (errors classified in
 * classify.ts), a durable spool for outages and saturation, and a bounded close. No point is
 * counted as written before the server acknowledged it, and every point that is not written
 * is counted as dropped (by reason) or is still queued/spooled (the books live in ledger.ts):
 *
 *     received = written + dropped + queueDepth + inFlightPoints + spoolPoints
 *
 * While the server fails, requests pause (one probe per backoff period, Retry-After honoured;
 * the states live in output-health.ts) and sealed batches go to the spool; when a probe
 * succeeds the spool is replayed oldest-first at full concurrency, and new batches go through
 * the spool until it is empty so order holds. This class wires the memory queue
 * (batch-queue.ts), the spool hand-off (spool-handoff.ts), the write-ahead log (wal.ts: every
 * accepted point, group-committed, trimmed to the oldest batch still held, replayed through the
 * spool at start), the request loops (senders.ts) and the retry layer (retry-layer.ts: what
 * each request's outcome does).
 */
export class InfluxWriter implements PointSink {
  readonly #o: InfluxWriterOptions;
  readonly #log: Logger;
  readonly #lp: LineProtocolOptions;
  readonly #queue: BatchQueue;
  readonly #ledger = new Ledger();
  readonly #health: OutputHealth;
  readonly #drops: DropLog;
  readonly #spool: SpoolHandoff | undefined;
  readonly #wal: Wal | undefined;
  readonly #retry: RetryLayer;
  readonly #senders: Senders;
  #flushTimer: TimerHandle | undefined;
  #walTimer: TimerHandle | undefined;
  #walCommit: Promise<void> | undefined;
  #walFailing = false;
  #walAgain = false;
  #nextFlushMs = 0;
  #closing: Promise<void> | undefined;
  #starting: Promise<void> | undefined;

  constructor(opts: Partial<InfluxWriterOptions> & Pick<InfluxWriterOptions, 'transport' | 'clock' | 'logger'>) {
    this.#o = { ...defaultInfluxWriterOptions, ...opts };
    validateInfluxWriterOptions(this.#o);
    this.#log = opts.logger.child({ stage: 'writer', output: opts.transport.name });
    this.#lp = { unsignedAsInteger: opts.transport.unsignedAsInteger };
    const { clock, spoolDir } = this.#o;
    // A queue smaller than one flush interval's points flushes early instead of dropping while the server is healthy.
    const batchSize = Math.min(this.#o.batchSize, Math.max(1, Math.floor(this.#o.maxBufferPoints / 2)));
    this.#queue = new BatchQueue({ batchSize, maxBatchBytes: this.#o.maxBatchBytes });
    this.#health = new OutputHealth({
      clock,
      random: this.#o.random,
      hasSpool: spoolDir !== undefined,
      minRetryDelayMs: this.#o.minRetryDelayMs,
      maxRetryDelayMs: this.#o.maxRetryDelayMs,
      exponentialBase: this.#o.exponentialBase,
      onProbeDue: () => this.#wake(),
    });
    this.#drops = new DropLog(this.#log, clock);
    const wal = spoolDir !== undefined && this.#o.wal;
    this.#wal = wal
      ? new Wal({ dir: spoolDir, segmentBytes: this.#o.spoolSegmentBytes, logger: this.#log })
      : undefined;
    this.#spool =
      spoolDir === undefined
        ? undefined
        : new SpoolHandoff({
            spool: new Spool({
              dir: spoolDir,
              maxBytes: this.#o.spoolMaxBytes,
              segmentBytes: this.#o.spoolSegmentBytes,
              logger: this.#log,
              sync: wal,
            }),
            spoolDir,
            thresholdPoints: this.#o.spoolThresholdPoints ?? Math.floor(this.#o.maxBufferPoints / 2),
            queue: this.#queue,
            ledger: this.#ledger,
            health: this.#health,
            clock,
            logger: this.#log,
            noteDrop: (reason, n) => this.#noteDrop(reason, n),
            wake: () => this.#wake(),
          });
    this.#retry = new RetryLayer({
      queue: this.#queue,
      spool: this.#spool,
      ledger: this.#ledger,
      health: this.#health,
      clock,
      logger: this.#log,
      secrets: this.#o.transport.secrets ?? [],
      aborted: () => this.#senders.aborted,
      noteDrop: (reason, n, detail) => this.#noteDrop(reason, n, detail),
    });
    this.#senders = new Senders({
      count: this.#o.maxConcurrentWrites,
      transport: this.#o.transport,
      queue: this.#queue,
      spool: this.#spool,
      ledger: this.#ledger,
      health: this.#health,
      clock,
      readRetryMs: this.#o.minRetryDelayMs,
      coalesceBytes: this.#o.coalesceBatches ? this.#o.maxBatchBytes : 0,
      logger: this.#log,
      onWritten: (b) => this.#retry.succeeded(b),
      onFailed: (b, err) => this.#retry.failed(b, err),
      requeue: (b) => this.#retry.requeue(b),
    });
  }

  /** Opens the spool (queuing leftovers from a previous run for replay), starts the senders and the flush timer; idempotent. */
  start(): Promise<void> {
    if (this.#health.closed) return Promise.resolve();
    this.#starting ??= this.#start();
    return this.#starting;
  }

  async #start(): Promise<void> {
    this.#health.start();
    if (this.#spool) {
      const spool = this.#spool;
      const rec = await spool
        .open()
        .then(async (r) => {
          const logged = (await this.#wal?.recover()) ?? [];
          const walPoints = await spool.adopt(logged);
          await this.#wal?.clear();
          return { ...r, walPoints };
        })
        .catch((cause: unknown) => {
          // Not started: the state stays `idle`, so readiness says the output is not writing.
          this.#health.startFailed();
          throw new NetscanError(
            'ERR_WRITE',
            `cannot open spool_dir ${this.#o.spoolDir}: ${errorMessage(cause)} (check that the directory is writable, or set spool_dir: "" to disable the spool)`,
            { stage: 'writer', cause },
          );
        });
      if (rec.points > 0)
        this.#log.info(
          { count: rec.points, batches: rec.records },
          'Spool holds points from a previous run; replaying them',
        );
      if (rec.walPoints > 0)
        this.#log.info(
          { count: rec.walPoints },
          'Write-ahead log holds points a previous run had not delivered; replaying them (at least once)',
        );
    }
    if (!this.#health.opened()) return;
    this.#senders.start();
    this.#nextFlushMs = this.#o.clock.now() + this.#o.flushIntervalMs;
    this.#scheduleFlush();
    if (this.#wal) this.#scheduleWalCommit();
    this.#spool?.route();
    this.#wake();
  }

  /**
   * Enqueues one point; never blocks. Returns the number of points dropped by this call: 1 if
   * this point is invalid or the writer is closed, or the oldest queued points shed to make room.
   */
  write(point: Point): number {
    if (this.#health.closed) return this.#refuse('closed');
    const target: WriteTarget = point.bucket === 'health' ? 'health' : 'primary';
    const wal = this.#wal;
    const queue = this.#queue;
    // Rendered straight into the open batch's bytes; the log keeps a view of them.
    const sealed = queue.addPoint(target, point, this.#lp, wal?.group);
    if (sealed === undefined) return this.#refuse('invalid');
    this.#ledger.accept();
    wal?.addBytes(target, queue.lastBuffer, queue.lastStart, queue.lastEnd);
    if (sealed) this.#sealed();
    const over = this.#ledger.queued + this.#ledger.spooling - this.#o.maxBufferPoints;
    return over > 0 ? this.#shed(over) : 0;
  }

  /** Seals the partial batches now (they are sent as soon as a sender is free). */
  flush(): void {
    if (this.#queue.seal('primary')) this.#sealed();
    if (this.#queue.seal('health')) this.#sealed();
  }

  /** A copy of the counters. */
  stats(): WriterStats {
    return this.#ledger.stats({ state: this.#health.reported(), spoolBytes: this.#spool?.bytes ?? 0 });
  }

  /** What the write-ahead log wrote since start; undefined without one. */
  walStats(): WalStats | undefined {
    return this.#wal?.stats();
  }

  /**
   * Throws when the writer's books are wrong: the accounting identity, a count gone negative,
   * or a memory queue holding other than what the books say. Cheap; for tests and benchmarks.
   */
  checkBooks(): void {
    this.#ledger.check({ queuedPoints: this.#queue.points });
  }

  /** True when points are being written or kept safely in the spool; false when failing without a spool, on a config error, or stopped. */
  isHealthy(): boolean {
    return this.#health.healthy();
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
    this.#health.close();
    this.#senders.closing();
    await this.#starting?.catch(() => undefined);
    this.#flushTimer?.cancel();
    this.#walTimer?.cancel();
    this.flush();
    let abandoned = false;
    if (this.#health.started) {
      this.#spool?.route();
      this.#wake();
      const done = this.#senders.done();
      if (!(await this.#settlesWithin(done, deadlineMs))) {
        this.#health.halt();
        this.#senders.abort(new Error('writer close deadline passed'));
        if (!(await this.#settlesWithin(done, ABORT_GRACE_MS))) {
          const { points, batches } = this.#senders.abandon();
          this.#log.warn({ count: points, batches }, 'Output ignored the close deadline; its requests were given up');
          abandoned = true;
        }
      }
    }
    if (this.#spool && this.#queue.sealed > 0) {
      // A spool that would not open is no place for them: they are counted as dropped below.
      const usable =
        this.#health.started ||
        (await this.#spool.open().then(
          () => true,
          () => false,
        ));
      if (usable) this.#spool.route(true);
    }
    this.#health.stopTimers();
    await this.#spool?.appendsSettled();
    const left = this.#queue.clearSealed();
    if (left > 0) {
      this.#ledger.dropQueued('shutdown', left);
      this.#noteDrop('shutdown', left);
    }
    if (this.#wal) {
      // Everything is written, in the spool or counted as dropped now: the log trims to what abandoned requests hold.
      while (this.#walCommit) await this.#walCommit;
      if (this.#health.started) await this.#commitWal();
      await this.#wal.close();
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
      return await Promise.race([
        p.then(
          () => true,
          () => true,
        ),
        this.#o.clock.sleep(ms, timer.signal).then(
          () => false,
          () => true,
        ),
      ]);
    } finally {
      timer.abort();
    }
  }

  #sealed(): void {
    this.#spool?.route();
    this.#wake();
  }

  /** Drops the oldest queued points (whole sealed batches first, then the oldest open lines). */
  #shed(n: number): number {
    const dropped = this.#queue.shed(n);
    if (dropped === 0) return 0;
    this.#ledger.dropQueued('buffer_full', dropped);
    return this.#noteDrop('buffer_full', dropped);
  }

  #refuse(reason: DropReason): number {
    this.#ledger.refuse(reason);
    return this.#noteDrop(reason, 1);
  }

  #noteDrop(reason: DropReason, n: number, detail?: string): number {
    this.#drops.note(reason, n, this.#ledger.dropped, detail);
    return n;
  }

  #wake(): void {
    this.#senders.wake();
  }

  #scheduleFlush(): void {
    const delay = Math.max(0, this.#nextFlushMs - this.#o.clock.now());
    this.#flushTimer = this.#o.clock.setTimeout(() => {
      // Next tick from the schedule, not from when this one ran, so flushes do not drift.
      this.#nextFlushMs += this.#o.flushIntervalMs;
      if (this.#nextFlushMs <= this.#o.clock.now()) this.#nextFlushMs = this.#o.clock.now() + this.#o.flushIntervalMs;
      this.flush();
      this.#spool?.route();
      this.#scheduleFlush();
    }, delay);
  }

  #scheduleWalCommit(): void {
    this.#walTimer = this.#o.clock.setTimeout(() => {
      this.#startWalCommit();
      this.#scheduleWalCommit();
    }, this.#o.walSyncIntervalMs);
  }

  /** Starts a group commit, or one right after the running one (a slow disk stretches the loss window by its own delay, not by a skipped period). */
  #startWalCommit(): void {
    if (this.#walCommit) {
      this.#walAgain = true;
      return;
    }
    this.#walCommit = this.#commitWal().finally(() => {
      this.#walCommit = undefined;
      if (this.#walAgain && !this.#health.closed) {
        this.#walAgain = false;
        this.#startWalCommit();
      }
    });
  }

  /** One group commit of the write-ahead log; trims what the writer no longer holds. Never rejects: a failure is logged once per episode. */
  async #commitWal(): Promise<void> {
    // Every line the writer still holds is in one of these; the group being committed now is done when none holds it.
    const live = [
      this.#queue.oldestWalGroup(),
      this.#senders.oldestWalGroup(),
      this.#spool?.oldestWalGroup(),
      this.#wal!.group + 1,
    ];
    const oldest = Math.min(...live.filter((g) => g !== undefined));
    try {
      await this.#wal!.commit(oldest);
      if (this.#walFailing) this.#log.info({ spool_dir: this.#o.spoolDir }, 'Write-ahead log writable again');
      this.#walFailing = false;
    } catch (err) {
      if (!this.#walFailing)
        this.#log.error(
          { err, spool_dir: this.#o.spoolDir },
          'Cannot write the write-ahead log; points are not safe from a crash until it works again',
        );
      this.#walFailing = true;
    }
  }
}
