// End-to-end: targets by name from a private /etc/hosts (a mount + network namespace of the agent's
// own), an address change and a name that stops resolving mid-run, an AAAA-only name, IPv6
// monitoring on a ULA prefix made local inside the namespace, labels and agent_name on every
// point, and two shards whose health series stay apart. Nothing leaves the namespaces.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { AgentProcess, type LinePoint } from '../internal/testkit/agent-process.js';
import { netnsAvailable } from '../internal/testkit/netns.js';
import { pollUntil } from '../internal/testkit/server-process.js';

const skip = netnsAvailable() ? false : 'needs root and unshare -n -m';
const pings = (points: readonly LinePoint[]): LinePoint[] => points.filter((p) => p.measurement === 'ping');

test(
  'targets by name follow address changes, report dns failures, and IPv6 devices are monitored with labels and agent tags',
  { timeout: 90_000, skip },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'netscan-targets-e2e-'));
    const hosts = join(dir, 'hosts');
    // Rewritten in place below (writeFileSync keeps the inode the bind mount points at).
    writeFileSync(
      hosts,
      '127.0.0.1 localhost\n127.0.50.1 moving.test\n127.0.50.2 going.test\nfd00:1::10 v6only.test\n',
    );
    const agent = await AgentProcess.start({
      dir,
      netns: true,
      hostsFile: hosts,
      setup: ['ip -6 route add local fd00:1::/64 dev lo'],
      config: {
        agent_name: 'e2e-agent',
        networks: [
          { cidr: '127.0.51.0/29', labels: { site: 'lab' } },
          { cidr: 'fd00:1::/124', labels: { fam: 'six' } },
        ],
        targets: [{ host: 'moving.test', labels: { role: 'db' } }, 'going.test', 'v6only.test'],
        target_resolve_interval: '2s',
      },
    });
    t.after(async () => {
      await agent.dispose();
      rmSync(dir, { recursive: true, force: true });
    });

    const seen = (pred: (p: LinePoint) => boolean) =>
      pollUntil(
        async () => pings(agent.points()).some(pred),
        (v) => v,
        { deadlineMs: 20_000, intervalMs: 200 },
      );
    assert.ok(
      await seen((p) => p.tags.ip === '127.0.50.1' && p.tags.name === 'moving.test' && p.fields.success === true),
      agent.tail(),
    );
    assert.ok(
      await seen((p) => p.tags.ip === 'fd00:1::10' && p.tags.name === 'v6only.test' && p.fields.success === true),
      'AAAA-only name pinged over IPv6',
    );
    assert.ok(
      await seen((p) => p.tags.ip === 'fd00:1::7' && p.tags.fam === 'six' && p.fields.success === true),
      'swept IPv6 device pinged',
    );
    assert.ok(
      await seen((p) => p.tags.ip === '127.0.51.3' && p.tags.site === 'lab' && p.fields.success === true),
      'swept IPv4 device pinged',
    );

    writeFileSync(hosts, '127.0.0.1 localhost\n127.0.50.9 moving.test\nfd00:1::10 v6only.test\n');
    assert.ok(
      await seen((p) => p.tags.ip === '127.0.50.9' && p.tags.name === 'moving.test' && p.tags.role === 'db'),
      'new address pinged under the same name',
    );
    assert.ok(
      await seen((p) => p.tags.name === 'going.test' && p.fields.reason === 'dns' && p.tags.ip === undefined),
      'dns failure point',
    );
    const health = await agent.health();
    assert.ok(
      ((health.ping_failures as Record<string, number> | undefined)?.dns ?? 0) > 0,
      JSON.stringify(health.ping_failures),
    );
    const metrics = await agent.http('/metrics');
    assert.match(metrics.body, /netscan_ping_failures_total\{reason="dns"\} [1-9]/);

    assert.deepEqual(await agent.stop(), { code: 0, signal: null }, agent.tail());
    const points = agent.points();
    const firstNew = Math.min(
      ...pings(points)
        .filter((p) => p.tags.ip === '127.0.50.9')
        .map((p) => p.timeMs),
    );
    // One ping_interval (1 s) of grace for a probe already in flight when the address changed.
    assert.deepEqual(
      pings(points).filter((p) => p.tags.ip === '127.0.50.1' && p.timeMs > firstNew + 1000),
      [],
      'the old address stops',
    );
    for (const p of points) assert.equal(p.tags.agent, 'e2e-agent', `${p.measurement} ${JSON.stringify(p.tags)}`);
    for (const m of ['ping', 'ping_summary']) {
      const v6 = points.filter(
        (p) => p.measurement === m && p.tags.ip?.startsWith('fd00:1::') && p.tags.ip !== 'fd00:1::10',
      );
      assert.ok(v6.length > 0 && v6.every((p) => p.tags.fam === 'six'), `${m}: IPv6 network labels`);
    }
    assert.ok(points.some((p) => p.measurement === 'health_metrics'));
    const state = new Set(agent.stateDevices().map((d) => d.ip));
    assert.ok(state.has('fd00:1::7') && state.has('fd00:1::10') && state.has('127.0.50.9'), [...state].join(' '));
    assert.equal(state.has('127.0.50.1'), false, 'the old address left the state');
  },
);

