import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { systemClock, type Clock } from '../clock/clock.js';
import { NetscanError } from '../errors/errors.js';
import type { Logger } from '../log/log.js';
import type { Pinger } from '../model/ping.js';
import { TokenBucket } from '../ratelimit/token-bucket.js';
import { AddressSet, formatIpv4, parseCidr, type Ipv4Cidr } from './cidr.js';
import { IndexPermutation } from './permutation.js';

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
}

/** Defaults for {@link SweeperOptions} (pinger must be given). */
export const defaultSweeperOptions: Omit<SweeperOptions, 'pinger'> = {
  clock: systemClock,
  logger: undefined,
  ratePps: 1000,
  maxInFlight: 1024,
  timeoutMs: 1000,
  retries: 1,
  seed: undefined,
};

/** What to sweep. */
export interface SweepTargets {
  /** Networks as `a.b.c.d/n` (a bare address means /32); overlaps are probed once. */
  readonly cidrs: readonly string[];
  /** Networks never probed, network and broadcast addresses included. */
  readonly exclude?: readonly string[];
  /** Addresses (unsigned 32-bit) this agent owns, e.g. its shard; others are skipped unprobed. */
  readonly accept?: (ip: number) => boolean;
}

/** A host that answered. */
export interface AliveHost {
  /** Dotted IPv4 address. */
  readonly ip: string;
  /** Round-trip time of the answering probe, in milliseconds. */
  readonly rttMs: number;
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
 * The discovery sweep: probes every address of a set of CIDRs once (plus retries), in a random
 * order across all networks, paced by its own token bucket and in-flight cap, and reports each
 * host that answers. Addresses are generated on demand (a /8 costs a few numbers of memory),
 * overlapping networks are probed once, `exclude` is honoured, and below /31 the network and
 * broadcast addresses are skipped (as in Go netscan, docs/go-parity.md "Discovery address rules" — without Go's
 * silent empty result for networks larger than /16).
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
   * Sweeps `targets`, calling `onAlive` once per answering address. Resolves with the summary;
   * a call while a sweep runs resolves at once with `skipped: true`. Rejects with ERR_CONFIG
   * for an unparsable CIDR and with the engine's error if the engine fails mid-sweep.
   */
  sweep(targets: SweepTargets, onAlive: (host: AliveHost) => void = () => {}, signal?: AbortSignal): Promise<SweepSummary> {
    if (this.#current) {
      this.#skipped++;
      this.#opts.logger?.warn({ stage: 'sweep', count: this.#skipped }, 'sweep skipped: the previous sweep is still running');
      return Promise.resolve(emptySummary({ skipped: true }));
    }
    if (this.#stopped || signal?.aborted) return Promise.resolve(emptySummary({ aborted: true }));
    let set: AddressSet;
    try {
      set = AddressSet.fromCidrs(parseAll(targets.cidrs), parseAll(targets.exclude ?? []));
      validate(this.#opts);
    } catch (err) {
      return Promise.reject(err);
    }
    const controller = new AbortController();
    this.#controller = controller;
    const combined = signal ? AbortSignal.any([controller.signal, signal]) : controller.signal;
    // Every in-flight probe may listen on this signal; thousands is expected, not a leak.
    setMaxListeners(0, combined);
    const run = this.#run(set, onAlive, combined, targets.accept).finally(() => {
      this.#current = undefined;
      this.#controller = undefined;
      this.#progress = undefined;
    });
    this.#current = run;
    return run;
  }

  async #run(set: AddressSet, onAlive: (host: AliveHost) => void, signal: AbortSignal, accept?: (ip: number) => boolean): Promise<SweepSummary> {
    const { pinger, clock, logger, ratePps, maxInFlight, timeoutMs, retries } = this.#opts;
    const total = set.size;
    const seed = this.#opts.seed ?? randomBytes(4).readUInt32BE(0);
    const order = new IndexPermutation(total, seed);
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
    // Never rejects: errors are routed to failSweep, and the slot is always released.
    const probe = async (ip: string): Promise<void> => {
      try {
        for (let attempt = 0; ; attempt++) {
          probesSent++;
          const outcome = await pinger.ping(ip, { timeoutMs, signal });
          if (outcome.ok) {
            progress.alive++;
            try {
              onAlive({ ip, rttMs: outcome.rttMs });
            } catch (err) {
              logger?.error({ stage: 'sweep', ip, err }, 'alive-host callback threw; sweep continues');
            }
            return;
          }
          // An ICMP unreachable is an answer: the host is not there, asking again will not help.
          if (attempt >= retries || outcome.reason === 'unreachable') return;
          await bucket.take(1, signal);
        }
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
          await new Promise<void>((resolve) => { wake = resolve; });
          continue;
        }
        const n = Math.min(maxInFlight - inFlight, batch, total - next);
        await bucket.take(n, signal);
        for (let k = 0; k < n && next < total; ) {
          const addr = set.at(order.at(next));
          next++;
          if (accept && !accept(addr)) {
            filtered++;
            progress.scanned++;
            continue;
          }
          k++;
          inFlight++;
          void probe(formatIpv4(addr));
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
    while (inFlight > 0) await new Promise<void>((resolve) => { wake = resolve; });
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
      { stage: 'sweep', total, scanned: summary.scanned, alive: summary.alive, probes_sent: probesSent, filtered, duration_ms: elapsedMs, rate_pps: Math.round(summary.ratePps) },
      summary.aborted ? 'sweep aborted' : 'sweep finished',
    );
    return summary;
  }
}

function parseAll(texts: readonly string[]): Ipv4Cidr[] {
  const bad: string[] = [];
  const out: Ipv4Cidr[] = [];
  for (const t of texts) {
    const c = parseCidr(t, { allowBareAddress: true });
    if (c) out.push(c);
    else bad.push(t);
  }
  if (bad.length > 0) {
    throw new NetscanError('ERR_CONFIG', `invalid CIDR notation: ${bad.join(', ')}`, { stage: 'sweep' });
  }
  return out;
}

function validate(o: SweeperOptions): void {
  const problems: string[] = [];
  if (!(o.ratePps > 0 && Number.isFinite(o.ratePps))) problems.push(`ratePps must be > 0, got ${o.ratePps}`);
  if (!(Number.isInteger(o.maxInFlight) && o.maxInFlight >= 1)) problems.push(`maxInFlight must be an integer >= 1, got ${o.maxInFlight}`);
  if (!(o.timeoutMs > 0 && Number.isFinite(o.timeoutMs))) problems.push(`timeoutMs must be > 0, got ${o.timeoutMs}`);
  if (!(Number.isInteger(o.retries) && o.retries >= 0)) problems.push(`retries must be an integer >= 0, got ${o.retries}`);
  if (problems.length > 0) throw new NetscanError('ERR_CONFIG', problems.join('; '), { stage: 'sweep' });
}

function emptySummary(flags: { aborted?: boolean; skipped?: boolean }): SweepSummary {
  return {
    total: 0, scanned: 0, alive: 0, probesSent: 0, elapsedMs: 0, ratePps: 0, filtered: 0,
    aborted: flags.aborted ?? false, skipped: flags.skipped ?? false,
  };
}
