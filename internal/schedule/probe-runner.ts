import { setMaxListeners } from 'node:events';
import type { Clock } from '../clock/clock.js';
import { errorMessage, hasCode } from '../errors/errors.js';
import { hasProbeSink, type ProbeSink, type ProbeSinkPinger } from '../icmp/engine-completions.js';
import type { LimitedErrorLog } from '../log/log-limiter.js';
import type { Logger } from '../log/log.js';
import type { PingFailureReason, PingOptions, PingOutcome, Pinger } from '../model/ping.js';
import { pingPoint } from '../model/points.js';
import type { PingBreaker } from './breaker.js';
import type { GuardedSink } from './guarded-sink.js';
import type { PingSchedulerOptions } from './options.js';
import { RecentSamples } from './quantile.js';
import type { StallMonitor } from './stall-monitor.js';
import type { IntervalSendLag } from './stats.js';
import type { SummaryWindows, WindowedDevice } from './summary-windows.js';

/** The probe part of a device's schedule, as {@link ProbeRunner} keeps it. */
export interface ProbeDevice extends WindowedDevice {
  readonly ip: string;
  /** A probe is outstanding. */
  inFlight: boolean;
  /** The device lost its schedule while a probe was in flight; it goes when the probe settles. */
  removed: boolean;
  /** Slot served by the probe in flight. */
  probeSlotMs: number;
  /** When the probe in flight was handed to the pinger, ms since the epoch. */
  probeDispatchMs: number;
  /** Generation of the latest probe; a settlement carrying an older one (an abandoned probe) is ignored. */
  probeGen: number;
}

/** Collaborators of {@link ProbeRunner}. */
export interface ProbeRunnerDeps<E extends ProbeDevice> {
  clock: Clock;
  /** The ICMP engine. */
  pinger: Pinger;
  /** Logger of the scheduler. */
  log: Logger;
  /** Rate-limited error log of the scheduler. */
  errors: LimitedErrorLog;
  /** Where `ping` points go. */
  sink: GuardedSink;
  /** Fed every failure that is the host's, and every success. */
  breaker: PingBreaker;
  /** Fed every probe's result. */
  windows: SummaryWindows;
  /** Tells whether a timeout was the agent's fault (a stall while the probe was out). */
  stalls: StallMonitor;
  /** A probe of a still-scheduled device was recorded as `outcome`. */
  probed(outcome: PingOutcome): void;
  /** The last probe of a removed device was recorded: the device leaves for good. */
  finalize(e: E): void;
}

/** Options the runner reads. */
type ProbeOptions = Pick<
  PingSchedulerOptions,
  'timeoutMs' | 'rawPoints' | 'failedRttZero' | 'lateSendToleranceMs' | 'overloadThresholdMs'
>;

/** True for a PingOutcome about `ip` (a fulfilment), false for anything else (a rejection reason). */
function isOutcome(v: unknown, ip: string): v is PingOutcome {
  return (
    typeof v === 'object' &&
    v !== null &&
    typeof (v as { ok?: unknown }).ok === 'boolean' &&
    (v as { ip?: unknown }).ip === ip
  );
}

/**
 * Runs the scheduler's probes and records what they found: hands each to the pinger, gives up on
 * one the pinger never settles, and turns every result into send-lag figures, the device's summary
 * window, the breaker and a `ping` point. A timeout during an agent stall becomes `agent_overloaded`.
 */
