import { HttpError } from '@influxdata/influxdb-client';
import type { Clock } from '../clock/clock.js';
import type { LineTransport, WriteTarget } from '../writer/transport.js';

/** What the fake does with one send: acknowledge, fail with this error, or hold it until released. */
export type FakeSendOutcome = 'ok' | 'hold' | Error | ((body: string) => 'ok' | Error);

/** One send as the fake saw it. */
export interface FakeSend {
  /** Batch body. */
  body: string;
  /** Lines of the body. */
  lines: string[];
  /** Destination. */
  target: WriteTarget;
  /** Clock time of the call, in ms. */
  atMs: number;
  /** How it ended: pending while held. */
  result: 'ok' | 'failed' | 'pending';
}

/** An HttpError as the InfluxDB client raises it, for scripting server answers. */
export function httpError(status: number, opts: { retryAfter?: string; message?: string } = {}): HttpError {
  const body = opts.message === undefined ? '' : JSON.stringify({ code: 'invalid', message: opts.message });
  return new HttpError(
    status,
    undefined,
    body,
    opts.retryAfter,
    'application/json',
    undefined,
    opts.retryAfter === undefined ? {} : { 'retry-after': opts.retryAfter },
  );
}

/** A network error like the one Node raises when nothing listens. */
export function connectionRefused(): Error {
  return Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
}

/**
 * A scripted {@link LineTransport}: each send takes the next outcome from the script (then the
 * default, 'ok'), is recorded with the clock time, and 'hold' keeps it pending until
 * {@link release} (or the writer's abort signal) ends it — for concurrency and close tests.
 */
export class FakeLineTransport implements LineTransport {
  readonly name = 'fake';
  readonly unsignedAsInteger: boolean;
  /** Every send, in call order. */
  readonly sends: FakeSend[] = [];
  readonly #clock: Clock;
  #script: FakeSendOutcome[] = [];
  #default: FakeSendOutcome = 'ok';
  #held: Array<{ send: FakeSend; resolve: () => void; reject: (e: unknown) => void }> = [];
  /** Times close() was called. */
  closed = 0;

  constructor(clock: Clock, opts: { unsignedAsInteger?: boolean } = {}) {
    this.#clock = clock;
    this.unsignedAsInteger = opts.unsignedAsInteger ?? false;
  }

  /** Outcomes for the next sends, in order. */
  enqueue(...outcomes: FakeSendOutcome[]): void {
    this.#script.push(...outcomes);
  }

  /** Outcome once the script is used up. */
  setDefault(outcome: FakeSendOutcome): void {
    this.#default = outcome;
  }

  /** Number of sends being held. */
  get heldCount(): number {
    return this.#held.length;
  }

  /** Ends every held send with `outcome`. */
  release(outcome: 'ok' | Error = 'ok'): void {
    const held = this.#held;
    this.#held = [];
    for (const h of held) {
      h.send.result = outcome === 'ok' ? 'ok' : 'failed';
      if (outcome === 'ok') h.resolve();
      else h.reject(outcome);
    }
  }

  /** Lines of every acknowledged send, in acknowledgement order. */
  acceptedLines(): string[] {
    return this.sends.filter((s) => s.result === 'ok').flatMap((s) => s.lines);
  }

  send(body: string, target: WriteTarget, signal: AbortSignal): Promise<void> {
    const send: FakeSend = { body, lines: body.split('\n'), target, atMs: this.#clock.now(), result: 'pending' };
    this.sends.push(send);
    let outcome = this.#script.shift() ?? this.#default;
    if (typeof outcome === 'function') outcome = outcome(body);
    if (outcome === 'hold') {
      return new Promise<void>((resolve, reject) => {
        const entry = { send, resolve, reject };
        this.#held.push(entry);
        signal.addEventListener(
          'abort',
          () => {
            this.#held = this.#held.filter((h) => h !== entry);
            send.result = 'failed';
            reject(signal.reason);
          },
          { once: true },
        );
      });
    }
    if (outcome === 'ok') {
      send.result = 'ok';
      return Promise.resolve();
    }
    send.result = 'failed';
    return Promise.reject(outcome);
  }

  async close(): Promise<void> {
    this.closed++;
  }
}
