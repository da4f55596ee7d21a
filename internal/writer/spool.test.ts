import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../testkit/logger.js';
import { Spool, type SpoolEntry } from './spool.js';

function tempDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-spool-test-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const body = (tag: string, n: number): string =>
  Array.from({ length: n }, (_, i) => `m,t=${tag} v=${i}i ${i}`).join('\n');

function spool(dir: string, maxBytes = 1 << 30, segmentBytes = 1 << 20): Spool {
  return new Spool({ dir, maxBytes, segmentBytes, logger: silentLogger() });
}

test('hands batches out oldest first and deletes segments once every record is acknowledged', async (t) => {
  const dir = tempDir(t);
  const s = spool(dir);
  await s.open();
  await s.append('primary', body('a', 3), 3);
  await s.append('health', body('b', 2), 2);
  assert.equal(s.pendingPoints, 5);
  assert.ok(s.bytes > 0);
  const a = (await s.take())!;
  const b = (await s.take())!;
  assert.deepEqual([a.target, a.body, a.points], ['primary', body('a', 3), 3]);
  assert.deepEqual([b.target, b.points], ['health', 2]);
  assert.equal(await s.take(), undefined);
  assert.equal(s.unreadPoints, 0);
  s.ack(a);
  s.ack(b);
  await s.close();
  assert.equal(s.pendingPoints, 0);
  assert.equal(s.bytes, 0);
  assert.deepEqual(readdirSync(dir), []);
});

test('a released batch comes back first', async (t) => {
  const s = spool(tempDir(t));
  await s.open();
  await s.append('primary', body('a', 1), 1);
  await s.append('primary', body('b', 1), 1);
  const a = (await s.take())!;
  assert.equal(s.release(a), 0);
  assert.equal((await s.take())!.body, body('a', 1));
  await s.close();
});

test('replays unacknowledged batches after a restart', async (t) => {
  const dir = tempDir(t);
  const first = spool(dir, 1 << 30, 64 * 1024);
  await first.open();
  for (let i = 0; i < 6; i++) await first.append('primary', body(`s${i}`, 1000), 1000);
  const done: SpoolEntry[] = [];
  for (let i = 0; i < 6; i++) done.push((await first.take())!);
  // Acknowledge the first segment's records only; the process then "dies" (no close).
  const firstSegment = done.filter(
    (e) => (e.record as { seg: unknown }).seg === (done[0]!.record as { seg: unknown }).seg,
  );
  assert.ok(firstSegment.length < 6, 'records span several segments');
  for (const e of firstSegment) first.ack(e);
  await first.close();
  const second = spool(dir, 1 << 30, 64 * 1024);
  const rec = await second.open();
  assert.equal(rec.points, (6 - firstSegment.length) * 1000);
  assert.equal(rec.truncatedBytes, 0);
  const replayed: string[] = [];
  for (let e = await second.take(); e; e = await second.take()) replayed.push(e.body);
  assert.deepEqual(
    replayed,
    done.slice(firstSegment.length).map((e) => e.body),
  );
  await second.close();
});

test('does not replay the acknowledged prefix of a segment after a restart', async (t) => {
  const dir = tempDir(t);
  const first = spool(dir);
  await first.open();
  for (let i = 0; i < 5; i++) await first.append('primary', body(`r${i}`, 10), 10);
  const e = [];
  for (let i = 0; i < 5; i++) e.push((await first.take())!);
  // Acknowledged out of order: 0, 1 and 3. Only the prefix 0..1 is safe to skip.
  first.ack(e[3]!);
  first.ack(e[0]!);
  first.ack(e[1]!);
  await first.close();
  const second = spool(dir);
  const rec = await second.open();
  assert.equal(rec.records, 3);
  const replayed: string[] = [];
  for (let x = await second.take(); x; x = await second.take()) replayed.push(x.body);
  assert.deepEqual(replayed, [body('r2', 10), body('r3', 10), body('r4', 10)]);
  await second.close();
});

