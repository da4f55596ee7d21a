import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/fake-clock.js';
import { TokenBucket } from './token-bucket.js';

test('starts full and refuses once the burst is spent', () => {
  const clock = new FakeClock(0);
  const b = new TokenBucket({ ratePerSec: 10, burst: 3, clock });
  assert.equal(b.tryTake(), true);
  assert.equal(b.tryTake(), true);
  assert.equal(b.tryTake(), true);
  assert.equal(b.tryTake(), false);
  clock.advance(100);
  assert.equal(b.tryTake(), true);
});

test('reservations queue FIFO with exact future start times', () => {
  const clock = new FakeClock(0);
  const b = new TokenBucket({ ratePerSec: 100, burst: 1, clock });
  assert.equal(b.reserve(), 0);
  assert.equal(b.reserve(), 10);
  assert.equal(b.reserve(), 20);
  clock.advance(20);
  assert.equal(b.reserve(), 10);
});

test('take waits in simulated time and an aborted take returns its token', async () => {
  const clock = new FakeClock(0);
  const b = new TokenBucket({ ratePerSec: 1, burst: 1, clock });
  await b.take();
  const ac = new AbortController();
  const waiting = b.take(1, ac.signal);
  ac.abort(new Error('stopped'));
  await assert.rejects(waiting, /stopped/);
  assert.ok(Math.abs(b.available() - 0) < 1e-9);
  let done = false;
  const p = b.take().then(() => {
    done = true;
  });
  await clock.advanceAsync(999);
  assert.equal(done, false);
  await clock.advanceAsync(1);
  await p;
  assert.equal(done, true);
});

test('never accumulates more than the burst', () => {
  const clock = new FakeClock(0);
  const b = new TokenBucket({ ratePerSec: 1000, burst: 5, clock });
  clock.advance(60_000);
  assert.equal(b.available(), 5);
});
