import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError, RequestTimedOutError } from '@influxdata/influxdb-client';
import { backoffDelayMs, classifyWriteError, parseRetryAfterMs } from './classify.js';

const NOW = 1_700_000_000_000;

test('classifies every HTTP status and network error into exactly one action', () => {
  const http = (status: number, retryAfter?: string, body = ''): HttpError =>
    new HttpError(
      status,
      'x',
      body,
      retryAfter,
      'application/json',
      undefined,
      retryAfter === undefined ? {} : { 'retry-after': retryAfter },
    );
  const table: Array<[unknown, string, number | undefined]> = [
    [http(500), 'retry', undefined],
    [http(502), 'retry', undefined],
    [http(504), 'retry', undefined],
    [http(408), 'retry', undefined],
    [http(503), 'retry', undefined],
    [http(503, '7'), 'throttle', 7000],
    [http(429), 'throttle', undefined],
    [http(429, '2'), 'throttle', 2000],
    [http(413), 'split', undefined],
    [http(400), 'drop', undefined],
    [http(422), 'drop', undefined],
    [http(401), 'config', undefined],
    [http(403), 'config', undefined],
    [http(404), 'config', undefined],
    [http(301), 'config', undefined],
    [http(308), 'config', undefined],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), 'retry', undefined],
    [new RequestTimedOutError(), 'retry', undefined],
    [new Error('socket hang up'), 'retry', undefined],
  ];
  for (const [err, cls, after] of table) {
    const c = classifyWriteError(err, NOW);
    assert.equal(c.errorClass, cls, (err as Error).message);
    assert.equal(c.retryAfterMs, after, (err as Error).message);
  }
});

test('carries the server reason from v2 and v1 error bodies', () => {
  const v2 = new HttpError(
    400,
    'Bad Request',
    '{"code":"invalid","message":"unable to parse \'x\': missing fields"}',
    undefined,
    'application/json',
  );
  assert.equal(classifyWriteError(v2, NOW).message, "HTTP 400 Bad Request: unable to parse 'x': missing fields");
  const v1 = new HttpError(
    400,
    'Bad Request',
    '{"error":"partial write: field type conflict"}',
    undefined,
    'application/json',
  );
  assert.equal(classifyWriteError(v1, NOW).message, 'HTTP 400 Bad Request: partial write: field type conflict');
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
  assert.equal(classifyWriteError(refused, NOW).message, 'connect ECONNREFUSED 127.0.0.1:9');
});

test('a partial write carries how many lines the server refused, even past the 300-character reason cut', () => {
  const long = 'x'.repeat(400);
  const v2 = new HttpError(
    422,
    'Unprocessable Entity',
    `{"code":"unprocessable entity","message":"failure writing points to database: partial write: field type conflict: ${long} dropped=2"}`,
    undefined,
    'application/json',
  );
  assert.deepEqual([classifyWriteError(v2, NOW).errorClass, classifyWriteError(v2, NOW).partialDropped], ['drop', 2]);
  const v1 = new HttpError(
    400,
    'Bad Request',
    '{"error":"partial write: points beyond retention policy dropped=17"}',
    undefined,
    'application/json',
  );
  assert.equal(classifyWriteError(v1, NOW).partialDropped, 17);
  const whole = new HttpError(
    400,
    'Bad Request',
    '{"error":"unable to parse \'x dropped=3\': missing fields"}',
    undefined,
    'application/json',
  );
  assert.equal(classifyWriteError(whole, NOW).partialDropped, undefined);
});

test('parses Retry-After as seconds or as an HTTP date', () => {
  assert.equal(parseRetryAfterMs('3', NOW), 3000);
  assert.equal(parseRetryAfterMs(new Date(NOW + 5000).toUTCString(), NOW), 5000);
  assert.equal(parseRetryAfterMs('soon', NOW), undefined);
  assert.equal(parseRetryAfterMs(undefined, NOW), undefined);
});

test('backoff doubles from the minimum, is capped, and jitters within [delay/2, delay]', () => {
  const opts = { minRetryDelayMs: 1000, maxRetryDelayMs: 30_000, exponentialBase: 2 };
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelayMs(n, opts, () => 0.999999)),
    [1000, 2000, 4000, 8000, 16000, 30000, 30000],
  );
  assert.deepEqual(
    [1, 2, 6].map((n) => backoffDelayMs(n, opts, () => 0)),
    [500, 1000, 15000],
  );
});
