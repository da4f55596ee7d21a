import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, hasCode } from './errors.js';
import { OptionChecks } from './option-checks.js';

test('passes good values without a problem and throws nothing', () => {
  const c = new OptionChecks('demo')
    .integer('count', 3, 1, 10)
    .integer('slots', 1e6, 1)
    .positive('timeoutMs', 0.5)
    .nonNegative('periodMs', 0)
    .oneOf('mode', 'raw', ['raw', 'dgram']);
  assert.deepEqual(c.problems, []);
  c.throwIfAny();
});

const cases: Array<[string, (c: OptionChecks) => void, string]> = [
  ['integer below', (c) => c.integer('count', 0, 1, 10), 'count: must be an integer from 1 to 10 (got 0)'],
  ['integer above', (c) => c.integer('count', 11, 1, 10), 'count: must be an integer from 1 to 10 (got 11)'],
  ['integer fraction', (c) => c.integer('slots', 1.5, 1), 'slots: must be an integer >= 1 (got 1.5)'],
  ['integer NaN', (c) => c.integer('slots', NaN, 1), 'slots: must be an integer >= 1 (got NaN)'],
  ['integer string', (c) => c.integer('slots', '4', 1), 'slots: must be an integer >= 1 (got "4")'],
  ['positive zero', (c) => c.positive('timeoutMs', 0), 'timeoutMs: must be a finite number greater than 0 (got 0)'],
  [
    'positive infinite',
    (c) => c.positive('timeoutMs', Infinity),
    'timeoutMs: must be a finite number greater than 0 (got Infinity)',
  ],
  ['non-negative', (c) => c.nonNegative('periodMs', -1), 'periodMs: must be a finite number >= 0 (got -1)'],
  [
    'non-negative missing',
    (c) => c.nonNegative('periodMs', undefined),
    'periodMs: must be a finite number >= 0 (got undefined)',
  ],
  ['one of', (c) => c.oneOf('mode', 'tcp', ['raw', 'dgram']), 'mode: must be one of "raw", "dgram" (got "tcp")'],
  [
    'own rule',
    (c) => c.require(false, 'source', '::1', 'an IPv4 address'),
    'source: must be an IPv4 address (got "::1")',
  ],
];

for (const [name, check, message] of cases) {
  test(`names the option, its value and what is allowed: ${name}`, () => {
    const c = new OptionChecks('demo');
    check(c);
    assert.deepEqual(c.problems, [message]);
  });
}

test('throws one ConfigError of the stage listing every problem in order', () => {
  const c = new OptionChecks('sweep')
    .positive('ratePps', 0)
    .integer('maxInFlight', 5, 1)
    .add(['targets[1]: not an address'])
    .integer('retries', -1, 0);
  assert.throws(
    () => c.throwIfAny(),
    (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(hasCode(err, 'ERR_CONFIG'));
      assert.equal(err.stage, 'sweep');
      assert.deepEqual(err.problems, [
        'ratePps: must be a finite number greater than 0 (got 0)',
        'targets[1]: not an address',
        'retries: must be an integer >= 0 (got -1)',
      ]);
      assert.equal(err.message, err.problems.join('\n'));
      return true;
    },
  );
});
