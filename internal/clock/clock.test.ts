import { test } from 'node:test';
import assert from 'node:assert/strict';
import { longTimeout, NODE_MAX_TIMER_MS, systemClock } from './clock.js';

/** A node-style setTimeout that records delays and fires only when the test says so. */
function recordingTimers(): {
  set: (fn: () => void, ms: number) => { unref(): unknown };
  clear: (t: never) => void;
  delays: number[];
  fire: () => void;
  cleared: number;
} {
  const pending: Array<() => void> = [];
  const rec = {
    delays: [] as number[],
    cleared: 0,
    set: (fn: () => void, ms: number) => {
      rec.delays.push(ms);
      pending.push(fn);
      return { unref: () => undefined };
    },
    clear: () => {
      rec.cleared++;
    },
    fire: () => pending.shift()?.(),
  };
  return rec;
}

test("delays beyond node's 24.8-day limit are chained, never shortened to 1 ms", () => {
  const t = recordingTimers();
  let ran = 0;
  longTimeout(
    t.set,
    t.clear,
    () => {
      ran++;
    },
    2 * NODE_MAX_TIMER_MS + 5000,
  );
  assert.deepEqual(t.delays, [NODE_MAX_TIMER_MS]);
  t.fire();
  assert.deepEqual(t.delays, [NODE_MAX_TIMER_MS, NODE_MAX_TIMER_MS]);
  t.fire();
  assert.deepEqual(t.delays, [NODE_MAX_TIMER_MS, NODE_MAX_TIMER_MS, 5000]);
  assert.equal(ran, 0);
  t.fire();
  assert.equal(ran, 1);
});

test('a chained timer cancelled midway never runs; short and negative delays pass through', () => {
  const t = recordingTimers();
  let ran = 0;
  const h = longTimeout(
    t.set,
    t.clear,
    () => {
      ran++;
    },
    NODE_MAX_TIMER_MS + 1,
  );
  t.fire();
  h.cancel();
  t.fire();
  assert.equal(ran, 0);
  assert.equal(t.cleared, 1);
  longTimeout(
    t.set,
    t.clear,
    () => {
      ran++;
    },
    -5,
  );
  longTimeout(
    t.set,
    t.clear,
    () => {
      ran++;
    },
    250,
  );
  assert.deepEqual(t.delays.slice(-2), [0, 250]);
});

test('the system clock arms a 30-day timer without firing it', async () => {
  let ran = false;
  const h = systemClock.setTimeout(() => {
    ran = true;
  }, 30 * 86_400_000);
  await new Promise((r) => setTimeout(r, 20));
  h.cancel();
  assert.equal(ran, false);
});
