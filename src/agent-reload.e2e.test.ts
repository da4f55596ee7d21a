// End-to-end: configuration reload of the real agent process (SIGHUP and POST /-/reload).
// Loopback only, inside the suite's private namespace.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { phaseMs } from '../internal/schedule/phase.js';
import { AgentProcess, type LinePoint } from '../internal/testkit/agent-process.js';
import { pollUntil } from '../internal/testkit/server-process.js';

const hosts = (prefix: string, from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `${prefix}.${from + i}`);
const pingsOf = (points: readonly LinePoint[], ip: string): LinePoint[] =>
  points.filter((p) => p.measurement === 'ping' && p.tags['ip'] === ip).sort((a, b) => a.timeMs - b.timeMs);

test(
  'SIGHUP and POST /-/reload add networks without a restart; existing devices keep their phase and miss no slot',
  { timeout: 60_000 },
  async (t) => {
    const intervalMs = 1000;
    const agent = await AgentProcess.start({ config: { networks: ['127.0.30.0/29'] } });
    t.after(() => agent.dispose());
    const old = hosts('127.0.30', 1, 6);
    await pollUntil(
      () => agent.health(),
      (h) => h['device_count'] === 6,
      { deadlineMs: 10_000 },
    );
    await pollUntil(
      async () => agent.points(),
      (p) => old.every((ip) => pingsOf(p, ip).length >= 2),
      { deadlineMs: 15_000, intervalMs: 200 },
    );

    const firstReloadMs = Date.now();
    agent.writeConfig({ networks: ['127.0.30.0/29', '127.0.30.8/29'] });
    agent.signal('SIGHUP');
    await agent.waitForLog('configuration reloaded');
    await pollUntil(
      () => agent.health(),
      (h) => h['device_count'] === 12,
      { deadlineMs: 10_000 },
    );

    agent.writeConfig({ networks: ['127.0.30.0/29', '127.0.30.8/29', '127.0.30.16/29'] });
    const r = await agent.http('/-/reload', 'POST');
    assert.deepEqual(r, { status: 200, body: '{"ok":true,"problems":[]}\n' });
    const h = await pollUntil(
      () => agent.health(),
      (x) => x['device_count'] === 18,
      { deadlineMs: 10_000 },
    );
    assert.equal(h['device_count'], 18);
    assert.equal(h['config_reloads'], 2);
    const lastReloadMs = Date.now();
    const added = [...hosts('127.0.30', 9, 14), ...hosts('127.0.30', 17, 22)];
    await pollUntil(
      async () => agent.points(),
      (p) => added.every((ip) => pingsOf(p, ip).length > 0),
      { deadlineMs: 15_000, intervalMs: 200 },
    );

    // Removing the middle network removes its devices and their schedules; the others carry on.
    agent.writeConfig({ networks: ['127.0.30.0/29', '127.0.30.16/29'] });
    agent.signal('SIGHUP');
    await agent.waitForLog('devices outside the configured networks or shard removed');
    const removedAtMs = Date.now();
    await pollUntil(
      () => agent.health(),
      (x) => x['device_count'] === 12 && x['monitored_devices'] === 12,
      { deadlineMs: 10_000 },
    );
    const kept = [...old, ...hosts('127.0.30', 17, 22)];
    await pollUntil(
      async () => agent.points(),
      (p) => kept.every((ip) => pingsOf(p, ip).some((x) => x.timeMs > removedAtMs + intervalMs)),
      { deadlineMs: 15_000, intervalMs: 200 },
    );
    assert.deepEqual(await agent.stop(), { code: 0, signal: null }, agent.tail());

    // One process, one start: the schedulers were reconfigured, not restarted.
    assert.equal(agent.logsWith('netscan started').length, 1);
    assert.equal(agent.logsWith('ping scheduler started').length, 1);
    const points = agent.points();
    for (const ip of added) assert.ok(pingsOf(points, ip).length >= 1, `new device ${ip} was pinged`);
    // A probe in flight at the removal may still land; nothing after that.
    for (const ip of hosts('127.0.30', 9, 14))
      assert.deepEqual(
        pingsOf(points, ip).filter((p) => p.timeMs > removedAtMs + 1000),
        [],
        `${ip} no longer pinged`,
      );
    for (const ip of old) {
      const pings = pingsOf(points, ip);
      const phase = phaseMs(ip, intervalMs);
      // A point is stamped with its send time: its slot (phase + k * interval) plus a small send lag.
      const slots = pings.map((p) => Math.floor((p.timeMs - phase) / intervalMs));
      const lags = pings.map((p) => p.timeMs - phase - Math.floor((p.timeMs - phase) / intervalMs) * intervalMs);
      assert.ok(Math.max(...lags) < intervalMs / 2, `${ip}: sends stay at phase ${phase} ms (lags ${lags.join(',')})`);
      const before = pings.filter((p) => p.timeMs < firstReloadMs).length;
      const after = pings.filter((p) => p.timeMs > lastReloadMs).length;
      assert.ok(before >= 2 && after >= 1, `${ip}: pinged before (${before}) and after (${after}) the reloads`);
      // Consecutive slots: no gap, no double probe, across both reloads.
      const steps = slots.slice(1).map((s, i) => s - slots[i]!);
      assert.deepEqual([...new Set(steps)], [1], `${ip}: slot steps ${steps.join(',')}`);
      assert.ok(
        pings.every((p) => p.fields['success'] === true || p.fields['reason'] === 'agent_overloaded'),
        `${ip} answered every probe`,
      );
    }
  },
);

