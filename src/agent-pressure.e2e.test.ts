// End-to-end under pressure: the real agent in a private namespace pinging 127.x hosts at 1 s
// while (1) 2,000 requests hit /metrics and /health at once, (2) four busy loops share its CPU.
// What is asserted is what the agent recorded, never how fast it was. Loopback only.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { test } from 'node:test';
import { AgentProcess, type LinePoint } from '../internal/testkit/agent-process.js';
import { httpBurstInNetns } from '../internal/testkit/http-burst.js';
import { netnsAvailable } from '../internal/testkit/netns.js';
import { pollUntil } from '../internal/testkit/server-process.js';

const skip = netnsAvailable() ? false : 'needs root and unshare -n';
const tasksetAvailable = (): boolean => spawnSync('taskset', ['-V']).status === 0;
const of = (points: readonly LinePoint[], measurement: string, ip?: string): LinePoint[] =>
  points
    .filter((p) => p.measurement === measurement && (ip === undefined || p.tags['ip'] === ip))
    .sort((a, b) => a.timeMs - b.timeMs);
const num = (p: LinePoint, name: string): number => Number(p.fields[name] ?? 0);

test(
  '2,000 concurrent /metrics and /health requests: every host keeps its points and every answer is 200 or 503',
  { timeout: 120_000, skip },
  async (t) => {
    const interval = 1000;
    const timeout = 1500;
    const agent = await AgentProcess.start({
      netns: true,
      config: { networks: ['127.0.60.0/24'], ping_timeout: `${timeout}ms` },
    });
    t.after(() => agent.dispose());
    const done = await agent.waitForLog('sweep finished');
    assert.equal(done['alive'], 254, agent.tail());
    await pollUntil(
      async () => new Set(of(agent.points(), 'ping').map((p) => p.tags['ip'])),
      (s) => s.size === 254,
      { deadlineMs: 20_000, intervalMs: 250 },
    );

    const bursts = [];
    for (let i = 0; i < 2; i++)
      bursts.push(
        await httpBurstInNetns(agent.pid, { port: agent.healthPort, paths: ['/metrics', '/health'], count: 2000 }),
      );
    // Let the points of the burst's seconds reach the file.
    await new Promise((r) => setTimeout(r, 3 * interval));
    assert.deepEqual(await agent.stop(), { code: 0, signal: null }, agent.tail());

    for (const b of bursts) {
      t.diagnostic(`burst: ${JSON.stringify(b)}`);
      assert.deepEqual(
        Object.keys(b.statuses).filter((s) => s !== '200' && s !== '503'),
        [],
        JSON.stringify(b),
      );
      assert.ok((b.statuses['200'] ?? 0) > 0, JSON.stringify(b));
    }
    const points = agent.points();
    let worstGapMs = 0;
    for (let i = 1; i <= 254; i++) {
      const ip = `127.0.60.${i}`;
      const pings = of(points, 'ping', ip);
      for (let k = 1; k < pings.length; k++) worstGapMs = Math.max(worstGapMs, pings[k]!.timeMs - pings[k - 1]!.timeMs);
    }
    t.diagnostic(`longest time without a ping point for one host: ${worstGapMs} ms`);
    assert.ok(
      worstGapMs <= interval + timeout,
      `a host went ${worstGapMs} ms without a point (at most ${interval + timeout})`,
    );
  },
);

test(
  "four CPU hogs on the agent's core: every slot is a probe or a counted missed slot, in the summaries and in health_metrics",
  { timeout: 120_000, skip: skip || (tasksetAvailable() ? false : 'needs taskset') },
  async (t) => {
    const interval = 1000;
    const agent = await AgentProcess.start({
      netns: true,
      config: { networks: ['127.0.61.0/24'], summary_interval: '2s' },
    });
    t.after(() => agent.dispose());
    await agent.waitForLog('sweep finished');
    await pollUntil(
      async () => new Set(of(agent.points(), 'ping').map((p) => p.tags['ip'])),
      (s) => s.size === 254,
      { deadlineMs: 20_000, intervalMs: 250 },
    );

    const cpu = String(availableParallelism() - 1);
    assert.equal(spawnSync('taskset', ['-a', '-p', '-c', cpu, String(agent.pid)]).status, 0);
    // The agent yields to the hogs (nice 19) so it really falls behind; bounded busy loops, each exits by itself after 8 s.
    assert.equal(spawnSync('renice', ['-n', '19', '-p', String(agent.pid)]).status, 0);
    const hogs = Array.from({ length: 4 }, () =>
      spawn('taskset', ['-c', cpu, 'timeout', '8', 'sh', '-c', 'while :; do :; done'], { stdio: 'ignore' }),
    );
    await Promise.all(hogs.map((h) => new Promise((r) => h.once('exit', r))));
    spawnSync('renice', ['-n', '0', '-p', String(agent.pid)]);
    await new Promise((r) => setTimeout(r, 4 * interval));
    assert.deepEqual(await agent.stop(), { code: 0, signal: null }, agent.tail());

    const points = agent.points();
    let missedInSummaries = 0;
    let slots = 0;
    for (let i = 1; i <= 254; i++) {
      const ip = `127.0.61.${i}`;
      const pings = of(points, 'ping', ip);
      const summaries = of(points, 'ping_summary', ip);
      const count = (name: string): number => summaries.reduce((n, p) => n + num(p, name), 0);
      const accounted =
        count('sent') + count('overloaded') + count('suspended_ticks') + count('missed_slots') + count('skipped_ticks');
      // From the device's first probe to its last: both were calm, so they went out at their slots.
      const expected = Math.round((pings.at(-1)!.timeMs - pings[0]!.timeMs) / interval) + 1;
      assert.ok(
        accounted >= expected - 1 && accounted <= expected + 2,
        `${ip}: ${accounted} slots accounted, ${expected} expected`,
      );
      missedInSummaries += count('missed_slots');
      slots += expected;
    }
    const health = of(points, 'health_metrics');
    const reported = num(health.at(-1)!, 'missed_slots');
    t.diagnostic(
      `slots ${slots}, missed ${missedInSummaries} (${((100 * missedInSummaries) / slots).toFixed(1)}%), health_metrics missed_slots ${reported}`,
    );
    assert.equal(reported, missedInSummaries, 'health_metrics missed_slots is the sum of the summaries');
  },
);
