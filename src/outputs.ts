import { join } from 'node:path';
import type { Clock } from '../internal/clock/clock.js';
import { redactUrlCredentials, type Logger } from '../internal/log/log.js';
import { FanOutSink } from '../internal/writer/fan-out.js';
import { FileTransport } from '../internal/writer/file-transport.js';
import { InfluxWriter, sumWriterStats, type WriterStats } from '../internal/writer/influx-writer.js';
import { InfluxV1Transport, InfluxV2Transport, type LineTransport } from '../internal/writer/transport.js';
import type { Point, PointSink } from '../internal/model/point.js';
import type { Config } from './config/schema.js';

/**
 * Every configuration key the outputs read. Outputs sees only these (the type below), so a reload
 * that compares them knows exactly when the outputs must be rebuilt.
 */
export const outputConfigKeys = [
  'influxdb', 'max_buffer_points', 'output_file', 'output_file_max_bytes', 'output_file_max_files', 'spool_dir', 'spool_max_bytes',
] as const;

/** The part of the configuration the outputs are built from. */
export type OutputConfig = Pick<Config, (typeof outputConfigKeys)[number]>;

/** Largest batch the line-protocol file output writes at once, points. */
const FILE_BATCH_POINTS = 1000;

/** The writers built from one configuration: InfluxDB and/or the line-protocol file. */
export class Outputs implements PointSink {
  readonly #writers: readonly InfluxWriter[];
  readonly #names: readonly string[];
  readonly #fanOut: FanOutSink;

  /** Builds (does not start) one writer per configured output. */
  constructor(config: OutputConfig, deps: { clock: Clock; logger: Logger }) {
    const writers: InfluxWriter[] = [];
    const names: string[] = [];
    const common = {
      clock: deps.clock,
      logger: deps.logger,
      batchSize: config.influxdb?.batch_size ?? 5000,
      flushIntervalMs: config.influxdb?.flush_interval ?? 5000,
      maxBufferPoints: config.max_buffer_points,
      ...(config.influxdb ? {
        maxBatchBytes: config.influxdb.max_batch_bytes,
        minRetryDelayMs: config.influxdb.retry_min_delay,
        maxRetryDelayMs: config.influxdb.retry_max_delay,
      } : {}),
    };
    const db = config.influxdb;
    if (db?.enabled && db.url) {
      const transport: LineTransport = db.version === 'v1'
        ? new InfluxV1Transport({
          url: db.url, database: db.database || (db.bucket ?? ''), healthDatabase: db.health_database || db.health_bucket || undefined,
          retentionPolicy: db.retention_policy || undefined,
          username: db.username || undefined, password: db.password || undefined, timeoutMs: db.timeout,
          gzipThresholdBytes: db.gzip ? 1000 : Number.MAX_SAFE_INTEGER,
        })
        : new InfluxV2Transport({
          url: db.url, token: db.token ?? '', org: db.org ?? '', bucket: db.bucket ?? '', healthBucket: db.health_bucket,
          timeoutMs: db.timeout, gzipThresholdBytes: db.gzip ? 1000 : Number.MAX_SAFE_INTEGER,
        });
      const spooled = config.spool_dir !== '' && config.spool_max_bytes > 0;
      writers.push(new InfluxWriter({
        ...common, transport, maxConcurrentWrites: db.max_in_flight_writes,
        spoolDir: spooled ? join(config.spool_dir, 'influxdb') : undefined, spoolMaxBytes: config.spool_max_bytes,
      }));
      names.push(`influxdb ${db.version} ${redactUrlCredentials(db.url)}`);
    }
    if (config.output_file !== '') {
      const transport = new FileTransport({ path: config.output_file, maxBytes: config.output_file_max_bytes, maxFiles: config.output_file_max_files });
      // A local append gains nothing from 5,000-line batches, and at 20k points/s such a batch
      // (250 ms of lines, ~500 KB joined) outlives young-generation GCs and is promoted, swelling
      // the old generation by ~100 MB between major GCs; 1,000-line batches mostly die young
      // (whole-agent bench: RSS peak 230 -> 163 MB at 20k devices, 320 -> 210 MB at 100k).
      writers.push(new InfluxWriter({ ...common, batchSize: Math.min(common.batchSize, FILE_BATCH_POINTS), transport, maxConcurrentWrites: 1, spoolDir: undefined }));
      names.push(`file ${config.output_file}`);
    }
    this.#writers = writers;
    this.#fanOut = new FanOutSink(writers);
    this.#names = names;
  }

  /** One line per output, for the start-up log. */
  get names(): readonly string[] {
    return this.#names;
  }

  /** Starts every writer (sink first: before any stage produces points). */
  async start(): Promise<void> {
    for (const w of this.#writers) await w.start();
  }

  write(point: Point): number {
    return this.#fanOut.write(point);
  }

  /** Counters of all outputs added up. */
  stats(): WriterStats {
    return sumWriterStats(this.#writers.map((w) => w.stats()));
  }

  /** True when every output is writing or safely spooling. */
  isHealthy(): boolean {
    return this.#writers.every((w) => w.isHealthy());
  }

  /** Flushes and closes every writer within `deadlineMs`; what cannot be sent is spooled or counted. */
  async close(deadlineMs: number): Promise<void> {
    await Promise.all(this.#writers.map((w) => w.close(deadlineMs)));
  }
}
