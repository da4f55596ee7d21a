import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/fake-clock.js';
import type { ClassifiedWriteError } from './classify.js';
import { OutputHealth, SPOOL_RETRY_MS } from './output-health.js';

const refused: ClassifiedWriteError = {
  errorClass: 'retry',
  message: 'ECONNREFUSED',
  status: undefined,
  retryAfterMs: undefined,
};

function machine(opts: { hasSpool?: boolean } = {}) {
  const clock = new FakeClock();
  let due = 0;
  const h = new OutputHealth({
    clock,
    random: () => 0.999999,
    hasSpool: opts.hasSpool ?? true,
    minRetryDelayMs: 1000,
    maxRetryDelayMs: 4000,
    exponentialBase: 2,
    onProbeDue: () => {
      due++;
    },
  });
  return { clock, h, due: () => due };
}

test('the phases follow start and close, and an illegal change throws', () => {
  const table: Array<[string, (h: OutputHealth) => void, string, string]> = [
    ['close before start', (h) => h.close(), 'closed', 'stopped'],
    ['start', (h) => h.start(), 'starting', 'writing'],
    [
      'start, spool fails to open',
      (h) => {
        h.start();
        h.startFailed();
      },
      'idle',
      'idle',
    ],
    [
      'start, opened',
      (h) => {
        h.start();
        assert.equal(h.opened(), true);
      },
      'running',
      'writing',
    ],
    [
      'close while the spool opens, then it opens',
      (h) => {
        h.start();
        h.close();
        assert.equal(h.opened(), false);
      },
      'draining',
      'stopped',
    ],
    [
      'close while the spool opens, then it fails',
      (h) => {
        h.start();
        h.close();
        h.startFailed();
      },
      'closed',
      'stopped',
    ],
    [
      'close past its deadline',
      (h) => {
        h.start();
        h.opened();
        h.close();
        h.halt();
      },
      'halted',
      'stopped',
    ],
  ];
  for (const [what, steps, phase, reported] of table) {
    const { h } = machine();
    steps(h);
    assert.deepEqual([h.snapshot().phase, h.reported()], [phase, reported], what);
  }
  const { h } = machine();
  assert.throws(() => h.halt(), { message: 'writer: illegal transition idle -> halted' });
  h.start();
  assert.throws(() => h.start(), { message: 'writer: illegal transition starting -> starting' });
});

test('a failure backs off, one probe goes when due, its failure backs off longer, and a success ends the outage', () => {
  const { clock, h, due } = machine();
  h.start();
  h.opened();
  assert.deepEqual(h.fail(refused, undefined, clock.now()), { delayMs: 1000, newEpisode: true });
  assert.equal(h.reported(), 'spooling');
  assert.equal(h.mayStartRequest(), false);
  // Another request of the same outage fails: only the probe speaks for the output.
  assert.equal(h.fail(refused, undefined, clock.now()), undefined);
  clock.advance(999);
  assert.equal(due(), 0);
  clock.advance(1);
  assert.equal(due(), 1);
  assert.equal(h.mayStartRequest(), true);
  const probe = h.takeProbe();
  assert.equal(probe, 1);
  assert.equal(h.mayStartRequest(), false, 'one probe at a time');
  assert.deepEqual(h.fail(refused, probe, clock.now()), { delayMs: 2000, newEpisode: false });
  clock.advance(2000);
  const second = h.takeProbe()!;
  h.probeEnded(second); // nothing was sent: the next probe may go at once
  assert.equal(h.mayStartRequest(), true);
  h.probeEnded(second);
  assert.equal(h.succeeded(clock.now() + 500), 3500);
  assert.deepEqual(h.snapshot().output, { kind: 'writing' });
  assert.equal(h.succeeded(clock.now()), undefined);
  assert.equal(h.takeProbe(), undefined, 'no probe while writing');
});

test('a probe left over from the last outage does not speak for the next one', () => {
  const { clock, h } = machine();
  h.start();
  h.opened();
  h.fail(refused, undefined, clock.now());
  clock.advance(1000);
  const old = h.takeProbe();
  h.succeeded(clock.now()); // another request got through meanwhile
  h.fail(refused, undefined, clock.now());
  clock.advance(1000);
  const current = h.takeProbe();
  h.probeEnded(old);
  assert.equal(h.mayStartRequest(), false, 'the current probe is still in flight');
  assert.equal(h.fail(refused, old, clock.now()), undefined);
  assert.deepEqual(h.snapshot().output, {
    kind: 'failing',
    error: refused,
    failures: 1,
    sinceMs: clock.now() - 1000,
    probe: { kind: 'in_flight', ticket: current },
  });
});

test('Retry-After sets the delay, and a config error is not healthy even with a spool', () => {
  const { clock, h } = machine();
  h.start();
  h.opened();
  assert.deepEqual(h.fail({ ...refused, errorClass: 'throttle', retryAfterMs: 7000 }, undefined, clock.now()), {
    delayMs: 7000,
    newEpisode: true,
  });
  assert.equal(h.healthy(), true);
  clock.advance(7000);
  assert.deepEqual(h.fail({ ...refused, errorClass: 'config', status: 401 }, h.takeProbe(), clock.now()), {
    delayMs: 2000,
    newEpisode: true,
  });
  assert.equal(h.healthy(), false);
});

test('a spool that refused a batch is broken until its retry time; read failures are reported once per episode', () => {
  const { clock, h } = machine();
  h.start();
  h.opened();
  h.fail(refused, undefined, clock.now());
  assert.equal(h.spoolWriteFailed(clock.now()), true);
  assert.equal(h.spoolWriteFailed(clock.now()), false);
  assert.equal(h.reported(), 'buffering');
  assert.equal(h.healthy(), false);
  clock.advance(SPOOL_RETRY_MS - 1);
  assert.equal(h.spoolWritable(clock.now()), false);
  clock.advance(1);
  assert.equal(h.spoolWritable(clock.now()), true);
  assert.equal(h.reported(), 'spooling');
  assert.deepEqual([h.spoolReadFailed(), h.spoolReadFailed(), h.spoolReadFailing], [true, false, true]);
  h.spoolReadOk();
  assert.deepEqual([h.spoolReadFailing, h.spoolReadFailed()], [false, true]);
});

test('without a spool a failing output is buffering and not healthy', () => {
  const { clock, h } = machine({ hasSpool: false });
  h.start();
  h.opened();
  h.fail(refused, undefined, clock.now());
  assert.deepEqual([h.reported(), h.healthy()], ['buffering', false]);
});
