import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from './fake-clock.js';

test('fires timers in due order and sets now to each due time', () => {
  const clock = new FakeClock(0);
  const seen: Array<[string, number]> = [];
  clock.setTimeout(() => seen.push(['b', clock.now()]), 20);
  clock.setTimeout(() => seen.push(['a', clock.now()]), 10);
  clock.setTimeout(() => seen.push(['c', clock.now()]), 20);
  clock.advance(15);
  assert.deepEqual(seen, [['a', 10]]);
  assert.equal(clock.now(), 15);
  clock.advance(100);
  assert.deepEqual(seen, [
    ['a', 10],
    ['b', 20],
    ['c', 20],
  ]);
  assert.equal(clock.now(), 115);
});

test('cancelled timers never fire and timers scheduled while advancing fire in the same advance', () => {
  const clock = new FakeClock(0);
  let fired = 0;
  const h = clock.setTimeout(() => fired++, 5);
  h.cancel();
  clock.setTimeout(() => clock.setTimeout(() => (fired += 10), 5), 5);
  clock.advance(10);
  assert.equal(fired, 10);
  assert.equal(clock.pendingTimers(), 0);
});

test('sleep resolves on advanceAsync and rejects when its signal aborts', async () => {
  const clock = new FakeClock(0);
  let done = false;
  const p = clock.sleep(1000).then(() => {
    done = true;
  });
  await clock.advanceAsync(999);
  assert.equal(done, false);
  await clock.advanceAsync(1);
  await p;
  assert.equal(done, true);
  const ac = new AbortController();
  const q = clock.sleep(1000, ac.signal);
  ac.abort(new Error('stop'));
  await assert.rejects(q, /stop/);
});
