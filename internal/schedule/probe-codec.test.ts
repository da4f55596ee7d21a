import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PingOutcome } from '../model/ping.js';
import { field, type Point } from '../model/point.js';
import { pingPoint } from '../model/points.js';
import { ResultDecoder, ResultEncoder, type ResultBatch, type ResultHandler } from './probe-codec.js';

// The addresses below are strings for the codec to carry, never pinged: nothing here opens a socket.
type Rec = [string, ...unknown[]];

function recorder(): { h: ResultHandler; recs: Rec[] } {
  const recs: Rec[] = [];
  return {
    recs,
    h: {
      point: (p) => recs.push(['point', p]),
      probed: (o) => recs.push(['probed', o]),
      suspended: (ip) => recs.push(['suspended', ip]),
      removed: (ip) => recs.push(['removed', ip]),
      breakerSuccess: (ip) => recs.push(['ok', ip]),
      breakerFailure: (ip, fails, backoffMs) => recs.push(['fail', ip, fails, backoffMs]),
      log: (line) => recs.push(['log', line]),
    },
  };
}

/** Posts like a thread would: structured clone with the numbers' buffer transferred. */
const post = (b: ResultBatch): ResultBatch => structuredClone(b, { transfer: [b.nums.buffer as ArrayBuffer] });

const every: Point = {
  measurement: 'health_metrics',
  tags: { agent: 'a1', ip: '10.0.0.1' },
  fields: {
    f: field.float(1.5),
    i: field.int(-3),
    u: field.uint(2 ** 40),
    t: field.bool(true),
    n: field.bool(false),
    s: field.string('quoted "text"'),
    nan: field.float(Number.NaN),
  },
  timeMs: 1_700_000_000_123,
  bucket: 'health',
};

test('every record kind comes back as it went in, in order, across batches sharing the string table', () => {
  const enc = new ResultEncoder();
  const dec = new ResultDecoder();
  const { h, recs } = recorder();
  const ok: PingOutcome = { ok: true, ip: '10.0.0.1', rttMs: 0.25, sentAtMs: 1_700_000_000_000.5 };
  const failed: PingOutcome = {
    ok: false,
    ip: '10.0.0.2',
    reason: 'agent_error',
    sentAtMs: 5,
    detail: 'x'.repeat(200),
  };
  const bare: PingOutcome = { ok: false, ip: '10.0.0.2', reason: 'timeout', sentAtMs: 6 };
  const primary: Point = { measurement: 'ping', tags: { ip: '10.0.0.1' }, fields: {}, timeMs: 1, bucket: 'primary' };
  const plain: Point = { measurement: 'ping', tags: {}, fields: { success: field.bool(true) }, timeMs: 2 };
  const want: Rec[] = [
    ['point', every],
    ['probed', ok],
    ['probed', failed],
    ['probed', bare],
    ['suspended', '10.0.0.3'],
    ['removed', '10.0.0.3'],
    ['ok', '10.0.0.1'],
    ['fail', '10.0.0.2', 10, 300_000],
    ['log', '{"level":"info","msg":"hello"}'],
    ['point', primary],
    ['point', plain],
  ];
  enc.point(every);
  enc.probed(ok);
  enc.probed(failed);
  enc.probed(bare);
  enc.suspended('10.0.0.3');
  enc.removed('10.0.0.3');
  enc.breakerSuccess('10.0.0.1');
  enc.breakerFailure('10.0.0.2', 10, 300_000);
  enc.log('{"level":"info","msg":"hello"}');
  enc.point(primary);
  enc.point(plain);
  const first = enc.take()!;
  assert.equal(first.records, want.length);
  dec.decode(post(first), h);
  // Second batch: every short string is known, so only the inline ones travel.
  for (const [kind] of want) if (kind === 'point') enc.point(every);
  enc.probed(failed);
  const second = enc.take()!;
  assert.deepEqual(second.strs, ['x'.repeat(200)]);
  dec.decode(post(second), h);
  assert.deepEqual(recs, [...want, ['point', every], ['point', every], ['point', every], ['probed', failed]]);
  assert.equal(enc.take(), undefined);
});

test('a batch grows past its first buffer without losing records', () => {
  const enc = new ResultEncoder();
  const { h, recs } = recorder();
  for (let i = 0; i < 5000; i++) enc.breakerFailure(`10.1.${i >> 8}.${i & 255}`, i, i * 2);
  new ResultDecoder().decode(post(enc.take()!), h);
  assert.equal(recs.length, 5000);
  assert.deepEqual(recs[4999], ['fail', '10.1.19.135', 4999, 9998]);
});

test('an unknown record kind stops the batch with an error naming it', () => {
  const { h } = recorder();
  assert.throws(
    () => new ResultDecoder().decode({ nums: new Float64Array([99]), strs: [], records: 1 }, h),
    /^Error: probe thread batch: unknown record kind 99 at 0$/,
  );
});

/** Makes the calls `calls` on `enc`, as the probe thread's scheduler would. */
function replay(enc: ResultEncoder, calls: Rec[]): void {
  for (const [kind, a, b, c] of calls) {
    if (kind === 'point') enc.point(a as Point);
    else if (kind === 'probed') enc.probed(a as PingOutcome);
    else if (kind === 'ok') enc.breakerSuccess(a as string);
    else if (kind === 'fail') enc.breakerFailure(a as string, b as number, c as number);
    else if (kind === 'removed') enc.removed(a as string);
    else throw new Error(kind);
  }
}

