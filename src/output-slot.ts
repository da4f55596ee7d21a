import type { Clock } from '../internal/clock/clock.js';
import { errorMessage } from '../internal/errors/errors.js';
import { redactUrlCredentials, type Logger } from '../internal/log/log.js';
import type { Point, PointSink } from '../internal/model/point.js';
import { FileTransport } from '../internal/writer/file-transport.js';
import { InfluxWriter, type WriterStats } from '../internal/writer/influx-writer.js';
import { InfluxV1Transport, InfluxV2Transport, type LineTransport } from '../internal/writer/transport.js';
import { addWriterCounters, emptyWriterStats, sumWriterStats } from '../internal/writer/ledger.js';
import type { Config } from './config/schema.js';
import {
  fileTransportOptions,
  fileWriterOptions,
  influxWriterOptions,
  outputWriterOptions,
  type WriterConfigOptions,
} from './config/stage-options.js';

/**
 * Every configuration key the outputs read. Outputs see only these (the type below), so a reload
 * that compares them knows exactly when the outputs must be rebuilt.
 */
export const outputConfigKeys = [
  'influxdb',
  'outputs',
  'max_buffer_points',
  'output_file',
  'output_file_max_bytes',
  'output_file_max_files',
  'spool_dir',
  'spool_max_bytes',
  'wal',
  'wal_sync_interval',
] as const;

/** The part of the configuration the outputs are built from. */
export type OutputConfig = Pick<Config, (typeof outputConfigKeys)[number]>;

/** What the outputs need besides their configuration. */
export interface OutputDeps {
  /** Time source of the writers. */
  clock: Clock;
  /** Parent logger; each writer logs under `stage: writer`. */
  logger: Logger;
}

/** One InfluxDB section to write to: the `influxdb` key, or an entry of `outputs`. */
type InfluxSection = NonNullable<Config['influxdb']>;

function influxTransport(db: InfluxSection & { url: string }): LineTransport {
  const gzipThresholdBytes = db.gzip ? 1000 : Number.MAX_SAFE_INTEGER;
  return db.version === 'v1'
    ? new InfluxV1Transport({
        url: db.url,
        database: db.database || (db.bucket ?? ''),
        healthDatabase: db.health_database || db.health_bucket || undefined,
        retentionPolicy: db.retention_policy || undefined,
        username: db.username || undefined,
        password: db.password || undefined,
        timeoutMs: db.timeout,
        gzipThresholdBytes,
      })
    : new InfluxV2Transport({
        url: db.url,
        token: db.token ?? '',
        org: db.org ?? '',
        bucket: db.bucket ?? '',
        healthBucket: db.health_bucket,
        timeoutMs: db.timeout,
        gzipThresholdBytes,
      });
}

/** One output's state and counters, for /health (no secrets: the URL is shown without credentials). */
export interface OutputStatus {
  /** `influxdb` for the `influxdb` key, the entry's name for `outputs`, `file` for `output_file`. */
  name: string;
  /** Where it writes: `influxdb v2 http://...` or `file /path`. */
  target: string;
  state: WriterStats['state'];
  points_written: number;
  points_dropped: number;
  points_spooled: number;
  spool_points: number;
  queue_depth: number;
  last_write_error: string | null;
}

/** The spool directories and the output file outputs built from `config` hold. */
function filesOf(config: OutputConfig): string[] {
  const files: string[] = [];
  if (config.influxdb?.enabled && config.influxdb.url) {
    const dir = influxWriterOptions(config).spoolDir;
    if (dir) files.push(dir);
  }
  for (const entry of config.outputs) {
    const dir = entry.enabled && entry.url ? outputWriterOptions(entry, config).spoolDir : undefined;
    if (dir) files.push(dir);
  }
  if (config.output_file !== '') files.push(config.output_file);
  return files;
}

/** The writers built from one configuration: InfluxDB (`influxdb` and each of `outputs`) and/or the line-protocol file. */
class OutputSet {
  readonly writers: readonly InfluxWriter[];
  /** One line per output, for the logs. */
  readonly names: readonly string[];
  /** Per writer: its name. */
  readonly #labels: readonly string[];
  /** What they were built from. */
  readonly config: OutputConfig;

  /** Builds (does not start) one writer per configured output. */
  constructor(config: OutputConfig, deps: OutputDeps) {
    const writers: InfluxWriter[] = [];
    const names: string[] = [];
    const labels: string[] = [];
    const add = (label: string, db: InfluxSection, options: WriterConfigOptions): void => {
      if (!db.enabled || !db.url) return;
      const logger = label === 'influxdb' ? deps.logger : deps.logger.child({ output: label });
      writers.push(
        new InfluxWriter({ ...deps, logger, ...options, transport: influxTransport({ ...db, url: db.url }) }),
      );
      names.push(`${label === 'influxdb' ? '' : `${label}: `}influxdb ${db.version} ${redactUrlCredentials(db.url)}`);
      labels.push(label);
    };
    if (config.influxdb) add('influxdb', config.influxdb, influxWriterOptions(config));
    for (const entry of config.outputs) add(entry.name, entry, outputWriterOptions(entry, config));
    if (config.output_file !== '') {
      writers.push(
        new InfluxWriter({
          ...deps,
          ...fileWriterOptions(config),
          transport: new FileTransport(fileTransportOptions(config)),
        }),
      );
      names.push(`file ${config.output_file}`);
      labels.push('file');
    }
    this.writers = writers;
    this.names = names;
    this.#labels = labels;
    this.config = config;
  }

  async start(): Promise<void> {
    for (const w of this.writers) await w.start();
  }

  stats(): WriterStats {
    return sumWriterStats(this.writers.map((w) => w.stats()));
  }

