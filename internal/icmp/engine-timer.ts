import { monoMs, type Clock, type TimerHandle } from '../clock/clock.js';

/** The ICMP engine's one timer for every deadline: armed for the earliest, moved only when an earlier one comes. */
export class DeadlineTimer {
  readonly #clock: Clock;
  readonly #fire: () => void;
  #timer: TimerHandle | undefined;
  #dueMs = Infinity;

  /** `fire` runs when the deadline armed for comes (the timer is then disarmed). */
  constructor(clock: Clock, fire: () => void) {
    this.#clock = clock;
    this.#fire = fire;
  }

  /** Arms for `dueMs` (monotonic ms) unless already armed for that or earlier. */
  armBy(dueMs: number): void {
    if (!(dueMs < this.#dueMs)) return;
    this.#timer?.cancel();
    this.#dueMs = dueMs;
    const nowMs = monoMs(this.#clock);
    this.#timer = this.#clock.setTimeout(this.#onTimer, Math.max(0, Math.ceil(dueMs - nowMs)));
  }

  /** Disarms. */
  cancel(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#dueMs = Infinity;
  }

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#dueMs = Infinity;
    this.#fire();
  };
}
