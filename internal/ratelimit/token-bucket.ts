import { monoMs, type Clock } from '../clock/clock.js';

/** Options for {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Sustained rate in tokens per second (> 0). */
  ratePerSec: number;
  /** Capacity in tokens; the bucket starts full (>= 1). */
  burst: number;
  /** Time source. */
  clock: Clock;
}

/**
 * Reservation-based token bucket with the semantics of Go's golang.org/x/time/rate, which the
 * Go netscan used: fractional tokens refilled continuously, the bucket starts full, and each
 * reservation may drive the balance negative so waiters are served FIFO with exact future
 * start times instead of polling. Refill follows the clock's monotonic time, so a wall-clock step
 * (NTP, a VM resume) neither starves the bucket (a step back) nor floods it (a step forward).
 */
export class TokenBucket {
  #ratePerMs: number;
  #burst: number;
  #tokens: number;
  #lastMs: number;
  readonly #clock: Clock;

  constructor(opts: TokenBucketOptions) {
    this.#clock = opts.clock;
    this.#ratePerMs = opts.ratePerSec / 1000;
    this.#burst = opts.burst;
    this.#tokens = opts.burst;
    this.#lastMs = monoMs(opts.clock);
  }

  /** Current rate in tokens per second. */
  get ratePerSec(): number {
    return this.#ratePerMs * 1000;
  }

  /** Capacity in tokens. */
  get burst(): number {
    return this.#burst;
  }

  /** Changes rate and capacity, keeping the current balance (clamped to the new capacity). */
  setRate(ratePerSec: number, burst: number): void {
    this.#refill();
    this.#ratePerMs = ratePerSec / 1000;
    this.#burst = burst;
    this.#tokens = Math.min(this.#tokens, burst);
  }

  /** Takes `n` tokens if available right now; never reserves. */
  tryTake(n = 1): boolean {
    this.#refill();
    if (this.#tokens < n) return false;
    this.#tokens -= n;
    return true;
  }

  /** Reserves `n` tokens and returns how many ms the caller must wait before using them. */
  reserve(n = 1): number {
    this.#refill();
    this.#tokens -= n;
    return this.#tokens >= 0 ? 0 : -this.#tokens / this.#ratePerMs;
  }

  /** Returns `n` reserved tokens that will not be used (a cancelled wait). */
  cancel(n = 1): void {
    this.#refill();
    this.#tokens = Math.min(this.#burst, this.#tokens + n);
  }

  /** Waits for `n` tokens; rejects with the signal's reason (returning the tokens) if it aborts. */
  async take(n = 1, signal?: AbortSignal): Promise<void> {
    const waitMs = this.reserve(n);
    if (waitMs <= 0) return;
    try {
      await this.#clock.sleep(waitMs, signal);
    } catch (err) {
      this.cancel(n);
      throw err;
    }
  }

  /** Tokens available now (negative while reservations are outstanding). */
  available(): number {
    this.#refill();
    return this.#tokens;
  }

  #refill(): void {
    const now = monoMs(this.#clock);
    const elapsed = now - this.#lastMs;
    if (elapsed > 0) {
      this.#tokens = Math.min(this.#burst, this.#tokens + elapsed * this.#ratePerMs);
      this.#lastMs = now;
    }
  }
}
