import { systemClock, type Clock } from '../clock/clock.js';
import { NetscanError } from '../errors/errors.js';
import { OptionChecks } from '../errors/option-checks.js';
import type { Logger } from '../log/log.js';
import type { PingOptions, PingOutcome, Pinger } from '../model/ping.js';
import { canonicalIp } from '../net/ipv6.js';
import { logSinkThrew, type ProbeSink, type ProbeSinkPinger, type ProbeTarget } from './engine-completions.js';
import { IcmpEngine, type IcmpEngineOptions, type IcmpEngineStats } from './engine.js';
import type { IcmpFamily } from './icmp-socket.js';
import { parseIpv4 } from './ipv4.js';

/** Engine settings shared by both families (everything but the family and the source address). */
export type SharedIcmpEngineOptions = Omit<IcmpEngineOptions, 'family' | 'sourceAddress' | 'clock' | 'logger'>;

/** Options for {@link IcmpPinger}. */
export interface IcmpPingerOptions {
  /** Settings for both engines (socket factory, mode asked, in-flight cap, payload, TOS, TTL, interface, ...). */
  engine: Partial<SharedIcmpEngineOptions>;
  /** Local IPv4 address to send from; undefined lets the kernel choose. */
  sourceIpv4: string | undefined;
  /** Local IPv6 address to send from; undefined lets the kernel choose. */
  sourceIpv6: string | undefined;
  /** Start the IPv6 engine in start() rather than on the first IPv6 target. */
  eagerIpv6: boolean;
  /** After the IPv6 engine failed to start, IPv6 pings are refused for this long before it is tried again, in ms. */
  ipv6RetryMs: number;
  /** Time source for both engines. */
  clock: Clock;
  /** Logger for both engines. */
  logger: Logger | undefined;
}

/** Defaults for {@link IcmpPingerOptions}. */
export const defaultIcmpPingerOptions: IcmpPingerOptions = {
  engine: {},
  sourceIpv4: undefined,
  sourceIpv6: undefined,
  eagerIpv6: false,
  ipv6RetryMs: 30_000,
  clock: systemClock,
  logger: undefined,
};

/** Counters of both engines; `ipv6` is undefined until the IPv6 engine started. */
export interface IcmpPingerStats {
  /** The IPv4 engine's counters (undefined before start()). */
  ipv4: IcmpEngineStats | undefined;
  /** The IPv6 engine's counters (undefined until an IPv6 target was pinged). */
  ipv6: IcmpEngineStats | undefined;
}

/**
 * The process's one {@link Pinger} for both address families: an IPv4 engine started with the
 * pinger, and an IPv6 engine started on the first IPv6 target (most networks have none, and a host
 * without IPv6 must not fail to start for it). Targets are canonicalised (RFC 5952 for IPv6), so
 * the outcome's `ip` is the canonical text whatever spelling the caller used.
 *
 * When the IPv6 engine cannot start (no permission, IPv6 disabled), IPv6 pings reject with its
 * error (ERR_ICMP_PERMISSION / ERR_ICMP_SOCKET) and it is tried again after `ipv6RetryMs`;
 * IPv4 pinging is unaffected.
 */
export class IcmpPinger implements Pinger, ProbeSinkPinger {
  readonly #opts: IcmpPingerOptions;
  #v4: IcmpEngine | undefined;
  #v6: IcmpEngine | undefined;
  #v6Starting: Promise<IcmpEngine> | undefined;
  #v6Failure: { err: unknown; atMs: number } | undefined;
  #running = false;
  #stopping: Promise<void> | undefined;
  #starting: Promise<void> | undefined;

  constructor(opts: Partial<IcmpPingerOptions> = {}) {
    this.#opts = { ...defaultIcmpPingerOptions, ...opts };
  }

  /** True between a successful start() and stop(). */
  get running(): boolean {
    return this.#running;
  }

  /** The engine of `family`, once it started. */
  engine(family: IcmpFamily): IcmpEngine | undefined {
    return family === 'ipv4' ? this.#v4 : this.#v6;
  }

  /** Counters of both engines. */
  stats(): IcmpPingerStats {
    return { ipv4: this.#v4?.stats(), ipv6: this.#v6?.stats() };
  }

  /** Starts the IPv4 engine (and the IPv6 one when `eagerIpv6`); idempotent. Rejects with the engine's start error. */
  start(): Promise<void> {
    if (this.#running) return Promise.resolve();
    // Concurrent callers share one start: a second IPv4 engine would replace the first, whose
    // socket nobody could close any more.
    this.#starting ??= this.#start().finally(() => {
      this.#starting = undefined;
    });
    return this.#starting;
  }

  async #start(): Promise<void> {
    new OptionChecks('icmp').nonNegative('ipv6RetryMs', this.#opts.ipv6RetryMs).throwIfAny();
    const v4 = this.#newEngine('ipv4');
    await v4.start();
    this.#v4 = v4;
    this.#running = true;
    this.#stopping = undefined;
    if (this.#opts.eagerIpv6) {
      try {
        await this.#startV6();
      } catch (err) {
        await this.stop();
        throw err;
      }
    }
  }