test(
  'a network added while a sweep runs is swept when that sweep ends (with the new sweep settings), not one discovery interval later',
  { timeout: 60_000 },
  async (t) => {
    // 30 addresses at 15 probes/s: the first sweep runs for about two seconds.
    const agent = await AgentProcess.start({ config: { networks: ['127.0.32.0/27'], sweep_rate_limit: 15 } });
    t.after(() => agent.dispose());
    agent.writeConfig({ networks: ['127.0.32.0/27', '127.0.32.64/29'], sweep_rate_limit: 5000 });
    agent.signal('SIGHUP');
    await agent.waitForLog('configuration reloaded');
    const during = await agent.health();
    assert.equal((during['sweep'] as { running: boolean }).running, true, 'the reload landed during the first sweep');
    const sweeps = await pollUntil(
      async () => agent.logsWith('sweep finished'),
      (l) => l.length >= 2,
      { deadlineMs: 20_000, intervalMs: 200 },
    );
    assert.equal(sweeps.length, 2, 'a second sweep follows at once (icmp_discovery_interval is 1m)');
    assert.deepEqual(
      agent.logsWith('sweep started').map((l) => [l['count'], l['rate_pps']]),
      [
        [30, 15],
        [36, 5000],
      ],
    );
    const h = await pollUntil(
      () => agent.health(),
      (x) => x['device_count'] === 36,
      { deadlineMs: 5_000 },
    );
    assert.equal(h['device_count'], 36);
    assert.deepEqual(await agent.stop(), { code: 0, signal: null }, agent.tail());
  },
);

test(
  'an invalid reload changes nothing: the problems are logged and returned with 400, the agent keeps running',
  { timeout: 60_000 },
  async (t) => {
    const agent = await AgentProcess.start({ config: { networks: ['127.0.31.0/29'] } });
    t.after(() => agent.dispose());
    await pollUntil(
      () => agent.health(),
      (h) => h['device_count'] === 6,
      { deadlineMs: 10_000 },
    );

    // A misspelt key and a bad value next to a network that would add six devices.
    agent.writeConfig({
      networks: ['127.0.31.0/29', '127.0.31.8/29'],
      ping_intervall: '2s',
      ping_timeout: '2 seconds',
    });
    agent.signal('SIGHUP');
    const logged = await agent.waitForLog('configuration reload rejected; keeping the running configuration');
    const problems = logged['problems'] as string[];
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems.join('\n'), /ping_intervall: unknown key.*did you mean "ping_interval"/);
    assert.match(problems.join('\n'), /ping_timeout: /);

    const r = await agent.http('/-/reload', 'POST');
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body) as { ok: boolean; problems: string[] }, { ok: false, problems });

    // Had it been applied, a sweep of the new /29 would run at once (well under a second).
    const sentBefore = (await agent.health())['pings_sent_total'] as number;
    const h = await pollUntil(
      () => agent.health(),
      (x) => (x['pings_sent_total'] as number) >= sentBefore + 12,
      { deadlineMs: 10_000 },
    );
    assert.equal(h['device_count'], 6);
    assert.equal(h['config_reloads'], 0);
    assert.equal((h['sweep'] as { sweeps_total: number }).sweeps_total, 1);
    assert.equal(h['ping_interval_ms'], 1000);
    assert.equal(agent.exit, undefined, 'still running');

    // The same change, valid, is applied: the check above could see it.
    agent.writeConfig({ networks: ['127.0.31.0/29', '127.0.31.8/29'] });
    assert.equal((await agent.http('/-/reload', 'POST')).status, 200);
    await pollUntil(
      () => agent.health(),
      (x) => x['device_count'] === 12,
      { deadlineMs: 10_000 },
    );
    assert.deepEqual(await agent.stop(), { code: 0, signal: null }, agent.tail());
  },
);
