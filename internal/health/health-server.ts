import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { monoMs, systemClock, type Clock } from '../clock/clock.js';
import { NetscanError } from '../errors/errors.js';
import { OptionChecks } from '../errors/option-checks.js';
import type { Logger } from '../log/log.js';

/** Every path the health server answers (manifests and dashboards are checked against it). */
export const healthPaths = ['/health', '/health/live', '/health/ready', '/metrics', '/-/reload'] as const;

/** What `/` lists: each endpoint with its method and purpose. */
const INDEX_TEXT = [
  'netscan agent endpoints:',
  '  GET  /health        status document (JSON)',
  '  GET  /health/live   liveness (200 ALIVE)',
  '  GET  /health/ready  readiness (200 READY or 503 NOT READY: reason)',
  '  GET  /metrics       Prometheus metrics',
  '  POST /-/reload      re-read the configuration file (empty body)',
  '',
].join('\n');

const READ_METHODS = 'GET, HEAD';

/** The `/health` document: the Go netscan keys first (same names and meanings), then ours. */
export type HealthDocument = Record<string, unknown> & {
  /** `healthy`, `degraded` (see `reasons`: output spooling, rate limit too low, or slots missed, sends lagging, points dropped or probes overloaded in the last health interval) or `unhealthy` (not ready). */
  status: 'healthy' | 'degraded' | 'unhealthy';
};

/** Readiness verdict for `/health/ready`. */
export interface Readiness {
  /** True when the agent is ready to serve. */
  ready: boolean;
  /** Why not, when not ready (`state not loaded`, `output failing and not spooling`, ...). */
  reason?: string;
}

/** Result of a reload request. */
export interface ReloadResult {
  /** True when the new configuration was applied. */
  ok: boolean;
  /** Problems that made the reload fail, one per line. */
  problems: readonly string[];
}

/** Options for {@link HealthServer}. */
export interface HealthServerOptions {
  /** TCP port; 0 picks a free port (tests), see `port` after start. */
  port: number;
  /** Listen address. */
  host: string;
  /** Builds the `/health` document from in-memory figures. Must not do I/O. */
  health: () => HealthDocument;
  /** Readiness verdict from in-memory state. Must not do I/O. */
  readiness: () => Readiness;
  /** Prometheus registry served on `/metrics`. */
  registry: Registry;
  /** Text appended to the registry's on `/metrics` (the per-device series); absent = none. */
  extraMetrics?: (() => string) | undefined;
  /** Handles `POST /-/reload`; absent = 404. */
  reload?: () => Promise<ReloadResult>;
  /** Logger for lifecycle and errors. */
  logger: Logger;
  /** Time source for the /metrics cache. */
  clock: Clock;
  /** /metrics is rendered at most once per this many ms; requests in between get the cached text (0 = every request). */
  metricsCacheMs: number;
  /** Most open connections at once; further connections are closed on accept (a burst cannot flood the event loop). */
  maxConnections: number;
  /** Largest request body accepted on POST /-/reload, in bytes (413 above). */
  maxBodyBytes: number;
  /** Time a client has to send the request headers, ms. */
  headersTimeoutMs: number;
  /** Time a client has to send the whole request, ms. */
  requestTimeoutMs: number;
}

/** Defaults for the tuning fields of {@link HealthServerOptions}. */
export const defaultHealthServerOptions = {
  clock: systemClock,
  metricsCacheMs: 1000,
  maxConnections: 64,
  maxBodyBytes: 1024,
  headersTimeoutMs: 5000,
  requestTimeoutMs: 10_000,
} satisfies Partial<HealthServerOptions>;

/** Counters of requests refused for their shape, since start. */
export interface HealthServerStats {
  /** Requests answered 405 (wrong method). */
  methodRefused: number;
  /** Requests answered 413 (reload body too large). */
  bodyTooLarge: number;
  /** Requests answered 505 (not HTTP/1.x). */
  versionRefused: number;
  /** /metrics renders (the rest were served from the cache). */
  metricsRenders: number;
  /** /metrics requests served from the cache. */
  metricsCached: number;
}

/**
 * The health and metrics HTTP server. Every response is built from in-memory figures, so a
 * probe never waits on InfluxDB or a sweep (the Go version called InfluxDB's /health on every
 * request, up to 5 s).
 */
