/**
 * Time source for every stage. Production code in internal/ never calls Date.now(),
 * setTimeout or setInterval directly: it asks the injected Clock, so tests can drive hours
 * of scheduling in milliseconds with a FakeClock (internal/testkit/fake-clock.ts).
 */

/** A scheduled callback that can be cancelled; cancelling twice is harmless. */
export interface TimerHandle {
  /** Cancels the callback if it has not run yet. */
  cancel(): void;
}

/** Injected time source and timer factory. */
export interface Clock {
  /** Wall-clock time in milliseconds since the Unix epoch (used for timestamps and schedules). */
  now(): number;
  /** Monotonic high-resolution time in nanoseconds (for measuring durations such as RTT). */
  monoNs(): bigint;
  /** Runs `fn` once after `delayMs`; real timers are unref()'d so they never keep the process alive. */
  setTimeout(fn: () => void, delayMs: number): TimerHandle;
  /** Resolves after `delayMs`, or rejects with the signal's reason when it aborts first. */
  sleep(delayMs: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock, backed by Date.now, process.hrtime and unref()'d node timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monoNs: () => process.hrtime.bigint(),
  setTimeout(fn, delayMs) {
    const t = setTimeout(fn, Math.max(0, delayMs));
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
  sleep: (delayMs, signal) => sleepOn(systemClock, delayMs, signal),
};

/** Implements Clock.sleep on top of Clock.setTimeout; shared by the real and fake clocks. */
export function sleepOn(clock: Clock, delayMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      timer.cancel();
      reject(signal?.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, delayMs);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
