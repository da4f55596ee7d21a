import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PingFailureReason, PingOutcome } from '../model/ping.js';
import { field, type Point } from '../model/point.js';
import { pingPoint, suspendedPingPoint } from '../model/points.js';
import { rawPingKind, RawPingKind, rawPingPoint, type RawPing } from './raw-ping.js';

// The addresses below are tag values, never pinged: nothing here opens a socket.
const REASONS: PingFailureReason[] = ['timeout', 'unreachable', 'send_error', 'agent_overloaded', 'agent_error', 'dns'];
const numbers = [0, -0, 0.0123, 1 / 3, 2.5e-7, 5e-324, 1e21, 123456.789, -1, NaN, Infinity, -Infinity];
const times = [1_700_000_000_123, 1_700_000_000_123.75, 1_700_000_001_000, 999, 0, -5, 2 ** 53 + 2, NaN, Infinity];

/** Every raw ping the grids make, with the outcome pingPoint would get for it. */
function* grid(): Generator<{ r: RawPing; outcome: PingOutcome }> {
  const ip = '192.0.2.7';
  for (const timeMs of times) {
    for (const rttMs of numbers) {
      const r = { ip, ipId: -1, timeMs, ok: true, rttMs, reason: undefined, rttZero: false };
      yield { r, outcome: { ok: true, ip, rttMs, sentAtMs: timeMs } };
    }
    for (const reason of REASONS)
      for (const rttZero of [false, true]) {
        const r = { ip, ipId: -1, timeMs, ok: false, rttMs: NaN, reason, rttZero };
        yield { r, outcome: { ok: false, ip, reason, sentAtMs: timeMs } };
      }
  }
}

test('a raw ping is the point pingPoint builds', () => {
  let n = 0;
  for (const { r, outcome } of grid()) {
    assert.deepStrictEqual(rawPingPoint(r), pingPoint(outcome, { timeMs: r.timeMs, failedRttZero: r.rttZero }));
    n++;
  }
  assert.ok(n > 100);
});

test('only the points pingPoint builds are raw pings', () => {
  const ok: PingOutcome = { ok: true, ip: '192.0.2.1', rttMs: 2, sentAtMs: 5 };
  const bad: PingOutcome = { ok: false, ip: '192.0.2.1', reason: 'timeout', sentAtMs: 5 };
  const reply = pingPoint(ok, { timeMs: 5 });
  assert.equal(rawPingKind(reply), RawPingKind.Reply);
  assert.equal(rawPingKind(pingPoint(bad, { timeMs: 5 })), RawPingKind.Failure);
  assert.equal(rawPingKind(pingPoint(bad, { timeMs: 5, failedRttZero: true })), RawPingKind.FailureRttZero);
  const not: Point[] = [
    suspendedPingPoint('192.0.2.1', 5),
    suspendedPingPoint('192.0.2.1', 5, true),
    { ...reply, bucket: 'primary' },
    { ...reply, measurement: 'ping_summary' },
    { ...reply, tags: { ip: '192.0.2.1', name: 'x' } },
    { ...reply, tags: { name: 'x' } },
    { ...reply, fields: { ...reply.fields, extra: field.int(1) } },
    { ...reply, fields: { ...reply.fields, rtt_ms: field.int(2) } },
    { ...reply, fields: { success: field.bool(true), suspended: field.bool(false) } },
    { ...reply, fields: { ...reply.fields, reason: field.string('timeout') } },
    { ...reply, fields: { rtt_ms: field.float(1), success: field.bool(false), suspended: field.bool(false) } },
    { ...reply, fields: { ...pingPoint(bad, { timeMs: 5 }).fields, rtt_ms: field.float(3) } },
    { ...reply, fields: { ...pingPoint(bad, { timeMs: 5 }).fields, rtt_ms: field.float(-0) } },
    { ...reply, fields: { ...pingPoint(bad, { timeMs: 5 }).fields, reason: field.int(1) } },
  ];
  for (const p of not) assert.equal(rawPingKind(p), RawPingKind.None, JSON.stringify(p));
});
