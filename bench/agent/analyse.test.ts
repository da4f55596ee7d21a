import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIpv4, parseIpv4 } from '../../internal/icmp/ipv4.js';
import { phaseMs } from '../../internal/schedule/phase.js';
import { PingLineAnalyser, quantileOf } from './analyse.js';

const FIRST = parseIpv4('127.0.128.1')!;
const INTERVAL = 1000;
const T0 = 1_700_000_000_000;
const ip = (i: number): string => formatIpv4(FIRST + i);
/** The k-th slot of device i after T0 (k >= 1). */
const slot = (i: number, k: number): number => {
  const phase = phaseMs(ip(i), INTERVAL);
  return Math.floor((T0 - phase) / INTERVAL) * INTERVAL + phase + k * INTERVAL;
};
const ok = (i: number, ts: number, rtt = 0.02): string => `ping,ip=${ip(i)} rtt_ms=${rtt},success=T,suspended=F ${ts}`;
const fail = (i: number, ts: number, reason: string): string =>
  `ping,ip=${ip(i)} reason="${reason}",rtt_ms=0,success=F,suspended=F ${ts}`;

function analyser(count: number): PingLineAnalyser {
  return new PingLineAnalyser({
    firstIpU32: FIRST,
    count,
    intervalMs: INTERVAL,
    windowStartMs: T0,
    windowEndMs: T0 + 3 * INTERVAL,
    toleranceMs: 50,
  });
}

test('counts a slot as on time only when its point was sent at most the tolerance after it', () => {
  const a = analyser(2);
  for (let k = 1; k <= 3; k++) a.add(ok(0, slot(0, k) + 3));
  a.add(ok(1, slot(1, 1) + 50));
  a.add(ok(1, slot(1, 2) + 51));
  a.add(ok(1, slot(1, 3)));
  const r = a.result();
  assert.equal(r.scheduledSlots, 6);
  assert.equal(r.onTimeSlots, 5);
  assert.equal(r.lateSends, 1);
  assert.equal(r.missingSlots, 0);
  assert.equal(r.lagMaxMs, 51);
  assert.ok(Math.abs(r.onTimePct - 500 / 6) < 1e-9);
});

test('reports missing slots, duplicates, failures by reason and points outside the window or range', () => {
  const a = analyser(2);
  a.add(ok(0, slot(0, 1)));
  a.add(ok(0, slot(0, 1) + 10)); // second point for the same slot
  a.add(fail(0, slot(0, 2) + 1, 'timeout'));
  a.add(ok(0, slot(0, 0) + 1)); // before the window
  a.add(ok(1, slot(1, 3) + 2));
  a.add(`ping,ip=127.9.9.9 rtt_ms=0.1,success=T,suspended=F ${T0 + 5}`);
  a.add(`ping_summary,ip=${ip(0)} sent=3i ${T0}`);
  a.add(`health_metrics device_count=2i ${T0}`);
  const r = a.result();
  assert.equal(r.duplicates, 1);
  assert.equal(r.failures, 1);
  assert.deepEqual(r.failuresByReason, { timeout: 1 });
  assert.equal(r.missingSlots, 6 - 3);
  assert.equal(r.onTimeSlots, 3);
  assert.equal(r.foreignPoints, 1);
  assert.equal(r.summaryPoints, 1);
  assert.equal(r.healthPoints, 1);
  assert.equal(r.devicesShort, 1);
  assert.equal(r.perDeviceMax, 3);
  assert.equal(r.perDeviceMin, 1);
});

test('takes RTT quantiles from successful points only', () => {
  const a = analyser(1);
  a.add(ok(0, slot(0, 1), 0.01));
  a.add(ok(0, slot(0, 2), 0.5));
  a.add(fail(0, slot(0, 3), 'timeout'));
  const r = a.result();
  assert.equal(r.rttP50Ms, 0.01);
  assert.equal(r.rttMaxMs, 0.5);
});

test('nearest-rank quantile picks the element at ceil(q * n)', () => {
  const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
  assert.equal(quantileOf(s, 0.5), 5);
  assert.equal(quantileOf(s, 0.99), 10);
  assert.equal(quantileOf(s, 0), 1);
  assert.ok(Number.isNaN(quantileOf([], 0.5)));
});

test('groups late sends less than a second apart into one burst', () => {
  const a = analyser(1);
  a.add(ok(0, slot(0, 1) + 60));
  a.add(ok(0, slot(0, 1) + 500));
  a.add(ok(0, slot(0, 3) + 55));
  const r = a.result();
  assert.deepEqual(r.lateBursts, [
    { atMs: slot(0, 1) + 60 - T0, spanMs: 440, count: 2, maxLagMs: 500 },
    { atMs: slot(0, 3) + 55 - T0, spanMs: 0, count: 1, maxLagMs: 55 },
  ]);
});
