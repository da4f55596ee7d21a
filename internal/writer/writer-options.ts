import type { Clock } from '../clock/clock.js';
import type { Logger } from '../log/log.js';
import { defaultSpoolSegmentBytes } from './spool.js';
import { OptionChecks } from '../errors/option-checks.js';
import type { LineTransport } from './transport.js';

/** Options for {@link InfluxWriter}. */
export interface InfluxWriterOptions {
  /** Where batches go (InfluxDB v2, v1, a file, or a fake). */
  transport: LineTransport;
  /** Time source for flush timers, backoff and timestamps in stats. */
  clock: Clock;
  /** Logger (a child with `stage: writer` is made). */
  logger: Logger;
  /** Lines per request; a full batch is sent at once (config `influxdb.batch_size`); a batch is also sealed at half of maxBufferPoints. */
  batchSize: number;
  /** Cap on one request body, in UTF-8 bytes (the line that reaches it is the batch's last). */
  maxBatchBytes: number;
  /** A partial batch is sent after this long, in ms (config `influxdb.flush_interval`). */
  flushIntervalMs: number;
  /** Points held in memory (not yet in a request or the spool) before the oldest are dropped. */
  maxBufferPoints: number;
  /** Requests in flight at once. */
  maxConcurrentWrites: number;
  /** Send the sealed batches waiting as one request (up to maxBatchBytes), so a backlog drains in one round trip. */
  coalesceBatches: boolean;
  /** Directory of the durable spool; undefined keeps failed batches in memory only. */
  spoolDir: string | undefined;
  /** Upper bound of the spool on disk, in bytes; the oldest data is dropped past it. */
  spoolMaxBytes: number;
  /** Spool segment file size, in bytes. */
  spoolSegmentBytes: number;
  /** Queued points above which sealed batches go to the spool even while the server is up; default half of maxBufferPoints. */
  spoolThresholdPoints: number | undefined;
  /** Write-ahead log every accepted point in the spool directory (config `wal`); needs spoolDir. */
  wal: boolean;
  /** Group commit period of the write-ahead log, in ms: at most about this much is lost on kill -9 or a power cut (config `wal_sync_interval`). */
  walSyncIntervalMs: number;
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

/** Defaults for {@link InfluxWriterOptions}; sized for 100,000 points/s (MANUAL, "Sustained"). */
export const defaultInfluxWriterOptions = {
  batchSize: 5000,
  maxBatchBytes: 4 * 1024 * 1024,
  flushIntervalMs: 5000,
  maxBufferPoints: 200_000,
  maxConcurrentWrites: 4,
  coalesceBatches: false,
  spoolDir: undefined,
  spoolMaxBytes: 1024 * 1024 * 1024,
  spoolSegmentBytes: defaultSpoolSegmentBytes,
  spoolThresholdPoints: undefined,
  wal: true,
  walSyncIntervalMs: 1000,
  minRetryDelayMs: 1000,
  maxRetryDelayMs: 10_000,
  exponentialBase: 2,
  closeTimeoutMs: 10_000,
  random: Math.random,
} as const satisfies Partial<InfluxWriterOptions>;

/**
 * Throws one {@link ConfigError} listing every option out of range (the one form every stage
 * uses, {@link OptionChecks}). batch_size larger than half of max_buffer_points is not an error:
 * the writer seals batches of half the buffer instead, so a small buffer flushes early rather than
 * dropping (see the constructor), and check-config says so for a configuration.
 */
export function validateInfluxWriterOptions(o: InfluxWriterOptions): void {
  new OptionChecks('writer')
    .integer('batchSize', o.batchSize, 1)
    .integer('maxBatchBytes', o.maxBatchBytes, 1)
    .nonNegative('flushIntervalMs', o.flushIntervalMs)
    .integer('maxBufferPoints', o.maxBufferPoints, 1)
    .integer('maxConcurrentWrites', o.maxConcurrentWrites, 1)
    .nonNegative('spoolMaxBytes', o.spoolMaxBytes)
    .integer('spoolSegmentBytes', o.spoolSegmentBytes, 1)
    .nonNegative('walSyncIntervalMs', o.walSyncIntervalMs)
    .nonNegative('minRetryDelayMs', o.minRetryDelayMs)
    .require(
      Number.isFinite(o.maxRetryDelayMs) && o.maxRetryDelayMs >= o.minRetryDelayMs,
      'maxRetryDelayMs',
      o.maxRetryDelayMs,
      `a finite number >= minRetryDelayMs (${o.minRetryDelayMs})`,
    )
    .require(
      Number.isFinite(o.exponentialBase) && o.exponentialBase >= 1,
      'exponentialBase',
      o.exponentialBase,
      'at least 1',
    )
    .nonNegative('closeTimeoutMs', o.closeTimeoutMs)
    .throwIfAny();
}