const ip1 = '192.0.2.1';
const ip2 = '192.0.2.2';
const reply: PingOutcome = { ok: true, ip: ip1, rttMs: 0.123, sentAtMs: 1_700_000_000_000.25 };
const lost: PingOutcome = { ok: false, ip: ip2, reason: 'unreachable', sentAtMs: 7 };
const broken: PingOutcome = {
  ok: false,
  ip: ip2,
  reason: 'agent_error',
  sentAtMs: 8,
  detail: 'socket "closed"\nagain',
};

test("a probe's breaker success, raw point and outcome travel as one record and come back as the same calls", () => {
  const calls: Rec[] = [
    ['ok', ip1],
    ['point', pingPoint(reply, { timeMs: reply.sentAtMs })],
    ['probed', reply],
    ['fail', ip2, 3, 1000],
    ['point', pingPoint(lost, { timeMs: 7, failedRttZero: true })],
    ['probed', lost],
    ['point', pingPoint(broken, { timeMs: 8 })],
    ['probed', broken],
    // Raw points off: breaker and outcome only.
    ['ok', ip1],
    ['probed', reply],
    // A removed device: its point, then no outcome but its removal.
    ['ok', ip1],
    ['point', pingPoint(reply, { timeMs: reply.sentAtMs })],
    ['removed', ip1],
    // A breaker success alone, then a point of another device.
    ['ok', ip2],
    ['point', pingPoint(reply, { timeMs: 3 })],
    ['probed', reply],
  ];
  const enc = new ResultEncoder();
  replay(enc, calls);
  const batch = enc.take()!;
  // Runs: 1 + (fail) 1 + 1 + 1 + 1 + (ok and point, removed) 2 + (ok) 1 + (point) 1 + (probed: time differs) 1.
  assert.equal(batch.records, 10);
  const { h, recs } = recorder();
  new ResultDecoder().decode(post(batch), h);
  assert.deepEqual(recs, calls);
  // The strings: the two IPs once each, and the detail inline; no measurement, tag or field name.
  assert.deepEqual(batch.strs, [ip1, ip2, broken.detail]);
});

test('a Ping record reaches a ping handler as one call holding the whole run', () => {
  const enc = new ResultEncoder();
  replay(enc, [
    ['ok', ip1],
    ['point', pingPoint(reply, { timeMs: reply.sentAtMs })],
    ['probed', reply],
    ['point', pingPoint(broken, { timeMs: 8, failedRttZero: true })],
    ['probed', broken],
  ]);
  const seen: unknown[] = [];
  const { h } = recorder();
  new ResultDecoder().decode(post(enc.take()!), { ...h, ping: (r) => seen.push({ ...r }) });
  assert.deepEqual(seen, [
    {
      breakerSuccess: true,
      point: true,
      probed: true,
      detail: undefined,
      ip: ip1,
      ipId: 0,
      timeMs: reply.sentAtMs,
      ok: true,
      rttMs: 0.123,
      reason: undefined,
      rttZero: false,
    },
    {
      breakerSuccess: false,
      point: true,
      probed: true,
      detail: broken.detail,
      ip: ip2,
      ipId: 1,
      timeMs: 8,
      ok: false,
      rttMs: NaN,
      reason: 'agent_error',
      rttZero: true,
    },
  ]);
});

test('an outcome that does not match the point before it, and a batch cut inside a run, keep every call apart', () => {
  const point = pingPoint(reply, { timeMs: reply.sentAtMs });
  const mismatches: Rec[][] = [
    [
      ['point', point],
      ['probed', { ...reply, rttMs: 0.5 }],
    ],
    [
      ['point', point],
      ['probed', { ...reply, sentAtMs: 1 }],
    ],
    [
      ['point', point],
      ['probed', { ...reply, ip: ip2 }],
    ],
    [
      ['point', point],
      ['probed', { ok: false, ip: ip1, reason: 'timeout', sentAtMs: reply.sentAtMs }],
    ],
    [
      ['point', pingPoint(lost, { timeMs: 7 })],
      ['probed', { ...lost, reason: 'timeout' }],
    ],
    [
      ['ok', ip1],
      ['point', pingPoint({ ...reply, ip: ip2 }, { timeMs: 1 })],
    ],
    [
      ['point', point],
      ['point', point],
      ['probed', reply],
    ],
    [
      ['ok', ip1],
      ['ok', ip1],
      ['probed', reply],
      ['probed', reply],
    ],
  ];
  for (const calls of mismatches) {
    const enc = new ResultEncoder();
    replay(enc, calls);
    const { h, recs } = recorder();
    new ResultDecoder().decode(post(enc.take()!), h);
    assert.deepEqual(recs, calls);
  }
  // The probe thread posts a full batch between any two calls: the run is cut, nothing is lost.
  const enc = new ResultEncoder();
  const dec = new ResultDecoder();
  const { h, recs } = recorder();
  enc.breakerSuccess(ip1);
  assert.equal(enc.records, 1);
  dec.decode(post(enc.take()!), h);
  enc.point(point);
  dec.decode(post(enc.take()!), h);
  enc.probed(reply);
  dec.decode(post(enc.take()!), h);
  assert.deepEqual(recs, [
    ['ok', ip1],
    ['point', point],
    ['probed', reply],
  ]);
});
