import assert from 'node:assert/strict';
import { test } from 'node:test';
import { field, type Point } from '../model/point.js';
import { BatchQueue } from './batch-queue.js';

const opts = { unsignedAsInteger: false };
// A device named in Japanese: 3 UTF-8 bytes per character of its name tag.
const pt = (i: number): Point => ({
  measurement: 'ping',
  tags: { ip: '127.0.0.2', name: '東京の本社ルーター第一号機' },
  fields: { seq: field.int(100 + i) }, // every line the same length
  timeMs: 1_700_000_000_000 + i,
});

test('max_batch_bytes caps a batch body in UTF-8 bytes, not characters, whatever its tags', () => {
  const cap = 2000;
  const q = new BatchQueue({ batchSize: 10_000, maxBatchBytes: cap });
  const lineBytes = (() => {
    const one = new BatchQueue({ batchSize: 1, maxBatchBytes: cap });
    one.addPoint('primary', pt(0), opts);
    return Buffer.byteLength(one.shift()!.body);
  })();
  for (let i = 0; i < 200; i++) q.addPoint('primary', pt(i), opts);
  q.seal('primary');
  let batches = 0;
  for (let b = q.shift(); b !== undefined; b = q.shift()) {
    batches++;
    const bytes = Buffer.byteLength(b.body, 'utf8');
    assert.equal(b.bytes?.length, bytes);
    // A batch is sealed by the line that reaches the cap, so it may pass it by that one line.
    assert.ok(bytes < cap + lineBytes, `batch ${batches}: ${bytes} bytes for a cap of ${cap}`);
  }
  assert.ok(batches > 1);
});

test('coalescing stays within the byte cap in UTF-8 bytes', () => {
  const q = new BatchQueue({ batchSize: 5, maxBatchBytes: 1 << 20 });
  for (let i = 0; i < 40; i++) q.addPoint('primary', pt(i), opts);
  const one = q.shift()!;
  const cap = 3 * one.bytes!.length + 2;
  const merged = q.shiftCoalesced(cap)!;
  assert.equal(merged.points, 15, 'three batches of five fit, a fourth does not');
  assert.ok(merged.bytes!.length <= cap);
});
