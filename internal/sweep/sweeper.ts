import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { systemClock, type Clock } from '../clock/clock.js';
import { NetscanError } from '../errors/errors.js';
import { OptionChecks } from '../errors/option-checks.js';
import type { Logger } from '../log/log.js';
import type { PingFailureReason, PingOutcome, Pinger } from '../model/ping.js';
import { formatIpv6 } from '../net/ipv6.js';
import { TokenBucket } from '../ratelimit/token-bucket.js';
import { formatIpv4 } from './cidr.js';
import { IndexPermutation } from './permutation.js';
import { buildSweepSpace, parseTarget, type AddressSpec, type SweepSpace } from './targets.js';

/** Options for {@link Sweeper}. */
export interface SweeperOptions {
  /** The ICMP engine (or a fake). */
  pinger: Pinger;
  /** Time source for pacing and the summary's elapsed time. */
  clock: Clock;
  /** Logger for lifecycle lines (one per sweep), never per address. */
  logger: Logger | undefined;
  /** Echo requests per second, retries included; separate from the monitoring budget (> 0). */
  ratePps: number;
  /** Most addresses being probed at once, separate from the monitoring cap (>= 1). */
  maxInFlight: number;
  /** Wait for each reply, in milliseconds (> 0). */
  timeoutMs: number;
  /** Extra echo requests to an address that did not answer (0 = one probe per address). */
  retries: number;
  /** Seed of the address order; undefined draws a new random order per sweep. */
  seed: number | undefined;
  /**
   * Count mode (fping -c): exactly this many echo requests to every address, answered or not, and
   * `retries` is ignored. Undefined: discovery mode, where an address is done at its first reply.
   */
  count: number | undefined;
  /** Count mode: time from one request to the next to the same address, in milliseconds (fping -p). */
  periodMs: number;
}

/** Defaults for {@link SweeperOptions} (pinger must be given). */
export const defaultSweeperOptions: Omit<SweeperOptions, 'pinger'> = {
  clock: systemClock,
  logger: undefined,
  ratePps: 1000,
  maxInFlight: 64,
  timeoutMs: 1000,
  retries: 1,
  seed: undefined,
  count: undefined,
  periodMs: 1000,
};

/** What to sweep. */
export interface SweepTargets {
  /**
   * Networks and addresses: IPv4 `a.b.c.d/n`, IPv6 prefixes up to /112 (`fd00::/120`), bare
   * addresses of either family, and ranges `first-last`. Overlaps are probed once.
   */
  readonly cidrs: readonly string[];
  /** Networks, addresses or ranges never probed (IPv4 network and broadcast addresses included). */
  readonly exclude?: readonly string[];
  /** IPv4 addresses (unsigned 32-bit) this agent owns, e.g. its shard; others are skipped unprobed. */
  readonly accept?: (ip: number) => boolean;
  /** IPv6 addresses (16 bytes, valid only during the call) this agent owns; others are skipped unprobed. */
  readonly acceptIpv6?: (bytes: Uint8Array) => boolean;
}

/** A host that answered. */
export interface AliveHost {
  /** Canonical address text: dotted IPv4, or RFC 5952 IPv6. */
  readonly ip: string;
  /** Round-trip time of the answering probe, in milliseconds. */
  readonly rttMs: number;
}

/** An address none of whose probes was answered. */
export interface UnreachableHost {
  /** Canonical address text. */
  readonly ip: string;
  /** Why the last probe failed. */
  readonly reason: PingFailureReason;
  /** The engine's detail for the last failure (e.g. `host unreachable (from 192.0.2.1)`), if any. */
  readonly detail?: string;
}

/** What a sweep reports while it runs; every method is optional and may not throw (throws are logged). */
export interface SweepListener {
  /** An address answered: once per address, at its first reply. */
  alive?(host: AliveHost): void;
  /** An address is done and never answered. */
  unreachable?(host: UnreachableHost): void;
  /** Every probe's outcome; `seq` counts the requests to this address from 0. */
  probe?(outcome: PingOutcome, seq: number): void;
}

