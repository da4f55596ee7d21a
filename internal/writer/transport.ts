import { InfluxDB, type Transport } from '@influxdata/influxdb-client';
import { redactUrlCredentials } from '../log/log.js';

/** Which bucket (v2) or database (v1) a batch goes to. */
export type WriteTarget = 'primary' | 'health';

/**
 * The writer's narrow I/O seam: one request carrying newline-separated lines. Real
 * implementations wrap the InfluxDB client's HTTP transport or a file; tests use the fault
 * server or a fake. A transport never retries: the writer is the one retry layer.
 */
export interface LineTransport {
  /** Short description for logs (`influxdb-v2 http://127.0.0.1:8086`, `file /var/lib/netscan/out.lp`); never holds a secret. */
  readonly name: string;
  /** Secrets this transport sends (token, password): scrubbed from any error text a server echoes. */
  readonly secrets?: readonly string[];
  /** Render unsigned fields as integers (InfluxDB 1.x does not accept `u`). */
  readonly unsignedAsInteger: boolean;
  /** Sends one batch; resolves only once the server acknowledged it; rejects with the raw error otherwise. */
  send(body: string, target: WriteTarget, signal: AbortSignal): Promise<void>;
  /** As {@link send}, the body given as its UTF-8 bytes (not changed while the request runs); optional. */
  sendBytes?(body: Buffer, target: WriteTarget, signal: AbortSignal): Promise<void>;
  /** Releases sockets or files; idempotent. */
  close(): Promise<void>;
}

const TEXT_PLAIN = 'text/plain; charset=utf-8';

/**
 * The InfluxDB client's HTTP transport, created on first use and dropped at close: what both
 * line-protocol transports below send through.
 */
class ClientPoster {
  readonly #url: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #gzipThresholdBytes: number;
  #transport: Transport | undefined;

  constructor(opts: { url: string; token: string | undefined; timeoutMs: number; gzipThresholdBytes: number }) {
    this.#url = opts.url;
    this.#token = opts.token;
    this.#timeoutMs = opts.timeoutMs;
    this.#gzipThresholdBytes = opts.gzipThresholdBytes;
  }

  /** POSTs `body` (text, or its UTF-8 bytes) to `path` (with its query); resolves once the server acknowledged it. */
  post(path: string, body: string | Buffer, headers: Record<string, string>, signal: AbortSignal): Promise<void> {
    this.#transport ??= new InfluxDB({ url: this.#url, token: this.#token, timeout: this.#timeoutMs }).transport;
    const options = { method: 'POST', headers, gzipThreshold: this.#gzipThresholdBytes, signal };
    if (typeof body === 'string') return this.#transport.request(path, body, options) as Promise<void>;
    // request() sends anything but text as JSON; send() hands the body to Buffer.from, which copies
    // bytes as they are, and reports a status >= 300, a timeout or an abort as an error.
    const transport = this.#transport;
    return new Promise<void>((resolve, reject) => {
      transport.send(path, body as unknown as string, options, { error: reject, complete: () => resolve() });
    });
  }

  close(): Promise<void> {
    this.#transport = undefined;
    return Promise.resolve();
  }
}

/** Options for {@link InfluxV2Transport}. */
export interface InfluxV2TransportOptions {
  /** Server URL, e.g. `http://127.0.0.1:8086`. */
  url: string;
  /** API token (sent as `Authorization: Token ...`, never logged). */
  token: string;
  /** Organization name or ID. */
  org: string;
  /** Bucket for ping and device_info points. */
  bucket: string;
  /** Bucket for health_metrics points. */
  healthBucket: string;
  /** Socket timeout per request, in ms. */
  timeoutMs: number;
  /** Bodies larger than this many bytes are gzipped. */
  gzipThresholdBytes: number;
}

/** Defaults for {@link InfluxV2TransportOptions} (the client's own defaults). */
export const defaultInfluxV2TransportOptions = { timeoutMs: 10_000, gzipThresholdBytes: 1000 } as const;

/**
 * InfluxDB 2.x `/api/v2/write` (also accepted by VictoriaMetrics) through
 * @influxdata/influxdb-client's HTTP transport: its auth header, gzip, timeouts and HttpError
 * (with status, body and Retry-After). The client's WriteApi is deliberately not used: its
 * `flush()` does not wait for batches already sent and its retries would stack on ours.
 */
export class InfluxV2Transport implements LineTransport {
  readonly name: string;
  readonly secrets: readonly string[];
  readonly unsignedAsInteger = false;
  readonly #opts: InfluxV2TransportOptions;
  readonly #poster: ClientPoster;