test('cuts a torn last record left by a crash mid-append and keeps the complete ones', async (t) => {
  const dir = tempDir(t);
  const s = spool(dir);
  await s.open();
  await s.append('primary', body('a', 10), 10);
  await s.append('primary', body('b', 10), 10);
  await s.close();
  const [file] = readdirSync(dir);
  const path = join(dir, file!);
  const good = statSync(path).size;
  // A record header announcing 1000 bytes followed by only a few: what kill -9 mid-write leaves.
  const torn = Buffer.alloc(30);
  torn.writeUInt32LE(0x3150534e, 0);
  torn.writeUInt32LE(1000, 4);
  appendFileSync(path, torn);
  const again = spool(dir);
  const rec = await again.open();
  assert.deepEqual(rec, { records: 2, points: 20, truncatedBytes: 30 });
  assert.equal(statSync(path).size, good);
  await again.append('primary', body('c', 1), 1);
  const bodies: string[] = [];
  for (let e = await again.take(); e; e = await again.take()) bodies.push(e.body);
  assert.deepEqual(bodies, [body('a', 10), body('b', 10), body('c', 1)]);
  await again.close();
});

test('stops at a record whose checksum does not match', async (t) => {
  const dir = tempDir(t);
  const s = spool(dir);
  await s.open();
  await s.append('primary', body('a', 10), 10);
  await s.append('primary', body('b', 10), 10);
  await s.close();
  const path = join(dir, readdirSync(dir)[0]!);
  const bytes = readFileSync(path);
  bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
  writeFileSync(path, bytes);
  const again = spool(dir);
  const rec = await again.open();
  assert.equal(rec.records, 1);
  assert.equal(rec.points, 10);
  assert.ok(rec.truncatedBytes > 0);
  await again.close();
});

test('when full, drops the oldest segments and reports how many points were lost', async (t) => {
  const dir = tempDir(t);
  const s = spool(dir, 256 * 1024, 64 * 1024);
  await s.open();
  const one = body('x', 1500); // about 30 KB
  let lost = 0;
  for (let i = 0; i < 20; i++) lost += await s.append('primary', one, 1500);
  assert.ok(lost > 0);
  assert.equal(lost % 1500, 0);
  assert.ok(s.bytes <= 256 * 1024, `${s.bytes} bytes`);
  assert.equal(s.pendingPoints + lost, 20 * 1500);
  let got = 0;
  for (let e = await s.take(); e; e = await s.take()) got += e.points;
  assert.equal(got, s.pendingPoints);
  await s.close();
});

test('a batch larger than the whole spool is refused without dropping what is already spooled', async (t) => {
  const dir = tempDir(t);
  const s = spool(dir, 300_000, 64 * 1024);
  await s.open();
  for (let i = 0; i < 10; i++) assert.equal(await s.append('primary', body(`a${i}`, 100), 100), 0);
  assert.equal(await s.append('primary', body('big', 20_000), 20_000), 20_000, 'the batch itself is reported lost');
  assert.equal(s.pendingPoints, 1000, 'nothing spooled earlier was dropped for it');
  await s.close();
});

test('an .ack left without its segment (a crash between the deletions) never hides a new segment of that name', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'spool-0000000000000000.ack'), '100000');
  const s2 = spool(dir);
  await s2.open();
  for (let i = 0; i < 5; i++) await s2.append('primary', body(`r${i}`, 500), 500);
  // kill -9: no close. The next start must replay all five batches.
  const s3 = spool(dir);
  const rec = await s3.open();
  assert.deepEqual([rec.records, rec.points], [5, 2500]);
  await s3.close();
});

test('a segment that cannot be opened for reading fails take() once, and the next take() opens it again', async (t) => {
  const dir = tempDir(t);
  const s = spool(dir);
  await s.open();
  await s.append('primary', body('x', 10), 10);
  const [seg] = readdirSync(dir).filter((n) => n.endsWith('.seg'));
  renameSync(join(dir, seg!), join(dir, 'moved-away'));
  await assert.rejects(s.take(), /ENOENT/);
  renameSync(join(dir, 'moved-away'), join(dir, seg!));
  const entry = await s.take();
  assert.equal(entry?.points, 10);
  await s.close();
});
