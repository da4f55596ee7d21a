import { test } from 'node:test';
import assert from 'node:assert/strict';
import { float32Digits, SummaryPool, xorshift32 } from './summary.js';
import { RecentSamples, sortedQuantile } from './quantile.js';
import { pingSummaryPoint } from '../model/points.js';

const close = (a: number, b: number, msg?: string): void =>
  assert.ok(Math.abs(a - b) < 1e-6, `${msg ?? ''} ${a} != ${b}`);

test('summarises a window: counts, loss, min/avg/max, p50/p95, stddev and jitter', () => {
  const pool = new SummaryPool(120);
  const slot = pool.alloc(7);
  const rnd = xorshift32(1);
  for (const rtt of [10, 12, 11, 15]) pool.recordReply(slot, rtt, rnd);
  pool.recordLoss(slot);
  pool.recordOverloaded(slot);
  pool.recordSuspended(slot);
  assert.equal(pool.windowIndex(slot), 7);
  const s = pool.snapshot(slot, 420_000);
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
  const pool = new SummaryPool(8);
  const slot = pool.alloc(0);
  pool.recordLoss(slot);
  pool.recordLoss(slot);
  const s = pool.snapshot(slot, 0);
  close(s.lossPct, 100);
  assert.ok(Number.isNaN(s.rttAvgMs) && Number.isNaN(s.rttP50Ms) && Number.isNaN(s.jitterMs));
  const p = pingSummaryPoint('127.0.0.9', s);
  assert.deepEqual(Object.keys(p.fields).sort(), [
    'loss_pct',
    'missed_slots',
    'overloaded',
    'received',
    'sent',
    'skipped_ticks',
    'suspended_ticks',
  ]);
  assert.deepEqual(p.fields['sent'], { type: 'int', value: 2 });
  assert.equal(p.measurement, 'ping_summary');
  assert.deepEqual(p.tags, { ip: '127.0.0.9' });
});

test('beyond its sample capacity it keeps exact moments and a bounded reservoir for quantiles', () => {
  const pool = new SummaryPool(50);
  const slot = pool.alloc(0);
  const rnd = xorshift32(42);
  for (let i = 1; i <= 1000; i++) pool.recordReply(slot, i, rnd);
  const s = pool.snapshot(slot, 0);
  assert.equal(s.received, 1000);
  close(s.rttAvgMs, 500.5);
  close(s.rttMinMs, 1);
  close(s.rttMaxMs, 1000);
  close(s.jitterMs, 1);
  // A uniform reservoir of 50 out of 1..1000: the median lands near 500.
  assert.ok(s.rttP50Ms > 350 && s.rttP50Ms < 650, `p50 ${s.rttP50Ms}`);
});

test('slots are independent, reused after release, and the pool grows a chunk at a time without losing data', () => {
  const pool = new SummaryPool(4);
  for (let i = 0; i < 1024; i++) pool.alloc(0); // fill the first chunk
  const slots = [pool.alloc(1), pool.alloc(1), pool.alloc(1)]; // the second chunk
  slots.forEach((slot, i) => pool.recordReply(slot, 10 * (i + 1), Math.random));
  assert.deepEqual(
    slots.map((slot) => pool.snapshot(slot, 0).rttAvgMs),
    [10, 20, 30],
  );
  assert.equal(pool.size, 1027);
  pool.release(slots[1]!);
  const again = pool.alloc(5);
  assert.equal(again, slots[1]);
  assert.equal(pool.isEmpty(again), true);
  assert.equal(pool.windowIndex(again), 5);
  assert.equal(pool.size, 1027);
  assert.equal(pool.bytes, 2 * 1024 * (15 * 8 + 4 * 4));
});

test('reset clears a window', () => {
  const pool = new SummaryPool(4);
  const slot = pool.alloc(1);
  pool.recordReply(slot, 5, Math.random);
  assert.equal(pool.isEmpty(slot), false);
  pool.reset(slot, 2);
  assert.equal(pool.isEmpty(slot), true);
  assert.equal(pool.windowIndex(slot), 2);
  pool.recordReply(slot, 9, Math.random);
  close(pool.snapshot(slot, 0).rttP50Ms, 9);
  close(pool.snapshot(slot, 0).rttMinMs, 9);
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

test('quantiles carry the precision of their float32 samples, not binary noise', () => {
  const pool = new SummaryPool(8);
  const slot = pool.alloc(0);
  const rnd = xorshift32(1);
  for (const rtt of [0.037436, 0.037436, 0.037436]) pool.recordReply(slot, rtt, rnd);
  const s = pool.snapshot(slot, 0);
  assert.equal(s.rttP50Ms, 0.037436);
  assert.equal(s.rttP95Ms, 0.037436);
  assert.equal(float32Digits(Math.fround(123.4567)), 123.4567);
});

test('a window in which the device was suspended and nothing was sent is 100% loss', () => {
  const pool = new SummaryPool(8);
  const slot = pool.alloc(0);
  pool.recordSuspended(slot);
  const s = pool.snapshot(slot, 0);
  assert.equal(s.sent, 0);
  assert.equal(s.lossPct, 100);
  const idle = pool.alloc(1);
  assert.ok(
    Number.isNaN(pool.snapshot(idle, 1000).lossPct),
    'a window with nothing sent and no suspension has no loss figure',
  );
});
