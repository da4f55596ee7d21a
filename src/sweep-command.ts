/**
 * `netscan sweep [target...]`: a one-shot discovery sweep with fping's habits. Targets are IPv4
 * CIDRs, IPv6 prefixes up to /112, addresses, ranges `first-last` and host names. Alive (or, with
 * -u, unreachable) addresses go to stdout one per line (or one JSON object per line); errors, the
 * count-mode statistics, the summary and an optional progress bar go to stderr. Exit status 0 when
 * a target answered, 1 when none did (fping -x 1) or on a runtime failure, 2 on a usage error.
 */
import { systemClock, type Clock, type TimerHandle } from '../internal/clock/clock.js';
import { NetscanError, errorMessage } from '../internal/errors/errors.js';
import type { IcmpSocketFactory } from '../internal/icmp/icmp-socket.js';
import type { IcmpModeSetting } from '../internal/icmp/open.js';
import type { Logger } from '../internal/log/log.js';
import type { PingOutcome, Pinger } from '../internal/model/ping.js';
import { canonicalIp } from '../internal/net/ipv6.js';
import { parseIpv4 } from '../internal/sweep/cidr.js';
import { parseIpv6BigInt } from '../internal/sweep/cidr6.js';
import { Sweeper, defaultSweeperOptions, type SweepSummary } from '../internal/sweep/sweeper.js';
import { buildSweepSpace, parseTarget, type AddressSpec } from '../internal/sweep/targets.js';
import { parseDuration } from './config/duration.js';

/** Parsed options of `netscan sweep`. */
export interface SweepCommandOptions {
  /** Targets: CIDRs, IPv6 prefixes up to /112, addresses, ranges `first-last`, host names. */
  readonly targets: readonly string[];
  /** Networks, addresses or ranges never probed. */
  readonly exclude: readonly string[];
  /** Echo requests per second, retries included. */
  readonly ratePps: number;
  /** Wait for each reply, in milliseconds. */
  readonly timeoutMs: number;
  /** Extra probes to a silent address (ignored in count mode). */
  readonly retries: number;
  /** One JSON object per printed address (`{"ip":"127.0.0.5","rtt_ms":0.021}`) instead of bare addresses. */
  readonly json: boolean;
  /** Most addresses probed at once (default 1024). */
  readonly inFlight?: number;
  /** Which addresses stdout lists: those that answered (fping -a, default) or those that did not (-u). */
  readonly show?: 'alive' | 'unreachable';
  /** No per-target lines on stdout (fping -q); errors, statistics and the summary still print. */
  readonly quiet?: boolean;
  /** Count mode (fping -c): this many requests per address and per-address statistics on stderr. */
  readonly count?: number;
  /** Count mode: time between two requests to one address, in milliseconds (fping -p; default 1000). */
  readonly periodMs?: number;
  /** Print addresses as answers arrive (default) or sorted by address once the sweep ends. */
  readonly order?: 'arrival' | 'address';
  /** Only this address family (fping -4/-6): host names resolve to it, other targets are usage errors. */
  readonly family?: 4 | 6;
  /** ICMP socket kind: raw, dgram, or auto (default: raw when allowed, else datagram). */
  readonly icmpMode?: IcmpModeSetting;
}

/** Where the command writes and what can stop it. */
export interface SweepCommandIo {
  /** Printed addresses. */
  readonly stdout: { write(chunk: string): unknown };
  /** Errors, statistics, summary and progress bar. */
  readonly stderr: { write(chunk: string): unknown };
  /** True when stderr is a terminal: draw a progress bar. */
  readonly isTTY: boolean;
  /** True when stdout is the same terminal (default: `isTTY`): lines print at once, above the bar. */
  readonly stdoutIsTTY?: boolean;
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
  /** Resolves a host name to addresses (default: the system resolver, `dns.lookup` with `all`). */
  readonly lookup?: (name: string, family: 0 | 4 | 6) => Promise<string[]>;
}

