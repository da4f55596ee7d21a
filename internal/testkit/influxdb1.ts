import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort, pollUntil, ServerProcess } from './server-process.js';

/** Options for {@link InfluxDb1}. */
export interface InfluxDb1Options {
  /** Executable (Debian's `influxdb` package installs /usr/bin/influxd, version 1.6.7). */
  binary?: string;
  /** Databases created right after start. */
  databases?: readonly string[];
  /** How long to wait for /ping, in ms. */
  startTimeoutMs?: number;
}

/** One InfluxQL result series. */
export interface InfluxQlSeries {
  /** Measurement name. */
  name: string;
  /** Column names, `time` first. */
  columns: string[];
  /** Rows in column order; time is in ms (the query asks for epoch=ms). */
  values: unknown[][];
  /** Tag values when the query used GROUP BY. */
  tags?: Record<string, string>;
}

/**
 * A real InfluxDB 1.x server (`influxd run`) with a generated config: HTTP and RPC bound to free
 * loopback ports, meta/data/wal in a temporary directory, no reporting, no self-monitoring.
 * Write with `/write?db=`, read back with {@link query} (InfluxQL), which keeps string fields,
 * unlike VictoriaMetrics.
 */
export class InfluxDb1 {
  readonly #opts: InfluxDb1Options;
  #dir = '';
  #httpPort = 0;
  #proc: ServerProcess | undefined;

  constructor(opts: InfluxDb1Options = {}) {
    this.#opts = opts;
  }

  /** Base URL, e.g. `http://127.0.0.1:40123` (valid after start). */
  get url(): string {
    return `http://127.0.0.1:${this.#httpPort}`;
  }

  /** Starts influxd (or restarts it after {@link stop}), waits for /ping and creates the databases. */
  async start(): Promise<void> {
    if (!this.#proc) {
      this.#dir = mkdtempSync(join(tmpdir(), 'netscan-influxd-'));
      this.#httpPort = await freeLoopbackPort();
      const rpcPort = await freeLoopbackPort();
      const conf = join(this.#dir, 'influxdb.conf');
      writeFileSync(
        conf,
        [
          'reporting-disabled = true',
          `bind-address = "127.0.0.1:${rpcPort}"`,
          '[meta]',
          `  dir = "${join(this.#dir, 'meta')}"`,
          '[data]',
          `  dir = "${join(this.#dir, 'data')}"`,
          `  wal-dir = "${join(this.#dir, 'wal')}"`,
          '  query-log-enabled = false',
          '[http]',
          `  bind-address = "127.0.0.1:${this.#httpPort}"`,
          '  log-enabled = false',
          '[monitor]',
          '  store-enabled = false',
          '[continuous_queries]',
          '  enabled = false',
          '',
        ].join('\n'),
      );
      this.#proc = new ServerProcess({
        name: 'influxd',
        command: this.#opts.binary ?? 'influxd',
        args: ['run', '-config', conf],
        logFile: join(this.#dir, 'influxd.log'),
        ready: async () => (await fetch(`${this.url}/ping`)).status === 204,
        startTimeoutMs: this.#opts.startTimeoutMs ?? 30_000,
      });
    }
    await this.#proc.start();
    for (const db of this.#opts.databases ?? []) await this.createDatabase(db);
  }

  /** Stops influxd (data kept); idempotent. */
  async stop(): Promise<void> {
    await this.#proc?.stop();
  }

  /** Stops influxd and removes its directory; idempotent. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = '';
  }

  /** CREATE DATABASE (idempotent on the server side). */
  async createDatabase(name: string): Promise<void> {
    await this.#post(`CREATE DATABASE "${name.replace(/"/g, '\\"')}"`);
  }

  /** Runs one InfluxQL query against `db` and returns the series of the first statement. */
  async query(db: string, q: string): Promise<InfluxQlSeries[]> {
    const params = new URLSearchParams({ db, q, epoch: 'ms' });
    const res = await fetch(`${this.url}/query?${params}`);
    const body = (await res.json()) as {
      error?: string;
      results?: Array<{ error?: string; series?: InfluxQlSeries[] }>;
    };
    const r = body.results?.[0];
    if (!res.ok || body.error || r?.error) throw new Error(`influxql ${q}: ${body.error ?? r?.error ?? res.status}`);
    return r?.series ?? [];
  }

  /** Rows of `SELECT * FROM <measurement>` as objects keyed by column, polled until `count` rows or the deadline. */
  async waitForRows(
    db: string,
    measurement: string,
    count: number,
    deadlineMs = 10_000,
  ): Promise<Array<Record<string, unknown>>> {
    return pollUntil(
      async () => {
        const series = await this.query(db, `SELECT * FROM "${measurement}"`);
        return series.flatMap((s) => s.values.map((row) => Object.fromEntries(s.columns.map((c, i) => [c, row[i]]))));
      },
      (rows) => rows.length >= count,
      { deadlineMs, intervalMs: 100 },
    );
  }

  /** Last lines of the server log, for assertion messages. */
  logTail(): string {
    return this.#proc?.logTail() ?? '';
  }

  async #post(q: string): Promise<void> {
    const res = await fetch(`${this.url}/query`, { method: 'POST', body: new URLSearchParams({ q }) });
    const text = await res.text();
    if (!res.ok || text.includes('"error"')) throw new Error(`influxql ${q}: ${text}`);
  }
}
