import type { Logger } from '../log/log.js';
import type { PingFailureReason } from '../model/ping.js';
import type { LimitedErrorLog } from '../log/log-limiter.js';

/** The slice of the state manager (internal/state DeviceStore) the scheduler needs: the ping breaker. */
export interface PingBreakerState {
  /** True while the device's ping breaker is open (now < suspendedUntil). */
  isPingSuspended(ip: string): boolean;
  /** A reply came back: refreshes last-seen, resets the failure count and closes the breaker. */
  recordPingSuccess(ip: string): void;
  /** A host-side failure; returns true when this failure opened the breaker. */
  recordPingFailure(ip: string, maxFails: number, backoffMs: number): boolean;
}

/** When a device's breaker opens and for how long. */
export interface BreakerOptions {
  /** Consecutive host-side failures that open a device's breaker. */
  maxConsecutiveFails: number;
  /** How long an open breaker suspends probing, ms. */
  backoffMs: number;
}

/** Collaborators of {@link PingBreaker}. */
export interface PingBreakerDeps {
  /** The breaker state kept by the state manager. */
  state: PingBreakerState;
  /** Where trips are logged (warn). */
  log: Logger;
  /** Where failing state-manager calls are logged. */
  errors: LimitedErrorLog;
}

/**
 * The scheduler's side of the ping breaker: asks whether a device is suspended, feeds it the
 * results, and counts and logs trips. A state manager that throws loses that one update (logged,
 * throttled); the slot still counts and the device stays scheduled.
 */
export class PingBreaker {
  readonly #state: PingBreakerState;
  readonly #log: Logger;
  readonly #errors: LimitedErrorLog;
  #opts: BreakerOptions;
  #trips = 0;

  constructor(deps: PingBreakerDeps, opts: BreakerOptions) {
    this.#state = deps.state;
    this.#log = deps.log;
    this.#errors = deps.errors;
    this.#opts = { maxConsecutiveFails: opts.maxConsecutiveFails, backoffMs: opts.backoffMs };
  }

  /** Times a device's breaker opened. */
  get tripsTotal(): number {
    return this.#trips;
  }

  /** Applies new thresholds from the next failure on. */
  configure(opts: BreakerOptions): void {
    this.#opts = { maxConsecutiveFails: opts.maxConsecutiveFails, backoffMs: opts.backoffMs };
  }

  // Each call is guarded inline (no closure per call: these run on every slot and probe).

  /** True while the breaker is open; false when the state manager cannot say. */
  isSuspended(ip: string): boolean {
    try {
      return this.#state.isPingSuspended(ip);
    } catch (err) {
      this.#failed(ip, err);
      return false;
    }
  }

  /** A reply came back. */
  recordSuccess(ip: string): void {
    try {
      this.#state.recordPingSuccess(ip);
    } catch (err) {
      this.#failed(ip, err);
    }
  }

  /** A host-side failure (`reason` is logged when it opens the breaker). */
  recordFailure(ip: string, reason: PingFailureReason): void {
    const { maxConsecutiveFails: fails, backoffMs } = this.#opts;
    let tripped: boolean;
    try {
      tripped = this.#state.recordPingFailure(ip, fails, backoffMs);
    } catch (err) {
      this.#failed(ip, err);
      return;
    }
    if (!tripped) return;
    this.#trips++;
    this.#log.warn(
      { ip, reason, fails, backoff_ms: backoffMs },
      'device failed its maximum consecutive pings; suspending it (circuit breaker tripped)',
    );
  }

  #failed(ip: string, err: unknown): void {
    this.#errors.error('state', { err, ip }, 'state manager call failed');
  }
}
