import { HttpError } from '@influxdata/influxdb-client';
import { errorMessage } from '../errors/errors.js';

/**
 * What the writer does after a failed write. This file is the one place that decides it
 * (STYLE rule 14):
 * - `retry`: network error, timeout, 5xx, 408 — back off exponentially, keep the batch.
 * - `throttle`: 429, or 503 with Retry-After — wait what the server asked, keep the batch.
 * - `split`: 413 — send the batch in two halves.
 * - `drop`: 400, 422 and other 4xx — the server will never take these lines: drop, count, log the reason.
 * - `config`: 401, 403, 404 (bad token, no permission, unknown bucket/database) and 3xx redirects
 *   (a wrong URL) — loud error, keep the batch.
 */
export type WriteErrorClass = 'retry' | 'throttle' | 'split' | 'drop' | 'config';

/** Every class, in a fixed order (for counters and tests). */
export const writeErrorClasses: readonly WriteErrorClass[] = ['retry', 'throttle', 'split', 'drop', 'config'];

/** A classified write failure. */
export interface ClassifiedWriteError {
  /** What to do. */
  readonly errorClass: WriteErrorClass;
  /** HTTP status, when the server answered. */
  readonly status: number | undefined;
  /** Delay the server asked for (Retry-After), in ms; undefined when it asked none. */
  readonly retryAfterMs: number | undefined;
  /** One-line description with the server's own reason where it gave one. */
  readonly message: string;
  /**
   * For a `drop` the server reports as a partial write (InfluxDB: `partial write: ... dropped=N`):
   * the lines it refused. The other lines of the batch were stored. Undefined otherwise.
   */
  readonly partialDropped?: number;
}

/** Parses a Retry-After header (delta-seconds or an HTTP date) into ms, relative to `nowMs`. */
export function parseRetryAfterMs(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** The server's reason from an InfluxDB error body (`{"message": ...}` v2, `{"error": ...}` v1) or the raw text. */
function serverReason(err: HttpError): string {
  const json = err.json as { message?: unknown; error?: unknown } | undefined;
  return typeof json?.message === 'string'
    ? json.message
    : typeof json?.error === 'string'
      ? json.error
      : (err.body ?? '');
}

/** Lines refused by a partial write, from InfluxDB's `partial write: <why> dropped=N` reason. */
function partialDropped(reason: string): number | undefined {
  if (!reason.includes('partial write')) return undefined;
  const m = /\bdropped=(\d+)\b/.exec(reason);
  return m ? Number(m[1]) : undefined;
}

/** Classifies any error thrown by a {@link LineTransport} send. `nowMs` anchors HTTP-date Retry-After values. */
export function classifyWriteError(err: unknown, nowMs: number): ClassifiedWriteError {
  if (err instanceof HttpError) {
    const status = err.statusCode;
    const fullReason = serverReason(err);
    const reason = fullReason.length > 300 ? `${fullReason.slice(0, 300)}...` : fullReason;
    const message = `HTTP ${status}${err.statusMessage ? ` ${err.statusMessage}` : ''}${reason ? `: ${reason}` : ''}`;
    const retryAfterMs = parseRetryAfterMs(err.headers?.['retry-after'], nowMs);
    const c = (errorClass: WriteErrorClass): ClassifiedWriteError => ({ errorClass, status, retryAfterMs, message });
    if (status === 429) return c('throttle');
    if (status === 503) return c(retryAfterMs === undefined ? 'retry' : 'throttle');
    if (status === 413) return c('split');
    if (status === 401 || status === 403 || status === 404) return c('config');
    if (status === 408 || status >= 500) return c('retry');
    if (status >= 400) {
      const dropped = partialDropped(fullReason);
      return dropped === undefined ? c('drop') : { ...c('drop'), partialDropped: dropped };
    }
    // A redirect (http -> https, a moved endpoint) is not followed for writes: the URL is wrong.
    if (status >= 300 && status < 400) return c('config');
    return c('retry');
  }
  const code = (err as { code?: unknown } | undefined)?.code;
  const message =
    typeof code === 'string' && !errorMessage(err).includes(code) ? `${code}: ${errorMessage(err)}` : errorMessage(err);
  return { errorClass: 'retry', status: undefined, retryAfterMs: undefined, message };
}

/** Backoff parameters. */
export interface BackoffOptions {
  /** First delay, in ms. */
  minRetryDelayMs: number;
  /** Cap on any delay, in ms. */
  maxRetryDelayMs: number;
  /** Growth factor per consecutive failure. */
  exponentialBase: number;
}

/**
 * Delay before attempt number `failures + 1` after `failures` consecutive failures (>= 1):
 * `min * base^(failures-1)` capped at `max`, then "equal jitter" (a uniform value in
 * [delay/2, delay]) so many agents that lost the same server do not return in lockstep.
 * `random` returns a number in [0, 1).
 */
export function backoffDelayMs(failures: number, opts: BackoffOptions, random: () => number): number {
  const exp = opts.minRetryDelayMs * Math.pow(opts.exponentialBase, Math.max(0, failures - 1));
  const capped = Math.min(opts.maxRetryDelayMs, exp);
  return Math.round(capped / 2 + random() * (capped / 2));
}
