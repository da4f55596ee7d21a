import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { field, type FieldValue, type Point } from '../model/point.js';
import { BatchQueue, type Batch } from './batch-queue.js';
import { LineBytes } from './line-bytes.js';
import { encodedTagSet, toLineProtocol, writeRendered, type LineProtocolOptions } from './line-protocol.js';
import { PendingLines } from './wal.js';

const v2: LineProtocolOptions = { unsignedAsInteger: false };
const v1: LineProtocolOptions = { unsignedAsInteger: true };

// Any UTF-16 text: control characters, quotes, escapes, astral characters and lone surrogates.
const unit = fc.oneof(
  fc.constantFrom(' ', ',', '=', '\\', '"', '\n', '\r', '\t', '\u0085', 'é', '😀', '\ud800', '\udc00'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
);
const text = fc.string({ unit });
const key = text.filter((s) => s !== '__proto__');
const fieldArb: fc.Arbitrary<FieldValue> = fc.oneof(
  fc.double().map((v) => field.float(v)),
  fc.oneof(fc.integer(), fc.constantFrom(2 ** 53, 2 ** 60, -0)).map((v): FieldValue => ({ type: 'int', value: v })),
  fc.oneof(fc.integer(), fc.constant(2 ** 60)).map((v): FieldValue => ({ type: 'uint', value: v })),
  fc.boolean().map((v) => field.bool(v)),
  text.map((v) => field.string(v)),
);
const timeArb = fc.oneof(
  fc.integer({ min: 1_700_000_000_000, max: 1_700_000_002_000 }),
  fc.integer({ min: -(2 ** 45), max: 2 ** 45 }),
  fc.double(),
  fc.constantFrom(0, 999, 1000, 2 ** 53, 2 ** 60, 1_700_000_000_000.5),
);
const pointArb: fc.Arbitrary<Point> = fc
  .record({
    measurement: fc.oneof(fc.constantFrom('ping', 'ping_summary', ''), text),
    tags: fc.dictionary(key, fc.oneof(text, fc.constant(''))),
    fields: fc.dictionary(key, fieldArb, { maxKeys: 4 }),
    timeMs: timeArb,
    frozen: fc.boolean(),
  })
  .map(({ frozen, tags, ...p }) => ({ ...p, tags: frozen ? encodedTagSet({ ...tags }) : tags }));

/** What the string path gives: each point's toLineProtocol line, the invalid ones left out. */
function lines(points: readonly Point[], opts: LineProtocolOptions): string[] {
  return points.map((p) => toLineProtocol(p, opts)).filter((l): l is string => l !== undefined);
}

test('a point appended as bytes is exactly its toLineProtocol line; an invalid one appends nothing', () => {
  fc.assert(
    fc.property(fc.array(pointArb, { maxLength: 12 }), fc.boolean(), fc.nat(200), (points, unsigned, hint) => {
      const opts = unsigned ? v1 : v2;
      const b = new LineBytes(hint);
      for (const p of points) {
        const line = toLineProtocol(p, opts);
        assert.equal(b.appendPoint(p, opts), line === undefined ? -1 : line.length);
        if (line !== undefined) {
          const view = b.lastBuffer.subarray(b.lastStart, b.lastEnd);
          assert.equal(view.toString('utf8'), Buffer.from(line, 'utf8').toString('utf8'));
        }
      }
      const want = lines(points, opts);
      assert.equal(b.count, want.length);
      assert.deepEqual(b.bytes(), Buffer.from(want.join('\n'), 'utf8'));
      assert.deepEqual(Buffer.from(b.text(), 'utf8'), Buffer.from(want.join('\n'), 'utf8'));
    }),
    { numRuns: 500 },
  );
});

test('an empty batch has no bytes and an empty body', () => {
  const b = new LineBytes();
  assert.equal(b.count, 0);
  assert.equal(b.text(), '');
  assert.equal(b.bytes().length, 0);
  assert.equal(b.appendPoint({ measurement: 'm', tags: {}, fields: { a: field.float(NaN) }, timeMs: 1 }, v2), -1);
  assert.equal(b.count, 0);
  assert.equal(b.text(), '');
});

test('huge and non-ASCII lines grow the buffer and come out whole, and earlier views keep their bytes', () => {
  const b = new LineBytes(0);
  const big = 'x'.repeat(3 << 20);
  const pts: Point[] = [
    { measurement: 'ping', tags: { ip: '127.0.0.1' }, fields: { ok: field.bool(true) }, timeMs: 1_700_000_000_001 },
    { measurement: 'dev', tags: { name: 'Zürich 😀' }, fields: { d: field.string(`${big}"é"\n`) }, timeMs: 2 },
    { measurement: 'mé', tags: { ip: '127.0.0.2' }, fields: { n: field.uint(5) }, timeMs: 1_700_000_000_002 },
  ];
  const first = b.appendPoint(pts[0]!, v2);
  const view = b.lastBuffer.subarray(b.lastStart, b.lastEnd);
  for (const p of pts.slice(1)) b.appendPoint(p, v2);
  assert.equal(first, toLineProtocol(pts[0]!, v2)!.length);
  assert.equal(view.toString('utf8'), toLineProtocol(pts[0]!, v2));
  assert.equal(b.text(), lines(pts, v2).join('\n'));
  assert.deepEqual(b.bytes(), Buffer.from(lines(pts, v2).join('\n'), 'utf8'));
});

test('shedding the oldest lines leaves the newest, and reports their length + 1 in UTF-16 code units', () => {
  const b = new LineBytes();
  const all = ['a', 'bé', '😀c', 'dddd', 'e'];
  for (const l of all) b.appendLine(l);
  assert.equal(b.shed(2), 'a'.length + 1 + 'bé'.length + 1);
  assert.equal(b.text(), all.slice(2).join('\n'));
  assert.equal(b.shed(0), 0);
  assert.equal(b.shed(10), '😀c'.length + 1 + 'dddd'.length + 1 + 'e'.length + 1);
  assert.equal(b.count, 0);
  assert.equal(b.text(), '');
  b.appendLine('f');
  assert.equal(b.text(), 'f');
});

/** Every sealed batch, in order, merged up to `coalesce` UTF-16 code units (0: one by one). */
function drain(q: BatchQueue, coalesce: number): Batch[] {
  const out: Batch[] = [];
  const next = (): Batch | undefined => (coalesce > 0 ? q.shiftCoalesced(coalesce) : q.shift());
  for (let b = next(); b; b = next()) out.push(b);
  return out;
}

test('the queue seals and merges the same batches from points as from their lines (count, UTF-16 size, shed, flush)', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(pointArb, fc.constantFrom<'primary' | 'health'>('primary', 'health'), fc.nat(3)), {
        maxLength: 40,
      }),
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 120 }),
      fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 400 })),
      (steps, batchSize, maxBatchBytes, coalesce) => {
        const fromPoints = new BatchQueue({ batchSize, maxBatchBytes });
        const fromLines = new BatchQueue({ batchSize, maxBatchBytes });
        steps.forEach(([p, target, op], i) => {
          const line = toLineProtocol(p, v2);
          const sealed = fromPoints.addPoint(target, p, v2, i);
          assert.equal(sealed, line === undefined ? undefined : fromLines.add(target, line, i));
          if (op === 0) assert.equal(fromPoints.shed(2), fromLines.shed(2));
          if (op === 1) assert.equal(fromPoints.seal(target), fromLines.seal(target));
          assert.equal(fromPoints.points, fromLines.points);
          assert.equal(fromPoints.oldestWalGroup(), fromLines.oldestWalGroup());
        });
        fromPoints.seal('primary');
        fromLines.seal('primary');
        fromPoints.seal('health');
        fromLines.seal('health');
        const a = drain(fromPoints, coalesce);
        const b = drain(fromLines, coalesce);
        for (const x of a) {
          assert.deepEqual(x.bytes, Buffer.from(x.body, 'utf8'));
          assert.equal(x.units, x.body.length);
        }
        // The same bytes on the wire: a lone surrogate reads back as U+FFFD, which UTF-8 encodes it as anyway.
        const wire = (x: Batch): object => ({
          target: x.target,
          body: Buffer.from(x.body, 'utf8'),
          points: x.points,
          seq: x.seq,
          walGroup: x.walGroup,
        });
        assert.deepEqual(a.map(wire), b.map(wire));
      },
    ),
    { numRuns: 300 },
  );
});