/** Exit codes of {@link runSweepCommand}. */
export const SWEEP_EXIT = {
  /** At least one target answered. */
  ok: 0,
  /** No target answered (as fping -x 1), or a runtime failure: no ICMP permission, socket error. */
  failure: 1,
  /** Usage error: bad target or option. */
  usage: 2,
  /** Interrupted by the signal; the partial summary was printed. */
  interrupted: 130,
} as const;

/**
 * `--in-flight` default. A one-shot sweep of a large range wants more addresses in flight than
 * the agent's background sweep (`icmp_workers`, default 64), which shares the host with monitoring.
 */
const SWEEP_COMMAND_IN_FLIGHT = 1024;

/** Raw commander values of `netscan sweep` (strings as typed by the user). */
export interface SweepCommandArgv {
  /** `--exclude`, repeatable or comma-separated. */
  readonly exclude?: string | readonly string[];
  /** `--rate PPS`. */
  readonly rate?: string;
  /** `-t, --timeout DUR` (Go duration syntax, e.g. `500ms`; a bare number is milliseconds, as in fping). */
  readonly timeout?: string;
  /** `-r, --retries N`. */
  readonly retries?: string;
  /** `--in-flight N`. */
  readonly inFlight?: string;
  /** `--json`. */
  readonly json?: boolean;
  /** `-a, --alive`. */
  readonly alive?: boolean;
  /** `-u, --unreach`. */
  readonly unreach?: boolean;
  /** `-q, --quiet`. */
  readonly quiet?: boolean;
  /** `-c, --count N`. */
  readonly count?: string;
  /** `-p, --period DUR` (a bare number is milliseconds). */
  readonly period?: string;
  /** `--order arrival|address`. */
  readonly order?: string;
  /** `-4, --ipv4`. */
  readonly ipv4?: boolean;
  /** `-6, --ipv6`. */
  readonly ipv6?: boolean;
  /** `--icmp-mode auto|raw|dgram`. */
  readonly icmpMode?: string;
}

/**
 * Splits a target list (a `-f` file or standard input) into targets: one or more per line,
 * blank lines and `#` comments ignored.
 */
export function parseTargetList(text: string): string[] {
  return text.split(/\r?\n/).flatMap((line) => {
    const hash = line.indexOf('#');
    return (hash >= 0 ? line.slice(0, hash) : line).split(/\s+/).filter((w) => w !== '');
  });
}

/**
 * Validates the raw argv of `netscan sweep` into {@link SweepCommandOptions}. Throws NetscanError
 * ERR_USAGE listing every problem, one per line. Host names are checked for syntax only.
 */