/** Progress of the running sweep. */
export interface SweepProgress {
  /** Addresses in the target set. */
  readonly total: number;
  /** Addresses whose probing has finished (answered or given up). */
  readonly scanned: number;
  /** Addresses that answered. */
  readonly alive: number;
}

/** The result of one sweep. */
export interface SweepSummary extends SweepProgress {
  /** Echo requests sent, retries included. */
  readonly probesSent: number;
  /** Wall time from start to the last probe settling, in milliseconds. */
  readonly elapsedMs: number;
  /** Achieved echo requests per second (probesSent / elapsed). */
  readonly ratePps: number;
  /** True when stop() or the caller's signal cut the sweep short. */
  readonly aborted: boolean;
  /** True when the call did nothing because a sweep was already running (sweeps never overlap). */
  readonly skipped: boolean;
  /** Addresses skipped unprobed because `accept` refused them (another shard's); counted in `scanned`. */
  readonly filtered: number;
}

/**
 * The discovery sweep: probes every address of a set of networks once (plus retries), in a random
 * order across all networks of both families, paced by its own token bucket and in-flight cap,
 * and reports each host that answers. Addresses are generated on demand (a /8 costs a few numbers
 * of memory), overlapping networks are probed once, `exclude` is honoured, and below /31 the IPv4
 * network and broadcast addresses are skipped (as Go netscan did, docs/go-parity.md, without its silent empty result
 * for networks larger than /16). IPv4 addresses stay unsigned 32-bit integers until they are
 * formatted; IPv6 ones are a 16-byte base plus an offset. In count mode (`count`) every address
 * gets a fixed number of requests, as fping -c does.
 */
export class Sweeper {
  readonly #opts: SweeperOptions;
  #controller: AbortController | undefined;
  #current: Promise<SweepSummary> | undefined;
  #progress: { total: number; scanned: number; alive: number } | undefined;
  #stopped = false;
  #skipped = 0;

  constructor(opts: Partial<SweeperOptions> & Pick<SweeperOptions, 'pinger'>) {
    this.#opts = { ...defaultSweeperOptions, ...opts };
  }

  /** Allows sweeps again after stop(); idempotent. */
  async start(): Promise<void> {
    this.#stopped = false;
  }

