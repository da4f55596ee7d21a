import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { NetscanError } from '../errors/errors.js';
import type { Logger } from '../log/log.js';

/** Every path the health server answers (manifests and dashboards are checked against it). */
export const healthPaths = ['/health', '/health/live', '/health/ready', '/metrics', '/-/reload'] as const;

/** The `/health` document: the Go netscan keys first (same names and meanings), then ours. */
export type HealthDocument = Record<string, unknown> & {
  /** `healthy`, `degraded` (output spooling or agent overloaded) or `unhealthy` (not ready). */
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
  /** Handles `POST /-/reload`; absent = 404. */
  reload?: () => Promise<ReloadResult>;
  /** Logger for lifecycle and errors. */
  logger: Logger;
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

  constructor(opts: HealthServerOptions) {
    this.#opts = opts;
  }

  /** The bound port (after start). */
  get port(): number {
    return (this.#server?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** Listens; rejects with ERR_HEALTH when the port cannot be bound. */
  async start(): Promise<void> {
    if (this.#server) return;
    const server = createServer((req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#opts.logger.error({ err, path: req.url }, 'health request failed');
        if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error');
        else res.destroy();
      });
    });
    server.keepAliveTimeout = 5000;
    server.requestTimeout = 10_000;
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        reject(new NetscanError('ERR_HEALTH', `cannot listen on ${this.#opts.host}:${this.#opts.port}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`, { stage: 'health', cause: err }));
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
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/health':
        return send(res, 200, 'application/json', `${JSON.stringify(this.#opts.health())}\n`);
      case '/health/live':
        return send(res, 200, 'text/plain; charset=utf-8', 'ALIVE');
      case '/health/ready': {
        const r = this.#opts.readiness();
        return r.ready ? send(res, 200, 'text/plain; charset=utf-8', 'READY') : send(res, 503, 'text/plain; charset=utf-8', `NOT READY: ${r.reason ?? 'starting'}`);
      }
      case '/metrics':
        return send(res, 200, this.#opts.registry.contentType, await this.#opts.registry.metrics());
      case '/-/reload': {
        if (!this.#opts.reload) break;
        if (req.method !== 'POST') return send(res, 405, 'text/plain; charset=utf-8', 'use POST', { allow: 'POST' });
        // A browser adds Origin to a cross-site POST: a web page must not be able to make the agent reload.
        if (req.headers.origin !== undefined) return send(res, 403, 'text/plain; charset=utf-8', 'cross-origin reload refused');
        const r = await this.#opts.reload();
        return send(res, r.ok ? 200 : 400, 'application/json', `${JSON.stringify(r)}\n`);
      }
    }
    send(res, 404, 'text/plain; charset=utf-8', 'not found');
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}
