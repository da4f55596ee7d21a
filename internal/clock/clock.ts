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

/** The clock's monotonic time in (fractional) milliseconds: for durations, deadlines and rates, never timestamps. */
export const monoMs = (clock: Clock): number => Number(clock.monoNs()) / 1e6;

/** Longest delay node's setTimeout honours; above it node fires after 1 ms instead. */
export const NODE_MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Runs `fn` after `delayMs` on `set` (a node-style setTimeout), splitting delays longer than
 * {@link NODE_MAX_TIMER_MS} (about 24.8 days: a long backoff, a suspension restored far ahead)
 * into a chain of timers, so they never fire early or in a 1 ms loop.
 */
export function longTimeout(
  set: (fn: () => void, ms: number) => { unref(): unknown },
  clear: (t: never) => void,
  fn: () => void,
  delayMs: number,
): TimerHandle {
  let current: { unref(): unknown } | undefined;
  let cancelled = false;
  const arm = (remainingMs: number): void => {
    const step = Math.min(Math.max(0, remainingMs), NODE_MAX_TIMER_MS);
    current = set(() => {
      if (cancelled) return;
      if (remainingMs > NODE_MAX_TIMER_MS) arm(remainingMs - NODE_MAX_TIMER_MS);
      else fn();
    }, step);
    current.unref();
  };
  arm(Number.isFinite(delayMs) ? delayMs : Number.MAX_SAFE_INTEGER);
  return {
    cancel: () => {
      cancelled = true;
      if (current !== undefined) clear(current as never);
    },
  };
}

/** The real clock, backed by Date.now, process.hrtime and unref()'d node timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  monoNs: () => process.hrtime.bigint(),
  setTimeout: (fn, delayMs) => longTimeout(setTimeout, clearTimeout, fn, delayMs),
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