test('two shards writing health_metrics keep separate series through the agent tag', { timeout: 60_000 }, async (t) => {
  const agents = await Promise.all(
    [0, 1].map((index) =>
      AgentProcess.start({
        config: { networks: ['127.0.52.0/28'], shard: { index, count: 2 }, agent_name: `shard-${index}` },
      }),
    ),
  );
  t.after(() => Promise.all(agents.map((a) => a.dispose())));
  for (const a of agents) await a.waitForLog('sweep finished');
  for (const a of agents) {
    await pollUntil(
      async () => a.points().filter((p) => p.measurement === 'health_metrics').length,
      (n) => n >= 2,
      { deadlineMs: 15_000, intervalMs: 200 },
    );
  }
  for (const a of agents) assert.deepEqual(await a.stop(), { code: 0, signal: null }, a.tail());
  const series = new Map<string, Set<number>>();
  for (const a of agents) {
    const devices = a.stateDevices().length;
    const last = a
      .points()
      .filter((p) => p.measurement === 'health_metrics')
      .at(-1)!;
    assert.equal(last.fields.device_count, devices);
    series.set(last.tags.agent!, new Set([...(series.get(last.tags.agent!) ?? []), devices]));
  }
  assert.deepEqual([...series.keys()].sort(), ['shard-0', 'shard-1']);
});

test(
  'a target with its own ping_interval keeps its cadence beside the global one; a name inside exclude is counted, not pinged, until it resolves outside',
  { timeout: 90_000, skip },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'netscan-targets-own-e2e-'));
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, '127.0.0.1 localhost\n127.0.54.1 fast.test\n127.0.54.2 slow.test\n127.0.55.5 hidden.test\n');
    const agent = await AgentProcess.start({
      dir,
      netns: true,
      hostsFile: hosts,
      config: {
        ping_interval: '3s',
        exclude: ['127.0.55.0/24'],
        targets: [{ host: 'fast.test', ping_interval: '1s' }, 'slow.test', 'hidden.test'],
        target_resolve_interval: '1s',
      },
    });
    t.after(async () => {
      await agent.dispose();
      rmSync(dir, { recursive: true, force: true });
    });
    const sendTimes = (name: string): number[] =>
      pings(agent.points())
        .filter((p) => p.tags.name === name && p.fields.success === true)
        .map((p) => p.timeMs)
        .sort((a, b) => a - b);
    await pollUntil(
      async () => sendTimes('slow.test').length,
      (n) => n >= 5,
      { deadlineMs: 30_000, intervalMs: 500 },
    );
    const medianGap = (times: number[]): number => {
      const gaps = times.slice(1).map((x, i) => x - times[i]!);
      return gaps.sort((a, b) => a - b)[Math.floor(gaps.length / 2)]!;
    };
    const fastGap = medianGap(sendTimes('fast.test'));
    const slowGap = medianGap(sendTimes('slow.test'));
    assert.ok(Math.abs(fastGap - 1000) <= 200, `fast.test every ${fastGap} ms`);
    assert.ok(Math.abs(slowGap - 3000) <= 200, `slow.test every ${slowGap} ms`);
    let health = await agent.health();
    assert.equal(health.own_interval_devices, 1);
    assert.equal(health.expected_pings_per_sec, 1.333);
    assert.equal((health.targets as Record<string, number>).excluded, 1);
    assert.equal((health.targets as Record<string, number>).resolved, 2);
    assert.deepEqual(sendTimes('hidden.test'), [], 'an excluded name is not pinged');
    const warned = agent.logs.filter((l) => l.msg.startsWith('target hidden.test resolves to 127.0.55.5'));
    assert.equal(warned.length, 1, 'one warning for the episode, not one per resolution');

    writeFileSync(hosts, '127.0.0.1 localhost\n127.0.54.1 fast.test\n127.0.54.2 slow.test\n127.0.54.3 hidden.test\n');
    await agent.waitForLog('target resolves outside the exclusions again; pinging it');
    await pollUntil(
      async () => sendTimes('hidden.test').length,
      (n) => n >= 1,
      { deadlineMs: 20_000, intervalMs: 200 },
    );
    health = await agent.health();
    assert.equal((health.targets as Record<string, number>).excluded, 0);
    assert.equal((health.targets as Record<string, number>).resolved, 3);
    assert.deepEqual(await agent.stop(), { code: 0, signal: null }, agent.tail());
  },
);
