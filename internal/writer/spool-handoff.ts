import type { Clock } from '../clock/clock.js';
import type { Logger } from '../log/log.js';
import { oldestWalGroup, type Batch, type BatchQueue } from './batch-queue.js';
import type { DropReason, Ledger } from './ledger.js';
import { SPOOL_RETRY_MS, type OutputHealth } from './output-health.js';
import type { Spool, SpoolEntry, SpoolRecovery } from './spool.js';
import type { WalRecord } from './wal.js';

/** Options for {@link SpoolHandoff}. */
export interface SpoolHandoffOptions {
  /** The spool. */
  spool: Spool;
  /** Its directory, for log lines. */
  spoolDir: string;
  /** Queued points above which sealed batches go to the spool even while the server is up. */
  thresholdPoints: number;
  /** The memory queue batches are taken from (and put back to when the spool refuses them). */
  queue: BatchQueue;
  /** The writer's books. */
  ledger: Ledger;
  /** The writer's state machine (spool trouble, failing output). */
  health: OutputHealth;
  /** Logs points dropped (already counted in the ledger). */
  noteDrop: (reason: DropReason, n: number) => void;
  /** Wakes the senders (a batch landed in the spool, or came back to memory). */
  wake: () => void;
  /** Time source for the spool retry. */
  clock: Clock;
  /** Writer logger. */
  logger: Logger;
}

/**
 * The writer's side of the spool: which sealed batches go there (while the server fails, while
 * the spool has a backlog, so order holds, or when memory runs deep), what comes back out for
 * replay, and what a refused append or a failed read does. Every move is booked in the ledger.
 */
export class SpoolHandoff {
  readonly #o: SpoolHandoffOptions;
  #appends: Promise<unknown> = Promise.resolve();
  /** Batches whose append is under way (the write-ahead log keeps their lines until it is done). */
  readonly #appending = new Set<Batch>();

  constructor(opts: SpoolHandoffOptions) {
    this.#o = opts;
  }

  /** Points in the spool not yet acknowledged (in requests too). */
  get pendingPoints(): number {
    return this.#o.spool.pendingPoints;
  }

  /** Points in the spool waiting to be handed out. */
  get unreadPoints(): number {
    return this.#o.spool.unreadPoints;
  }

  /** Bytes of the spool on disk. */
  get bytes(): number {
    return this.#o.spool.bytes;
  }

  /** Opens the spool and books what a previous run left there. */
  async open(): Promise<SpoolRecovery> {
    const rec = await this.#o.spool.open();
    this.#o.ledger.recover(rec.points);
    return rec;
  }

  /** Appends what the write-ahead log of a previous run held, and books it as recovered; resolves with the points. */
  async adopt(records: readonly WalRecord[]): Promise<number> {
    let points = 0;
    for (const r of records) {
      const lost = await this.#o.spool.append(r.target, r.body, r.points);
      this.#o.ledger.recover(r.points);
      points += r.points;
      if (lost > 0) {
        this.#o.ledger.dropSpooled('spool_full', lost);
        this.#o.noteDrop('spool_full', lost);
      }
    }
    return points;
  }

  /** The oldest write-ahead log group among the batches being appended, or undefined. */
  oldestWalGroup(): number | undefined {
    return oldestWalGroup(this.#appending);
  }

  /** Moves sealed batches to the spool when it should take them; `force` (close) moves them all, started or not. */
  route(force = false): void {
    const { spool, queue, ledger, health } = this.#o;
    const writable = force || health.spoolWritable(this.#o.clock.now());
    if ((!health.started && !force) || !writable) return;
    const useSpool =
      force ||
      health.failure !== undefined ||
      spool.pendingPoints > 0 ||
      ledger.spooling > 0 ||
      ledger.queued > this.#o.thresholdPoints;
    if (!useSpool) return;
    for (let b = queue.shift(); b; b = queue.shift()) {
      const batch = b;
      ledger.spoolBegin(batch.points);
      this.#appending.add(batch);
      const appended = spool.append(batch.target, batch.bytes ?? batch.body, batch.points).then(
        (lost) => {
          this.#appending.delete(batch);
          ledger.spoolEnd(batch.points, lost);
          if (lost > 0) this.#o.noteDrop('spool_full', lost);
          this.#o.wake();
        },
        (err: unknown) => {
          this.#appending.delete(batch);
          ledger.spoolRefused(batch.points);
          queue.unshift(batch);
          if (health.spoolWriteFailed(this.#o.clock.now())) {
            this.#o.logger.error(
              { err, spool_dir: this.#o.spoolDir, retry_in_ms: SPOOL_RETRY_MS },
              'Cannot write the spool; keeping data in memory',
            );
          }
          this.#o.wake();
        },
      );
      this.#appends = this.#appends.then(() => appended);
    }
  }

  /** Resolves when every append begun so far has finished (or failed back to memory). */
  appendsSettled(): Promise<unknown> {
    return this.#appends;
  }

  /** The oldest spooled batch, or undefined when there is none or the read failed (logged once per episode). */
  take(): Promise<SpoolEntry | undefined> {
    return this.#o.spool.take().then(
      (entry) => {
        this.#o.health.spoolReadOk();
        return entry;
      },
      (err: unknown) => {
        if (this.#o.health.spoolReadFailed())
          this.#o.logger.error({ err, spool_dir: this.#o.spoolDir }, 'Cannot read the spool; retrying');
        return undefined;
      },
    );
  }

  /** Puts back a batch that was taken but never booked as sent; its points are dropped if its segment went for space meanwhile. */
  untake(entry: SpoolEntry): void {
    const lost = this.#o.spool.release(entry);
    if (lost === 0) return;
    this.#o.ledger.dropSpooled('spool_full', lost);
    this.#o.noteDrop('spool_full', lost);
  }

  /** A spooled batch's request did not deliver it: it waits in the spool again, or is dropped if its segment went for space meanwhile. */
  requeue(entry: SpoolEntry): void {
    const lost = this.#o.spool.release(entry);
    if (lost > 0) {
      this.#o.ledger.dropSent('spool_full', lost, 'spool');
      this.#o.noteDrop('spool_full', lost);
    } else {
      this.#o.ledger.unsent(entry.points, 'spool', 'spool');
    }
  }

  /** The batch is done with (written, or deliberately dropped): the spool may delete it. */
  ack(entry: SpoolEntry): void {
    this.#o.spool.ack(entry);
  }

  /** Waits for the appends, deletions and progress records, then closes the files; data stays on disk. */
  async close(): Promise<void> {
    await this.#appends;
    await this.#o.spool.close();
  }
}
