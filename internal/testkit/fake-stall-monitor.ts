import type { StallMonitor, StallStats } from '../schedule/stall-monitor.js';

/** A StallMonitor whose stalls the test injects as [startMs, endMs] windows on the fake clock. */
export class FakeStallMonitor implements StallMonitor {
  readonly stalls: Array<{ startMs: number; endMs: number }> = [];
  started = false;

  /** Declares that the agent was stalled from `startMs` to `endMs`. */
  inject(startMs: number, endMs: number): void {
    this.stalls.push({ startMs, endMs });
  }

  start(): void {
    this.started = true;
  }

  stop(): void {
    this.started = false;
  }

  maxStallMs(fromMs: number, toMs: number): number {
    let worst = 0;
    for (const s of this.stalls)
      if (s.startMs <= toMs && s.endMs >= fromMs) worst = Math.max(worst, s.endMs - s.startMs);
    return worst;
  }

  stats(): StallStats {
    let total = 0;
    let max = 0;
    for (const s of this.stalls) {
      total += s.endMs - s.startMs;
      max = Math.max(max, s.endMs - s.startMs);
    }
    return { stallsTotal: this.stalls.length, stallMsTotal: total, maxStallMs: max, loopDelayP99Ms: NaN };
  }
}