  status(): OutputStatus[] {
    return this.writers.map((w, i) => {
      const s = w.stats();
      return {
        name: this.#labels[i] ?? '',
        target: this.names[i] ?? '',
        state: s.state,
        points_written: s.pointsWritten,
        points_dropped: s.pointsDropped,
        points_spooled: s.pointsSpooled,
        spool_points: s.spoolPoints,
        queue_depth: s.queueDepth,
        last_write_error: s.lastError ?? null,
      };
    });
  }

  async close(deadlineMs: number): Promise<void> {
    await Promise.all(this.writers.map((w) => w.close(deadlineMs)));
  }
}

/**
 * True when outputs built from `a` and from `b` would use the same spool directory or the same
 * line-protocol file, which take one writer at a time (the spool's index of segments lives in memory).
 */
function sharesFiles(a: OutputConfig, b: OutputConfig): boolean {
  const held = new Set(filesOf(a));
  return filesOf(b).some((f) => held.has(f));
}

const sameJson = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/** Outputs built for a reload, not yet taking points (see {@link OutputSlot.prepare}). */
export interface PreparedOutputs {
  /** One line per output, for the logs. */
  readonly names: readonly string[];
}

interface Prepared extends PreparedOutputs {
  readonly set: OutputSet;
  /** Closings the new outputs wait for before they start, because they share files with them. */
  readonly waitFor: readonly Promise<void>[] | undefined;
}

/**
 * The one sink every stage writes to: each point goes straight to the writers of the current
 * outputs. A reload swaps those writers in place, so stages keep their reference; the replaced
 * outputs close in the background with a bounded final flush, and their counters stay in
 * {@link OutputSlot.stats} (counters never go back).
 */
export class OutputSlot implements PointSink {
  readonly #deps: OutputDeps;
  #current: OutputSet;
  /** Kept beside #current for the hot path. */
  #writers: readonly InfluxWriter[];
  /** Outputs replaced by a reload and still closing, with their closing. */
  #closing = new Map<OutputSet, Promise<void>>();
  /** Counters of outputs replaced and closed. */
  #closed = emptyWriterStats();

  /** Builds (does not start) the outputs of `config`. */
  constructor(config: OutputConfig, deps: OutputDeps) {
    this.#deps = deps;
    this.#current = new OutputSet(config, deps);
    this.#writers = this.#current.writers;
  }

  /** One line per current output, for the logs. */
  get names(): readonly string[] {
    return this.#current.names;
  }

  /** Starts the current writers (sink first: before any stage produces points). */
  start(): Promise<void> {
    return this.#current.start();
  }

  /** Writes to every current output; returns the drops of all outputs added up. */
  write(point: Point): number {
    let dropped = 0;
    for (const w of this.#writers) dropped += w.write(point);
    return dropped;
  }

  /** The current outputs' stats, plus the counters of the outputs they replaced. */
  stats(): WriterStats {
    const w = this.#current.stats();
    for (const set of this.#closing.keys()) addWriterCounters(w, set.stats());
    return addWriterCounters(w, this.#closed);
  }

  /** Each current output's state and counters, by name. */
  status(): OutputStatus[] {
    return this.#current.status();
  }

  /** True when every current output is writing or safely spooling. */
  isHealthy(): boolean {
    return this.#writers.every((w) => w.isHealthy());
  }

  /**
   * Builds the outputs of `next` when an output key changed (undefined when none did) and starts
   * them, unless they share a spool directory or output file with outputs still open: those
   * start in {@link replace}, after the others closed. Rejects, leaving everything as it was,
   * when they cannot start.
   */
  async prepare(next: OutputConfig): Promise<PreparedOutputs | undefined> {
    const now = this.#current.config;
    if (outputConfigKeys.every((k) => sameJson(now[k], next[k]))) return undefined;
    const set = new OutputSet(next, this.#deps);
    const stillClosing = [...this.#closing]
      .filter(([old]) => sharesFiles(old.config, next))
      .map(([, closing]) => closing);
    const handOver: Prepared = { names: set.names, set, waitFor: stillClosing };
    if (sharesFiles(now, next) || stillClosing.length > 0) return handOver;
    await set.start().catch(async (err: unknown) => {
      // Nothing runs on them yet: close what did start, keep the running outputs.
      await set.close(0).catch(() => undefined);
      throw err;
    });
    const started: Prepared = { names: set.names, set, waitFor: undefined };
    return started;
  }

  /**
   * Sends every point to the prepared outputs from now on and closes the current ones within
   * `closeDeadlineMs`. When the new outputs take over files of the old, they start once those
   * closed (what the old could not send waits in the spool, which the new replay); meanwhile
   * their points wait in memory.
   */
  async replace(prepared: PreparedOutputs, closeDeadlineMs: number): Promise<void> {
    const { set, waitFor } = prepared as Prepared;
    const { logger } = this.#deps;
    const previous = this.#current;
    this.#current = set;
    this.#writers = set.writers;
    const closed = previous
      .close(closeDeadlineMs)
      .catch((err: unknown) => logger.error({ err: errorMessage(err) }, 'closing the previous outputs failed'))
      .finally(() => {
        this.#closing.delete(previous);
        addWriterCounters(this.#closed, previous.stats());
      });
    this.#closing.set(previous, closed);
    if (!waitFor) return;
    await Promise.all([closed, ...waitFor]);
    try {
      await set.start();
    } catch (err) {
      logger.error(
        { err: errorMessage(err) },
        'the new outputs could not start; points are held in memory (bounded by max_buffer_points)',
      );
    }
  }

  /** Flushes and closes the current outputs within `deadlineMs`, and waits for replaced ones still closing. */
  async close(deadlineMs: number): Promise<void> {
    await Promise.all([this.#current.close(deadlineMs), ...this.#closing.values()]);
  }
}