  constructor(
    opts: Partial<InfluxV2TransportOptions> &
      Pick<InfluxV2TransportOptions, 'url' | 'token' | 'org' | 'bucket' | 'healthBucket'>,
  ) {
    this.#opts = { ...defaultInfluxV2TransportOptions, ...opts };
    this.#poster = new ClientPoster(this.#opts);
    this.name = `influxdb-v2 ${redactUrlCredentials(opts.url)}`;
    this.secrets = [opts.token];
  }

  send(body: string, target: WriteTarget, signal: AbortSignal): Promise<void> {
    return this.#send(body, target, signal);
  }

  #send(body: string | Buffer, target: WriteTarget, signal: AbortSignal): Promise<void> {
    const bucket = target === 'health' ? this.#opts.healthBucket : this.#opts.bucket;
    const q = new URLSearchParams({ org: this.#opts.org, bucket, precision: 'ms' });
    return this.#poster.post(`/api/v2/write?${q.toString()}`, body, { 'content-type': TEXT_PLAIN }, signal);
  }

  sendBytes(body: Buffer, target: WriteTarget, signal: AbortSignal): Promise<void> {
    return this.#send(body, target, signal);
  }

  close(): Promise<void> {
    return this.#poster.close();
  }
}

/** Options for {@link InfluxV1Transport}. */
export interface InfluxV1TransportOptions {
  /** Server URL, e.g. `http://127.0.0.1:8086`. */
  url: string;
  /** Database for ping and device_info points. */
  database: string;
  /** Database for health_metrics points (defaults to `database`). */
  healthDatabase?: string;
  /** Retention policy; server default when omitted. */
  retentionPolicy?: string;
  /** User for HTTP basic auth; no auth when omitted. */
  username?: string;
  /** Password for HTTP basic auth (never logged). */
  password?: string;
  /** Socket timeout per request, in ms. */
  timeoutMs: number;
  /** Bodies larger than this many bytes are gzipped. */
  gzipThresholdBytes: number;
}

/**
 * InfluxDB 1.x `/write?db=` (also VictoriaMetrics and InfluxDB 2.x's v1 compatibility API),
 * through the same client transport. Unsigned fields are rendered as integers.
 */
export class InfluxV1Transport implements LineTransport {
  readonly name: string;
  readonly secrets: readonly string[];
  readonly unsignedAsInteger = true;
  readonly #opts: InfluxV1TransportOptions;
  readonly #poster: ClientPoster;

  constructor(opts: Partial<InfluxV1TransportOptions> & Pick<InfluxV1TransportOptions, 'url' | 'database'>) {
    this.#opts = { ...defaultInfluxV2TransportOptions, ...opts };
    // v1 authenticates with basic auth (below), not with a token.
    this.#poster = new ClientPoster({ ...this.#opts, token: undefined });
    this.name = `influxdb-v1 ${redactUrlCredentials(opts.url)}`;
    this.secrets = opts.password
      ? [opts.password, Buffer.from(`${opts.username ?? ''}:${opts.password}`).toString('base64')]
      : [];
  }

  send(body: string, target: WriteTarget, signal: AbortSignal): Promise<void> {
    return this.#send(body, target, signal);
  }

  sendBytes(body: Buffer, target: WriteTarget, signal: AbortSignal): Promise<void> {
    return this.#send(body, target, signal);
  }

  #send(body: string | Buffer, target: WriteTarget, signal: AbortSignal): Promise<void> {
    const db = target === 'health' ? (this.#opts.healthDatabase ?? this.#opts.database) : this.#opts.database;
    const q = new URLSearchParams({ db, precision: 'ms' });
    if (this.#opts.retentionPolicy) q.set('rp', this.#opts.retentionPolicy);
    const headers: Record<string, string> = { 'content-type': TEXT_PLAIN };
    if (this.#opts.username !== undefined) {
      headers['authorization'] =
        `Basic ${Buffer.from(`${this.#opts.username}:${this.#opts.password ?? ''}`).toString('base64')}`;
    }
    return this.#poster.post(`/write?${q.toString()}`, body, headers, signal);
  }

  close(): Promise<void> {
    return this.#poster.close();
  }
}
