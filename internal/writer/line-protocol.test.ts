import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Point as ClientPoint } from '@influxdata/influxdb-client';
import { field, type FieldValue, type Point } from '../model/point.js';
import {
  attachedTags,
  encodedTagSet,
  encodeTags,
  timestampText,
  toLineProtocol,
  writeRendered,
} from './line-protocol.js';

const v2 = { unsignedAsInteger: false };

test('renders exactly what the client Point renders for arbitrary names, tags and fields', () => {
  const text = fc.string({ unit: 'binary', maxLength: 12 }).map((s) => s.replace(/[\u0000-\u001f\u007f-\u009f]/g, 'x'));
  // The client's Point stores fields in a plain object, so it silently loses `__proto__`; we do not.
  const key = text.filter((s) => s !== '' && s !== '__proto__');
  const fieldArb: fc.Arbitrary<FieldValue> = fc.oneof(
    fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => field.float(v)),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }).map((v) => field.int(v)),
    fc.integer({ min: 0, max: 2 ** 40 }).map((v) => field.uint(v)),
    fc.boolean().map((v) => field.bool(v)),
    text.map((v) => field.string(v)),
  );
  fc.assert(
    fc.property(
      key,
      fc.dictionary(key, key),
      fc.dictionary(key, fieldArb, { minKeys: 1 }),
      fc.integer({ min: 0, max: 2 ** 45 }),
      (measurement, tags, fields, timeMs) => {
        const p: Point = { measurement, tags, fields, timeMs };
        const cp = new ClientPoint(measurement).timestamp(timeMs);
        for (const [k, v] of Object.entries(tags)) cp.tag(k, v);
        for (const [k, f] of Object.entries(fields)) {
          if (f.type === 'float') cp.floatField(k, f.value);
          else if (f.type === 'int') cp.intField(k, f.value);
          else if (f.type === 'uint') cp.uintField(k, f.value);
          else if (f.type === 'bool') cp.booleanField(k, f.value);
          else cp.stringField(k, f.value);
        }
        assert.equal(toLineProtocol(p, v2), cp.toLineProtocol({ convertTime: (t: unknown) => String(t) } as never));
      },
    ),
    { numRuns: 300 },
  );
});

test('a hostile string cannot start a new line or break out of its field', () => {
  const payloads = ['a\nping,ip=6.6.6.6 rtt_ms=1 1', 'x" ,evil=1', 'back\\', 'k=v,k2=v2', 'cr\rlf\n', 'tab\there'];
  for (const s of payloads) {
    const line = toLineProtocol(
      { measurement: 'device_info', tags: { ip: 'a b,c=d\ne' }, fields: { d: field.string(s) }, timeMs: 1 },
      v2,
    )!;
    assert.equal(line.split('\n').length, 1, line);
    assert.ok(line.startsWith('device_info,ip=a\\ b\\,c\\=d_e d="'), line);
    assert.ok(line.endsWith('" 1'), line);
  }
});

test('unrepresentable fields are left out and a point without fields is refused', () => {
  const p = (fields: Record<string, FieldValue>): Point => ({ measurement: 'm', tags: {}, fields, timeMs: 5 });
  assert.equal(toLineProtocol(p({ a: field.float(NaN), b: field.float(1.5) }), v2), 'm b=1.5 5');
  assert.equal(toLineProtocol(p({ a: field.float(Infinity) }), v2), undefined);
  assert.equal(toLineProtocol(p({ a: { type: 'int', value: 2 ** 60 } }), v2), undefined);
  assert.equal(toLineProtocol({ measurement: '', tags: {}, fields: { a: field.int(1) }, timeMs: 5 }, v2), undefined);
  assert.equal(toLineProtocol(p({ u: field.uint(7) }), { unsignedAsInteger: true }), 'm u=7i 5');
  assert.equal(
    toLineProtocol(
      { measurement: 'm', tags: { empty: '', ip: '127.0.0.1' }, fields: { u: field.uint(7) }, timeMs: 5 },
      v2,
    ),
    'm,ip=127.0.0.1 u=7u 5',
  );
});