export class ProbeRunner<E extends ProbeDevice> {
  readonly #deps: ProbeRunnerDeps<E>;
  #opts: ProbeOptions;
  readonly #abort = new AbortController();
  /** What every probe is sent with (one object, rebuilt when the options change). */
  #pingOpts: PingOptions;
  /** The pinger, when it completes probes into a sink: then no promise or closure is made per probe. */
  readonly #sinkPinger: ProbeSinkPinger | undefined;
  /** Where the sink pinger completes probes (one object, rebuilt when the options change). */
  #sink: ProbeSink<E>;
  #stopping = false;
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #sent = 0;
  #replies = 0;
  #failures: Record<PingFailureReason, number> = {
    timeout: 0,
    unreachable: 0,
    send_error: 0,
    agent_overloaded: 0,
    agent_error: 0,
    dns: 0,
  };
  #lateSends = 0;
  #hung = 0;
  readonly #lags = new RecentSamples(8192);
  /** Send lags since the last takeInterval(). */
  readonly #intervalLags = new RecentSamples(8192);
  #intervalLagMaxMs = Number.NaN;

  constructor(deps: ProbeRunnerDeps<E>, opts: ProbeOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.#pingOpts = Object.freeze({ timeoutMs: opts.timeoutMs, signal: this.#abort.signal });
    this.#sinkPinger = hasProbeSink(deps.pinger) ? deps.pinger : undefined;
    this.#sink = this.#newSink(opts.timeoutMs);
    setMaxListeners(0, this.#abort.signal);
  }

  #newSink(timeoutMs: number): ProbeSink<E> {
    const settle = (e: E, gen: number, v: unknown): void => this.#settle(e, gen, v);
    return Object.freeze({ timeoutMs, signal: this.#abort.signal, settled: settle, rejected: settle });
  }

  /** Applies new options; probes in flight keep the timeout they were sent with. */
  configure(opts: ProbeOptions): void {
    this.#opts = opts;
    this.#pingOpts = Object.freeze({ timeoutMs: opts.timeoutMs, signal: this.#abort.signal });
    this.#sink = this.#newSink(opts.timeoutMs);
  }

  /** Probes in flight. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Probes started. */
  get sentTotal(): number {
    return this.#sent;
  }

  /** Replies received. */
  get repliesTotal(): number {
    return this.#replies;
  }

  /** Failed probes per reason (a copy). */
  get failuresByReason(): Record<PingFailureReason, number> {
    return { ...this.#failures };
  }

  /** Probes sent more than `lateSendToleranceMs` after their slot. */
  get lateSendsTotal(): number {
    return this.#lateSends;
  }

  /** Probes the pinger never settled. */
  get hungTotal(): number {
    return this.#hung;
  }

  /** Send-lag quantile `q` over the last 8192 probes, ms. */
  lagQuantile(q: number): number {
    return this.#lags.quantile(q);
  }

  /** Largest send lag over the last 8192 probes, ms. */
  lagMax(): number {
    return this.#lags.max();
  }

  /** Send-lag figures since the last {@link takeInterval}. */
  intervalFigures(): IntervalSendLag {
    return {
      sends: this.#intervalLags.total,
      sendLagP99Ms: this.#intervalLags.quantile(0.99),
      sendLagMaxMs: this.#intervalLagMaxMs,
    };
  }

  /** {@link intervalFigures}, then starts a new interval. */
  takeInterval(): IntervalSendLag {
    const out = this.intervalFigures();
    this.#intervalLags.clear();
    this.#intervalLagMaxMs = Number.NaN;
    return out;
  }

  /** How long after dispatch a probe the pinger has not settled counts as hung: 2 × timeout + 1 s. */
  hungAfterMs(): number {
    return 2 * this.#opts.timeoutMs + 1000;
  }

  /** Sends the probe for `slot` of `e` (whose next slot the caller has already scheduled). */
  dispatch(e: E, slot: number, now: number): void {
    e.inFlight = true;
    e.probeSlotMs = slot;
    e.probeDispatchMs = now;
    const gen = ++e.probeGen;
    this.#inFlight++;
    this.#sent++;
    const sinkPinger = this.#sinkPinger;
    if (sinkPinger !== undefined) {
      try {
        sinkPinger.probe(e, gen, this.#sink);
      } catch (err) {
        // A sink pinger never throws; if it did, the probe ends as a rejected ping() would.
        queueMicrotask(() => this.#settle(e, gen, err));
      }
      return;
    }
    let p: Promise<PingOutcome>;
    try {
      p = this.#deps.pinger.ping(e.ip, this.#pingOpts);
    } catch (err) {
      p = Promise.reject(err);
    }
    // One handler for both outcomes (it catches everything), so the derived promise never rejects.
    const settled = (v: unknown): void => this.#settle(e, gen, v);
    void p.then(settled, settled);
  }

  /**
   * The pinger never settled this probe (an engine bug): without this watchdog the device would
   * skip every slot forever, monitored in name only (the Go zombie pinger, docs/go-parity.md). Record an
   * agent_error (the host was never judged) and let the device be probed again; the late
   * settlement, if any, is ignored.
   */
  abandon(e: E): void {
    this.#hung++;
    this.#deps.errors.error(
      'hung',
      { ip: e.ip, count: this.#hung },
      'pinger never settled a probe; recorded as agent_error',
    );
    e.probeGen++;
    this.#complete(e, e.probeSlotMs, e.probeDispatchMs, {
      ok: false,
      ip: e.ip,
      reason: 'agent_error',
      sentAtMs: e.probeDispatchMs,
      detail: 'no result from the pinger',
    });
  }

  /**
   * Aborts the probes in flight (their results are discarded) and waits for them, at most
   * timeout + 1 s.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#abort.abort(new Error('ping scheduler stopped'));
    if (this.#inFlight === 0) return;
    const giveUp = new AbortController();
    const drained = new Promise<void>((resolve) => {
      this.#drained = resolve;
    });
    await Promise.race([
      drained,
      this.#deps.clock.sleep(this.#opts.timeoutMs + 1000, giveUp.signal).catch(() => undefined),
    ]);
    giveUp.abort();
    if (this.#inFlight > 0)
      this.#deps.log.warn(
        { count: this.#inFlight },
        'ping probes still in flight after stop; their results are discarded',
      );
  }

  /**
   * Records a settled probe: `v` is the pinger's outcome, or what it rejected with. A Pinger never
   * rejects for network conditions (those are outcomes), so a rejection is the agent's fault, not
   * the host's: `agent_error`. A failed ICMP socket (ERR_ICMP_SOCKET) is logged by the engine;
   * anything else is logged here.
   */
  #settle(e: E, gen: number, v: unknown): void {
    if (gen !== e.probeGen) return;
    const errors = this.#deps.errors;
    try {
      let o: PingOutcome;
      if (isOutcome(v, e.ip)) {
        o = v;
      } else {
        if (!hasCode(v, 'ERR_ICMP_SOCKET'))
          errors.error('pinger', { err: v, ip: e.ip }, 'pinger rejected; recorded as agent_error');
        o = { ok: false, ip: e.ip, reason: 'agent_error', sentAtMs: e.probeDispatchMs, detail: errorMessage(v) };
      }
      this.#complete(e, e.probeSlotMs, e.probeDispatchMs, o);
    } catch (err) {
      errors.error('complete', { err, ip: e.ip }, 'recording a ping result failed');
    }
  }

  /** Turns a probe's outcome into data: send-lag stats, the summary window, the breaker and a `ping` point. */
  #complete(e: E, slot: number, dispatchMs: number, o: PingOutcome): void {
    e.inFlight = false;
    this.#inFlight--;
    if (this.#stopping) {
      if (this.#inFlight === 0) this.#drained?.();
      return;
    }
    const { windows, breaker } = this.#deps;
    const sentAt = Number.isFinite(o.sentAtMs) ? o.sentAtMs : dispatchMs;
    const lag = sentAt - slot;
    this.#lags.add(lag);
    this.#intervalLags.add(lag);
    if (!(lag <= this.#intervalLagMaxMs)) this.#intervalLagMaxMs = lag;
    if (lag > this.#opts.lateSendToleranceMs) this.#lateSends++;
    let result = o;
    if (o.ok) {
      this.#replies++;
      windows.recordReply(e, slot, o.rttMs);
      breaker.recordSuccess(e.ip);
    } else {
      let reason = o.reason;
      if (reason === 'timeout' && this.#overloaded(dispatchMs, sentAt, this.#deps.clock.now())) {
        reason = 'agent_overloaded';
        result = { ...o, reason };
      }
      this.#failures[reason]++;
      if (reason === 'agent_overloaded' || reason === 'agent_error') {
        windows.recordOverloaded(e, slot);
      } else {
        windows.recordLoss(e, slot);
        breaker.recordFailure(e.ip, reason);
      }
    }
    if (this.#opts.rawPoints)
      this.#deps.sink.write(pingPoint(result, { timeMs: sentAt, failedRttZero: this.#opts.failedRttZero }));
    if (e.removed) this.#deps.finalize(e);
    else this.#deps.probed(result);
  }

  #overloaded(dispatchMs: number, sentAtMs: number, nowMs: number): boolean {
    const t = this.#opts.overloadThresholdMs;
    return sentAtMs - dispatchMs >= t || this.#deps.stalls.maxStallMs(dispatchMs, nowMs) >= t;
  }
}
