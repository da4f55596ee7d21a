// The probe thread in a real worker_threads Worker with the real ICMP engine, in a private
// network namespace (only loopback). See testdata/probe-thread-netns.ts for the child side.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { lastJsonLine, netnsAvailable, runInNetns } from '../testkit/netns.js';

const script = fileURLToPath(new URL('./testdata/probe-thread-netns.ts', import.meta.url));
const skip = netnsAvailable() ? false : 'needs root and unshare -n (network namespaces)';

interface Result {
  pings: Record<string, number>;
  successes: Record<string, number>;
  summarised: Record<string, number>;
  lastSeenMoved: string[];
  rtts: number;
  sent: number;
  replies: number;
  engine: number;
  counters: { spawnsTotal: number; crashesTotal: number; batchesTotal: number; recordsTotal: number };
  logs: string[];
  threadNice: number | undefined;
  mainNice: number;
}

test(
  'a worker thread pings loopback devices and their points, RTTs and sightings reach the main thread',
  { skip },
  async () => {
    const res = await runInNetns({ script, timeoutMs: 30_000 });
    assert.equal(res.code, 0, res.stderr);
    const r = lastJsonLine<Result>(res);
    for (const ip of ['127.0.5.1', '127.0.5.2', '127.0.5.3', '127.0.5.4']) {
      // 2 s at 250 ms: about 8 slots each, every one answered.
      assert.ok((r.pings[ip] ?? 0) >= 5, `${ip}: ${r.pings[ip]} ping points`);
      assert.equal(r.successes[ip], r.pings[ip], `${ip} failed a probe`);
      // stop() drains: every probe is in a summary, the open windows' included, before it resolves.
      assert.equal(r.summarised[ip], r.pings[ip], ip);
    }
    assert.equal(r.lastSeenMoved.length, 4, 'every success was replayed on the store');
    assert.ok(r.sent >= 20 && r.replies === r.sent, `sent ${r.sent}, replies ${r.replies}`);
    assert.ok(r.engine >= r.sent, `thread engine sent ${r.engine}`);
    assert.ok(r.rtts >= r.sent);
    assert.deepEqual({ spawns: r.counters.spawnsTotal, crashes: r.counters.crashesTotal }, { spawns: 1, crashes: 0 });
    assert.ok(r.counters.batchesTotal < r.counters.recordsTotal, 'records travel in batches');
    assert.ok(r.logs.includes('ping scheduler started'), r.logs.join(', '));
    assert.ok(r.logs.includes('ping scheduler stopped'), r.logs.join(', '));
    assert.deepEqual({ thread: r.threadNice, main: r.mainNice }, { thread: 5, main: 0 });
  },
);