test('the write-ahead log keeps adjacent byte lines as one view and gives back every line in order', () => {
  const b = new LineBytes(16);
  const p = new PendingLines();
  const want: string[] = [];
  for (let i = 0; i < 50; i++) {
    if (i % 7 === 3) {
      const l = `str é${i}`;
      p.add(l, 4);
      want.push(l);
      continue;
    }
    const l = `line ${'y'.repeat(i)} ${i}`;
    b.appendLine(l);
    p.addBytes(b.lastBuffer, b.lastStart, b.lastEnd);
    want.push(l);
  }
  assert.equal(p.count, 50);
  assert.equal(p.payload().toString('utf8'), want.join('\n'));
  // A byte line alone is handed over as it is, without a copy.
  const one = new PendingLines();
  b.appendLine('last');
  one.addBytes(b.lastBuffer, b.lastStart, b.lastEnd);
  assert.equal(one.payload().buffer, b.lastBuffer.buffer);
  assert.equal(one.payload().toString(), 'last');
});

test('floats are written as String writes them, RTTs of whole nanoseconds included', () => {
  const written = (x: number): string => {
    const b = new LineBytes();
    b.appendPoint({ measurement: 'm', tags: {}, fields: { f: field.float(x) }, timeMs: 1 }, v2);
    return b.text().slice('m f='.length, -' 1'.length);
  };
  const nanos = fc.oneof(fc.nat(2_000_000_000), fc.integer({ min: 0, max: 2 ** 53 }), fc.nat(1000));
  fc.assert(
    fc.property(
      fc.oneof(
        nanos.map((ns) => ns / 1e6),
        nanos.map((ns) => ns / 1e3),
        fc.double({ noNaN: true }),
      ),
      (x) => {
        if (Number.isFinite(x)) assert.equal(written(x), String(x));
      },
    ),
    { numRuns: 20_000 },
  );
  const edges = [1e-6, 1e-7, 0.1, 0.000123, 999_999_999.999999, 1e9, 1e9 + 0.5, 123.4, 5e-324, -0, -0.5, 1e21, 0.3];
  for (const x of edges) assert.equal(written(x), String(x), String(x));
});

test('a point handed over by writeRendered is appended as its line, not rendered again; a copy of it is rendered', () => {
  const point: Point = {
    measurement: 'ping',
    tags: { ip: '127.0.0.1' },
    fields: { rtt_ms: field.float(1) },
    timeMs: 1,
  };
  // A line that is not the point's rendering shows which path appendPoint took.
  const marker = 'ping,ip=127.0.0.1 rtt_ms=2 1000000';
  const b = new LineBytes();
  const sink = { write: (p: Point): number => (b.appendPoint(p, v2) >= 0 ? 1 : 0), writtenTotal: 0, droppedTotal: 0 };
  writeRendered(sink, point, marker);
  b.appendPoint({ ...point }, v2);
  assert.equal(b.text(), `${marker}\n${toLineProtocol(point, v2)!}`);
});
