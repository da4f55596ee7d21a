// The scheduler on the real ICMP engine, in a private network namespace (only loopback): hosts
// alive at discovery that nft then drops become failures, then suspended; the others never fail.
// See testdata/monitor-netns.ts for the child side.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { lastJsonLine, netnsAvailable, runInNetns } from '../testkit/netns.js';

const script = fileURLToPath(new URL('./testdata/monitor-netns.ts', import.meta.url));
const skip = netnsAvailable() ? false : 'needs root and unshare -n (network namespaces)';

interface Result {
  found: string[];
  dropped: string[];
  before: Record<string, string>;
  after: Record<string, string>;
  whole: Record<string, string>;
  suspendedNow: string[];
  trips: number;
  failuresByReason: Record<string, number>;
  devicesScheduled: number;
}

test('hosts dropped by nft after discovery fail, then are suspended; the others never fail', { skip }, async () => {
  const res = await runInNetns({ script, timeoutMs: 30_000 });
  assert.equal(res.code, 0, res.stderr);
  const r = lastJsonLine<Result>(res);
  const all = Array.from({ length: 14 }, (_, i) => `127.0.4.${i + 1}`);
  assert.deepEqual(r.found, [...all].sort());
  assert.equal(r.devicesScheduled, 14);
  for (const ip of all) {
    // Monitoring started at discovery: every host answered before the drop (about 5 slots in 1.2 s).
    assert.match(r.before[ip] ?? '', /^s{3,}$/, `${ip} before the drop: ${r.before[ip]}`);
    const story = r.after[ip] ?? '';
    if (r.dropped.includes(ip)) {
      // Replies until the drop, then exactly three timeouts trip the breaker
      // (ping_max_consecutive_fails: 3), suspended slots for the 1.5 s backoff, then probing
      // resumes and fails again. (The whole story: a probe sent during the nft call is in neither half.)
      assert.match(r.whole[ip] ?? '', /^s+tttS{5,7}t/, `${ip}: ${r.whole[ip]}`);
      assert.doesNotMatch(story, /s/, `${ip} answered after the drop: ${story}`);
    } else {
      // No host-side failure ever: replies only ('o' would be an agent stall, not a host failure).
      assert.match(story, /^[so]{8,}$/, `${ip} after the drop: ${story}`);
      assert.ok((story.match(/s/g) ?? []).length >= 8, `${ip}: ${story}`);
    }
  }
  assert.ok(r.trips >= 4, `trips ${r.trips}`);
  assert.equal(r.failuresByReason['unreachable'], 0);
  assert.equal(r.failuresByReason['send_error'], 0);
});
