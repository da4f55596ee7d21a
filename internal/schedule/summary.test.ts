import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SummaryAccumulator, xorshift32 } from './summary.js';
import { RecentSamples, sortedQuantile } from './quantile.js';
import { pingSummaryPoint } from './points.js';

const close = (a: number, b: number, msg?: string): void => assert.ok(Math.abs(a - b) < 1e-6, `${msg ?? ''} ${a} != ${b}`);

test('summarises a window: counts, loss, min/avg/max, p50/p95, stddev and jitter', () => {
  const a = new SummaryAccumulator(120);
  a.reset(7);
  const rnd = xorshift32(1);
  for (const rtt of [10, 12, 11, 15]) a.recordReply(rtt, rnd);
  a.recordLoss();
  a.recordOverloaded();
  a.recordSuspended();
  const s = a.snapshot(420_000);
  assert.equal(s.windowStartMs, 420_000);
  assert.equal(s.sent, 5);
  assert.equal(s.received, 4);
  assert.equal(s.overloaded, 1);
  assert.equal(s.suspendedTicks, 1);
  close(s.lossPct, 20);
  close(s.rttMinMs, 10);
  close(s.rttMaxMs, 15);
  close(s.rttAvgMs, 12);
  // sorted 10, 11, 12, 15: type-7 median 11.5; p95 at rank 2.85 -> 12 + 0.85 * 3.
  close(s.rttP50Ms, 11.5);
  close(s.rttP95Ms, 14.55);
  close(s.rttStddevMs, Math.sqrt((4 + 0 + 1 + 9) / 4));
  // |12-10| + |11-12| + |15-11| = 7 over 3 pairs.
  close(s.jitterMs, 7 / 3);
});

test('a window without replies has loss but no RTT statistics, and the point omits them', () => {
  const a = new SummaryAccumulator(8);
  a.reset(0);
  a.recordLoss();
  a.recordLoss();
  const s = a.snapshot(0);
  close(s.lossPct, 100);
  assert.ok(Number.isNaN(s.rttAvgMs) && Number.isNaN(s.rttP50Ms) && Number.isNaN(s.jitterMs));
  const p = pingSummaryPoint('127.0.0.9', s);
  assert.deepEqual(Object.keys(p.fields).sort(), ['loss_pct', 'overloaded', 'received', 'sent', 'suspended_ticks']);
  assert.deepEqual(p.fields['sent'], { type: 'int', value: 2 });
  assert.equal(p.measurement, 'ping_summary');
  assert.deepEqual(p.tags, { ip: '127.0.0.9' });
});

test('beyond its sample capacity it keeps exact moments and a bounded reservoir for quantiles', () => {
  const a = new SummaryAccumulator(50);
  a.reset(0);
  const rnd = xorshift32(42);
  for (let i = 1; i <= 1000; i++) a.recordReply(i, rnd);
  const s = a.snapshot(0);
  assert.equal(s.received, 1000);
  close(s.rttAvgMs, 500.5);
  close(s.rttMinMs, 1);
  close(s.rttMaxMs, 1000);
  close(s.jitterMs, 1);
  // A uniform reservoir of 50 out of 1..1000: the median lands near 500.
  assert.ok(s.rttP50Ms > 350 && s.rttP50Ms < 650, `p50 ${s.rttP50Ms}`);
});

test('reset clears the window but keeps the sample buffer', () => {
  const a = new SummaryAccumulator(4);
  a.reset(1);
  a.recordReply(5, Math.random);
  assert.equal(a.empty, false);
  a.reset(2);
  assert.equal(a.empty, true);
  assert.equal(a.windowIndex, 2);
  a.recordReply(9, Math.random);
  close(a.snapshot(0).rttP50Ms, 9);
});

test('type-7 quantiles and the recent-samples ring', () => {
  close(sortedQuantile([1, 2, 3, 4], 4, 0.5), 2.5);
  assert.ok(Number.isNaN(sortedQuantile([], 0, 0.5)));
  const r = new RecentSamples(3);
  for (const v of [100, 1, 2, 3]) r.add(v);
  assert.equal(r.total, 4);
  assert.equal(r.max(), 3);
  close(r.quantile(0.5), 2);
});

test('the sample buffer grows only as far as a window needs', () => {
  const a = new SummaryAccumulator(120);
  a.reset(0);
  for (let i = 0; i < 12; i++) a.recordReply(i, Math.random);
  close(a.snapshot(0).rttP50Ms, 5.5);
  a.reset(1);
  for (let i = 0; i < 200; i++) a.recordReply(1, Math.random);
  const s = a.snapshot(0);
  assert.equal(s.received, 200);
  close(s.rttP95Ms, 1);
});
