import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipHash32, phaseMs, slotAfter, slotsBetween, summaryOffsetMs } from './phase.js';

test('phases are fixed values, so a device keeps its offset across restarts', () => {
  // Pinned: changing the hash moves every device's ping time and must be a deliberate decision.
  assert.equal(ipHash32('127.0.0.1'), 2377737407);
  assert.equal(phaseMs('127.0.0.1', 2000), 1407);
  assert.equal(phaseMs('127.0.0.1', 1000), 407);
  assert.notEqual(phaseMs('127.0.0.2', 2000), phaseMs('127.0.0.1', 2000));
});

test('phases of 20,000 consecutive addresses spread flat across the interval', () => {
  const buckets = new Array<number>(10).fill(0);
  for (let i = 0; i < 20_000; i++) {
    const ip = `127.0.${(i >> 8) & 255}.${i & 255}`;
    buckets[Math.floor(phaseMs(ip, 2000) / 200)]!++;
  }
  // 2,000 expected per tenth of the interval; a clumped hash would leave some near 0.
  for (const b of buckets) assert.ok(b > 1800 && b < 2200, `bucket ${b}`);
});

test('slotAfter returns the first slot strictly after the given time', () => {
  assert.equal(slotAfter(250, 1000, 0), 250);
  assert.equal(slotAfter(250, 1000, 250), 1250);
  assert.equal(slotAfter(250, 1000, 249), 250);
  assert.equal(slotAfter(250, 1000, 1_700_000_000_123), 1_700_000_000_250);
});

test('slotsBetween counts slots in the half-open range (from, to]', () => {
  assert.equal(slotsBetween(250, 1000, 250, 250), 0);
  assert.equal(slotsBetween(250, 1000, 250, 1249), 0);
  assert.equal(slotsBetween(250, 1000, 250, 1250), 1);
  assert.equal(slotsBetween(250, 1000, 250, 5000), 4);
});

test('summary windows of 100,000 addresses start spread flat over the minute, independently of the phase', () => {
  const buckets = new Array<number>(12).fill(0);
  let samePhaseAndOffset = 0;
  for (let i = 0; i < 100_000; i++) {
    const ip = `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
    const off = summaryOffsetMs(ip, 60_000);
    buckets[Math.floor(off / 5000)]!++;
    if (off % 1000 === phaseMs(ip, 1000)) samePhaseAndOffset++;
  }
  // 8,333 per 5 s; the Go-style aligned windows would put all 100,000 in the first bucket.
  for (const b of buckets) assert.ok(b > 7900 && b < 8800, `bucket ${b}`);
  assert.ok(samePhaseAndOffset < 1000, `offset tracks the phase for ${samePhaseAndOffset} addresses`);
});
