import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock } from '../testkit/fake-clock.js';
import { silentLogger } from '../testkit/logger.js';
import { pollUntil } from '../testkit/server-process.js';
import { pingPoint } from '../model/points.js';
import { FileTransport } from './file-transport.js';
import { InfluxWriter } from './influx-writer.js';

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