export function parseSweepCommandArgs(targetArgs: readonly string[], argv: SweepCommandArgv): SweepCommandOptions {
  const problems: string[] = [];
  const split = (v: string | readonly string[] | undefined): string[] =>
    (v === undefined ? [] : typeof v === 'string' ? [v] : [...v])
      .flatMap((s) => s.split(','))
      .map((s) => s.trim())
      .filter((s) => s !== '');
  const targets = split(targetArgs);
  const exclude = split(argv.exclude);
  if (targets.length === 0) problems.push(NO_TARGETS);
  if (argv.alive && argv.unreach) problems.push('-a and -u exclude each other: give one');
  if (argv.ipv4 && argv.ipv6) problems.push('-4 and -6 exclude each other: give one');
  const family = argv.ipv4 ? 4 : argv.ipv6 ? 6 : undefined;
  problems.push(...targetProblems(targets, exclude, family));
  const number = (
    name: string,
    text: string | undefined,
    fallback: number,
    ok: (n: number) => boolean,
    rule: string,
  ): number => {
    if (text === undefined) return fallback;
    const n = Number(text);
    if (text.trim() === '' || !ok(n)) {
      problems.push(`--${name} must be ${rule}, got ${JSON.stringify(text)}`);
      return fallback;
    }
    return n;
  };
  const ratePps = number(
    'rate',
    argv.rate,
    defaultSweeperOptions.ratePps,
    (n) => Number.isFinite(n) && n > 0,
    'a number > 0',
  );
  const retries = number(
    'retries',
    argv.retries,
    defaultSweeperOptions.retries,
    (n) => Number.isInteger(n) && n >= 0 && n <= 100,
    'an integer 0..100',
  );
  const inFlight = number(
    'in-flight',
    argv.inFlight,
    SWEEP_COMMAND_IN_FLIGHT,
    (n) => Number.isInteger(n) && n >= 1 && n <= 60000,
    'an integer 1..60000',
  );
  const count =
    argv.count === undefined
      ? undefined
      : number('count', argv.count, 1, (n) => Number.isInteger(n) && n >= 1 && n <= 100000, 'an integer 1..100000');
  const duration = (name: string, text: string | undefined, fallback: number, min: number): number => {
    if (text === undefined) return fallback;
    try {
      const ms = /^\s*\d+(\.\d+)?\s*$/.test(text) ? Number(text) : parseDuration(text);
      if (ms >= min) return ms;
      problems.push(`--${name} must be ${min === 0 ? '>= 0' : '> 0'}, got ${JSON.stringify(text)}`);
    } catch (err) {
      problems.push(`--${name}: ${errorMessage(err)}`);
    }
    return fallback;
  };
  const timeoutMs = duration('timeout', argv.timeout, defaultSweeperOptions.timeoutMs, Number.MIN_VALUE);
  const periodMs = duration('period', argv.period, defaultSweeperOptions.periodMs, 0);
  const order = argv.order ?? 'arrival';
  if (order !== 'arrival' && order !== 'address')
    problems.push(`--order must be arrival or address, got ${JSON.stringify(order)}`);
  const icmpMode = argv.icmpMode ?? 'auto';
  if (icmpMode !== 'auto' && icmpMode !== 'raw' && icmpMode !== 'dgram')
    problems.push(`--icmp-mode must be auto, raw or dgram, got ${JSON.stringify(icmpMode)}`);
  if (problems.length > 0) throw new NetscanError('ERR_USAGE', problems.join('\n'), { stage: 'sweep' });
  return {
    targets,
    exclude,
    ratePps,
    timeoutMs,
    retries,
    json: argv.json === true,
    inFlight,
    show: argv.unreach ? 'unreachable' : 'alive',
    quiet: argv.quiet === true,
    periodMs,
    order: order as 'arrival' | 'address',
    ...(count === undefined ? {} : { count }),
    ...(family === undefined ? {} : { family }),
    ...(icmpMode === 'auto' ? {} : { icmpMode: icmpMode as IcmpModeSetting }),
  };
}

const NO_TARGETS = 'no targets: give them as arguments, in a file with -f FILE, or one per line on standard input';

function targetProblems(targets: readonly string[], exclude: readonly string[], family: 4 | 6 | undefined): string[] {
  const problems: string[] = [];
  const check = (text: string, isExclude: boolean): void => {
    const p = parseTarget(text, isExclude ? { exclude: true } : { names: true });
    if (!p.ok) problems.push(p.error);
    else if (!isExclude && family !== undefined && p.target.family !== 'name' && p.target.family !== `ipv${family}`) {
      problems.push(
        `${text}: an ${p.target.family === 'ipv4' ? 'IPv4' : 'IPv6'} target, but -${family} limits the sweep to IPv${family}`,
      );
    }
  };
  for (const t of targets) check(t, false);
  for (const t of exclude) check(t, true);
  return problems;
}

/** What {@link openPinger} hands back: the pinger and how to close it. */
interface OpenedPinger {
  readonly pinger: Pinger;
  stop(): Promise<void>;
}

/** Options of {@link openPinger}. */
interface OpenPingerOptions {
  readonly ipv4: boolean;
  readonly ipv6: readonly string[];
  readonly clock: Clock;
  readonly logger: Logger | undefined;
  readonly maxInFlight: number;
  readonly openSocket: IcmpSocketFactory | undefined;
  readonly mode: IcmpModeSetting;
}

/**
 * Opens the ICMP engines a sweep needs (IPv4, IPv6 or both), loaded only now so that usage errors
 * and `--help` stay fast. Sockets are raw when allowed, else datagram; refused both ways, the
 * error carries the advice naming both fixes.
 */
