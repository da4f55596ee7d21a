import type { Clock } from '../clock/clock.js';
import { redactSecrets, type Logger } from '../log/log.js';
import type { Batch, BatchQueue } from './batch-queue.js';
import { classifyWriteError, type ClassifiedWriteError } from './classify.js';
import type { DropReason, Holding, Ledger } from './ledger.js';
import type { OutputHealth } from './output-health.js';
import type { SpoolHandoff } from './spool-handoff.js';

/** Options for {@link RetryLayer}. */
export interface RetryLayerOptions {
  /** The memory queue (split halves and retried batches go back to its front). */
  queue: BatchQueue;
  /** The spool side; undefined without a spool. */
  spool: SpoolHandoff | undefined;
  /** The writer's books. */
  ledger: Ledger;
  /** The writer's state machine: a failure starts or extends an episode, a success ends it. */
  health: OutputHealth;
  /** Time source for the request timestamps in the books and Retry-After dates. */
  clock: Clock;
  /** Writer logger. */
  logger: Logger;
  /** Secrets the server may echo in an error body; redacted from messages. */
  secrets: readonly string[];
  /** True once the close deadline passed and requests were aborted. */
  aborted: () => boolean;
  /** Logs `n` points dropped for `reason` (`detail` is the server's reason). */
  noteDrop: (reason: DropReason, n: number, detail?: string) => void;
}

/**
 * What each request's outcome does, with write errors classified in classify.ts: a success is
 * booked as written (and ends a failure episode); a drop books the refused lines as dropped; a
 * split puts both halves back at the front of the queue; anything else requeues the batch and
 * lets {@link OutputHealth} pause the output.
 */
export class RetryLayer {
  readonly #o: RetryLayerOptions;

  constructor(opts: RetryLayerOptions) {
    this.#o = opts;
  }

  /** The server acknowledged `batch`. */
  succeeded(batch: Batch): void {
    const { ledger, spool, health } = this.#o;
    const nowMs = this.#o.clock.now();
    ledger.written(batch.points, holding(batch));
    ledger.requestOk(nowMs);
    if (batch.entry) spool!.ack(batch.entry);
    if (health.failure) {
      const backlog = (spool?.pendingPoints ?? 0) + ledger.queued + ledger.spooling;
      const failedForMs = health.succeeded(nowMs);
      this.#o.logger.info({ count: backlog, failed_for_ms: failedForMs }, `Output back, replaying ${backlog} points`);
    }
  }

  /** The request for `batch` failed with `err`. */
  failed(batch: Batch, err: unknown): void {
    const { ledger, spool } = this.#o;
    const classified = classifyWriteError(err, this.#o.clock.now());
    // A server may echo the token or password in its error body: never let it reach /health or a log.
    const c = { ...classified, message: redactSecrets(classified.message, this.#o.secrets) };
    const from = holding(batch);
    ledger.requestFailed(c, this.#o.clock.now());
    if (this.#o.aborted()) {
      this.requeue(batch);
      return;
    }
    switch (c.errorClass) {
      case 'drop': {
        if (batch.entry) spool!.ack(batch.entry);
        // A partial write stored the other lines: they count as written, only the refused ones as dropped.
        const refused =
          c.partialDropped !== undefined && c.partialDropped < batch.points ? c.partialDropped : batch.points;
        ledger.written(batch.points - refused, from);
        ledger.dropSent('rejected', refused, from);
        this.#o.noteDrop('rejected', refused, c.message);
        return;
      }
      case 'split': {
        if (batch.entry) spool!.ack(batch.entry);
        if (batch.points <= 1) {
          ledger.dropSent('too_large', batch.points, from);
          this.#o.noteDrop('too_large', batch.points, c.message);
          return;
        }
        const lines = batch.body.split('\n');
        const mid = Math.ceil(lines.length / 2);
        const halves = [lines.slice(0, mid), lines.slice(mid)].map((l): Batch => ({
          target: batch.target,
          body: l.join('\n'),
          points: l.length,
          seq: batch.seq,
          entry: undefined,
          walGroup: batch.walGroup,
        }));
        ledger.unsent(batch.points, from, 'memory');
        this.#o.queue.unshift(...halves);
        return;
      }
      default: {
        this.requeue(batch);
        const verdict = this.#o.health.fail(c, batch.probe, this.#o.clock.now());
        if (!verdict) return;
        if (verdict.newEpisode) this.#logFailing(c, verdict.delayMs);
        spool?.route();
      }
    }
  }

  /** A batch that was taken for a request and not delivered waits again: spool batches in the spool, others in sealing order. */
  requeue(batch: Batch): void {
    if (batch.entry) {
      this.#o.spool!.requeue(batch.entry);
      return;
    }
    this.#o.ledger.unsent(batch.points, 'memory', 'memory');
    this.#o.queue.putBack(batch);
    this.#o.spool?.route();
  }

  #logFailing(c: ClassifiedWriteError, delayMs: number): void {
    const log = this.#o.logger;
    const where = this.#o.spool && !this.#o.health.spoolBroken ? 'spooling to disk' : 'buffering in memory';
    const fields = { err_class: c.errorClass, status: c.status, error: c.message, retry_in_ms: delayMs };
    if (c.errorClass === 'config') {
      log.error(
        fields,
        `Output refused our credentials or target (check influxdb url, token, org, bucket/database); keeping data, ${where}`,
      );
    } else if (c.errorClass === 'throttle') {
      log.warn(fields, `Output asked us to slow down; ${where}`);
    } else {
      log.warn(fields, `Output unreachable; ${where}`);
    }
  }
}

function holding(batch: Batch): Holding {
  return batch.entry ? 'spool' : 'memory';
}
