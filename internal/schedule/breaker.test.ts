import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PingBreaker, type PingBreakerState } from './breaker.js';
import { limitedErrorLog } from '../log/log-limiter.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { captureLogger } from '../testkit/logger.js';

function breaker(state: PingBreakerState): { b: PingBreaker; clock: FakeClock; lines: Array<Record<string, unknown>> } {
  const clock = new FakeClock();
  const { logger, lines } = captureLogger();
  const b = new PingBreaker(
    { state, log: logger, errors: limitedErrorLog(logger, () => clock.now(), 60_000) },
    { maxConsecutiveFails: 3, backoffMs: 5_000 },
  );
  return { b, clock, lines };
}

test('a failure that opens the breaker is counted and logged with the thresholds; new thresholds apply to the next failure', () => {
  const calls: Array<[string, number, number]> = [];
  const { b, lines } = breaker({
    isPingSuspended: () => false,
    recordPingSuccess: () => undefined,
    recordPingFailure: (ip, maxFails, backoffMs) => {
      calls.push([ip, maxFails, backoffMs]);
      return calls.length === 2;
    },
  });
  b.recordFailure('127.0.0.2', 'timeout');
  b.recordFailure('127.0.0.2', 'unreachable');
  b.configure({ maxConsecutiveFails: 7, backoffMs: 9_000 });
  b.recordFailure('127.0.0.2', 'timeout');
  assert.deepEqual(calls, [
    ['127.0.0.2', 3, 5_000],
    ['127.0.0.2', 3, 5_000],
    ['127.0.0.2', 7, 9_000],
  ]);
  assert.equal(b.tripsTotal, 1);
  assert.deepEqual(
    lines.filter((l) => l.level === 'warn').map((l) => [l.msg, l.ip, l.reason, l.fails, l.backoff_ms]),
    [
      [
        'device failed its maximum consecutive pings; suspending it (circuit breaker tripped)',
        '127.0.0.2',
        'unreachable',
        3,
        5_000,
      ],
    ],
  );
});

test('a throwing state manager loses the update, never the slot: not suspended, no trip, one error line a minute', () => {
  const boom = (): never => {
    throw new Error('state is gone');
  };
  const { b, clock, lines } = breaker({ isPingSuspended: boom, recordPingSuccess: boom, recordPingFailure: boom });
  assert.equal(b.isSuspended('127.0.0.2'), false);
  b.recordSuccess('127.0.0.2');
  b.recordFailure('127.0.0.2', 'timeout');
  assert.equal(b.tripsTotal, 0);
  const errors = (): unknown[] => lines.filter((l) => l.level === 'error').map((l) => [l.msg, l.ip]);
  assert.deepEqual(errors(), [['state manager call failed', '127.0.0.2']]);
  clock.advance(60_000);
  b.recordSuccess('127.0.0.3');
  assert.deepEqual(errors(), [
    ['state manager call failed', '127.0.0.2'],
    ['state manager call failed', '127.0.0.3'],
  ]);
});