async function openPinger(o: OpenPingerOptions): Promise<OpenedPinger> {
  const [{ IcmpPinger }, { IcmpSocketOpener }, { openNativeIcmpSocket }] = await Promise.all([
    import('../internal/icmp/pinger.js'),
    import('../internal/icmp/open.js'),
    import('../internal/icmp/native-socket.js'),
  ]);
  const pinger = new IcmpPinger({
    clock: o.clock,
    logger: o.logger,
    // IPv6 targets: open that engine now, so a refusal is reported before the sweep starts.
    eagerIpv6: o.ipv6.length > 0,
    engine: {
      maxInFlight: Math.min(60000, Math.max(o.maxInFlight, 1024)),
      openSocket:
        o.openSocket ?? new IcmpSocketOpener({ mode: o.mode, open: openNativeIcmpSocket, logger: o.logger }).open,
    },
  });
  await pinger.start();
  return { pinger, stop: () => pinger.stop() };
}

/** The system resolver, loaded only when a target is a host name. */
async function systemLookup(name: string, family: 0 | 4 | 6): Promise<string[]> {
  const { lookup } = await import('node:dns/promises');
  return (await lookup(name, { all: true, family })).map((a) => a.address);
}

/** getaddrinfo(3)'s texts (glibc gai_strerror), which fping prints for a name that does not resolve. */
const RESOLVER_TEXT: Readonly<Record<string, string>> = {
  ENOTFOUND: 'Name or service not known',
  EAI_NONAME: 'Name or service not known',
  ENODATA: 'No address associated with hostname',
  EAI_AGAIN: 'Temporary failure in name resolution',
  EAI_FAIL: 'Non-recoverable failure in name resolution',
};

function resolverMessage(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return (typeof code === 'string' ? RESOLVER_TEXT[code] : undefined) ?? errorMessage(err);
}

