// End-to-end: sharding between two real agent processes, a start without CAP_NET_RAW, and a
// device that stops answering (nft drop in a private namespace of its own). Loopback only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIpv4 } from '../internal/icmp/ipv4.js';
import { inShard } from '../internal/sweep/shard.js';
import { AgentProcess, type LinePoint } from '../internal/testkit/agent-process.js';
import { netnsAvailable, nftRuleset } from '../internal/testkit/netns.js';
import { pollUntil } from '../internal/testkit/server-process.js';

const hosts = (prefix: string, from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `${prefix}.${from + i}`);
const pingIps = (points: readonly LinePoint[]): Set<string> =>
  new Set(points.filter((p) => p.measurement === 'ping').map((p) => p.tags['ip']!));
const sorted = (s: Iterable<string>): string[] => [...s].sort((a, b) => parseIpv4(a)! - parseIpv4(b)!);

test(
  'two agents with shard 0/2 and 1/2 over the same /24 monitor every live address exactly once between them',
  { timeout: 60_000 },
  async (t) => {
    // The first from the config file, the second from the environment as a StatefulSet sets it (pod name ordinal).
    const agents = await Promise.all([
      AgentProcess.start({ config: { networks: ['127.0.40.0/24'], shard: { index: 0, count: 2 } } }),
      AgentProcess.start({
        config: { networks: ['127.0.40.0/24'] },
        env: { NETSCAN_SHARD_INDEX: 'netscan-1', NETSCAN_SHARD_COUNT: '2' },
      }),
    ]);
    t.after(() => Promise.all(agents.map((a) => a.dispose())));
    const all = hosts('127.0.40', 1, 254);
    const expected = [0, 1].map((index) => all.filter((ip) => inShard({ index, count: 2 })(parseIpv4(ip)!)));
    // The split is a real one: neither shard is (nearly) empty.
    assert.ok(
      expected.every((e) => e.length > 80),
      `shard sizes ${expected.map((e) => e.length).join('/')}`,
    );

    for (const [i, a] of agents.entries()) {
      assert.deepEqual(a.logsWith('netscan starting')[0]?.['shard'], { index: i, count: 2 });
      const done = await a.waitForLog('sweep finished');
      assert.equal(done['alive'], expected[i]!.length, a.tail());
      await pollUntil(
        async () => pingIps(a.points()),
        (s) => s.size === expected[i]!.length,
        { deadlineMs: 10_000, intervalMs: 200 },
      );
    }
    for (const a of agents) assert.deepEqual(await a.stop(), { code: 0, signal: null }, a.tail());

    const states = agents.map((a) => new Set(a.stateDevices().map((d) => d.ip)));
    const pinged = agents.map((a) => pingIps(a.points()));
    for (const i of [0, 1]) {
      assert.deepEqual(sorted(states[i]!), expected[i], `agent ${i} state`);
      assert.deepEqual(sorted(pinged[i]!), expected[i], `agent ${i} pinged`);
    }
    const union = sorted(new Set([...states[0]!, ...states[1]!]));
    assert.deepEqual(union, all, 'together they cover the /24');
    assert.deepEqual(
      [...states[0]!].filter((ip) => states[1]!.has(ip)),
      [],
      'and no address twice',
    );
  },
);

test(
  'run without CAP_NET_RAW (as uid 65534) exits 1 with ERR_ICMP_PERMISSION and advice, no stack trace',
  { timeout: 30_000, skip: netnsAvailable() ? false : 'needs root' },
  async (t) => {
    const agent = await AgentProcess.start({
      config: { networks: ['127.0.41.0/29'] },
      withoutNetRaw: true,
      waitFor: 'spawned',
    });
    t.after(() => agent.dispose());
    assert.deepEqual(await agent.exited, { code: 1, signal: null });
    const fatal = agent.logsWith('netscan could not start')[0];
    assert.equal(fatal?.['code'], 'ERR_ICMP_PERMISSION', agent.stderr);
    assert.match(agent.stderr, /^netscan: .*needs CAP_NET_RAW/m);
    assert.match(agent.stderr, /setcap cap_net_raw\+ep/);
    assert.match(agent.stderr, /AmbientCapabilities=CAP_NET_RAW/);
    assert.doesNotMatch(agent.stderr, /\n\s+at |"stack"/, 'no stack trace');
    assert.equal(agent.logsWith('netscan started').length, 0);
  },
);

