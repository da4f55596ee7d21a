import type { Logger } from './log.js';

/**
 * Rate limit for repeated log lines: at most one line per key per `intervalMs`, reporting how many
 * events the suppressed lines stood for. Keeps a broken dependency (a dead server, a full queue)
 * from flooding the log while still accounting for every event.
 */
export class LogLimiter {
  readonly #intervalMs: number;
  readonly #byKey = new Map<string, { lastMs: number; suppressed: number }>();

  /** `intervalMs`: the shortest time between two lines for one key, in ms. */
  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  /**
   * Records `count` events of `key` at `nowMs`. Returns the number of events the caller should log
   * now (these plus the ones suppressed since the last line), or 0 when this line is suppressed.
   */
  take(key: string, nowMs: number, count = 1): number {
    return this.admit(key, nowMs, count) ?? 0;
  }

  /**
   * {@link take}, but a suppressed line is `undefined`, so a line for zero events (a count the
   * caller logs as it is) is told apart from a suppressed one.
   */
  admit(key: string, nowMs: number, count = 1): number | undefined {
    const entry = this.#byKey.get(key);
    if (entry !== undefined && nowMs - entry.lastMs < this.#intervalMs) {
      entry.suppressed += count;
      return undefined;
    }
    const total = count + (entry?.suppressed ?? 0);
    this.#byKey.set(key, { lastMs: nowMs, suppressed: 0 });
    return total;
  }
}

/** Error logging limited per kind, so a broken dependency cannot flood the log. */
export interface LimitedErrorLog {
  /** Logs `msg` at error level unless an error of this `kind` was logged in the last interval. */
  error(kind: string, obj: Record<string, unknown>, msg: string): void;
}

/**
 * A {@link LimitedErrorLog} on `log`: at most one line per kind per `intervalMs` (a {@link LogLimiter}),
 * timed by `now()` (ms). Suppressed errors are dropped, not reported later.
 */
export function limitedErrorLog(log: Logger, now: () => number, intervalMs: number): LimitedErrorLog {
  const limiter = new LogLimiter(intervalMs);
  return {
    error(kind, obj, msg) {
      if (limiter.take(kind, now()) > 0) log.error(obj, msg);
    },
  };
}
