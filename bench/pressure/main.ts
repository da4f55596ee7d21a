// The agent under pressure, in its own network namespace pinging 127.0.70.0/23 (510 hosts) at 1 s:
//   burst  2,000 concurrent GET /metrics + /health: pings/s before vs during, slowest answer, /health after
//   hogs   4 busy loops pinned with the agent to one core (agent at nice 0, then at nice 19):
//          % of slots probed, % of the unprobed slots the stored data shows as missed_slots (goal 100%)
// Run from the sources (the agent is spawned from cmd/netscan.ts): node --import tsx bench/pressure/main.ts
//   [--hosts-cidr 127.0.70.0/23] [--hog-seconds 10] [--probe-thread main|worker] [--json]. Needs root (unshare, nsenter, taskset, renice).
import { spawn, spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { AgentProcess, type LinePoint } from '../../internal/testkit/agent-process.js';
import { httpBurstInNetns } from '../../internal/testkit/http-burst.js';
import { pollUntil } from '../../internal/testkit/server-process.js';

const { values } = parseArgs({
  options: {
    'hosts-cidr': { type: 'string', default: '127.0.70.0/23' },
    'hog-seconds': { type: 'string', default: '10' },
    'probe-thread': { type: 'string', default: 'main' },
    json: { type: 'boolean', default: false },
  },
});
const cidr = values['hosts-cidr']!;
const hogMs = Number(values['hog-seconds']) * 1000;
const prefix = Number(cidr.split('/')[1]);
const hosts = 2 ** (32 - prefix) - 2;
const INTERVAL = 1000;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const pingsIn = (points: readonly LinePoint[], fromMs: number, toMs: number): number =>
  points.filter((p) => p.measurement === 'ping' && p.timeMs >= fromMs && p.timeMs < toMs).length;

const agent = await AgentProcess.start({
  netns: true,
  config: {
    networks: [cidr],
    summary_interval: '2s',
    ping_timeout: '900ms',
    health_report_interval: '10s',
    probe_thread: values['probe-thread'],
  },
  startTimeoutMs: 60_000,
});
try {
  await agent.waitForLog('sweep finished', { timeoutMs: 60_000 });
  await pollUntil(
    async () =>
      new Set(
        agent
          .points()
          .filter((p) => p.measurement === 'ping')
          .map((p) => p.tags['ip']),
      ),
    (s) => s.size >= hosts,
    { deadlineMs: 30_000, intervalMs: 500 },
  );
  await sleep(5000);

  // ---- burst
  const beforeFrom = Date.now() - 5000;
  const burstFrom = Date.now();
  const burst = await httpBurstInNetns(agent.pid, {
    port: agent.healthPort,
    paths: ['/metrics', '/health'],
    count: 2000,
  });
  const burstTo = Date.now();
  const healthAfterBurst = await agent.health();
  await sleep(3000);
  let points = agent.points();
  const beforePps = pingsIn(points, beforeFrom, burstFrom) / 5;
  const duringPps = pingsIn(points, burstFrom, burstTo) / ((burstTo - burstFrom) / 1000);
  let worstGapMs = 0;
  const byIp = new Map<string, number[]>();
  for (const p of points)
    if (p.measurement === 'ping' && p.timeMs >= beforeFrom)
      (byIp.get(p.tags['ip']!) ?? byIp.set(p.tags['ip']!, []).get(p.tags['ip']!)!).push(p.timeMs);
  for (const ts of byIp.values())
    for (let k = 1; k < ts.length; k++) worstGapMs = Math.max(worstGapMs, ts[k]! - ts[k - 1]!);

  // ---- hogs
  const cpu = String(availableParallelism() - 1);
  spawnSync('taskset', ['-a', '-p', '-c', cpu, String(agent.pid)]);
  const hogRuns: Array<Record<string, unknown>> = [];
  for (const nice of [0, 19]) {
    spawnSync('renice', ['-n', String(nice), '-p', String(agent.pid)]);
    const from = Date.now();
    const hogs = Array.from({ length: 4 }, () =>
      spawn('taskset', ['-c', cpu, 'timeout', String(hogMs / 1000), 'sh', '-c', 'while :; do :; done'], {
        stdio: 'ignore',
      }),
    );
    const exited = Promise.all(hogs.map((h) => new Promise((r) => h.once('exit', r))));
    await sleep(hogMs / 2);
    const statusDuring = (await agent.health()) as { status: string; reasons: string[] };
    await exited;
    const to = Date.now();
    spawnSync('renice', ['-n', '0', '-p', String(agent.pid)]);
    await sleep(6000);
    points = agent.points();
    const expected = Math.round((hosts * (to - from)) / INTERVAL);
    const probed = pingsIn(points, from, to);
    // Summaries are stamped at their window start (2 s windows): take every window overlapping the hog run.
    const windows = points.filter((p) => p.measurement === 'ping_summary' && p.timeMs >= from - 2000 && p.timeMs < to);
    const sum = (name: string): number => windows.reduce((n, p) => n + Number(p.fields[name] ?? 0), 0);
    const missed = sum('missed_slots');
    const skipped = sum('skipped_ticks');
    const unprobed = Math.max(0, expected - probed);
    hogRuns.push({
      agent_nice: nice,
      seconds: (to - from) / 1000,
      expected_slots: expected,
      probed,
      probed_pct: +((100 * probed) / expected).toFixed(1),
      unprobed,
      missed_slots_in_summaries: missed,
      skipped_ticks_in_summaries: skipped,
      unprobed_visible_pct: unprobed === 0 ? null : +Math.min(100, (100 * (missed + skipped)) / unprobed).toFixed(1),
      health_status_during: statusDuring.status,
      health_reasons_during: statusDuring.reasons,
    });
  }
  const result = {
    probe_thread: values['probe-thread'],
    hosts,
    interval_ms: INTERVAL,
    burst: {
      requests: 2000,
      answers: burst.statuses,
      refused: burst.errors,
      slowest_answer_ms: burst.slowestMs,
      burst_ms: burst.elapsedMs,
      pings_per_s_before: +beforePps.toFixed(1),
      pings_per_s_during: +duringPps.toFixed(1),
      longest_gap_without_ping_ms: worstGapMs,
      health_after: { status: healthAfterBurst['status'], reasons: healthAfterBurst['reasons'] },
    },
    hogs: hogRuns,
  };
  const stop = await agent.stop();
  if (values.json) console.log(JSON.stringify({ ...result, exit: stop }));
  else console.log(JSON.stringify({ ...result, exit: stop }, null, 2));
} finally {
  await agent.dispose();
}
