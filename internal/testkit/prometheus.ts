import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort, ServerProcess } from './server-process.js';

/** Options for {@link Prometheus}. */
export interface PrometheusOptions {
  /** `host:port` targets scraped as job `netscan` (loopback only). */
  targets: readonly string[];
  /** Scrape interval, e.g. `1s`. */
  scrapeInterval?: string;
  /** Executable (Debian's `prometheus` package installs /usr/bin/prometheus, 2.42). */
  binary?: string;
}

/** One PromQL result (instant vector or scalar). */
export interface PromResult {
  /** `vector`, `matrix`, `scalar` or `string`. */
  resultType: string;
  /** Result rows. */
  result:
    | Array<{ metric?: Record<string, string>; value?: [number, string]; values?: Array<[number, string]> }>
    | [number, string];
}

/**
 * A real Prometheus server on a loopback port with a temporary TSDB, scraping the given targets
 * as job `netscan`. Query with {@link query} (instant) or {@link queryRange}.
 */
export class Prometheus {
  readonly #opts: PrometheusOptions;
  #dir = '';
  #port = 0;
  #proc: ServerProcess | undefined;

  constructor(opts: PrometheusOptions) {
    this.#opts = opts;
  }

  /** Base URL (valid after start). */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Writes the config, starts prometheus and waits for /-/ready. */
  async start(): Promise<void> {
    this.#dir = mkdtempSync(join(tmpdir(), 'netscan-prometheus-'));
    this.#port = await freeLoopbackPort();
    const interval = this.#opts.scrapeInterval ?? '1s';
    const conf = join(this.#dir, 'prometheus.yml');
    writeFileSync(
      conf,
      [
        'global:',
        `  scrape_interval: ${interval}`,
        `  evaluation_interval: ${interval}`,
        'scrape_configs:',
        '  - job_name: netscan',
        '    static_configs:',
        `      - targets: [${this.#opts.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
        '',
      ].join('\n'),
    );
    this.#proc = new ServerProcess({
      name: 'prometheus',
      command: this.#opts.binary ?? 'prometheus',
      args: [
        `--config.file=${conf}`,
        `--storage.tsdb.path=${join(this.#dir, 'data')}`,
        `--web.listen-address=127.0.0.1:${this.#port}`,
        '--log.level=warn',
      ],
      logFile: join(this.#dir, 'prometheus.log'),
      ready: async () => (await fetch(`${this.url}/-/ready`)).status === 200,
      startTimeoutMs: 30_000,
    });
    await this.#proc.start();
  }

  /** Runs an instant query at `timeS` (default now); throws with the server's error text. */
  async query(promql: string, timeS?: number): Promise<PromResult> {
    const params = new URLSearchParams({ query: promql });
    if (timeS !== undefined) params.set('time', String(timeS));
    return this.#get(`/api/v1/query?${params}`, promql);
  }

  /** Runs a range query over the last `rangeS` seconds with `stepS` resolution. */
  async queryRange(promql: string, rangeS: number, stepS: number): Promise<PromResult> {
    const end = Date.now() / 1000;
    const params = new URLSearchParams({
      query: promql,
      start: String(end - rangeS),
      end: String(end),
      step: String(stepS),
    });
    return this.#get(`/api/v1/query_range?${params}`, promql);
  }

  /** Stops prometheus and removes its directory; idempotent. */
  async dispose(): Promise<void> {
    await this.#proc?.stop();
    this.#proc = undefined;
    if (this.#dir) rmSync(this.#dir, { recursive: true, force: true });
    this.#dir = '';
  }

  /** Last lines of the server log, for assertion messages. */
  logTail(): string {
    return this.#proc?.logTail() ?? '';
  }

  async #get(path: string, what: string): Promise<PromResult> {
    const res = await fetch(`${this.url}${path}`);
    const body = (await res.json()) as { status: string; error?: string; data?: PromResult };
    if (body.status !== 'success' || !body.data) throw new Error(`promql ${what}: ${body.error ?? res.status}`);
    return body.data;
  }
}
