import { Heap } from 'heap-js';
import { sleepOn, type Clock, type TimerHandle } from '../clock/clock.js';

interface FakeTimer {
  dueMs: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** Lets promise callbacks queued by a fired timer run before the next timer fires. */
export function flushMicrotasks(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * A Clock driven by the test: time stands still until `advance` or `advanceAsync` moves it,
 * firing due timers in (due time, creation order). Hours of scheduling run in milliseconds.
 */
export class FakeClock implements Clock {
  #nowMs: number;
  #seq = 0;
  #timers = new Heap<FakeTimer>((a, b) => a.dueMs - b.dueMs || a.seq - b.seq);

  /** @param startMs initial wall-clock time in ms since the epoch */
  constructor(startMs = 1_700_000_000_000) {
    this.#nowMs = startMs;
  }

  now(): number {
    return this.#nowMs;
  }

  monoNs(): bigint {
    return BigInt(Math.round(this.#nowMs * 1e6));
  }

  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const t: FakeTimer = { dueMs: this.#nowMs + Math.max(0, delayMs), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(t);
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  }

  sleep(delayMs: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, delayMs, signal);
  }

  /** Number of timers that have not fired or been cancelled. */
  pendingTimers(): number {
    let n = 0;
    for (const t of this.#timers.toArray()) if (!t.cancelled) n++;
    return n;
  }

  /** Moves time forward by `ms`, firing due timers synchronously (no promise settles in between). */
  advance(ms: number): void {
    const target = this.#nowMs + ms;
    for (let t = this.#nextDue(target); t; t = this.#nextDue(target)) {
      this.#nowMs = Math.max(this.#nowMs, t.dueMs);
      t.fn();
    }
    this.#nowMs = target;
  }

  /**
   * Moves time forward by `ms`, firing due timers in order and letting pending promise
   * callbacks settle after each one, so async code driven by timers behaves as in real time.
   */
  async advanceAsync(ms: number): Promise<void> {
    const target = this.#nowMs + ms;
    await flushMicrotasks();
    for (let t = this.#nextDue(target); t; t = this.#nextDue(target)) {
      this.#nowMs = Math.max(this.#nowMs, t.dueMs);
      t.fn();
      await flushMicrotasks();
    }
    this.#nowMs = target;
    await flushMicrotasks();
  }

  #nextDue(limitMs: number): FakeTimer | undefined {
    for (;;) {
      const top = this.#timers.peek();
      if (!top || top.dueMs > limitMs) return undefined;
      this.#timers.pop();
      if (!top.cancelled) return top;
    }
  }
}
