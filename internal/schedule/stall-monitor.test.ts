import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { sleepOn, systemClock, type Clock, type TimerHandle } from '../clock/clock.js';
import { EventLoopStallMonitor } from './stall-monitor.js';

/** A clock whose timers fire only when the test says, possibly late, like a blocked event loop. */
class LateClock implements Clock {
  nowMs = 0;
  timers: Array<{ dueMs: number; fn: () => void; cancelled: boolean }> = [];
  now(): number {
    return this.nowMs;
  }
  monoNs(): bigint {
    return BigInt(this.nowMs) * 1_000_000n;
  }
  setTimeout(fn: () => void, delayMs: number): TimerHandle {
    const t = { dueMs: this.nowMs + delayMs, fn, cancelled: false };
    this.timers.push(t);
    return {
      cancel: () => {
        t.cancelled = true;
      },
    };
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return sleepOn(this, ms, signal);
  }
  /** Moves to `t` and runs every timer due by then, each seeing now = t (late if it was due earlier). */
  runAt(t: number): void {
    this.nowMs = t;
    for (;;) {
      const due = this.timers.filter((x) => !x.cancelled && x.dueMs <= t);
      if (due.length === 0) return;
      for (const x of due) {
        x.cancelled = true;
        x.fn();
      }
    }
  }
}

test('records a late timer as a stall and answers overlap queries', () => {
  const clock = new LateClock();
  const m = new EventLoopStallMonitor({ clock, sampleIntervalMs: 20, minStallMs: 20 });
  m.start();
  clock.runAt(20);
  clock.runAt(40);
  assert.equal(m.stats().stallsTotal, 0);
  clock.runAt(400); // the sample due at 60 runs at 400: a 340 ms stall from 60 to 400
  assert.equal(m.stats().stallsTotal, 1);
  assert.equal(m.stats().maxStallMs, 340);
  assert.equal(m.maxStallMs(100, 200), 340);
  assert.equal(m.maxStallMs(0, 59), 0);
  assert.equal(m.maxStallMs(401, 410), 0);
  m.stop();
});

test('counts a stall still in progress, before its late sample has run', () => {
  const clock = new LateClock();
  const m = new EventLoopStallMonitor({ clock, sampleIntervalMs: 20, minStallMs: 20 });
  m.start();
  clock.runAt(20);
  clock.nowMs = 1000; // blocked since the sample due at 40; nothing has run yet
  assert.equal(m.maxStallMs(900, 1000), 960);
  assert.equal(m.maxStallMs(0, 30), 0);
  m.stop();
});

test('ignores lateness below the minimum', () => {
  const clock = new LateClock();
  const m = new EventLoopStallMonitor({ clock, sampleIntervalMs: 20, minStallMs: 50 });
  m.start();
  clock.runAt(50); // 30 ms late
  assert.equal(m.stats().stallsTotal, 0);
  assert.equal(m.maxStallMs(0, 50), 0);
  m.stop();
});

test('on the real clock, a blocked event loop is detected', async () => {
  const m = new EventLoopStallMonitor({ clock: systemClock, sampleIntervalMs: 10, minStallMs: 50 });
  m.start();
  await sleep(30);
  const from = Date.now();
  while (Date.now() - from < 200) {
    /* block the loop */
  }
  await sleep(30);
  const stats = m.stats();
  m.stop();
  assert.ok(stats.stallsTotal >= 1, JSON.stringify(stats));
  assert.ok(m.maxStallMs(from, from + 200) >= 150, `max ${m.maxStallMs(from, from + 200)}`);
  // perf_hooks' histogram samples once per loop turn: on a busy machine hundreds of short turns
  // surround the one long one, so its p99 says nothing reliable about a single stall. It must be reported.
  assert.ok(Number.isFinite(stats.loopDelayP99Ms) && stats.loopDelayP99Ms >= 0, `p99 ${stats.loopDelayP99Ms}`);
});