  /** Aborts the running sweep and waits for its probes to settle; idempotent, safe before start(). */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#controller?.abort(new NetscanError('ERR_INTERNAL', 'sweep stopped', { stage: 'sweep' }));
    await this.#current?.catch(() => undefined);
  }

  /** True while a sweep runs. */
  get running(): boolean {
    return this.#current !== undefined;
  }

  /** Sweeps that were skipped because one was already running. */
  get skippedSweeps(): number {
    return this.#skipped;
  }

  /** Progress of the running sweep, or undefined when idle. */
  progress(): SweepProgress | undefined {
    return this.#progress && { ...this.#progress };
  }

  /**
   * Sweeps `targets`, calling `listener` (or, given a function, calling it once per answering
   * address). Resolves with the summary; a call while a sweep runs resolves at once with
   * `skipped: true`. Rejects with ERR_CONFIG for an unparsable target or an IPv6 prefix too large
   * to sweep, and with the engine's error if the engine fails mid-sweep.
   */
  sweep(
    targets: SweepTargets,
    listener: SweepListener | ((host: AliveHost) => void) = {},
    signal?: AbortSignal,
  ): Promise<SweepSummary> {
    if (this.#current) {
      this.#skipped++;
      this.#opts.logger?.warn(
        { stage: 'sweep', count: this.#skipped },
        'sweep skipped: the previous sweep is still running',
      );
      return Promise.resolve(emptySummary({ skipped: true }));
    }
    if (this.#stopped || signal?.aborted) return Promise.resolve(emptySummary({ aborted: true }));
    let space: SweepSpace;
    try {
      space = buildSweepSpace(parseAll(targets.cidrs, false), parseAll(targets.exclude ?? [], true));
      validate(this.#opts);
    } catch (err) {
      return Promise.reject(err);
    }
    const controller = new AbortController();
    this.#controller = controller;
    const combined = signal ? AbortSignal.any([controller.signal, signal]) : controller.signal;
    // Every in-flight probe may listen on this signal; thousands is expected, not a leak.
    setMaxListeners(0, combined);
    const on = typeof listener === 'function' ? { alive: listener } : listener;
    const run = this.#run(space, on, combined, targets).finally(() => {
      this.#current = undefined;
      this.#controller = undefined;
      this.#progress = undefined;
    });
    this.#current = run;
    return run;
  }

  async #run(space: SweepSpace, on: SweepListener, signal: AbortSignal, targets: SweepTargets): Promise<SweepSummary> {
    const { pinger, clock, logger, ratePps, maxInFlight, timeoutMs, retries, count, periodMs } = this.#opts;
    const { accept, acceptIpv6 } = targets;
    const v4 = space.ipv4;
    const v6 = space.ipv6;
    const n4 = v4.size;
    const total = space.size;
    const seed = this.#opts.seed ?? randomBytes(4).readUInt32BE(0);
    // One order over both families: indexes below n4 are IPv4, the rest IPv6.
    const order = new IndexPermutation(total, seed);
    const bytes6 = new Uint8Array(16);
    // Batches of ~2 ms of tokens: one timer per batch instead of one per packet, since node
    // timers cannot wait less than 1 ms.
    const batch = Math.max(1, Math.ceil(ratePps / 500));
    const bucket = new TokenBucket({ ratePerSec: ratePps, burst: batch, clock });
    const progress = { total, scanned: 0, alive: 0 };
    this.#progress = progress;
    const startedMs = clock.now();
    let probesSent = 0;
    let filtered = 0;
    let inFlight = 0;
    let next = 0;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const failSweep = (err: unknown): void => {
      failure ??= err;
      this.#controller?.abort(err);
    };
    const settle = (): void => {
      inFlight--;
      progress.scanned++;
      const w = wake;
      wake = undefined;
      w?.();
    };
    const tell = <T>(fn: ((x: T, seq: number) => void) | undefined, x: T, ip: string, seq = 0): void => {
      if (!fn) return;
      try {
        fn.call(on, x, seq);
      } catch (err) {
        logger?.error({ stage: 'sweep', ip, err }, 'sweep listener threw; sweep continues');
      }
    };
    const answered = (ip: string, rttMs: number): void => {
      progress.alive++;
      tell(on.alive, { ip, rttMs }, ip);
    };
    // Never rejects: errors are routed to failSweep, and the slot is always released.
    const probe = async (ip: string): Promise<void> => {
      try {
        let last: PingOutcome | undefined;
        for (let attempt = 0; ; attempt++) {
          probesSent++;
          const outcome = await pinger.ping(ip, { timeoutMs, signal });
          tell(on.probe, outcome, ip, attempt);
          if (outcome.ok) {
            answered(ip, outcome.rttMs);
            return;
          }
          last = outcome;
          // An ICMP unreachable is an answer: the host is not there, asking again will not help.
          if (attempt >= retries || outcome.reason === 'unreachable') break;
          await bucket.take(1, signal);
        }
        if (!signal.aborted) tell(on.unreachable, unreachableHost(ip, last), ip);
      } catch (err) {
        if (!signal.aborted) failSweep(err);
      } finally {
        settle();
      }
    };
    const probeCount = async (ip: string, n: number): Promise<void> => {
      try {
        let ok = false;
        let last: PingOutcome | undefined;
        for (let seq = 0; seq < n; seq++) {
          if (seq > 0) {
            // fping -p: the period runs from one request to the next; a slow answer delays the next request.
            const waitMs = last!.sentAtMs + periodMs - clock.now();
            if (waitMs > 0) await clock.sleep(waitMs, signal);
            await bucket.take(1, signal);
          }
          probesSent++;
          const outcome = await pinger.ping(ip, { timeoutMs, signal });
          tell(on.probe, outcome, ip, seq);
          if (outcome.ok && !ok) {
            ok = true;
            answered(ip, outcome.rttMs);
          }
          last = outcome;
        }
        if (!ok && !signal.aborted) tell(on.unreachable, unreachableHost(ip, last), ip);
      } catch (err) {
        if (!signal.aborted) failSweep(err);
      } finally {
        settle();
      }
    };

    logger?.info({ stage: 'sweep', count: total, rate_pps: ratePps, max_in_flight: maxInFlight }, 'sweep started');
    try {
      while (next < total && !signal.aborted) {
        if (inFlight >= maxInFlight) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          continue;
        }
        const n = Math.min(maxInFlight - inFlight, batch, total - next);
        await bucket.take(n, signal);
        for (let k = 0; k < n && next < total;) {
          const index = order.at(next);
          next++;
          let ip: string;
          if (index < n4) {
            const addr = v4.at(index);
            if (accept && !accept(addr)) {
              filtered++;
              progress.scanned++;
              continue;
            }
            ip = formatIpv4(addr);
          } else {
            v6.bytesAt(index - n4, bytes6);
            if (acceptIpv6 && !acceptIpv6(bytes6)) {
              filtered++;
              progress.scanned++;
              continue;
            }
            ip = formatIpv6(bytes6);
          }
          k++;
          inFlight++;
          void (count === undefined ? probe(ip) : probeCount(ip, count));
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
    while (inFlight > 0)
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    if (failure !== undefined) throw failure;
    const elapsedMs = clock.now() - startedMs;
    const summary: SweepSummary = {
      total,
      scanned: progress.scanned,
      alive: progress.alive,
      probesSent,
      elapsedMs,
      ratePps: elapsedMs > 0 ? (probesSent * 1000) / elapsedMs : 0,
      aborted: signal.aborted,
      skipped: false,
      filtered,
    };
    logger?.info(
      {
        stage: 'sweep',
        total,
        scanned: summary.scanned,
        alive: summary.alive,
        probes_sent: probesSent,
        filtered,
        duration_ms: elapsedMs,
        rate_pps: Math.round(summary.ratePps),
      },
      summary.aborted ? 'sweep aborted' : 'sweep finished',
    );
    return summary;
  }
}

