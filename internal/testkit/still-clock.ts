import type { Clock, TimerHandle } from '../clock/clock.js';

/**
 * A clock for benchmarks that measure work, not waiting: `now()` is a field the bench moves by hand,
 * `monoNs()` is real, and timers never fire (whatever arms one is measured without running it).
 */
export class StillClock implements Clock {
  t: number;

  constructor(startMs = 1_700_000_000_000) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  monoNs(): bigint {
    return process.hrtime.bigint();
  }

  setTimeout(): TimerHandle {
    return { cancel: () => undefined };
  }

  sleep(): Promise<void> {
    return Promise.resolve();
  }
}
