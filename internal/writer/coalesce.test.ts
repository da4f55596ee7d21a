import assert from 'node:assert/strict';
import { test } from 'node:test';
import { field, type Point } from '../model/point.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { FakeLineTransport } from '../testkit/fake-line-transport.js';
import { silentLogger } from '../testkit/logger.js';
import { BatchQueue } from './batch-queue.js';
import { defaultInfluxWriterOptions, InfluxWriter } from './influx-writer.js';
import type { LineTransport, WriteTarget } from './transport.js';

const pt = (i: number, bucket?: 'health'): Point => ({
  measurement: 'ping',
  tags: { ip: '127.0.0.2' },
  fields: { seq: field.int(i) },
  timeMs: 1_700_000_000_000 + i,
  ...(bucket ? { bucket } : {}),
});
const line = (i: number): string => `ping,ip=127.0.0.2 seq=${i}i ${1_700_000_000_000 + i}`;
const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

test('coalescing merges the waiting sealed batches of one target up to the byte cap, in order, keeping the oldest seq and log group', () => {
  const q = new BatchQueue({ batchSize: 2, maxBatchBytes: 1 << 20 });
  for (let i = 0; i < 7; i++) q.add(i === 4 ? 'health' : 'primary', line(i), 10 - i);
  q.seal('primary');
  q.seal('health');
  // Sealed: [0,1] [2,3] [5,6] primary, then [4] health.
  const lineBytes = line(0).length;
  const twoBatches = 2 * (2 * lineBytes + 1) + 1;
  const a = q.shiftCoalesced(twoBatches)!;
  assert.deepEqual(a.body.split('\n'), [0, 1, 2, 3].map(line));
  assert.deepEqual([a.points, a.seq, a.walGroup], [4, 0, 8]);
  const b = q.shiftCoalesced(1 << 20)!;
  assert.deepEqual(b.body.split('\n'), [5, 6].map(line));
  assert.equal(b.target, 'primary');
  const c = q.shiftCoalesced(1 << 20)!;
  assert.deepEqual([c.target, c.body], ['health', line(4)]);
  assert.equal(q.shiftCoalesced(1 << 20), undefined);
  assert.equal(q.points, 0);
});

for (const coalesceBatches of [true, false]) {
  test(`one request at a time: a backlog of sealed batches leaves ${coalesceBatches ? 'in one request' : 'one request per batch'} (coalesceBatches ${coalesceBatches})`, async (t) => {
    const clock = new FakeClock();
    const transport = new FakeLineTransport(clock);
    transport.setDefault('hold');
    const w = new InfluxWriter({
      transport,
      clock,
      logger: silentLogger(),
      batchSize: 10,
      maxConcurrentWrites: 1,
      coalesceBatches,
    });
    t.after(() => w.close(0));
    await w.start();
    for (let i = 0; i < 10; i++) w.write(pt(i));
    await settle();
    for (let i = 10; i < 55; i++) w.write(pt(i));
    await settle();
    // The first batch is in flight; four more sealed and five lines open wait behind it.
    assert.equal(transport.sends.length, 1);
    transport.setDefault('ok');
    transport.release();
    await settle();
    w.flush();
    await settle();
    const sizes = transport.sends.map((s) => s.lines.length);
    assert.deepEqual(sizes, coalesceBatches ? [10, 40, 5] : [10, 10, 10, 10, 10, 5]);
    assert.deepEqual(
      transport.acceptedLines(),
      Array.from({ length: 55 }, (_, i) => line(i)),
    );
    assert.equal(w.stats().pointsWritten, 55);
    w.checkBooks();
  });
}

test('the default writer keeps up with 100,000 points/s against a server taking 150 ms per 5,000-line request', async () => {
  const clock = new FakeClock();
  let lines = 0;
  const slow: LineTransport = {
    name: 'slow',
    unsignedAsInteger: false,
    send: async (body: string, _target: WriteTarget, signal: AbortSignal) => {
      await clock.sleep(150, signal);
      lines += body.split('\n').length;
    },
    close: () => Promise.resolve(),
  };
  const w = new InfluxWriter({ transport: slow, clock, logger: silentLogger() });
  await w.start();
  // 8 s at 100k points/s: 5,000 points every 50 ms.
  for (let tick = 0; tick < 160; tick++) {
    for (let k = 0; k < 5000; k++) w.write(pt(tick * 5000 + k));
    await clock.advanceAsync(50);
  }
  const s = w.stats();
  assert.equal(s.pointsDropped, 0);
  assert.ok(s.queueDepth <= 2 * defaultInfluxWriterOptions.batchSize, `queue ${s.queueDepth} points`);
  assert.equal(lines, s.pointsWritten);
  const closed = w.close(10_000);
  await clock.advanceAsync(10_000);
  await closed;
  assert.equal(w.stats().pointsWritten, 800_000);
});
