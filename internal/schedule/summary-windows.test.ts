import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Point } from '../model/point.js';
import { summaryOffsetMs } from './phase.js';
import { SummaryWindows, type SummaryWindowOptions, type WindowedDevice } from './summary-windows.js';
import { FakeClock } from '../testkit/fake-clock.js';

const opts: SummaryWindowOptions = {
  intervalMs: 1_000,
  timeoutMs: 500,
  summaryIntervalMs: 60_000,
  summaryMaxSamples: 120,
};

function rig(o: SummaryWindowOptions = opts): {
  w: SummaryWindows;
  clock: FakeClock;
  points: Point[];
  devices: Device[];
} {
  const clock = new FakeClock(0);
  const points: Point[] = [];
  const devices: Device[] = [];
  const w = new SummaryWindows({ clock, write: (p) => points.push(p), devices: () => devices }, o);
  return { w, clock, points, devices };
}

type Device = WindowedDevice & { inFlight: boolean; paced: boolean };
const device = (ip: string, summaryOffset = 0): Device => ({
  ip,
  summary: -1,
  summaryOffset,
  inFlight: false,
  paced: false,
});
const counts = (p: Point): unknown => [
  p.tags['ip'],
  p.timeMs,
  p.fields['sent']?.value,
  p.fields['received']?.value,
  p.fields['loss_pct']?.value,
];

test("a window is written by the device's first result in the next one, stamped at the window start", () => {
  const { w, points } = rig();
  const d = device('127.0.0.2', 250);
  w.recordReply(d, 1_250, 5);
  w.recordLoss(d, 2_250);
  w.recordReply(d, 60_249, 7);
  assert.equal(points.length, 0, 'still the window starting at 250');
  w.recordReply(d, 60_250, 9);
  assert.deepEqual(points.map(counts), [['127.0.0.2', 250, 3, 2, 100 / 3]]);
  assert.equal(w.writtenTotal, 1);
});

test('the sweep writes windows over for interval + timeout, except of devices with a probe out or waiting for a token', () => {
  const { w, clock, points, devices } = rig();
  const idle = device('127.0.0.2');
  const busy = device('127.0.0.3');
  const paced = device('127.0.0.4');
  devices.push(idle, busy, paced);
  for (const d of devices) w.recordReply(d, 1_000, 1);
  busy.inFlight = true;
  paced.paced = true;
  w.start();
  clock.advance(61_499);
  assert.equal(points.length, 0);
  clock.advance(1);
  assert.deepEqual(points.map(counts), [['127.0.0.2', 0, 1, 1, 0]]);
  w.stop();
  busy.inFlight = false;
  clock.advance(120_000);
  assert.equal(points.length, 1, 'no sweep after stop');
});

test('a new summary interval closes the open windows under the old one; summaries off record nothing', () => {
  const { w, points } = rig();
  const d = device('127.0.0.2');
  w.recordReply(d, 1_000, 4);
  w.reconfigure({ ...opts, summaryIntervalMs: 30_000 }, [d]);
  assert.deepEqual(points.map(counts), [['127.0.0.2', 0, 1, 1, 0]]);
  assert.equal(d.summary, -1);
  assert.equal(d.summaryOffset, summaryOffsetMs('127.0.0.2', 30_000));
  w.reconfigure({ ...opts, summaryIntervalMs: 0 }, [d]);
  w.recordReply(d, 2_000, 4);
  w.release(d);
  assert.equal(d.summary, -1);
  assert.equal(points.length, 1);
});

test('release writes the open window and frees the slot for the next device', () => {
  const { w, points } = rig();
  const a = device('127.0.0.2');
  w.recordSuspended(a, 1_000);
  const slot = a.summary;
  w.release(a);
  assert.deepEqual(
    points.map((p) => [p.tags['ip'], p.fields['suspended_ticks']?.value]),
    [['127.0.0.2', 1]],
  );
  const b = device('127.0.0.3');
  w.recordOverloaded(b, 1_000);
  assert.equal(b.summary, slot);
});
