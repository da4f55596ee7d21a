import type { Clock } from '../clock/clock.js';
import { LogLimiter } from '../log/log-limiter.js';
import type { Logger } from '../log/log.js';
import type { DropReason } from './ledger.js';

// One log line per event: a repeated drop reason is summarised at most this often.
const DROP_LOG_INTERVAL_MS = 60_000;

const messages: Readonly<Record<DropReason, string>> = {
  buffer_full: 'Write queue full: dropped the oldest points',
  spool_full: 'Spool full: dropped the oldest spooled points',
  rejected: 'Server rejected a batch as invalid: dropped it',
  too_large: 'Server refused a single line as too large: dropped it',
  invalid: 'Point has no valid field: dropped it',
  closed: 'Point written after the writer closed: dropped it',
  shutdown: 'Points not sent before the close deadline and no spool: dropped them',
};

/** Logs drops: at most one line per reason per minute, carrying the count suppressed since the last. */
export class DropLog {
  readonly #log: Logger;
  readonly #clock: Clock;
  // Keyed by reason only: server messages often quote the offending line, so they differ per batch.
  readonly #limiter = new LogLimiter(DROP_LOG_INTERVAL_MS);

  constructor(log: Logger, clock: Clock) {
    this.#log = log;
    this.#clock = clock;
  }

  /** Notes `n` points dropped for `reason` (`totalDropped` includes them; `detail` is the server's reason, redacted). */
  note(reason: DropReason, n: number, totalDropped: number, detail?: string): void {
    const count = this.#limiter.admit(reason, this.#clock.now(), n);
    if (count === undefined) return;
    const fields = {
      reason,
      count,
      total_dropped: totalDropped,
      ...(detail === undefined ? {} : { server_reason: detail }),
    };
    if (reason === 'invalid' || reason === 'closed') this.#log.warn(fields, messages[reason]);
    else this.#log.error(fields, messages[reason]);
  }
}
