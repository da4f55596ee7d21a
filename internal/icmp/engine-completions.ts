/**
 * The engine's second way to hand results back: to a sink the caller keeps, instead of a promise
 * per ping. The monitoring scheduler sends tens of thousands of probes a second; a promise, its
 * reaction job and a closure per probe cost more than the matching itself.
 */
import type { Logger } from '../log/log.js';
import type { PingOutcome } from '../model/ping.js';
import type { Probe } from './probe.js';

/** What a probe is sent to: the caller's own object (the scheduler's device entry), handed back with the result. */
export interface ProbeTarget {
  /** The address (IPv4 or IPv6 text); the outcome's `ip` is its canonical text. */
  readonly ip: string;
}

/**
 * Receives the results of probes started with {@link ProbeSinkPinger.probe}. Every probe ends in
 * exactly one call, never inside probe() itself: results are handed over in batches, once the
 * engine's synchronous work (a read, a flush, the timer) is done. The callbacks must not throw
 * (what they throw is logged and the batch goes on).
 */
export interface ProbeSink<T extends ProbeTarget> {
  /** How long to wait for the reply, ms; read when the probe starts. */
  readonly timeoutMs: number;
  /** Aborts the probes started with this sink (they end in {@link rejected} with the signal's reason). */
  readonly signal: AbortSignal | undefined;
  /** The probe of `target` tagged `tag` ended with `outcome` (network conditions are outcomes). */
  settled(target: T, tag: number, outcome: PingOutcome): void;
  /** The probe of `target` tagged `tag` failed as `ping()` would have rejected: engine stopped, socket failed, aborted, invalid target. */
  rejected(target: T, tag: number, err: unknown): void;
}

/** A Pinger that can also complete probes into a {@link ProbeSink} (the ICMP engine and {@link IcmpPinger}). */
export interface ProbeSinkPinger {
  /** Sends one echo request to `target.ip`; its result goes to `sink` with `target` and `tag`. */
  probe<T extends ProbeTarget>(target: T, tag: number, sink: ProbeSink<T>): void;
}

/** True when `pinger` offers {@link ProbeSinkPinger.probe}. */
export function hasProbeSink(pinger: object): pinger is ProbeSinkPinger {
  return typeof (pinger as Partial<ProbeSinkPinger>).probe === 'function';
}

/** Logs what a sink threw for the probe of `ip` (its result may be lost). */
export function logSinkThrew(logger: Logger | undefined, err: unknown, ip: string): void {
  logger?.error({ stage: 'icmp', err, ip }, 'a probe sink threw; the result may be lost');
}

/**
 * Hands ended probes to their promises at once, and to their sinks in batches. Those wait here: filled while the engine reads, flushes or
 * expires, emptied in one microtask (so a sink never runs inside the engine's own work, and a
 * probe() made from a sink cannot nest a read).
 */
export class CompletionQueue {
  #items: Probe[] = [];
  #spare: Probe[] = [];
  #queued = false;
  readonly #logger: Logger | undefined;

  constructor(logger: Logger | undefined) {
    this.#logger = logger;
  }

  /** Completions waiting. */
  get length(): number {
    return this.#items.length;
  }

  /** Hands `outcome` to `p`'s promise, or queues it for `p`'s sink. */
  resolve(p: Probe, outcome: PingOutcome): void {
    if (p.sink === undefined) {
      p.resolve(outcome);
    } else {
      p.outcome = outcome;
      this.#push(p);
    }
  }

  /** Rejects `p`'s promise with `err`, or queues `err` for `p`'s sink. */
  reject(p: Probe, err: unknown): void {
    if (p.sink === undefined) {
      p.reject(err);
    } else {
      p.error = err;
      this.#push(p);
    }
  }

  #push(p: Probe): void {
    this.#items.push(p);
    if (!this.#queued) {
      this.#queued = true;
      queueMicrotask(this.#deliver);
    }
  }

  readonly #deliver = (): void => {
    this.#queued = false;
    const items = this.#items;
    // Completions pushed by a sink while this batch is handed over go to the next microtask.
    this.#items = this.#spare;
    for (let i = 0; i < items.length; i++) {
      const p = items[i]!;
      items[i] = undefined as never;
      const sink = p.sink!;
      const token = p.token!;
      const outcome = p.outcome;
      const err = p.error;
      p.token = p.outcome = p.error = undefined;
      try {
        if (outcome !== undefined) sink.settled(token, p.tag, outcome);
        else sink.rejected(token, p.tag, err);
      } catch (err) {
        logSinkThrew(this.#logger, err, token.ip);
      }
    }
    items.length = 0;
    this.#spare = items;
  };
}
