import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PingOutcome } from '../model/ping.js';
import { field, type Point } from '../model/point.js';
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
