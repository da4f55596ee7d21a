/**
 * `netscan sweep [target...]`: a one-shot discovery sweep with fping's habits. Targets are IPv4
 * CIDRs, IPv6 prefixes up to /112, addresses, ranges `first-last` and host names. Alive (or, with
 * -u, unreachable) addresses go to stdout one per line (or one JSON object per line); errors, the
 * count-mode statistics, the summary and an optional progress bar go to stderr. Exit status 0 when
 * a target answered, 1 when none did (fping -x 1) or on a runtime failure, 2 on a usage error.
 */
import { systemClock, type Clock } from '../internal/clock/clock.js';
import { NetscanError, errorMessage } from '../internal/errors/errors.js';
import type { IcmpSocketFactory } from '../internal/icmp/icmp-socket.js';
import type { IcmpModeSetting } from '../internal/icmp/open.js';
import type { Logger } from '../internal/log/log.js';
import type { PingOutcome, Pinger } from '../internal/model/ping.js';
import { Sweeper, defaultSweeperOptions, type SweepSummary } from '../internal/sweep/sweeper.js';
import { buildSweepSpace } from '../internal/sweep/targets.js';
import { SWEEP_COMMAND_IN_FLIGHT, type SweepCommandOptions } from './sweep-argv.js';
import { formatCountStats, recordProbe, type ProbeStats } from './sweep-count-stats.js';
import { ProgressBar, Screen, addressKey, emptySummary, failureText, formatSummary } from './sweep-output.js';
import { NO_TARGETS, resolveTargets, targetProblems } from './sweep-targets.js';

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

/** Runs the sweep and returns the exit code ({@link SWEEP_EXIT}); never throws for expected failures. */
export async function runSweepCommand(opts: SweepCommandOptions, io: SweepCommandIo): Promise<number> {
  const clock = io.clock ?? systemClock;
  const problems = opts.targets.length === 0 ? [NO_TARGETS] : targetProblems(opts.targets, opts.exclude, opts.family);
  if (problems.length > 0) {
    for (const p of problems) io.stderr.write(`netscan: ${p}\n`);
    return SWEEP_EXIT.usage;
  }
  const { specs, excludeSpecs, fromNames } = await resolveTargets({
    targets: opts.targets,
    exclude: opts.exclude,
    family: opts.family,
    lookup: io.lookup,
    stderr: io.stderr,
  });
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
    if (stats) recordProbe(stats, o);
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
