import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort, pollUntil, ServerProcess } from './server-process.js';

/** Options for {@link VictoriaMetrics}. */
export interface VictoriaMetricsOptions {
  /** Loopback port; a free one is picked when omitted. */
  port?: number;
  /** Storage directory; a temporary one (removed by dispose) when omitted. */
  dataDir?: string;
  /** Executable (Debian's package installs /usr/bin/victoria-metrics). */
  binary?: string;
  /** Extra command-line flags. */
  extraArgs?: readonly string[];
  /** How long to wait for /health, in ms. */
  startTimeoutMs?: number;
}

/** One series as returned by /api/v1/export (JSON lines). */
export interface ExportedSeries {
  /** Labels, `__name__` included (InfluxDB lines become `<measurement>_<field>`). */
  metric: Record<string, string>;
  /** Sample values (booleans arrive as 0/1; strings are not stored). */
  values: number[];
  /** Sample timestamps in ms. */
  timestamps: number[];
}

/**
 * A real VictoriaMetrics single-node server on a loopback port with a temporary storage path.
 * It accepts InfluxDB line protocol on `/write` and `/api/v2/write`; read back with
 * {@link exportSeries} (which forces a flush first) or {@link waitForSamples}.
 *
 *     const vm = new VictoriaMetrics(); await vm.start(); ... await vm.dispose();
 */
export class VictoriaMetrics {
  readonly #opts: VictoriaMetricsOptions;
  #port = 0;
  #dataDir = '';
  #ownsDir = false;
  #proc: ServerProcess | undefined;

  constructor(opts: VictoriaMetricsOptions = {}) {
    this.#opts = opts;
  }

  /** Base URL, e.g. `http://127.0.0.1:40123` (valid after start). */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Listening port (valid after start). */
  get port(): number {
    return this.#port;
  }

  /** Storage directory (valid after start). */
  get dataDir(): string {
    return this.#dataDir;
  }

  /** True while the server runs. */
  get running(): boolean {
    return this.#proc?.running ?? false;
  }

  /** Starts the server (or restarts it on the same port and data after {@link stop}) and waits for /health. */
  async start(): Promise<void> {
    if (!this.#proc) {
      this.#port = this.#opts.port ?? (await freeLoopbackPort());
      if (this.#opts.dataDir) this.#dataDir = this.#opts.dataDir;
      else {
        this.#dataDir = mkdtempSync(join(tmpdir(), 'netscan-vm-'));
        this.#ownsDir = true;
      }
      this.#proc = new ServerProcess({
        name: 'victoria-metrics',
        command: this.#opts.binary ?? 'victoria-metrics',
        args: [
          `-httpListenAddr=127.0.0.1:${this.#port}`,
          `-storageDataPath=${join(this.#dataDir, 'data')}`,
          '-retentionPeriod=100y',
          '-loggerLevel=ERROR',
          ...(this.#opts.extraArgs ?? []),
        ],
        logFile: join(this.#dataDir, 'vm.log'),
        ready: async () => (await fetch(`${this.url}/health`)).ok,
        startTimeoutMs: this.#opts.startTimeoutMs ?? 20_000,
      });
    }
    await this.#proc.start();
  }

  /** Stops the server gracefully (data kept, so {@link start} brings it back); idempotent. */
  async stop(): Promise<void> {
    await this.#proc?.stop();
  }

  /** Stops the server and removes the temporary data directory; idempotent. */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.#ownsDir) rmSync(this.#dataDir, { recursive: true, force: true });
    this.#ownsDir = false;
  }

  /** Makes recently ingested samples visible to export (GET /internal/force_flush). */
  async forceFlush(): Promise<void> {
    const res = await fetch(`${this.url}/internal/force_flush`);
    if (!res.ok) throw new Error(`force_flush: HTTP ${res.status}`);
    await res.arrayBuffer();
  }

  /** Flushes, then returns every series matching `match` (a series selector) via /api/v1/export. */
  async exportSeries(match = '{__name__=~".+"}'): Promise<ExportedSeries[]> {
    await this.forceFlush();
    const body = new URLSearchParams({ 'match[]': match, start: '0' });
    const res = await fetch(`${this.url}/api/v1/export`, { method: 'POST', body });
    const text = await res.text();
    if (!res.ok) throw new Error(`export: HTTP ${res.status}: ${text}`);
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as ExportedSeries);
  }

  /**
   * Polls {@link exportSeries} until at least `count` samples match (VictoriaMetrics makes new
   * data searchable asynchronously) or `deadlineMs` passes; returns what was seen last.
   */
  async waitForSamples(match: string, count: number, deadlineMs = 10_000): Promise<ExportedSeries[]> {
    return pollUntil(
      () => this.exportSeries(match),
      (s) => sampleCount(s) >= count,
      { deadlineMs, intervalMs: 200 },
    );
  }

  /** Last lines of the server log, for assertion messages. */
  logTail(): string {
    return this.#proc?.logTail() ?? '';
  }
}

/** Total number of samples across series. */
export function sampleCount(series: readonly ExportedSeries[]): number {
  let n = 0;
  for (const s of series) n += s.values.length;
  return n;
}

/** Number of distinct (series, timestamp) pairs: what remains after a server-side dedupe. */
export function distinctSampleCount(series: readonly ExportedSeries[]): number {
  const seen = new Set<string>();
  for (const s of series) {
    const key = JSON.stringify(Object.entries(s.metric).sort());
    for (const t of s.timestamps) seen.add(`${key}@${t}`);
  }
  return seen.size;
}