test(
  'a device that stops answering fails with reason timeout, then is suspended; the others never fail',
  { timeout: 60_000, skip: netnsAvailable() ? false : 'needs root and unshare -n' },
  async (t) => {
    const agent = await AgentProcess.start({
      netns: true,
      config: {
        networks: ['127.0.42.0/29'],
        ping_timeout: '300ms',
        ping_max_consecutive_fails: 2,
        ping_backoff_duration: '1m',
      },
    });
    t.after(() => agent.dispose());
    const all = hosts('127.0.42', 1, 6);
    const dead = '127.0.42.3';
    const done = await agent.waitForLog('sweep finished');
    assert.equal(done['alive'], 6, agent.tail());
    await pollUntil(
      async () => agent.points(),
      (p) => all.every((ip) => p.some((x) => x.measurement === 'ping' && x.tags['ip'] === ip)),
      { deadlineMs: 10_000, intervalMs: 200 },
    );

    const droppingFromMs = Date.now();
    agent.nft(nftRuleset({ dropEchoTo: [dead] }));
    const droppedAtMs = Date.now();
    const trip = await agent.waitForLog(
      'device failed its maximum consecutive pings; suspending it (circuit breaker tripped)',
      { timeoutMs: 15_000 },
    );
    assert.equal(trip['ip'], dead);
    const pointsOf = (ip: string): LinePoint[] =>
      agent
        .points()
        .filter((p) => p.measurement === 'ping' && p.tags['ip'] === ip)
        .sort((a, b) => a.timeMs - b.timeMs);
    await pollUntil(
      async () => pointsOf(dead),
      (p) => p.filter((x) => x.fields['suspended'] === true).length >= 2,
      { deadlineMs: 10_000, intervalMs: 200 },
    );
    const h = await agent.health();
    assert.equal(h['suspended_devices'], 1);
    assert.equal(h['device_count'], 6);
    assert.deepEqual(await agent.stop(), { code: 0, signal: null }, agent.tail());

    const deadPoints = pointsOf(dead);
    // Probes sent while nft was loading the rule may go either way; before it, all answered.
    assert.ok(
      deadPoints.filter((p) => p.timeMs < droppingFromMs).every((p) => p.fields['success'] === true),
      'it answered before the drop',
    );
    const afterDrop = deadPoints.filter((p) => p.timeMs >= droppingFromMs && p.fields['success'] === false);
    const firstSuspended = afterDrop.findIndex((p) => p.fields['suspended'] === true);
    assert.ok(firstSuspended > 0, JSON.stringify(afterDrop));
    // Exactly two host-side failures (the breaker's limit), each a timeout; a probe caught in an
    // agent stall is agent_overloaded and does not count. Then only suspended points.
    const failed = afterDrop.slice(0, firstSuspended);
    assert.deepEqual(
      failed
        .filter((p) => p.fields['reason'] !== 'agent_overloaded')
        .map((p) => [p.fields['suspended'], p.fields['reason']]),
      [
        [false, 'timeout'],
        [false, 'timeout'],
      ],
    );
    const rest = afterDrop.slice(firstSuspended);
    assert.ok(rest.length >= 2);
    assert.ok(
      rest.every((p) => p.fields['suspended'] === true && p.fields['reason'] === 'suspended'),
      JSON.stringify(rest),
    );
    assert.ok(
      deadPoints.filter((p) => p.timeMs > droppedAtMs).every((p) => p.fields['success'] === false),
      'no answer once the rule is in',
    );
    for (const ip of all.filter((x) => x !== dead)) {
      const pts = pointsOf(ip);
      assert.ok(pts.length >= 3, `${ip} pinged ${pts.length} times`);
      // A probe caught in an agent stall is reported as agent_overloaded, which is not a failure of the host.
      assert.deepEqual(
        pts.filter((p) => p.fields['success'] !== true && p.fields['reason'] !== 'agent_overloaded'),
        [],
        `${ip} never failed`,
      );
    }
    const summaries = agent.points().filter((p) => p.measurement === 'ping_summary');
    assert.ok(
      summaries.some((s) => s.tags['ip'] === dead && (s.fields['suspended_ticks'] as number) > 0),
      'the summary counts suspended ticks',
    );
  },
);
