import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors/errors.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { FakeLineTransport } from '../testkit/fake-line-transport.js';
import { silentLogger } from '../testkit/logger.js';
import { InfluxWriter } from './influx-writer.js';

test('a writer refuses bad options with one ConfigError naming every one, its value and what is allowed', () => {
  const clock = new FakeClock();
  const make = (): InfluxWriter =>
    new InfluxWriter({
      transport: new FakeLineTransport(clock),
      clock,
      logger: silentLogger(),
      batchSize: 0,
      maxConcurrentWrites: 1.5,
      minRetryDelayMs: 5000,
      maxRetryDelayMs: 1000,
      flushIntervalMs: Number.NaN,
    });
  assert.throws(make, (err: unknown) => {
    assert.ok(err instanceof ConfigError);
    const text = (err as Error).message;
    assert.match(text, /batchSize: must be an integer >= 1 \(got 0\)/);
    assert.match(text, /maxConcurrentWrites: must be an integer >= 1 \(got 1\.5\)/);
    assert.match(text, /maxRetryDelayMs: must be a finite number >= minRetryDelayMs \(5000\) \(got 1000\)/);
    assert.match(text, /flushIntervalMs: must be a finite number >= 0 \(got NaN\)/);
    return true;
  });
});

test('a batch size above half the buffer is no error: the writer seals smaller batches', () => {
  const clock = new FakeClock();
  const w = new InfluxWriter({
    transport: new FakeLineTransport(clock),
    clock,
    logger: silentLogger(),
    batchSize: 5000,
    maxBufferPoints: 1000,
  });
  assert.ok(w);
});
