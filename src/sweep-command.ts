/**
 * `netscan sweep <cidr...> [--exclude CIDR] [--rate PPS] [--timeout DUR] [--retries N] [--json]`:
 * a one-shot, fping-like discovery sweep. Alive addresses go to stdout (one per line, or one
 * JSON object per line), the summary and an optional progress bar to stderr.
 */
import { systemClock, type Clock, type TimerHandle } from '../internal/clock/clock.js';
import { NetscanError, errorMessage } from '../internal/errors/errors.js';
import { IcmpEngine } from '../internal/icmp/engine.js';
import type { IcmpSocketFactory } from '../internal/icmp/icmp-socket.js';
import { openNativeIcmpSocket } from '../internal/icmp/native-socket.js';
import { IcmpSocketOpener } from '../internal/icmp/open.js';
import type { Logger } from '../internal/log/log.js';
import type { Pinger } from '../internal/model/ping.js';
import { AddressSet, parseCidr } from '../internal/sweep/cidr.js';
import { Sweeper, defaultSweeperOptions, type SweepSummary } from '../internal/sweep/sweeper.js';
import { parseDuration } from './config/duration.js';

/** Parsed options of `netscan sweep`. */
export interface SweepCommandOptions {
  /** Networks to sweep (`a.b.c.d/n` or a bare address). */
  readonly cidrs: readonly string[];
  /** Networks never probed. */
  readonly exclude: readonly string[];
  /** Echo requests per second, retries included. */
  readonly ratePps: number;
  /** Wait for each reply, in milliseconds. */
  readonly timeoutMs: number;
  /** Extra probes to a silent address. */
  readonly retries: number;
  /** One JSON object per alive host (`{"ip":"127.0.0.5","rtt_ms":0.021}`) instead of bare addresses. */
  readonly json: boolean;
  /** Most addresses probed at once (default 1024). */
  readonly inFlight?: number;
}

/** Where the command writes and what can stop it. */
export interface SweepCommandIo {
  /** Alive hosts. */
  readonly stdout: { write(chunk: string): unknown };
  /** Summary, progress bar and errors. */
  readonly stderr: { write(chunk: string): unknown };
  /** True when stderr is a terminal: draw a progress bar. */
  readonly isTTY: boolean;
  /** Aborts the sweep (SIGINT/SIGTERM); the partial summary is still printed. */
  readonly signal?: AbortSignal;
  /** Time source (tests pass a FakeClock). */
  readonly clock?: Clock;
  /** Logger for engine/sweep lifecycle lines (default: none). */
  readonly logger?: Logger;
  /** Probe with this instead of opening the ICMP engine (tests). */
  readonly pinger?: Pinger;
  /** Socket factory for the engine (tests); default: the native socket, raw when allowed, else datagram. */
  readonly openSocket?: IcmpSocketFactory;
}

/** Exit codes of {@link runSweepCommand}. */
export const SWEEP_EXIT = {
  /** The sweep completed (whatever the number of alive hosts). */
  ok: 0,
  /** Runtime failure: no ICMP permission, socket error. */
  failure: 1,
  /** Usage error: bad CIDR or option. */
  usage: 2,
  /** Interrupted by the signal; the partial summary was printed. */
  interrupted: 130,
} as const;

/** Raw commander values of `netscan sweep` (strings as typed by the user). */
export interface SweepCommandArgv {
  /** `--exclude`, repeatable or comma-separated. */
  readonly exclude?: string | readonly string[];
  /** `--rate PPS`. */
  readonly rate?: string;
  /** `--timeout DUR` (Go duration syntax, e.g. `500ms`, `1s`). */
  readonly timeout?: string;
  /** `--retries N`. */
  readonly retries?: string;
  /** `--in-flight N`. */
  readonly inFlight?: string;
  /** `--json`. */
  readonly json?: boolean;
}

/**
 * Validates the raw argv of `netscan sweep` into {@link SweepCommandOptions}. Throws NetscanError
 * ERR_USAGE listing every problem, one per line.
 */
