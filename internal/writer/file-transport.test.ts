import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../testkit/fake-clock.js';
import { silentLogger } from '../testkit/logger.js';
import { pollUntil } from '../testkit/server-process.js';
import { field, type Point } from '../model/point.js';
import { pingPoint } from '../model/points.js';
import { FileTransport } from './file-transport.js';
import { InfluxWriter } from './influx-writer.js';
import { toLineProtocol } from './line-protocol.js';

test('the file sink appends line protocol and rotates by size, keeping maxFiles old files', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-file-sink-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'sub', 'netscan.lp');
  const transport = new FileTransport({ path, maxBytes: 1000, maxFiles: 2 });
  const clock = new FakeClock();
  const writer = new InfluxWriter({ transport, clock, logger: silentLogger(), batchSize: 5 });
  await writer.start();
  for (let i = 0; i < 100; i++)
    writer.write(pingPoint({ ok: true, ip: '127.0.0.9', rttMs: i, sentAtMs: 0 }, { timeMs: 1_700_000_000_000 + i }));
  await pollUntil(
    async () => writer.stats(),
    (s) => s.pointsWritten === 100,
    { deadlineMs: 5000, intervalMs: 5 },
  );
  await writer.close(1000);
  assert.deepEqual(readdirSync(join(dir, 'sub')).sort(), ['netscan.lp', 'netscan.lp.1', 'netscan.lp.2']);
  const files = ['netscan.lp.2', 'netscan.lp.1', 'netscan.lp'].map((f) => readFileSync(join(dir, 'sub', f), 'utf8'));
  for (const f of files) assert.ok(Buffer.byteLength(f) <= 1000, `${Buffer.byteLength(f)} bytes`);
  const lines = files
    .join('')
    .split('\n')
    .filter((l) => l !== '');
  // The newest lines are kept, in order, each complete.
  assert.equal(lines.at(-1), 'ping,ip=127.0.0.9 rtt_ms=99,success=T,suspended=F 1700000000099');
  for (const l of lines) assert.match(l, /^ping,ip=127\.0\.0\.9 rtt_ms=\d+,success=T,suspended=F \d+$/);
  const seqs = lines.map((l) => Number(/rtt_ms=(\d+)/.exec(l)![1]));
  assert.deepEqual(
    seqs,
    Array.from({ length: seqs.length }, (_, i) => 100 - seqs.length + i),
  );
});

test('a body given as bytes is appended exactly as the same body given as text', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-file-sink-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const bodies = ['a b=1 1', 'Zürich 😀 x=2 2\nm y=3 3', 'ends=1 4\n', '', 'x'.repeat(200_000)];
  const signal = new AbortController().signal;
  const asText = new FileTransport({ path: join(dir, 'text.lp') });
  const asBytes = new FileTransport({ path: join(dir, 'bytes.lp') });
  for (const b of bodies) {
    await asText.send(b, 'primary', signal);
    await asBytes.sendBytes(Buffer.from(b, 'utf8'), 'primary', signal);
  }
  await asText.close();
  await asBytes.close();
  const text = readFileSync(join(dir, 'text.lp'));
  assert.ok(text.toString('utf8').startsWith('a b=1 1\nZürich 😀 x=2 2\nm y=3 3\nends=1 4\n\n'));
  assert.deepEqual(readFileSync(join(dir, 'bytes.lp')), text);
});

test('the writer writes each point as its line-protocol line, non-ASCII and merged batches included', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-file-sink-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'out.lp');
  const transport = new FileTransport({ path, maxBytes: 0 });
  const clock = new FakeClock();
  // One append at a time, merging the waiting batches: how the agent runs its file output.
  const writer = new InfluxWriter({
    transport,
    clock,
    logger: silentLogger(),
    batchSize: 7,
    maxConcurrentWrites: 1,
    coalesceBatches: true,
  });
  await writer.start();
  const points: Point[] = Array.from({ length: 300 }, (_, i) => ({
    measurement: i % 3 === 0 ? 'device_info' : 'ping',
    tags: { ip: `127.0.0.${i % 250}`, name: i % 5 === 0 ? `hôte ${i} 😀` : `h${i}` },
    fields: { rtt_ms: field.float(i / 7), descr: field.string(`"quoted" é\n${'z'.repeat(i)}`) },
    timeMs: 1_700_000_000_000 + i * 37,
  }));
  for (const p of points) writer.write(p);
  writer.flush();
  await pollUntil(
    async () => writer.stats(),
    (s) => s.pointsWritten === points.length,
    { deadlineMs: 5000, intervalMs: 5 },
  );
  await writer.close(1000);
  const want = points.map((p) => `${toLineProtocol(p, transport)!}\n`).join('');
  assert.equal(readFileSync(path, 'utf8'), want);
});