/** Runs the sweep and returns the exit code ({@link SWEEP_EXIT}); never throws for expected failures. */
export async function runSweepCommand(opts: SweepCommandOptions, io: SweepCommandIo): Promise<number> {
  const clock = io.clock ?? systemClock;
  const problems = opts.targets.length === 0 ? [NO_TARGETS] : targetProblems(opts.targets, opts.exclude, opts.family);
  if (problems.length > 0) {
    for (const p of problems) io.stderr.write(`netscan: ${p}\n`);
    return SWEEP_EXIT.usage;
  }
  const specs: AddressSpec[] = [];
  const names: string[] = [];
  for (const t of opts.targets) {
    const p = parseTarget(t, { names: true });
    if (!p.ok) continue;
    if (p.target.family === 'name') names.push(t);
    else specs.push(p.target);
  }
  const excludeSpecs = opts.exclude
    .map((t) => parseTarget(t, { exclude: true }))
    .flatMap((p) => (p.ok && p.target.family !== 'name' ? [p.target] : []));
  const fromNames = new Map<string, string>();
  if (names.length > 0) {
    const lookup = io.lookup ?? systemLookup;
    const resolved = await Promise.all(
      names.map(async (name) => {
        try {
          return { name, addresses: await lookup(name, opts.family ?? 0) };
        } catch (err) {
          // fping prints the resolver's text and counts the name as unreachable.
          io.stderr.write(`${name}: ${resolverMessage(err)}\n`);
          return { name, addresses: [] };
        }
      }),
    );
    for (const { name, addresses } of resolved) {
      for (const a of addresses) {
        const ip = canonicalIp(a);
        if (ip === undefined) continue;
        const p = parseTarget(ip);
        if (p.ok && p.target.family !== 'name') {
          specs.push(p.target);
          if (!fromNames.has(ip)) fromNames.set(ip, name);
        }
      }
    }
  }
  const space = buildSweepSpace(specs, excludeSpecs);
  const texts = specs.map((s) => s.text);
  const inFlight = opts.inFlight ?? SWEEP_COMMAND_IN_FLIGHT;
  const show = opts.show ?? 'alive';
  const ordered = opts.order === 'address';
  const json = opts.json;

  let opened: OpenedPinger | undefined;
  let pinger = io.pinger;
  if (!pinger && space.size > 0) {
    const ipv6 =
      space.ipv6.size === 0
        ? []
        : specs
            .filter((s) => s.family === 'ipv6')
            .map((s) => (fromNames.has(s.text) ? `${s.text} from ${fromNames.get(s.text)}` : s.text));
    try {
      opened = await openPinger({
        ipv4: space.ipv4.size > 0,
        ipv6,
        clock,
        logger: io.logger,
        maxInFlight: inFlight,
        openSocket: io.openSocket,
        mode: opts.icmpMode ?? 'auto',
      });
    } catch (err) {
      io.stderr.write(`netscan: ${errorMessage(err)}\n`);
      return SWEEP_EXIT.failure;
    }
    pinger = opened.pinger;
  }
  if (!pinger) {
    // Nothing to probe (every name failed to resolve, or everything was excluded): no target answered.
    io.stderr.write(formatSummary(emptySummary(), json));
    return SWEEP_EXIT.failure;
  }

  const sweeper = new Sweeper({
    pinger,
    clock,
    logger: io.logger,
    ratePps: opts.ratePps,
    maxInFlight: inFlight,
    timeoutMs: opts.timeoutMs,
    retries: opts.retries,
    count: opts.count,
    periodMs: opts.periodMs ?? defaultSweeperOptions.periodMs,
  });
  const stdoutIsTTY = io.stdoutIsTTY ?? io.isTTY;
  const bar = io.isTTY ? new ProgressBar(io.stderr, clock, () => sweeper.progress()) : undefined;
  // On a terminal every line shows at once; into a pipe they go in large chunks.
  const screen = new Screen({
    stdout: io.stdout,
    stderr: io.stderr,
    bar,
    barSharesStdout: stdoutIsTTY,
    flushBytes: stdoutIsTTY ? 0 : 65536,
  });
  const sorted: Array<{ key: string; line: string }> = [];
  const print = (ip: string, line: string): void => {
    if (opts.quiet) return;
    if (ordered) sorted.push({ key: addressKey(ip), line });
    else screen.out(line);
  };
  const stats = opts.count === undefined ? undefined : new Map<string, ProbeStats>();
  const reported = new Set<string>();
  const onProbe = (o: PingOutcome): void => {
    if (stats) {
      let s = stats.get(o.ip);
      if (!s) stats.set(o.ip, (s = { sent: 0, received: 0, minMs: Infinity, maxMs: 0, sumMs: 0 }));
      s.sent++;
      if (o.ok) {
        s.received++;
        s.sumMs += o.rttMs;
        if (o.rttMs < s.minMs) s.minMs = o.rttMs;
        if (o.rttMs > s.maxMs) s.maxMs = o.rttMs;
      }
    }
    // Errors are printed once per address, never swallowed: a missing route looks like a dead host otherwise.
    if (!o.ok && o.reason !== 'timeout' && o.reason !== 'agent_overloaded' && !reported.has(o.ip)) {
      reported.add(o.ip);
      screen.err(`${o.ip}: ${failureText(o)}\n`);
    }
  };
  if (io.isTTY) screen.err(`netscan: sweeping ${space.size} addresses at up to ${opts.ratePps} pps\n`);
  let summary: SweepSummary | undefined;
  let failure: unknown;
  try {
    bar?.start();
    summary = await sweeper.sweep(
      { cidrs: texts, exclude: opts.exclude },
      {
        alive: (h) => {
          if (show === 'alive')
            print(
              h.ip,
              json ? `${JSON.stringify({ ip: h.ip, rtt_ms: Math.round(h.rttMs * 1000) / 1000 })}\n` : `${h.ip}\n`,
            );
        },
        unreachable: (h) => {
          if (show === 'unreachable')
            print(h.ip, json ? `${JSON.stringify({ ip: h.ip, reason: h.reason })}\n` : `${h.ip}\n`);
        },
        probe: onProbe,
      },
      io.signal,
    );
  } catch (err) {
    failure = err;
  } finally {
    bar?.stop();
    if (ordered) {
      sorted.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      for (const s of sorted) screen.out(s.line);
    }
    screen.flush();
    await opened?.stop();
  }
  if (failure !== undefined || !summary) {
    io.stderr.write(`netscan: sweep failed: ${errorMessage(failure)}\n`);
    return failure instanceof NetscanError && (failure.code === 'ERR_CONFIG' || failure.code === 'ERR_USAGE')
      ? SWEEP_EXIT.usage
      : SWEEP_EXIT.failure;
  }
  if (stats) io.stderr.write(formatCountStats(stats));
  io.stderr.write(formatSummary(summary, json));
  if (summary.aborted) return SWEEP_EXIT.interrupted;
  return summary.alive > 0 ? SWEEP_EXIT.ok : SWEEP_EXIT.failure;
}

