import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { distinctSampleCount, sampleCount, VictoriaMetrics } from '../testkit/victoria-metrics.js';
import type { WriterStats } from './influx-writer.js';

const child = fileURLToPath(new URL('./testdata/crash-child.ts', import.meta.url));
const root = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  /** Resolves with the exit code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Latest stats line. */
  last: () => WriterStats | undefined;
  /** Resolves with the first stats line accepted by `cond`. */
  until: (cond: (s: WriterStats) => boolean) => Promise<WriterStats>;
  kill: () => void;
  stderr: () => string;
}

const children: Array<{ kill: (sig: NodeJS.Signals) => boolean }> = [];

function run(opts: Record<string, unknown>): Run {
  const proc = spawn(process.execPath, ['--import', 'tsx', child, JSON.stringify(opts)], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let last: WriterStats | undefined;
  let err = '';
  let buf = '';
  const waiters: Array<{ cond: (s: WriterStats) => boolean; resolve: (s: WriterStats) => void }> = [];
  proc.stdout.on('data', (d: Buffer) => {
    buf += d.toString('utf8');
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const l of lines) {
      last = JSON.parse(l) as WriterStats;
      for (const w of waiters.splice(0))
        if (w.cond(last)) w.resolve(last);
        else waiters.push(w);
    }
  });
  proc.stderr.on('data', (d: Buffer) => {
    err += d.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return {
    exited,
    last: () => last,
    until: (cond) =>
      Promise.race([
        new Promise<WriterStats>((resolve) => waiters.push({ cond, resolve })),
        exited.then(({ code, signal }) => {
          throw new Error(
            `child exited (${code ?? signal}) before the condition held; last=${JSON.stringify(last)}\n${err}`,
          );
        }),
      ]),
    kill: () => proc.kill('SIGKILL'),
    stderr: () => err,
  };
}

test(
  'an outage, kill -9 while spooling, kill -9 while replaying and a restart lose no point',
  { timeout: 90_000 },
  async (t) => {
    const vm = new VictoriaMetrics();
    const spoolDir = mkdtempSync(join(tmpdir(), 'netscan-crash-spool-'));
    t.after(async () => {
      for (const c of children) c.kill('SIGKILL');
      await vm.dispose();
      rmSync(spoolDir, { recursive: true, force: true });
    });
    await vm.start();
    await vm.stop();
    const baseMs = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
    const N = 20_000;
    const M = 3_000;
    const common = { url: vm.url, spoolDir, baseMs };

    // 1. The server is down: every point goes to the spool; then the agent is killed.
    const a = run({ ...common, from: 0, count: N });
    await a.until((s) => s.spoolPoints === N && s.queueDepth === 0);
    a.kill();
    assert.equal((await a.exited).signal, 'SIGKILL');

    // 2. A crash in the middle of an append leaves a torn record at the end of the newest segment.
    const newest = readdirSync(spoolDir)
      .filter((n) => n.endsWith('.seg'))
      .sort()
      .pop()!;
    const torn = Buffer.alloc(64);
    torn.writeUInt32LE(0x3150534e, 0);
    torn.writeUInt32LE(5000, 4);
    appendFileSync(join(spoolDir, newest), torn);

    // 3. The server is back; the agent dies again right after the server acknowledged its 3rd replayed batch.
    await vm.start();
    const b = run({ ...common, from: 0, count: 0, killAfterAcks: 3 });
    assert.equal((await b.exited).signal, 'SIGKILL');
    assert.match(b.stderr(), /partial record/);

    // 4. Restart: the rest of the spool is replayed, new points flow, and the agent stops cleanly.
    const c = run({ ...common, from: N, count: M, exitWhenDrained: true });
    assert.equal((await c.exited).code, 0, c.stderr());
    const final = c.last()!;
    assert.equal(final.pointsDropped, 0);
    assert.equal(final.spoolPoints, 0);
    assert.deepEqual(readdirSync(spoolDir), []);

    const series = await vm.waitForSamples('{__name__="crash_seq"}', N + M, 20_000);
    assert.equal(distinctSampleCount(series), N + M, `raw samples: ${sampleCount(series)}`);
    const seen = new Set(series.flatMap((s) => s.values));
    for (let i = 0; i < N + M; i++) assert.ok(seen.has(i), `point ${i} missing`);
    t.diagnostic(
      `samples stored ${sampleCount(series)} for ${N + M} points (duplicates come from batches acknowledged just before kill -9)`,
    );
  },
);

test(
  'kill -9 at a random moment while the server is up loses no point older than the sync interval plus a margin',
  { timeout: 90_000 },
  async (t) => {
    const vm = new VictoriaMetrics();
    const spoolDir = mkdtempSync(join(tmpdir(), 'netscan-crash-wal-'));
    t.after(async () => {
      for (const c of children) c.kill('SIGKILL');
      await vm.dispose();
      rmSync(spoolDir, { recursive: true, force: true });
    });
    await vm.start();
    const baseMs = Math.floor(Date.now() / 1000) * 1000 - 2 * 3_600_000;
    const RATE = 5000;
    // One commit per second (the default); the margin covers a commit that is slow on a busy machine.
    const WINDOW_MS = 2000;
    // batch_size 20,000 and flush_interval 5 s: seconds of points sit in memory, where a kill -9 used to lose them.
    const a = run({
      url: vm.url,
      spoolDir,
      baseMs,
      from: 0,
      count: 0,
      rate: RATE,
      flushIntervalMs: 5000,
      batchSize: 20_000,
    });
    const history: Array<{ atMs: number; received: number }> = [];
    let killAtMs = Infinity;
    await a.until((s) => {
      const now = Date.now();
      history.push({ atMs: now, received: s.pointsReceived });
      if (killAtMs === Infinity && s.pointsReceived > 0) killAtMs = now + 3000 + Math.floor(Math.random() * 2000);
      return now >= killAtMs;
    });
    a.kill();
    const killedAtMs = Date.now();
    assert.equal((await a.exited).signal, 'SIGKILL');
    const safe = Math.max(0, ...history.filter((h) => h.atMs <= killedAtMs - WINDOW_MS).map((h) => h.received));
    const lastReported = history.at(-1)!.received;
    assert.ok(safe >= RATE, `at least a second of points before the window (${safe})`);

    // Restart: the log's tail is replayed through the spool, then the agent stops cleanly with balanced books.
    const b = run({ url: vm.url, spoolDir, baseMs, from: 0, count: 0, exitWhenDrained: true });
    assert.equal((await b.exited).code, 0, b.stderr());
    const final = b.last()!;
    assert.equal(final.pointsDropped, 0);
    assert.equal(final.spoolPoints, 0);
    assert.match(b.stderr(), /Write-ahead log holds points/);
    assert.deepEqual(readdirSync(spoolDir), []);

    const series = await vm.waitForSamples('{__name__="crash_seq"}', safe, 20_000);
    const stored = new Set(series.flatMap((x) => x.values));
    for (let i = 0; i < safe; i++)
      assert.ok(stored.has(i), `point ${i} missing (${safe} accepted ${WINDOW_MS} ms before the kill)`);
    const top = Math.max(...stored);
    assert.ok(top < lastReported + RATE, `no point the child never wrote (${top})`);
    t.diagnostic(
      `accepted ${lastReported}+ before kill -9, ${safe} of them ${WINDOW_MS} ms before it; stored ${distinctSampleCount(series)} distinct ` +
        `(${sampleCount(series)} samples); lost at most ${lastReported - distinctSampleCount(series)} of the last reported (${Math.round((1000 * (lastReported - distinctSampleCount(series))) / RATE)} ms at ${RATE}/s)`,
    );
  },
);
