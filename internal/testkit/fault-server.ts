import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';

/** What the fault server does with one request. */
export type FaultResponse =
  /** Answer with this status, optional headers and body. */
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly headers?: Readonly<Record<string, string>>;
      readonly body?: string;
    }
  /** Read the request and never answer (the client must time out or abort). */
  | { readonly kind: 'hang' }
  /** Destroy the connection without an answer (the client sees ECONNRESET / socket hang up). */
  | { readonly kind: 'reset' };

/** Ready-made responses. */
export const faults = {
  /** 204 No Content: the write was accepted. */
  ok: (): FaultResponse => ({ kind: 'status', status: 204 }),
  /** A plain status with an optional InfluxDB-style JSON error body. */
  status: (status: number, message?: string): FaultResponse => ({
    kind: 'status',
    status,
    ...(message === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ code: 'invalid', message }) }),
  }),
  /** 429 or 503 with a Retry-After header in seconds. */
  retryAfter: (status: 429 | 503, seconds: number): FaultResponse => ({
    kind: 'status',
    status,
    headers: { 'retry-after': String(seconds) },
  }),
  hang: (): FaultResponse => ({ kind: 'hang' }),
  reset: (): FaultResponse => ({ kind: 'reset' }),
} as const;

/** One request as the fault server saw it. */
export interface RecordedRequest {
  /** HTTP method. */
  method: string;
  /** Path without the query string. */
  path: string;
  /** Query parameters. */
  query: URLSearchParams;
  /** Request headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
  /** Body as text, gunzipped when it was sent with content-encoding gzip. */
  body: string;
  /** The response given. */
  response: FaultResponse;
}

/**
 * An HTTP server on 127.0.0.1 that answers writes with scripted faults: queue responses with
 * {@link enqueue} (used in order, one per request), otherwise the default (204). Every request
 * is recorded with its decoded body, so a test can tell exactly which lines were accepted.
 * For "connection refused" use `refusedLoopbackUrl()` from server-process.ts.
 */
export class FaultServer {
  #server: Server | undefined;
  #port = 0;
  #script: FaultResponse[] = [];
  #default: FaultResponse;
  #sockets = new Set<Socket>();
  /** Every request received, in arrival order. */
  readonly requests: RecordedRequest[] = [];

  /** @param defaultResponse answer when the script is empty (204 unless given) */
  constructor(defaultResponse: FaultResponse = faults.ok()) {
    this.#default = defaultResponse;
  }

  /** Base URL (valid after start). */
  get url(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Listens on 127.0.0.1, on `port` (e.g. one that just refused connections) or a free one. */
  async start(port = 0): Promise<void> {
    if (this.#server) return;
    const server = createServer((req, res) => this.#handle(req, res));
    server.on('connection', (s) => {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    });
    this.#server = server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    const addr = server.address();
    this.#port = typeof addr === 'object' && addr ? addr.port : 0;
  }

  /** Closes the server and destroys open (including hanging) connections; idempotent. */
  async stop(): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    for (const s of this.#sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Queues responses for the next requests, in order. */
  enqueue(...responses: FaultResponse[]): void {
    this.#script.push(...responses);
  }

  /** Changes the answer used when the script is empty. */
  setDefault(response: FaultResponse): void {
    this.#default = response;
  }

  /** Lines of every request answered with a 2xx status, in arrival order. */
  acceptedLines(): string[] {
    return this.requests
      .filter((r) => r.response.kind === 'status' && r.response.status >= 200 && r.response.status < 300)
      .flatMap((r) => r.body.split('\n').filter((l) => l !== ''));
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks);
      const body = (req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
      const response = this.#script.shift() ?? this.#default;
      const u = new URL(req.url ?? '/', 'http://127.0.0.1');
      this.requests.push({
        method: req.method ?? '',
        path: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        body,
        response,
      });
      switch (response.kind) {
        case 'hang':
          return;
        case 'reset':
          req.socket.destroy();
          return;
        case 'status':
          res.writeHead(response.status, response.headers);
          res.end(response.body ?? '');
      }
    });
  }
}