export function parseSweepCommandArgs(cidrs: readonly string[], argv: SweepCommandArgv): SweepCommandOptions {
  const problems: string[] = [];
  const split = (v: string | readonly string[] | undefined): string[] =>
    (v === undefined ? [] : typeof v === 'string' ? [v] : [...v]).flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  const targets = split(cidrs);
  const exclude = split(argv.exclude);
  if (targets.length === 0) problems.push('at least one CIDR is required');
  for (const c of [...targets, ...exclude]) {
    if (!parseCidr(c, { allowBareAddress: true })) problems.push(`invalid CIDR notation: ${c}`);
  }
  const number = (name: string, text: string | undefined, fallback: number, ok: (n: number) => boolean, rule: string): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (text.trim() === '' || !ok(n)) {
      problems.push(`--${name} must be ${rule}, got ${JSON.stringify(text)}`);
      return fallback;
    }
    return n;
  };
  const ratePps = number('rate', argv.rate, defaultSweeperOptions.ratePps, (n) => Number.isFinite(n) && n > 0, 'a number > 0');
  const retries = number('retries', argv.retries, defaultSweeperOptions.retries, (n) => Number.isInteger(n) && n >= 0 && n <= 100, 'an integer 0..100');
  const inFlight = number('in-flight', argv.inFlight, defaultSweeperOptions.maxInFlight, (n) => Number.isInteger(n) && n >= 1 && n <= 60000, 'an integer 1..60000');
  let timeoutMs = defaultSweeperOptions.timeoutMs;
  if (argv.timeout !== undefined) {
    try {
      timeoutMs = parseDuration(argv.timeout);
      if (!(timeoutMs > 0)) problems.push(`--timeout must be > 0, got ${JSON.stringify(argv.timeout)}`);
    } catch (err) {
      problems.push(`--timeout: ${errorMessage(err)}`);
    }
  }
  if (problems.length > 0) throw new NetscanError('ERR_USAGE', problems.join('\n'), { stage: 'sweep' });
  return { cidrs: targets, exclude, ratePps, timeoutMs, retries, json: argv.json === true, inFlight };
}

/** Runs the sweep and returns the exit code ({@link SWEEP_EXIT}); never throws for expected failures. */
export async function runSweepCommand(opts: SweepCommandOptions, io: SweepCommandIo): Promise<number> {
  const clock = io.clock ?? systemClock;
  const bad = [...opts.cidrs, ...opts.exclude].filter((c) => !parseCidr(c, { allowBareAddress: true }));
  if (opts.cidrs.length === 0 || bad.length > 0) {
    io.stderr.write(`netscan: ${bad.length > 0 ? `invalid CIDR notation: ${bad.join(', ')}` : 'at least one CIDR is required'}\n`);
    return SWEEP_EXIT.usage;
  }
  const inFlight = opts.inFlight ?? defaultSweeperOptions.maxInFlight;
  let engine: IcmpEngine | undefined;
  let pinger = io.pinger;
  if (!pinger) {
    engine = new IcmpEngine({
      clock,
      logger: io.logger,
      maxInFlight: Math.min(60000, Math.max(inFlight, 1024)),
      // Raw socket when allowed, else datagram; refused both ways, the advice names both fixes.
      openSocket: io.openSocket ?? new IcmpSocketOpener({ open: openNativeIcmpSocket, logger: io.logger }).open,
    });
    try {
      await engine.start();
    } catch (err) {
      io.stderr.write(`netscan: ${errorMessage(err)}\n`);
      return SWEEP_EXIT.failure;
    }
    pinger = engine;
  }

  const sweeper = new Sweeper({
    pinger, clock, logger: io.logger, ratePps: opts.ratePps, maxInFlight: inFlight, timeoutMs: opts.timeoutMs, retries: opts.retries,
  });
  // On a terminal every line shows at once; into a pipe they go in large chunks.
  const out = new LineBuffer(io.stdout, io.isTTY ? 0 : 65536);
  const bar = io.isTTY ? new ProgressBar(io.stderr, clock, () => sweeper.progress()) : undefined;
  if (io.isTTY) {
    const total = AddressSet.fromCidrs(
      opts.cidrs.map((c) => parseCidr(c, { allowBareAddress: true })!),
      opts.exclude.map((c) => parseCidr(c, { allowBareAddress: true })!),
    ).size;
    io.stderr.write(`netscan: sweeping ${total} addresses at up to ${opts.ratePps} pps\n`);
  }
  let summary: SweepSummary | undefined;
  let failure: unknown;
  try {
    bar?.start();
    summary = await sweeper.sweep(
      { cidrs: opts.cidrs, exclude: opts.exclude },
      (h) => {
        bar?.clear();
        out.push(opts.json ? `${JSON.stringify({ ip: h.ip, rtt_ms: Math.round(h.rttMs * 1000) / 1000 })}\n` : `${h.ip}\n`);
      },
      io.signal,
    );
  } catch (err) {
    failure = err;
  } finally {
    bar?.stop();
    out.flush();
    await engine?.stop();
  }
  if (failure !== undefined || !summary) {
    io.stderr.write(`netscan: sweep failed: ${errorMessage(failure)}\n`);
    return failure instanceof NetscanError && (failure.code === 'ERR_CONFIG' || failure.code === 'ERR_USAGE') ? SWEEP_EXIT.usage : SWEEP_EXIT.failure;
  }
  io.stderr.write(formatSummary(summary, opts.json));
  return summary.aborted ? SWEEP_EXIT.interrupted : SWEEP_EXIT.ok;
}

