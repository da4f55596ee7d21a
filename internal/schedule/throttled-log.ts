import type { Clock } from '../clock/clock.js';
import type { Logger } from '../log/log.js';

const LOG_EVERY_MS = 60_000;

/** Error logging at most once a minute per kind, so a broken dependency cannot flood the log. */
export class ThrottledErrorLog {
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #lastMs = new Map<string, number>();

  constructor(clock: Clock, log: Logger) {
    this.#clock = clock;
    this.#log = log;
  }

  /** Logs `msg` at error level unless an error of this `kind` was logged in the last minute. */
  error(kind: string, obj: Record<string, unknown>, msg: string): void {
    const now = this.#clock.now();
    const last = this.#lastMs.get(kind);
    if (last !== undefined && now - last < LOG_EVERY_MS) return;
    this.#lastMs.set(kind, now);
    this.#log.error(obj, msg);
  }
}
