import type { Clock } from '../clock/clock.js';
import type { Logger } from '../log/log.js';
import { oldestWalGroup, type Batch, type BatchQueue } from './batch-queue.js';
import type { Ledger } from './ledger.js';
import type { OutputHealth } from './output-health.js';
import type { SpoolHandoff } from './spool-handoff.js';
import type { LineTransport } from './transport.js';

/** Options for {@link Senders}. */
export interface SendersOptions {
  /** Requests in flight at once (at least one sender runs). */
  count: number;
  /** Where batches go. */
  transport: LineTransport;
  /** The memory queue. */
  queue: BatchQueue;
  /** The spool side, read first so replay keeps order; undefined without a spool. */
  spool: SpoolHandoff | undefined;
  /** The writer's books (a taken batch is booked as in flight). */
  ledger: Ledger;
  /** The writer's state machine: who may send, the probe, the phase. */
  health: OutputHealth;
  /** Time source for the pause after a failed spool read. */
  clock: Clock;
  /** Pause after a failed spool read, in ms. */
  readRetryMs: number;
  /** Merge the sealed batches waiting into one request up to this many bytes; 0 sends them one by one. */
  coalesceBytes: number;
  /** Writer logger. */
  logger: Logger;
  /** The server acknowledged the batch. */
  onWritten: (batch: Batch) => void;
  /** The request failed. */
  onFailed: (batch: Batch, err: unknown) => void;
  /** The batch was taken but its request never started (the close deadline passed): it waits again. */
  requeue: (batch: Batch) => void;
}

/**
 * The request loops: N senders each take the next batch (the spool first, so replay keeps the
 * order; while the output fails only the probe goes), send it with an abortable request, and
 * hand the outcome to the writer. Idle senders wait for {@link wake}.
 */
export class Senders {
  readonly #o: SendersOptions;
  #waiters: Array<() => void> = [];
  #workers: Array<Promise<void>> = [];
  /** Batches whose request is running (close() gives them up when the transport ignores aborts). */
  readonly #sending = new Set<Batch>();
  /** Aborts the requests once the close deadline passed. */
  readonly #abort = new AbortController();
  /** Aborted when close() begins: ends the pause after a failed spool read. */
  readonly #closeBegun = new AbortController();

  constructor(opts: SendersOptions) {
    this.#o = opts;
  }

  /** The close deadline passed: requests were aborted. */
  get aborted(): boolean {
    return this.#abort.signal.aborted;
  }

  /** The oldest write-ahead log group among the batches in requests, or undefined. */
  oldestWalGroup(): number | undefined {
    return oldestWalGroup(this.#sending);
  }

  /** Starts the senders. */
  start(): void {
    for (let i = 0; i < Math.max(1, this.#o.count); i++) {
      this.#workers.push(
        this.#worker().catch((err: unknown) => {
          this.#o.logger.error({ err }, 'Writer sender stopped on an unexpected error');
        }),
      );
    }
  }

  /** Resolves when every sender stopped (the writer is closed and nothing is left to send, or it halted). */
  done(): Promise<unknown> {
    return Promise.all(this.#workers);
  }

  /** Idle senders look for work again. */
  wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const fn of w) fn();
  }

  /** close() began: a sender pausing after a failed spool read stops pausing (the spool is not read while closing). */
  closing(): void {
    this.#closeBegun.abort();
    this.wake();
  }

  /** The close deadline passed: aborts the requests; no new one starts. */
  abort(reason: Error): void {
    this.#abort.abort(reason);
    this.wake();
  }

  /**
   * The transport ignored the abort (a hung file system, ...): give up its requests. Their points
   * go back to the queue (then the spool, or dropped as `shutdown`); spooled ones stay on disk.
   * Returns the points and batches given up.
   */
  abandon(): { points: number; batches: number } {
    let points = 0;
    const batches = this.#sending.size;
    for (const b of this.#sending) {
      b.abandoned = true;
      if (b.entry) {
        this.#o.ledger.unsent(b.points, 'spool', 'spool');
      } else {
        this.#o.ledger.unsent(b.points, 'memory', 'memory');
        this.#o.queue.push({ ...b, abandoned: false });
      }
      points += b.points;
    }
    this.#sending.clear();
    return { points, batches };
  }

  async #worker(): Promise<void> {
    for (;;) {
      const batch = await this.#next();
      if (!batch) return;
      await this.#deliver(batch);
    }
  }

  /** The next batch to send, once one may start; undefined when the sender should stop. */
  async #next(): Promise<Batch | undefined> {
    const { health, queue, ledger } = this.#o;
    for (;;) {
      if (health.halted) return undefined;
      if (health.mayStartRequest()) {
        const spool = this.#o.spool;
        if (spool && !health.closed && spool.unreadPoints > 0) {
          const probe = health.takeProbe();
          const entry = await spool.take();
          if (entry && !health.halted) {
            ledger.send(entry.points, 'spool');
            return { target: entry.target, body: entry.body, points: entry.points, seq: -1, entry, probe };
          }
          // close() passed its deadline while the batch was read: it stays in the spool.
          if (entry) spool.untake(entry);
          health.probeEnded(probe);
          // A failed read is retried after a pause, never in a tight loop. close() ends the pause:
          // senders do not read the spool while closing, so it must not hold close() up.
          if (health.spoolReadFailing && !health.closed)
            await this.#o.clock.sleep(this.#o.readRetryMs, this.#closeBegun.signal).catch(() => undefined);
          continue;
        }
        const b = this.#o.coalesceBytes > 0 ? queue.shiftCoalesced(this.#o.coalesceBytes) : queue.shift();
        if (b) {
          b.probe = health.takeProbe();
          ledger.send(b.points, 'memory');
          return b;
        }
      }
      // Open lines count too: close() seals them after it woke the senders.
      if (health.closed && queue.points === 0) return undefined;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }

  async #deliver(batch: Batch): Promise<void> {
    if (this.#abort.signal.aborted) {
      // close() passed its deadline before this request started: never start one it cannot abort.
      this.#o.health.probeEnded(batch.probe);
      this.#o.requeue(batch);
      return;
    }
    // One controller per request: the client's transport adds an abort listener to the signal
    // it is given and never removes it, so a shared long-lived signal would leak one per request.
    const request = new AbortController();
    const onAbort = (): void => request.abort(this.#abort.signal.reason);
    this.#abort.signal.addEventListener('abort', onAbort, { once: true });
    this.#sending.add(batch);
    try {
      const t = this.#o.transport;
      if (batch.bytes !== undefined && t.sendBytes) await t.sendBytes(batch.bytes, batch.target, request.signal);
      else await t.send(batch.body, batch.target, request.signal);
      if (batch.abandoned) return;
      this.#o.onWritten(batch);
    } catch (err) {
      // The client reports a socket timeout without destroying the request: abort it so the
      // hung connection is closed instead of leaking.
      request.abort();
      if (batch.abandoned) return;
      this.#o.onFailed(batch, err);
    } finally {
      this.#sending.delete(batch);
      this.#abort.signal.removeEventListener('abort', onAbort);
      this.#o.health.probeEnded(batch.probe);
      this.wake();
    }
  }
}
