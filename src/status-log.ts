import type { Clock, TimerHandle } from '../internal/clock/clock.js';
import type { Logger } from '../internal/log/log.js';

/** The running totals one status line is computed from. */
export interface StatusSample {
  /** Time of the sample, ms since the epoch. */
  nowMs: number;
  /** Devices in the state. */
  devices: number;
  /** Monitoring probes started since start. */
  pingsSent: number;
  /** Replies received since start. */
  replies: number;
  /** Probes judged failed since start (timeout, unreachable, send error): not those the agent spoiled (agent_overloaded, agent_error). */
  failures: number;
  /** Output state: writing, spooling, buffering, idle or stopped. */
  output: string;
  /** Points in the spool now. */
  spoolPoints: number;
  /** Points dropped by the outputs since start. */
  pointsDropped: number;
}

/** One status line: structured fields and the sentence an operator reads. */
export interface StatusLine {
  fields: Record<string, number | string>;
  message: string;
}

/** The status between two samples: devices, pings/s and loss (of the probes judged) over the window, output state, and spool/drops when there are any. */
export function statusLine(prev: StatusSample, cur: StatusSample): StatusLine {
  const seconds = Math.max(cur.nowMs - prev.nowMs, 1) / 1000;
  const sent = cur.pingsSent - prev.pingsSent;
  const replies = cur.replies - prev.replies;
  const failures = cur.failures - prev.failures;
  const pingsPerS = Math.round((sent / seconds) * 10) / 10;
  // Over the probes judged in the window: one still in flight counts in the window it settles in,
  // and one the agent spoiled says nothing about the host (as in ping_summary).
  const judged = replies + failures;
  const lossPct = judged > 0 ? Math.round((failures / judged) * 1000) / 10 : 0;
  const dropped = cur.pointsDropped - prev.pointsDropped;
  const fields: Record<string, number | string> = {
    devices: cur.devices,
    pings_per_s: pingsPerS,
    loss_pct: lossPct,
    output: cur.output,
  };
  let message = `status: ${cur.devices} device${cur.devices === 1 ? '' : 's'}, ${pingsPerS} pings/s, ${lossPct}% loss, output ${cur.output}`;
  if (cur.spoolPoints > 0) {
    fields.spool_points = cur.spoolPoints;
    message += `, ${cur.spoolPoints} points spooled`;
  }
  if (dropped > 0) {
    fields.points_dropped = dropped;
    message += `, ${dropped} points dropped`;
  }
  return { fields, message };
}

/** Options for {@link StatusLog}. */
export interface StatusLogOptions {
  clock: Clock;
  logger: Logger;
  /** Period of the line, ms; 0 turns it off (`status_log_interval`). */
  intervalMs: number;
  /** Reads the totals (from memory, no I/O). */
  sample: () => StatusSample;
}

/** Logs one {@link statusLine} at info every `intervalMs`. */
export class StatusLog {
  readonly #opts: StatusLogOptions;
  #timer: TimerHandle | undefined;
  #last: StatusSample | undefined;
  #stopped = false;

  constructor(opts: StatusLogOptions) {
    this.#opts = opts;
  }

  /** Takes the first sample and arms the timer (nothing when the interval is 0). */
  start(): void {
    if (this.#opts.intervalMs <= 0 || this.#stopped) return;
    this.#last = this.#opts.sample();
    this.#arm();
  }

  /** Cancels the timer; idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  #arm(): void {
    this.#timer = this.#opts.clock.setTimeout(() => {
      if (this.#stopped) return;
      try {
        const cur = this.#opts.sample();
        const { fields, message } = statusLine(this.#last ?? cur, cur);
        this.#last = cur;
        this.#opts.logger.info(fields, message);
      } catch (err) {
        this.#opts.logger.error({ err: String(err) }, 'status line failed');
      }
      this.#arm();
    }, this.#opts.intervalMs);
  }
}