function unreachableHost(ip: string, last: PingOutcome | undefined): UnreachableHost {
  if (!last || last.ok) return { ip, reason: 'timeout' };
  return last.detail === undefined ? { ip, reason: last.reason } : { ip, reason: last.reason, detail: last.detail };
}

function parseAll(texts: readonly string[], exclude: boolean): AddressSpec[] {
  const bad: string[] = [];
  const problems: string[] = [];
  const out: AddressSpec[] = [];
  for (const t of texts) {
    const p = parseTarget(t, { exclude });
    if (p.ok && p.target.family !== 'name') out.push(p.target);
    else if (!p.ok && p.error.startsWith('invalid CIDR notation: ')) bad.push(t);
    else problems.push(p.ok ? `invalid CIDR notation: ${t}` : p.error);
  }
  if (bad.length > 0) problems.unshift(`invalid CIDR notation: ${bad.join(', ')}`);
  if (problems.length > 0) throw new NetscanError('ERR_CONFIG', problems.join('; '), { stage: 'sweep' });
  return out;
}

function validate(o: SweeperOptions): void {
  const c = new OptionChecks('sweep')
    .positive('ratePps', o.ratePps)
    .integer('maxInFlight', o.maxInFlight, 1)
    .positive('timeoutMs', o.timeoutMs)
    .integer('retries', o.retries, 0);
  if (o.count !== undefined) c.integer('count', o.count, 1);
  c.nonNegative('periodMs', o.periodMs).throwIfAny();
}

function emptySummary(flags: { aborted?: boolean; skipped?: boolean }): SweepSummary {
  return {
    total: 0,
    scanned: 0,
    alive: 0,
    probesSent: 0,
    elapsedMs: 0,
    ratePps: 0,
    filtered: 0,
    aborted: flags.aborted ?? false,
    skipped: flags.skipped ?? false,
  };
}
