/**
 * The argv of `netscan sweep`: commander's raw strings checked and turned into
 * {@link SweepCommandOptions}, every problem reported at once.
 */
import { NetscanError, errorMessage } from '../internal/errors/errors.js';
import type { IcmpModeSetting } from '../internal/icmp/open.js';
import { defaultSweeperOptions } from '../internal/sweep/sweeper.js';
import { parseDuration } from './config/duration.js';
import { NO_TARGETS, targetProblems } from './sweep-targets.js';

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

/**
 * `--in-flight` default. A one-shot sweep of a large range wants more addresses in flight than
 * the agent's background sweep (`icmp_workers`, default 64), which shares the host with monitoring.
 */
export const SWEEP_COMMAND_IN_FLIGHT = 1024;

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