export class HealthServer {
  readonly #opts: HealthServerOptions;
  #server: Server | undefined;
  #stopping: Promise<void> | undefined;
  #metricsText: string | undefined;
  #metricsAtMs = -Infinity;
  #metricsRender: Promise<string> | undefined;
  readonly #stats: HealthServerStats = {
    methodRefused: 0,
    bodyTooLarge: 0,
    versionRefused: 0,
    metricsRenders: 0,
    metricsCached: 0,
  };

  constructor(opts: Omit<HealthServerOptions, keyof typeof defaultHealthServerOptions> & Partial<HealthServerOptions>) {
    this.#opts = { ...defaultHealthServerOptions, ...opts };
  }

  /** A copy of the counters. */
  stats(): HealthServerStats {
    return { ...this.#stats };
  }

  /** The bound port (after start). */
  get port(): number {
    return (this.#server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** Listens; rejects with ConfigError naming every bad option, or ERR_HEALTH when the port cannot be bound. */
  async start(): Promise<void> {
    if (this.#server) return;
    new OptionChecks('health')
      .integer('port', this.#opts.port, 0, 65535)
      .nonNegative('metricsCacheMs', this.#opts.metricsCacheMs)
      .integer('maxConnections', this.#opts.maxConnections, 1)
      .integer('maxBodyBytes', this.#opts.maxBodyBytes, 1)
      .positive('headersTimeoutMs', this.#opts.headersTimeoutMs)
      .positive('requestTimeoutMs', this.#opts.requestTimeoutMs)
      .throwIfAny();
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#opts.logger.error({ err, path: req.url }, 'health request failed');
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error');
        else res.destroy();
      });
    });
    const o = this.#opts;
    server.keepAliveTimeout = 5000;
    server.headersTimeout = o.headersTimeoutMs;
    server.requestTimeout = o.requestTimeoutMs;
    // An idle or trickling client cannot hold one of the few connection places for long.
    server.setTimeout(o.requestTimeoutMs, (socket) => socket.destroy());
    server.maxConnections = o.maxConnections;
    server.maxHeadersCount = 64;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(
          new NetscanError(
            'ERR_HEALTH',
            `cannot listen on ${this.#opts.host}:${this.#opts.port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
            { stage: 'health', cause: err },
          ),
        );
      });
      server.listen(this.#opts.port, this.#opts.host, () => resolve());
    });
    server.unref();
    this.#opts.logger.info({ address: `${this.#opts.host}:${this.port}` }, 'health endpoint started');
  }

  /** Closes the listener and open connections; idempotent. */
  stop(): Promise<void> {
    this.#stopping ??= new Promise<void>((resolve) => {
      const server = this.#server;
      if (!server) return resolve();
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return this.#stopping;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // RFC 9112 request lines carry HTTP/1.x; a bare "GET /" (HTTP/0.9) has no headers to answer with.
    if (req.httpVersionMajor !== 1) {
      this.#stats.versionRefused++;
      return send(res, 505, TEXT, 'HTTP/1.x only', { connection: 'close' });
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/-/reload') return this.#reload(req, res);
    const read = req.method === 'GET' || req.method === 'HEAD';
    const answer = (status: number, type: string, body: string): void => {
      if (!read) {
        this.#stats.methodRefused++;
        send(res, 405, TEXT, `use ${READ_METHODS}`, { allow: READ_METHODS });
      } else {
        send(res, status, type, body);
      }
    };
    switch (path) {
      case '/':
        return answer(200, TEXT, INDEX_TEXT);
      case '/health':
        return answer(200, 'application/json', read ? `${JSON.stringify(this.#opts.health())}\n` : '');
      case '/health/live':
        return answer(200, TEXT, 'ALIVE');
      case '/health/ready': {
        if (!read) return answer(200, TEXT, '');
        const r = this.#opts.readiness();
        return r.ready ? answer(200, TEXT, 'READY') : answer(503, TEXT, `NOT READY: ${r.reason ?? 'starting'}`);
      }
      case '/metrics':
        return answer(200, this.#opts.registry.contentType, read ? await this.#metrics() : '');
    }
    send(res, 404, TEXT, 'not found');
  }

  async #reload(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.#opts.reload) return send(res, 404, TEXT, 'not found');
    if (req.method !== 'POST') {
      this.#stats.methodRefused++;
      return send(res, 405, TEXT, 'use POST', { allow: 'POST' });
    }
    // A browser adds Origin to a cross-site POST: a web page must not be able to make the agent reload.
    if (req.headers.origin !== undefined) return send(res, 403, TEXT, 'cross-origin reload refused');
    if (!(await bodyWithin(req, this.#opts.maxBodyBytes))) {
      this.#stats.bodyTooLarge++;
      return send(
        res,
        413,
        TEXT,
        `request body over ${this.#opts.maxBodyBytes} bytes; POST /-/reload takes an empty body`,
        { connection: 'close' },
      );
    }
    const r = await this.#opts.reload();
    send(res, r.ok ? 200 : 400, 'application/json', `${JSON.stringify(r)}\n`);
  }

  /** The registry's text, rendered at most once per metricsCacheMs; concurrent requests share one render. */
  async #metrics(): Promise<string> {
    const nowMs = monoMs(this.#opts.clock);
    if (this.#metricsText !== undefined && nowMs - this.#metricsAtMs < this.#opts.metricsCacheMs) {
      this.#stats.metricsCached++;
      return this.#metricsText;
    }
    if (this.#metricsRender) {
      this.#stats.metricsCached++;
      return this.#metricsRender;
    }
    this.#stats.metricsRenders++;
    const extra = this.#opts.extraMetrics;
    const render = extra ? this.#opts.registry.metrics().then((text) => text + extra()) : this.#opts.registry.metrics();
    this.#metricsRender = render;
    try {
      const text = await render;
      this.#metricsText = text;
      this.#metricsAtMs = monoMs(this.#opts.clock);
      return text;
    } finally {
      this.#metricsRender = undefined;
    }
  }
}

const TEXT = 'text/plain; charset=utf-8';

/**
 * Reads and discards the request body; false as soon as it passes `maxBytes` (a declared
 * Content-Length over the limit is refused before anything is read).
 */
function bodyWithin(req: IncomingMessage, maxBytes: number): Promise<boolean> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > maxBytes) {
    req.resume();
    return Promise.resolve(false);
  }
  return new Promise<boolean>((resolve) => {
    let bytes = 0;
    let over = false;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > maxBytes && !over) {
        over = true;
        resolve(false);
      }
    });
    req.once('end', () => resolve(!over));
    req.once('error', () => resolve(false));
  });
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}