test('a tag set from encodedTagSet renders exactly as the same tags rendered afresh, escapes included', () => {
  // Any text, control characters included: tag values are escaped or have them replaced.
  const text = fc.string({ unit: 'binary', maxLength: 10 });
  const key = text.filter((s) => s !== '' && s !== '__proto__');
  fc.assert(
    fc.property(
      fc.dictionary(key, fc.oneof(text, fc.constant(''), fc.constantFrom('a b', 'x,y', 'k=v', 'b\\', 'q"'))),
      (tags) => {
        const fields = { v: field.int(1) };
        const cached = encodedTagSet({ ...tags });
        const fresh = toLineProtocol({ measurement: 'm', tags: { ...tags }, fields, timeMs: 3 }, v2);
        assert.equal(toLineProtocol({ measurement: 'm', tags: cached, fields, timeMs: 3 }, v2), fresh);
        assert.equal(attachedTags(cached), encodeTags(tags));
      },
    ),
    { numRuns: 300 },
  );
  const tags = encodedTagSet({ site: 'hall 2,row=3', ip: '127.0.0.1', empty: '', ctl: 'a\nb' });
  assert.equal(attachedTags(tags), ',ctl=a_b,ip=127.0.0.1,site=hall\\ 2\\,row\\=3');
});

test('the attached rendering is invisible to copies: a changed copy is rendered from its own tags', () => {
  const tags = encodedTagSet({ ip: '127.0.0.1', name: 'old' });
  assert.ok(Object.isFrozen(tags));
  assert.throws(() => {
    (tags as Record<string, string>).name = 'x';
  }, TypeError);
  assert.deepEqual(Object.keys(tags), ['ip', 'name']);
  assert.deepEqual(tags, { ip: '127.0.0.1', name: 'old' });
  const copy = { ...tags, name: 'new' };
  assert.equal(attachedTags(copy), undefined);
  const line = toLineProtocol({ measurement: 'ping', tags: copy, fields: { ok: field.bool(true) }, timeMs: 1 }, v2);
  assert.equal(line, 'ping,ip=127.0.0.1,name=new ok=T 1');
  assert.equal(attachedTags({ ip: '127.0.0.1' }), undefined, 'a plain object has none');
});

test('timestamps render as String(ms), in and out of order, across seconds and at the edges', () => {
  const cases = [0, 1, 999, 1000, 1001, 1999, 2000, 1_700_000_000_000, 1_700_000_000_999, 1_700_000_001_000];
  cases.push(1_699_999_999_999, -1, -1000, -1001, 2 ** 53 - 1, 2 ** 53, 2 ** 60, 123_456_789_012_345);
  for (const ms of cases) assert.equal(timestampText(ms), String(ms), String(ms));
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.integer({ min: -(2 ** 45), max: 2 ** 45 }),
          fc.integer({ min: 1_700_000_000_000, max: 1_700_000_003_000 }),
        ),
      ),
      (xs) => {
        for (const ms of xs) assert.equal(timestampText(ms), String(ms));
      },
    ),
  );
});

test('a line handed over by writeRendered is used for that point during its write only, never for a copy', () => {
  const point: Point = { measurement: 'm', tags: { a: 'b' }, fields: { f: field.float(1) }, timeMs: 5000 };
  const seen: Array<string | undefined> = [];
  const inner = {
    write: (p: Point): number => {
      seen.push(toLineProtocol(p, v2));
      // A sink that writes a changed copy gets the copy rendered.
      seen.push(toLineProtocol({ ...p, fields: { f: field.float(2) } }, v2));
      return 3;
    },
  };
  const outer = {
    write: (p: Point): number => {
      seen.push(toLineProtocol(p, v2));
      // A nested writeRendered of another point ends with the outer one still handed over.
      writeRendered(inner, { ...p }, 'inner line');
      seen.push(toLineProtocol(p, v2));
      return 7;
    },
  };
  assert.equal(writeRendered(outer, point, 'outer line'), 7);
  assert.deepEqual(seen, ['outer line', 'inner line', 'm,a=b f=2 5000', 'outer line']);
  assert.equal(toLineProtocol(point, v2), 'm,a=b f=1 5000');
  // A sink that throws: the handover ends with the call.
  assert.throws(() =>
    writeRendered(
      {
        write: () => {
          throw new Error('full');
        },
      },
      point,
      'thrown line',
    ),
  );
  assert.equal(toLineProtocol(point, v2), 'm,a=b f=1 5000');
});
