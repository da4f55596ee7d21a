import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { field, type Point } from '../model/point.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { silentLogger } from '../testkit/logger.js';
import { FakeLineTransport } from '../testkit/fake-line-transport.js';
import { InfluxWriter, type InfluxWriterOptions } from './influx-writer.js';
import { PendingLines, WAL_CHUNK_LINES } from './wal.js';

const pt = (i: number): Point => ({
  measurement: 'ping',
  tags: { ip: '127.0.0.2' },
  fields: { seq: field.int(i) },
  timeMs: 1_700_000_000_000 + i,
});
const line = (i: number): string => `ping,ip=127.0.0.2 seq=${i}i ${1_700_000_000_000 + i}`;
const range = (from: number, to: number): string[] => Array.from({ length: to - from }, (_, k) => line(from + k));

// Removed once the whole file ran, after every writer's close hook.
const tempDirs: string[] = [];
after(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-wal-test-'));
  tempDirs.push(dir);
  return dir;
}

/** Lets real file I/O and promise chains settle while the fake clock stands still. */
async function settle(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 1));
  }
  assert.fail(`never happened: ${what}`);
}

const walFiles = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('wal'));

function writer(
  clock: FakeClock,
  transport: FakeLineTransport,
  dir: string,
  opts: Partial<InfluxWriterOptions> = {},
): InfluxWriter {
  return new InfluxWriter({
    transport,
    clock,
    logger: silentLogger(),
    batchSize: 100,
    flushIntervalMs: 5000,
    walSyncIntervalMs: 1000,
    spoolDir: dir,
    ...opts,
  });
}

test('a writer that dies without close loses only the points after its last group commit; the next start replays the rest', async (t) => {
  const dir = tempDir();
  const clock = new FakeClock();
  const held = new FakeLineTransport(clock);
  held.setDefault('hold');
  const dead = writer(clock, held, dir);
  await dead.start();
  for (let i = 0; i < 250; i++) dead.write(pt(i));
  await clock.advanceAsync(1000);
  await settle(() => dead.walStats()!.points === 250, 'first group committed');
  // Accepted after the last commit: in memory only, the loss window of a crash.
  for (let i = 250; i < 300; i++) dead.write(pt(i));
  assert.equal(held.acceptedLines().length, 0);

  const transport = new FakeLineTransport(clock);
  const next = writer(clock, transport, dir);
  t.after(async () => {
    await next.close(0);
    // The dead writer's held requests end so its close needs no clock (it writes into the directory before it goes).
    held.setDefault('ok');
    held.release();
    await dead.close(1000);
  });
  await next.start();
  await settle(() => next.stats().pointsWritten === 250, 'log replayed');
  assert.deepEqual(transport.acceptedLines().sort(), range(0, 250).sort());
  const s = next.stats();
  assert.equal(s.pointsReceived, 0);
  assert.equal(s.pointsSpooled, 0);
  assert.equal(s.pointsDropped, 0);
  next.checkBooks();
  assert.deepEqual(walFiles(dir), [], 'the replayed log is deleted once the spool holds it');
});

test('acknowledged groups are trimmed: a healthy writer keeps no log behind, and a restart replays nothing it delivered', async (t) => {
  const dir = tempDir();
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const first = writer(clock, transport, dir);
  await first.start();
  for (let i = 0; i < 200; i++) first.write(pt(i));
  await clock.advanceAsync(1000);
  await settle(() => first.walStats()!.commits === 1 && first.stats().pointsWritten === 200, 'committed and written');
  for (let i = 200; i < 230; i++) first.write(pt(i));
  await clock.advanceAsync(1000);
  await settle(() => first.walStats()!.commits === 2 && walFiles(dir).includes('wal.mark'), 'second commit');
  // Points 200..229 wait for the flush interval: their group stays, the delivered one is gone.
  assert.equal(walFiles(dir).filter((n) => n.endsWith('.log')).length, 1);

  const again = new FakeLineTransport(clock);
  const second = writer(clock, again, dir);
  t.after(async () => {
    await second.close(0);
    await first.close(0);
  });
  await second.start();
  await settle(() => second.stats().pointsWritten === 30, 'the undelivered group replayed');
  assert.deepEqual(again.acceptedLines().sort(), range(200, 230).sort());
  second.checkBooks();
});

test('close leaves no log behind when everything was delivered', async (t) => {
  const dir = tempDir();
  const clock = new FakeClock();
  const transport = new FakeLineTransport(clock);
  const w = writer(clock, transport, dir);
  t.after(() => w.close(0));
  await w.start();
  for (let i = 0; i < 150; i++) w.write(pt(i));
  await clock.advanceAsync(1000);
  await settle(() => w.walStats()!.commits === 1, 'committed');
  assert.notDeepEqual(walFiles(dir), []);
  await w.close(1000);
  assert.equal(w.stats().pointsWritten, 150);
  assert.deepEqual(readdirSync(dir), []);
});

test('with wal: false nothing but the spool touches the directory', async (t) => {
  const dir = tempDir();
  const clock = new FakeClock();
  const w = writer(clock, new FakeLineTransport(clock), dir, { wal: false });
  t.after(() => w.close(0));
  await w.start();
  for (let i = 0; i < 150; i++) w.write(pt(i));
  await clock.advanceAsync(1000);
  assert.equal(w.walStats(), undefined);
  assert.deepEqual(walFiles(dir), []);
});

test('pending lines encode every chunk of lines, hold no more strings than one chunk, and give back the lines joined', () => {
  const chunk = 4;
  for (const n of [1, 3, 4, 5, 8, 9, 13]) {
    const p = new PendingLines();
    const lines = Array.from({ length: n }, (_, i) => `ping,ip=127.0.0.${i} rtt_ms=${i}.5,name="é${i}" ${i}`);
    for (const l of lines) {
      p.add(l, chunk);
      assert.ok(p.unencoded < chunk, `${n} lines: ${p.unencoded} held as strings`);
    }
    assert.equal(p.count, n);
    assert.equal(p.payload().toString('utf8'), lines.join('\n'), `${n} lines`);
  }
});

test('a group commit spanning several chunks replays every line after a crash', async (t) => {
  const dir = tempDir();
  const clock = new FakeClock();
  const held = new FakeLineTransport(clock);
  held.setDefault('hold');
  const n = 2 * WAL_CHUNK_LINES + 7;
  const dead = writer(clock, held, dir, { batchSize: 5000 });
  await dead.start();
  for (let i = 0; i < n; i++) dead.write(pt(i));
  await clock.advanceAsync(1000);
  await settle(() => dead.walStats()!.points === n, 'the group committed');

  const transport = new FakeLineTransport(clock);
  const next = writer(clock, transport, dir);
  t.after(async () => {
    await next.close(0);
    held.setDefault('ok');
    held.release();
    await dead.close(1000);
  });
  await next.start();
  await settle(() => next.stats().pointsWritten === n, 'log replayed');
  assert.deepEqual(transport.acceptedLines(), range(0, n));
});
