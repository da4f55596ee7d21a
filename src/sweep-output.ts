/**
 * What `netscan sweep` prints: the lines of the addresses it found, the error lines, the summary,
 * and on a terminal the progress bar that stays below the scrolling lines.
 */
import type { Clock, TimerHandle } from '../internal/clock/clock.js';
import type { PingOutcome } from '../internal/model/ping.js';
import { parseIpv4 } from '../internal/sweep/cidr.js';
import { parseIpv6BigInt } from '../internal/sweep/cidr6.js';
import type { SweepSummary } from '../internal/sweep/sweeper.js';

/** A sort key that orders IPv4 before IPv6, each numerically. */
export function addressKey(ip: string): string {
  const v4 = parseIpv4(ip);
  if (v4 !== undefined) return `4${v4.toString(16).padStart(8, '0')}`;
  return `6${(parseIpv6BigInt(ip) ?? 0n).toString(16).padStart(32, '0')}`;
}

/** The error line of a failed probe that is not a timeout, as fping words it. */
export function failureText(o: Extract<PingOutcome, { ok: false }>): string {
  const detail = o.detail ?? o.reason;
  // An ICMP error names the router that sent it; anything else failed in our own sendto(2).
  if (o.reason === 'unreachable' && /\(from [^)]+\)$/.test(detail)) return detail;
  if (o.reason === 'send_error' || o.reason === 'unreachable') return `error while sending ping: ${detail}`;
  return detail;
}

/** The summary of a sweep that probed nothing. */
export function emptySummary(): SweepSummary {
  return {
    total: 0,
    scanned: 0,
    alive: 0,
    probesSent: 0,
    elapsedMs: 0,
    ratePps: 0,
    aborted: false,
    skipped: false,
    filtered: 0,
  };
}

/** The stderr summary: `scanned 254, alive 12, elapsed 1.234 s, rate 206 pps` or one JSON object with --json. */
export function formatSummary(s: SweepSummary, json: boolean): string {
  const elapsedS = s.elapsedMs / 1000;
  if (json) {
    return `${JSON.stringify({ scanned: s.scanned, total: s.total, alive: s.alive, probes_sent: s.probesSent, elapsed_ms: s.elapsedMs, rate_pps: Math.round(s.ratePps), interrupted: s.aborted })}\n`;
  }
  return `scanned ${s.scanned}${s.scanned < s.total ? ` of ${s.total}` : ''}, alive ${s.alive}, elapsed ${elapsedS.toFixed(3)} s, rate ${Math.round(s.ratePps)} pps${s.aborted ? ' (interrupted)' : ''}\n`;
}

/** Options of {@link Screen}. */
export interface ScreenOptions {
  /** Where the address lines go. */
  readonly stdout: { write(chunk: string): unknown };
  /** Where error lines go (and the bar, when there is one). */
  readonly stderr: { write(chunk: string): unknown };
  /** The progress bar on a terminal, else undefined. */
  readonly bar: ProgressBar | undefined;
  /** stdout is the terminal the bar is drawn on: lift the bar before a line and redraw it below. */
  readonly barSharesStdout: boolean;
  /** Buffer stdout into chunks of at least this many bytes (0: write every line at once). */
  readonly flushBytes: number;
}

/**
 * The two output streams and the progress bar: a line printed while the bar is shown goes above
 * it and the bar is redrawn below, so it stays on screen while hits scroll by. A /16 can print
 * 65k lines, so stdout into a pipe is written in large chunks.
 */
export class Screen {
  readonly #o: ScreenOptions;
  #pending: string[] = [];
  #bytes = 0;
  constructor(o: ScreenOptions) {
    this.#o = o;
  }
  /** Prints an address line (buffered into a pipe). */
  out(line: string): void {
    const bar = this.#o.barSharesStdout ? this.#o.bar : undefined;
    if (this.#o.flushBytes === 0 || bar) {
      bar?.lift();
      this.#o.stdout.write(line);
      bar?.redraw();
      return;
    }
    this.#pending.push(line);
    this.#bytes += line.length;
    if (this.#bytes >= this.#o.flushBytes) this.flush();
  }
  /** Prints an error line at once, above the bar. */
  err(line: string): void {
    this.#o.bar?.lift();
    this.#o.stderr.write(line);
    this.#o.bar?.redraw();
  }
  /** Writes the buffered address lines. */
  flush(): void {
    if (this.#pending.length === 0) return;
    this.#o.stdout.write(this.#pending.join(''));
    this.#pending = [];
    this.#bytes = 0;
  }
}

/** A one-line progress bar on a terminal, redrawn every 200 ms and after every printed line. */
export class ProgressBar {
  readonly #err: { write(chunk: string): unknown };
  readonly #clock: Clock;
  readonly #progress: () => { total: number; scanned: number; alive: number } | undefined;
  #timer: TimerHandle | undefined;
  #drawn = false;
  #running = false;
  constructor(
    err: { write(chunk: string): unknown },
    clock: Clock,
    progress: () => { total: number; scanned: number; alive: number } | undefined,
  ) {
    this.#err = err;
    this.#clock = clock;
    this.#progress = progress;
  }
  /** Starts redrawing every 200 ms. */
  start(): void {
    this.#running = true;
    this.#schedule();
  }
  /** Stops redrawing and erases the bar. */
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.lift();
  }
  /** Erases the bar so that a line can be printed where it was. */
  lift(): void {
    if (this.#drawn) this.#err.write('\r\x1b[K');
    this.#drawn = false;
  }
  /** Draws the bar again (after a printed line, it lands below it). */
  redraw(): void {
    if (this.#running) this.#draw();
  }
  #schedule(): void {
    this.#timer = this.#clock.setTimeout(() => {
      if (!this.#running) return;
      this.#draw();
      this.#schedule();
    }, 200);
  }
  #draw(): void {
    const p = this.#progress();
    if (!p || p.total === 0) return;
    const width = 30;
    const done = Math.floor((p.scanned / p.total) * width);
    const pct = Math.floor((p.scanned / p.total) * 100);
    this.#err.write(
      `\r\x1b[K[${'#'.repeat(done)}${'-'.repeat(width - done)}] ${pct}% ${p.scanned}/${p.total} alive ${p.alive}`,
    );
    this.#drawn = true;
  }
}
