import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../internal/testkit/fake-clock.js';
import { captureLogger } from '../internal/testkit/logger.js';
import { StatusLog, statusLine, type StatusSample } from './status-log.js';

const base: StatusSample = {
  nowMs: 0,
  devices: 3,
  pingsSent: 0,
  replies: 0,
  failures: 0,
  output: 'writing',
  spoolPoints: 0,
  pointsDropped: 0,
};

test('a status line gives devices, pings/s and loss over the window and the output state', () => {
  const line = statusLine(base, { ...base, nowMs: 60_000, pingsSent: 90, replies: 81, failures: 9 });
  assert.deepEqual(line, {
    fields: { devices: 3, pings_per_s: 1.5, loss_pct: 10, output: 'writing' },
    message: 'status: 3 devices, 1.5 pings/s, 10% loss, output writing',
  });
});

test('a status line adds the spool and the drops of the window only when there are any', () => {
  const prev = { ...base, pointsDropped: 5 };
  const line = statusLine(prev, {
    ...prev,
    nowMs: 60_000,
    devices: 1,
    output: 'spooling',
    spoolPoints: 1200,
    pointsDropped: 12,
  });
  assert.deepEqual(line, {
    fields: { devices: 1, pings_per_s: 0, loss_pct: 0, output: 'spooling', spool_points: 1200, points_dropped: 7 },
    message: 'status: 1 device, 0 pings/s, 0% loss, output spooling, 1200 points spooled, 7 points dropped',
  });
});

test('the status log writes one line per interval and none when the interval is 0 or after stop', () => {
  const clock = new FakeClock(0);
  const { logger, lines } = captureLogger('info');
  let sent = 0;
  const sample = (): StatusSample => ({ ...base, nowMs: clock.now(), pingsSent: sent, replies: sent });
  const log = new StatusLog({ clock, logger, intervalMs: 60_000, sample });
  log.start();
  sent = 120;
  clock.advance(59_999);
  assert.equal(lines.length, 0);
  clock.advance(1);
  assert.deepEqual(
    lines.map((l) => l.msg),
    ['status: 3 devices, 2 pings/s, 0% loss, output writing'],
  );
  clock.advance(60_000);
  assert.deepEqual(
    lines.map((l) => l.pings_per_s),
    [2, 0],
  );
  log.stop();
  log.stop();
  clock.advance(120_000);
  assert.equal(lines.length, 2);

  const off = new StatusLog({ clock, logger, intervalMs: 0, sample });
  off.start();
  clock.advance(600_000);
  assert.equal(lines.length, 2);
  assert.equal(clock.pendingTimers(), 0);
});

test('loss counts the probes judged in the window: none still in flight, none the agent spoiled', () => {
  // 100 sent: 90 answered, 4 timed out, 3 spoiled by an agent stall, 3 still in flight. Loss used
  // to be 1 - 90/100 = 10%: the stalled and the unanswered-yet probes read as hosts that did not
  // answer. Judged: 4 of 94.
  const line = statusLine(base, { ...base, nowMs: 10_000, pingsSent: 100, replies: 90, failures: 4 });
  assert.equal(line.fields.loss_pct, 4.3);
  assert.equal(line.fields.pings_per_s, 10);
  // The in-flight ones settle in the next window: they count there, and loss never goes below 0 or above 100.
  const next = statusLine(
    { ...base, nowMs: 10_000, pingsSent: 100, replies: 90, failures: 4 },
    { ...base, nowMs: 20_000, pingsSent: 100, replies: 93, failures: 4 },
  );
  assert.equal(next.fields.loss_pct, 0);
  assert.equal(statusLine(base, { ...base, nowMs: 1000, pingsSent: 2, failures: 2 }).fields.loss_pct, 100);
});
