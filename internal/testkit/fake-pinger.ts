import type { Clock } from '../clock/clock.js';
import type { PingFailureReason, PingOptions, PingOutcome, Pinger } from '../model/ping.js';

/** What the fake answers for one probe. */
export type FakeReply =
  /** A reply after `rttMs`. */
  | { readonly rttMs: number }
  /** A failure; `timeout` resolves after the probe's timeout, other reasons after `afterMs` (default 0). */
  | { readonly reason: PingFailureReason; readonly afterMs?: number }
  /** The send happened `lagMs` after the call, then `then` applies. */
  | { readonly sendLagMs: number; readonly then: FakeReply };

/** Options for {@link FakePinger}. */
export interface FakePingerOptions {
  /** Time source; replies and timeouts are timers on it. */
  clock: Clock;
  /** Decides each probe's outcome (default: a 1 ms reply). */
  respond?: (ip: string, sentAtMs: number) => FakeReply;
  /**
   * `timer` (default): outcomes resolve on the clock after their delay, as a real engine would.
   * `immediate`: outcomes resolve at once with the same values (fast, for hour-long simulations).
   */
  mode?: 'timer' | 'immediate';
  /** Keep every send in `sends` (default false; hour-long runs would hold millions). */
  record?: boolean;
}

/**
 * A Pinger for simulated time. It also checks the scheduler's core promise: it counts every time a
 * probe starts for an IP that already has one in flight (`overlaps`), which must stay 0.
 */
export class FakePinger implements Pinger {
  /** Probes started, total. */
  calls = 0;
  /** Probes started while another probe for the same IP was still in flight. */
  overlaps = 0;
  /** Probes currently in flight. */
  inFlight = 0;
  /** Largest number of probes in flight at once. */
  maxInFlight = 0;

  /** Every send, when `record` is on. */
  readonly sends: Array<{ ip: string; sentAtMs: number }> = [];
  /** Replaceable outcome function. */
  respond: (ip: string, sentAtMs: number) => FakeReply;
  readonly #clock: Clock;
  readonly #immediate: boolean;
  readonly #record: boolean;
  readonly #ips = new Map<string, { calls: number; open: boolean }>();

  constructor(opts: FakePingerOptions) {
    this.#clock = opts.clock;
    this.respond = opts.respond ?? (() => ({ rttMs: 1 }));
    this.#immediate = opts.mode === 'immediate';
    this.#record = opts.record ?? false;
  }

  ping(ip: string, opts: PingOptions): Promise<PingOutcome> {
    this.calls++;
    let rec = this.#ips.get(ip);
    if (rec === undefined) {
      rec = { calls: 0, open: false };
      this.#ips.set(ip, rec);
    }
    rec.calls++;
    if (rec.open) this.overlaps++;
    rec.open = true;
    this.inFlight++;
    if (this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;
    let reply = this.respond(ip, this.#clock.now());
    let lag = 0;
    while ('sendLagMs' in reply) {
      lag += reply.sendLagMs;
      reply = reply.then;
    }
    const sentAtMs = this.#clock.now() + lag;
    if (this.#record) this.sends.push({ ip, sentAtMs });
    const outcome: PingOutcome =
      'rttMs' in reply
        ? { ok: true, ip, rttMs: reply.rttMs, sentAtMs }
        : { ok: false, ip, reason: reply.reason, sentAtMs };
    if (this.#immediate) return Promise.resolve(this.#settle(ip, outcome));
    const settle = (o: PingOutcome): PingOutcome => this.#settle(ip, o);
    const delay =
      lag + ('rttMs' in reply ? reply.rttMs : reply.reason === 'timeout' ? opts.timeoutMs : (reply.afterMs ?? 0));
    return new Promise<PingOutcome>((resolve) => {
      const onAbort = (): void => {
        timer.cancel();
        resolve(settle({ ok: false, ip, reason: 'timeout', sentAtMs, detail: 'aborted' }));
      };
      const timer = this.#clock.setTimeout(() => {
        opts.signal?.removeEventListener('abort', onAbort);
        resolve(settle(outcome));
      }, delay);
      if (opts.signal?.aborted) onAbort();
      else opts.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Probes started for `ip`. */
  callsTo(ip: string): number {
    return this.#ips.get(ip)?.calls ?? 0;
  }

  /** True while a probe for `ip` is in flight. */
  isOpen(ip: string): boolean {
    return this.#ips.get(ip)?.open ?? false;
  }

  #settle(ip: string, o: PingOutcome): PingOutcome {
    const rec = this.#ips.get(ip);
    if (rec !== undefined) rec.open = false;
    this.inFlight--;
    return o;
  }
}