  /** Stops both engines, rejecting their pending pings with ERR_ICMP_SOCKET; idempotent, safe before start(), concurrent callers share one completion. */
  stop(): Promise<void> {
    // A start still in progress is stopped once it has (or not at all, if it fails).
    if (!this.#running && this.#starting)
      return this.#starting.then(
        () => this.stop(),
        () => undefined,
      );
    if (!this.#running) return this.#stopping ?? Promise.resolve();
    this.#running = false;
    const v4 = this.#v4;
    const v6 = this.#v6;
    const starting = this.#v6Starting;
    this.#v4 = undefined;
    this.#v6 = undefined;
    this.#v6Starting = undefined;
    this.#stopping = (async () => {
      await v4?.stop();
      await v6?.stop();
      // An IPv6 engine still starting is stopped once it has.
      if (starting)
        await starting.then(
          (e) => e.stop(),
          () => undefined,
        );
    })();
    return this.#stopping;
  }

  /** Pings `ip` (IPv4 or IPv6 text) through the engine of its family. */
  ping(ip: string, opts: PingOptions): Promise<PingOutcome> {
    if (!this.#running)
      return Promise.reject(new NetscanError('ERR_ICMP_SOCKET', 'ICMP pinger is not running', { stage: 'icmp', ip }));
    // Strict dotted-quad text is already canonical: the common case costs one parse.
    if (parseIpv4(ip) !== undefined) return this.#v4!.ping(ip, opts);
    const canonical = canonicalIp(ip);
    if (canonical === undefined) return Promise.reject(new TypeError(`not an IP address: ${JSON.stringify(ip)}`));
    if (this.#v6) return this.#v6.ping(canonical, opts);
    return this.#startV6().then((engine) => engine.ping(canonical, opts));
  }

  /**
   * {@link ping} without a promise (see {@link IcmpEngine.probe}): the result goes to `sink` with
   * `target` and `tag`, never inside this call.
   */
  probe<T extends ProbeTarget>(target: T, tag: number, sink: ProbeSink<T>): void {
    if (!this.#running) {
      const err = new NetscanError('ERR_ICMP_SOCKET', 'ICMP pinger is not running', { stage: 'icmp', ip: target.ip });
      queueMicrotask(() => this.#reject(sink, target, tag, err));
      return;
    }
    // Strict dotted-quad text is already canonical: the IPv4 engine takes it (one parse).
    if (this.#v4!.probeIfOwn(target, tag, sink)) return;
    const canonical = canonicalIp(target.ip);
    if (canonical === undefined) {
      const err = new TypeError(`not an IP address: ${JSON.stringify(target.ip)}`);
      queueMicrotask(() => this.#reject(sink, target, tag, err));
      return;
    }
    if (this.#v6) {
      this.#v6.probe(target, tag, sink);
      return;
    }
    this.#startV6().then(
      (engine) => engine.probe(target, tag, sink),
      (err: unknown) => this.#reject(sink, target, tag, err),
    );
  }

  /** Fails a probe the pinger refuses itself, as the engine would: what the sink throws is logged, never thrown. */
  #reject<T extends ProbeTarget>(sink: ProbeSink<T>, target: T, tag: number, err: unknown): void {
    try {
      sink.rejected(target, tag, err);
    } catch (thrown) {
      logSinkThrew(this.#opts.logger, thrown, target.ip);
    }
  }

  #startV6(): Promise<IcmpEngine> {
    if (this.#v6) return Promise.resolve(this.#v6);
    if (this.#v6Starting) return this.#v6Starting;
    const failed = this.#v6Failure;
    if (failed && this.#opts.clock.now() - failed.atMs < this.#opts.ipv6RetryMs) return Promise.reject(failed.err);
    const engine = this.#newEngine('ipv6');
    const starting = engine.start().then(
      () => {
        if (this.#v6Starting !== starting) return engine;
        this.#v6Starting = undefined;
        this.#v6 = engine;
        this.#v6Failure = undefined;
        return engine;
      },
      (err: unknown) => {
        if (this.#v6Starting === starting) this.#v6Starting = undefined;
        this.#v6Failure = { err, atMs: this.#opts.clock.now() };
        this.#opts.logger?.error(
          { stage: 'icmp', family: 'ipv6', err, retry_in_ms: this.#opts.ipv6RetryMs },
          'IPv6 ICMP engine could not start; IPv6 pings fail until it can',
        );
        throw err;
      },
    );
    this.#v6Starting = starting;
    return starting;
  }

  #newEngine(family: IcmpFamily): IcmpEngine {
    const o = this.#opts;
    return new IcmpEngine({
      ...o.engine,
      family,
      sourceAddress: family === 'ipv4' ? o.sourceIpv4 : o.sourceIpv6,
      clock: o.clock,
      logger: o.logger,
    });
  }
}