/** What one count-mode address sent and received. */
interface ProbeStats {
  sent: number;
  received: number;
  minMs: number;
  maxMs: number;
  sumMs: number;
}

/**
 * fping -c's per-target lines, in address order, names padded to one width:
 * `127.0.0.1 : xmt/rcv/%loss = 3/3/0%, min/avg/max = 0.053/0.059/0.067`.
 */
export function formatCountStats(
  stats: ReadonlyMap<string, { sent: number; received: number; minMs: number; maxMs: number; sumMs: number }>,
): string {
  const ips = [...stats.keys()]
    .map((ip) => ({ ip, key: addressKey(ip) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((x) => x.ip);
  const width = Math.max(0, ...ips.map((ip) => ip.length));
  let out = '';
  for (const ip of ips) {
    const s = stats.get(ip)!;
    // fping rounds the loss down (integer division).
    const lossPct = s.sent > 0 ? Math.floor(((s.sent - s.received) * 100) / s.sent) : 0;
    out += `${ip.padEnd(width)} : xmt/rcv/%loss = ${s.sent}/${s.received}/${lossPct}%`;
    if (s.received > 0)
      out += `, min/avg/max = ${fpingMs(s.minMs)}/${fpingMs(s.sumMs / s.received)}/${fpingMs(s.maxMs)}`;
    out += '\n';
  }
  return out;
}

/** Milliseconds with three significant digits, as fping prints them (0.053, 1.23, 12.3, 123). */
export function fpingMs(ms: number): string {
  if (ms < 0) return ms.toPrecision(2);
  if (ms < 1) return ms.toFixed(3);
  if (ms < 10) return ms.toFixed(2);
  if (ms < 100) return ms.toFixed(1);
  if (ms < 1_000_000) return ms.toFixed(0);
  return ms.toExponential(3);
}

function failureText(o: Extract<PingOutcome, { ok: false }>): string {
  const detail = o.detail ?? o.reason;
  // An ICMP error names the router that sent it; anything else failed in our own sendto(2).
  if (o.reason === 'unreachable' && /\(from [^)]+\)$/.test(detail)) return detail;
  if (o.reason === 'send_error' || o.reason === 'unreachable') return `error while sending ping: ${detail}`;
  return detail;
}

/** A sort key that orders IPv4 before IPv6, each numerically. */
function addressKey(ip: string): string {
  const v4 = parseIpv4(ip);
  if (v4 !== undefined) return `4${v4.toString(16).padStart(8, '0')}`;
  return `6${(parseIpv6BigInt(ip) ?? 0n).toString(16).padStart(32, '0')}`;
}

function emptySummary(): SweepSummary {
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
interface ScreenOptions {
  readonly stdout: { write(chunk: string): unknown };
  readonly stderr: { write(chunk: string): unknown };
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
class Screen {
  readonly #o: ScreenOptions;
  #pending: string[] = [];
  #bytes = 0;
  constructor(o: ScreenOptions) {
    this.#o = o;
  }
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
  err(line: string): void {
    this.#o.bar?.lift();
    this.#o.stderr.write(line);
    this.#o.bar?.redraw();
  }
  flush(): void {
    if (this.#pending.length === 0) return;
    this.#o.stdout.write(this.#pending.join(''));
    this.#pending = [];
    this.#bytes = 0;
  }
}

/** A one-line progress bar on a terminal, redrawn every 200 ms and after every printed line. */
class ProgressBar {
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
  start(): void {
    this.#running = true;
    this.#schedule();
  }
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
