import type { Logger } from '../log/log.js';
import type { BreakerState } from '../model/device.js';
import type { PingOutcome } from '../model/ping.js';
import type { Point } from '../model/point.js';
import type { ResultHandler } from './probe-codec.js';
import { relayProbeLog } from './probe-thread-log.js';
import type { ProbeThreadDeps } from './probe-thread.js';
import { pingOutcome, rawPingPoint, takesRawPings, type PingRecord, type RawPing } from './raw-ping.js';

/**
 * Where the probe thread's results land on the main thread: points to the sink, breaker updates
 * to the store, outcomes to the observer and the RTT histogram, log lines to the logger. Every
 * call is guarded as the scheduler guards it on the main thread (a throw here would end the
 * batch's decoding and, with it, the string table): failures are counted and logged at the
 * first and every 10,000th. A probe's run of records (breaker success, raw point, outcome) comes
 * as one record: its point goes to a sink that takes raw pings without a Point being built first,
 * and its outcome object is built only for an observer.
 */
export class ProbeResults {
  readonly #deps: ProbeThreadDeps;
  readonly #log: Logger;
  /** Writes a raw ping: the sink's own way, or its Point. */
  readonly #writeRaw: (r: RawPing) => number;
  /** Devices removed from the current thread whose `removed` has not come back yet (a crash would lose it). */
  readonly #unconfirmedRemovals = new Set<string>();
  /** Points the sink refused (its count). */
  drops = 0;
  /** Sink calls that threw. */
  sinkErrors = 0;
  #stateErrors = 0;
  #observerErrors = 0;
  /** Breaker records of the current thread applied to the store (an add's seed is the store as of these). */
  breakerApplied = 0;
  /** The decoder's callbacks. */
  readonly handler: ResultHandler;

  constructor(deps: ProbeThreadDeps, log: Logger) {
    this.#deps = deps;
    this.#log = log;
    const sink = deps.sink;
    this.#writeRaw = takesRawPings(sink) ? (r) => sink.writeRawPing(r) : (r) => sink.write(rawPingPoint(r));
    this.handler = {
      ping: (r) => this.#ping(r),
      point: (p) => this.#write(p),
      probed: (o) => this.#guardObserver(o.ip, () => this.#probed(o)),
      suspended: (ip) => this.#guardObserver(ip, () => deps.observer?.suspended(ip)),
      removed: (ip) => {
        this.#unconfirmedRemovals.delete(ip);
        this.#guardObserver(ip, () => deps.observer?.removed(ip));
      },
      breakerSuccess: (ip) => {
        this.breakerApplied++;
        this.#guardState(ip, () => deps.state.recordPingSuccess(ip));
      },
      breakerFailure: (ip, fails, backoffMs) => {
        this.breakerApplied++;
        this.#guardState(ip, () => deps.state.recordPingFailure(ip, fails, backoffMs));
      },
      log: (line) => relayProbeLog(deps.logger, log, line),
    };
  }

  /** The store's breaker for `ip`, to seed the thread's copy; a store that cannot say gives undefined (counted). */
  storeBreaker(ip: string): BreakerState | undefined {
    return this.#guardState<BreakerState | undefined>(ip, () => this.#deps.state.get(ip)?.ping);
  }

  /** `ip` was sent to the thread to remove; its `removed` is due back. */
  removalSent(ip: string): void {
    this.#unconfirmedRemovals.add(ip);
  }

  /** `ip` was removed with no thread to tell: reported now. */
  removedNow(ip: string): void {
    this.#guardObserver(ip, () => this.#deps.observer?.removed(ip));
  }

  /** The thread ended: removals it never answered are reported here, as the scheduler would have. */
  threadEnded(): void {
    for (const ip of this.#unconfirmedRemovals) this.removedNow(ip);
    this.#unconfirmedRemovals.clear();
  }

  #write(p: Point): void {
    try {
      const dropped = this.#deps.sink.write(p);
      if (dropped > 0) this.drops += dropped;
    } catch (err) {
      this.#sinkFailed(err);
    }
  }

  #sinkFailed(err: unknown): void {
    this.sinkErrors++;
    if (this.sinkErrors === 1 || this.sinkErrors % 10_000 === 0)
      this.#log.error({ err, count: this.sinkErrors }, 'point sink write failed; point lost');
  }

  /** A probe's run of records, in order; each guarded as its own call is. */
  #ping(r: Readonly<PingRecord>): void {
    const ip = r.ip;
    if (r.breakerSuccess) {
      this.breakerApplied++;
      try {
        this.#deps.state.recordPingSuccess(ip);
      } catch (err) {
        this.#stateFailed(ip, err);
      }
    }
    if (r.point) {
      try {
        const dropped = this.#writeRaw(r);
        if (dropped > 0) this.drops += dropped;
      } catch (err) {
        this.#sinkFailed(err);
      }
    }
    if (!r.probed) return;
    try {
      if (r.ok) this.#deps.rtt?.(r.rttMs);
      this.#deps.observer?.probed(pingOutcome(r));
    } catch (err) {
      this.#observerFailed(ip, err);
    }
  }

  #probed(o: PingOutcome): void {
    if (o.ok) this.#deps.rtt?.(o.rttMs);
    this.#deps.observer?.probed(o);
  }

  #guardObserver(ip: string, call: () => void): void {
    try {
      call();
    } catch (err) {
      this.#observerFailed(ip, err);
    }
  }

  #observerFailed(ip: string, err: unknown): void {
    this.#observerErrors++;
    if (this.#observerErrors === 1 || this.#observerErrors % 10_000 === 0)
      this.#log.error({ err, ip, count: this.#observerErrors }, 'recording a ping result failed');
  }

  #guardState<T>(ip: string, call: () => T): T | undefined {
    try {
      return call();
    } catch (err) {
      this.#stateFailed(ip, err);
      return undefined;
    }
  }

  #stateFailed(ip: string, err: unknown): void {
    this.#stateErrors++;
    if (this.#stateErrors === 1 || this.#stateErrors % 10_000 === 0)
      this.#log.error({ err, ip, count: this.#stateErrors }, 'state manager call failed');
  }
}
