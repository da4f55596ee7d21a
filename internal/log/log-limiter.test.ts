import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LogLimiter } from './log-limiter.js';

test('logs the first event of a key, suppresses the rest of the interval, then reports them all', () => {
  const limiter = new LogLimiter(60_000);
  assert.equal(limiter.take('buffer_full', 1_000, 5), 5);
  assert.equal(limiter.take('buffer_full', 30_000, 7), 0);
  assert.equal(limiter.take('buffer_full', 60_999, 1), 0);
  assert.equal(limiter.take('buffer_full', 61_000, 2), 10, 'the 8 suppressed events plus these 2');
  assert.equal(limiter.take('buffer_full', 61_001), 0);
});

test('keys are limited independently', () => {
  const limiter = new LogLimiter(60_000);
  assert.equal(limiter.take('send', 0), 1);
  assert.equal(limiter.take('settle', 10), 1);
  assert.equal(limiter.take('send', 20), 0);
});

test('admit tells a line for zero events from a suppressed one', () => {
  const limiter = new LogLimiter(60_000);
  assert.equal(limiter.admit('rejected', 0, 0), 0);
  assert.equal(limiter.admit('rejected', 10, 3), undefined);
  assert.equal(limiter.admit('rejected', 60_000, 0), 3);
});