/** The stderr summary: `scanned 254, alive 12, elapsed 1.234 s, rate 206 pps` or one JSON object with --json. */
export function formatSummary(s: SweepSummary, json: boolean): string {
  const elapsedS = s.elapsedMs / 1000;
  if (json) {
    return `${JSON.stringify({ scanned: s.scanned, total: s.total, alive: s.alive, probes_sent: s.probesSent, elapsed_ms: s.elapsedMs, rate_pps: Math.round(s.ratePps), interrupted: s.aborted })}\n`;
  }
  return `scanned ${s.scanned}${s.scanned < s.total ? ` of ${s.total}` : ''}, alive ${s.alive}, elapsed ${elapsedS.toFixed(3)} s, rate ${Math.round(s.ratePps)} pps${s.aborted ? ' (interrupted)' : ''}\n`;
}

/** Batches stdout writes (a /16 can print 65k lines) into chunks of at least `flushBytes`. */
class LineBuffer {
  readonly #out: { write(chunk: string): unknown };
  readonly #flushBytes: number;
  #pending: string[] = [];
  #bytes = 0;
  constructor(out: { write(chunk: string): unknown }, flushBytes: number) {
    this.#out = out;
    this.#flushBytes = flushBytes;
  }
  push(line: string): void {
    this.#pending.push(line);
    this.#bytes += line.length;
    if (this.#bytes >= this.#flushBytes) this.flush();
  }
  flush(): void {
    if (this.#pending.length === 0) return;
    this.#out.write(this.#pending.join(''));
    this.#pending = [];
    this.#bytes = 0;
  }
}

/** A one-line progress bar on a terminal, redrawn every 200 ms. */
class ProgressBar {
  readonly #err: { write(chunk: string): unknown };
  readonly #clock: Clock;
  readonly #progress: () => { total: number; scanned: number; alive: number } | undefined;
  #timer: TimerHandle | undefined;
  #drawn = false;
  #running = false;
  constructor(err: { write(chunk: string): unknown }, clock: Clock, progress: () => { total: number; scanned: number; alive: number } | undefined) {
    this.#err = err;
    this.#clock = clock;
    this.#progress = progress;
  }
  start(): void {
    this.#running = true;
    this.#schedule();
  }
  stop(): void {
    this.#running = false;
    this.#timer?.cancel();
    this.clear();
  }
  clear(): void {
    if (this.#drawn) this.#err.write('\r\x1b[K');
    this.#drawn = false;
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
    this.#err.write(`\r\x1b[K[${'#'.repeat(done)}${'-'.repeat(width - done)}] ${pct}% ${p.scanned}/${p.total} alive ${p.alive}`);
    this.#drawn = true;
  }
}
