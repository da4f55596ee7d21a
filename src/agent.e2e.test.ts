// End-to-end: the real agent process (cmd/netscan.ts under tsx) writing to a real VictoriaMetrics
// and to its line-protocol file; SIGTERM during an outage; health, readiness and /metrics.
// Every address is on loopback, inside the suite's private namespace (scripts/run-tests.mjs).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { AgentProcess, type LinePoint } from '../internal/testkit/agent-process.js';
import { FaultServer, faults } from '../internal/testkit/fault-server.js';
import { pollUntil, refusedLoopbackUrl } from '../internal/testkit/server-process.js';
import { silentUdpPort } from '../internal/testkit/snmpd.js';
import { VictoriaMetrics, type ExportedSeries } from '../internal/testkit/victoria-metrics.js';

const pkgVersion = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

let vm: VictoriaMetrics;
before(async () => {
  vm = new VictoriaMetrics();
  await vm.start();
});
after(() => vm.dispose());

/** Distinct values of a label over series. */
const labelValues = (series: readonly ExportedSeries[], label: string): Set<string> =>
  new Set(series.map((s) => s.metric[label] ?? ''));
const lastValue = (s: ExportedSeries | undefined): number | undefined => {
  if (!s || s.values.length === 0) return undefined;
  let i = 0;
  for (let j = 1; j < s.timestamps.length; j++) if (s.timestamps[j]! >= s.timestamps[i]!) i = j;
  return s.values[i];
};

describe('the agent process against a real VictoriaMetrics', () => {
  test(
    'ping, health_metrics and ping_summary arrive over the InfluxDB v2 API with the right device count',
    { timeout: 60_000 },
    async (t) => {
      // Two /28s: hosts .1-.14 and .17-.30.
      const agent = await AgentProcess.start({
        config: {
          networks: ['127.0.20.0/28', '127.0.20.16/28'],
          influxdb: {
            url: vm.url,
            token: 'any-token',
            org: 'any-org',
            bucket: 'e2e_one',
            health_bucket: 'e2e_one_health',
            flush_interval: '200ms',
          },
        },
      });
      t.after(() => agent.dispose());
      const byIp = await vm.waitForSamples('{__name__="ping_success",ip=~"127\\\\.0\\\\.20\\\\..*"}', 3 * 28, 20_000);
      const ips = labelValues(byIp, 'ip');
      assert.equal(ips.size, 28, `devices seen in ping points: ${[...ips].sort().join(' ')}`);
      assert.ok(
        !ips.has('127.0.20.0') && !ips.has('127.0.20.15') && !ips.has('127.0.20.16'),
        'network and broadcast addresses are not devices',
      );
      assert.ok(
        byIp.every((s) => s.values.every((v) => v === 1)),
        'every loopback ping succeeded',
      );
      const rtt = await vm.exportSeries('{__name__="ping_rtt_ms",ip=~"127\\\\.0\\\\.20\\\\..*"}');
      assert.ok(
        rtt.every((s) => s.values.every((v) => v > 0 && v < 1000)),
        'RTTs are positive milliseconds',
      );

      const health = await vm.waitForSamples('{__name__="health_metrics_device_count"}', 2, 20_000);
      assert.equal(lastValue(health[0]), 28);
      const summaries = await pollUntil(
        () => vm.exportSeries('{__name__="ping_summary_sent",ip=~"127\\\\.0\\\\.20\\\\..*"}'),
        (s) => labelValues(s, 'ip').size === 28,
        { deadlineMs: 20_000, intervalMs: 300 },
      );
      assert.equal(labelValues(summaries, 'ip').size, 28, 'a ping_summary for every device');
      assert.ok(
        summaries.every((s) => s.values.every((v) => v >= 1 && v <= 3)),
        'a 2 s window at 1 s holds one to three probes',
      );

      const ready = await agent.http('/health/ready');
      assert.deepEqual(ready, { status: 200, body: 'READY' });
      const doc = await agent.health();
      assert.equal(doc['device_count'], 28);
      assert.equal(doc['influxdb_ok'], true);
      assert.equal(doc['status'], 'healthy', JSON.stringify(doc['reasons']));

      assert.deepEqual(await agent.stop('SIGTERM'), { code: 0, signal: null }, agent.tail());
      const stopped = agent.logsWith('netscan stopped');
      assert.equal(stopped.length, 1);
      assert.equal(stopped[0]!['points_dropped'], 0);
      assert.equal(stopped[0]!['points_spooled'], 0, 'the server was up: nothing left in the spool');

      // The final flush at SIGTERM delivered everything: the server holds every point of the file output.
      const produced = agent.points();
      const key = (measurement: string, ip: string | undefined, timeMs: number): string =>
        `${measurement}|${ip ?? ''}|${timeMs}`;
      // v2 buckets are not kept by VictoriaMetrics (db=""); this test is the first to write without one.
      const stored = await pollUntil(
        () => storedKeys(vm, '', key),
        (k) => k.length >= produced.length,
        { deadlineMs: 20_000, intervalMs: 300 },
      );
      assert.deepEqual(
        [...countBy(stored)].sort(),
        [...countBy(produced.map((p) => key(p.measurement, p.tags['ip'], p.timeMs)))].sort(),
      );
    },
  );

  test(
    'SIGTERM during an outage exits 0 with every point delivered or spooled, and a restart replays the spool exactly once',
    { timeout: 90_000 },
    async (t) => {
      // A /22 of loopback: 1,022 devices, about 1,000 ping points per second plus summaries.
      // InfluxDB v1 API: VictoriaMetrics labels v1 points with their database (v2 buckets are not kept).
      const influxdb = {
        version: 'v1',
        url: vm.url,
        database: 'e2e_burst',
        health_bucket: 'e2e_burst_health',
        flush_interval: '200ms',
        batch_size: 1000,
        timeout: '2s',
      };
      const a = await AgentProcess.start({ config: { networks: ['127.0.24.0/22'], influxdb } });
      t.after(() => a.dispose());
      await a.waitForLog((l) => l.msg === 'sweep finished' && l['alive'] === 1022, { timeoutMs: 20_000 });
      await pollUntil(
        () => a.health(),
        (h) => (h['points_written'] as number) > 3000,
        { deadlineMs: 20_000, intervalMs: 200 },
      );

      await vm.stop();
      try {
        const spooling = await pollUntil(
          () => a.health(),
          (h) => h['output_state'] === 'spooling' && (h['spool_points'] as number) > 2000,
          { deadlineMs: 20_000, intervalMs: 200 },
        );
        assert.equal(spooling['output_state'], 'spooling', JSON.stringify(spooling));
        assert.deepEqual(
          await a.http('/health/ready'),
          { status: 200, body: 'READY' },
          'spooling safely still counts as ready',
        );
        assert.deepEqual(await a.stop('SIGTERM'), { code: 0, signal: null }, a.tail());
      } finally {
        await vm.start();
      }
      await checkSpoolReplay(t, a, influxdb);
    },
  );

  test(
    'SIGTERM while the server hangs exits 0 with the requests in flight spooled, and a restart replays them exactly once',
    { timeout: 90_000 },
    async (t) => {
      const hanging = new FaultServer(faults.hang());
      await hanging.start();
      t.after(() => hanging.stop());
      // Requests time out after 4 s: the signal comes well before, while they are in flight.
      const influxdb = {
        version: 'v1',
        url: hanging.url,
        database: 'e2e_hang',
        health_bucket: 'e2e_hang_health',
        flush_interval: '200ms',
        timeout: '4s',
      };
      const a = await AgentProcess.start({ config: { networks: ['127.0.23.0/25'], influxdb } });
      t.after(() => a.dispose());
      // Requests are in flight (the server read them and never answers) when the signal comes.
      await pollUntil(
        async () => hanging.requests.length,
        (n) => n >= 2,
        { deadlineMs: 20_000, intervalMs: 100 },
      );
      const h = await a.health();
      assert.ok(
        (h['write_errors'] as { retry: number }).retry === 0 && (h['points_written'] as number) > 0,
        JSON.stringify(h),
      );
      assert.deepEqual(await a.stop('SIGTERM'), { code: 0, signal: null }, a.tail());
      await checkSpoolReplay(t, a, { ...influxdb, url: vm.url });
    },
  );
});

/**
 * After agent `a` stopped with points left in its spool: checks its books from "netscan stopped"
 * against its file output (which received every point), restarts an agent on the same spool
 * against VictoriaMetrics (`influxdb`, up), waits for the replay, and checks that the server holds
 * every point of the file exactly once.
 */
async function checkSpoolReplay(
  t: { after: (fn: () => Promise<void>) => void },
  a: AgentProcess,
  influxdb: { database: string; health_bucket: string } & Record<string, unknown>,
): Promise<void> {
  const stopped = a.logsWith('netscan stopped')[0];
  assert.ok(stopped, a.tail());
  const produced = a.points();
  const n = produced.length;
  assert.ok(n > 20, `only ${n} points produced`);
  // "netscan stopped" adds both outputs up: the file wrote n; InfluxDB wrote or spooled the same n.
  const written = stopped['points_written'] as number;
  const spooled = stopped['points_spooled'] as number;
  assert.equal(stopped['points_dropped'], 0);
  assert.ok(spooled > 0, 'points were left in the spool');
  assert.equal(written - n + spooled, n, `books: written ${written} (file ${n}) + spooled ${spooled}`);

  // Restart on the same spool; no networks, so it only replays (and writes its own health points, later in time).
  const b = await AgentProcess.start({
    dir: a.dir,
    config: { networks: [], influxdb, output_file: '', state_file: `${a.dir}/state-b.json` },
  });
  t.after(() => b.dispose());
  const replay = b.logsWith('Spool holds points from a previous run; replaying them')[0];
  assert.equal(replay?.['count'], spooled, b.tail());
  await pollUntil(
    () => b.health(),
    (h) => h['spool_points'] === 0 && h['queue_depth'] === 0 && h['output_state'] === 'writing',
    { deadlineMs: 30_000, intervalMs: 200 },
  );
  assert.deepEqual(await b.stop('SIGTERM'), { code: 0, signal: null }, b.tail());

  const aEnd = Math.max(...produced.map((p) => p.timeMs));
  const key = (measurement: string, ip: string | undefined, timeMs: number): string =>
    `${measurement}|${ip ?? ''}|${timeMs}`;
  const expected = countBy(produced.map((p: LinePoint) => key(p.measurement, p.tags['ip'], p.timeMs)));
  const inRun = (k: string): boolean => Number(k.slice(k.lastIndexOf('|') + 1)) <= aEnd;
  const stored = await pollUntil(
    async () => (await storedKeys(vm, `${influxdb.database}|${influxdb.health_bucket}`, key)).filter(inRun),
    (keys) => keys.length >= n,
    { deadlineMs: 20_000, intervalMs: 300 },
  );
  const got = countBy(stored);
  const missing = [...expected.keys()].filter((k) => !got.has(k));
  const duplicated = [...got.entries()].filter(([k, c]) => c > (expected.get(k) ?? 0));
  assert.deepEqual(
    { missing: missing.slice(0, 5), missingCount: missing.length, duplicated: duplicated.slice(0, 5) },
    { missing: [], missingCount: 0, duplicated: [] },
  );
  assert.equal(stored.length, n);
}

describe('output reload against a real VictoriaMetrics', () => {
  test(
    'a reload that replaces the output during an outage hands the spool over: every point arrives exactly once',
    { timeout: 90_000 },
    async (t) => {
      const influxdb = {
        version: 'v1',
        url: vm.url,
        database: 'e2e_reload',
        health_bucket: 'e2e_reload_health',
        flush_interval: '200ms',
        timeout: '2s',
      };
      const networks = ['127.0.22.0/26'];
      const a = await AgentProcess.start({ config: { networks, influxdb } });
      t.after(() => a.dispose());
      await pollUntil(
        () => a.health(),
        (h) => (h['points_written'] as number) > 300,
        { deadlineMs: 20_000, intervalMs: 200 },
      );
      await vm.stop();
      try {
        await pollUntil(
          () => a.health(),
          (h) => h['output_state'] === 'spooling' && (h['spool_points'] as number) > 100,
          { deadlineMs: 20_000, intervalMs: 200 },
        );
        // Same spool directory, new writer settings: the old writer closes into the spool, the new one opens it.
        a.writeConfig({ networks, influxdb: { ...influxdb, batch_size: 700 } });
        a.signal('SIGHUP');
        await a.waitForLog('outputs replaced');
      } finally {
        await vm.start();
      }
      await pollUntil(
        () => a.health(),
        (h) => h['output_state'] === 'writing' && h['spool_points'] === 0 && h['queue_depth'] === 0,
        { deadlineMs: 30_000, intervalMs: 200 },
      );
      assert.deepEqual(await a.stop(), { code: 0, signal: null }, a.tail());
      const stopped = a.logsWith('netscan stopped')[0]!;
      assert.equal(stopped['points_dropped'], 0, a.tail());

      const produced = a.points();
      // Books across the replaced outputs: the file and the server each acknowledged every point once.
      assert.equal(stopped['points_written'], 2 * produced.length, a.tail());
      assert.equal(stopped['points_spooled'], 0);
      const key = (measurement: string, ip: string | undefined, timeMs: number): string =>
        `${measurement}|${ip ?? ''}|${timeMs}`;
      const expected = countBy(produced.map((p) => key(p.measurement, p.tags['ip'], p.timeMs)));
      const stored = await pollUntil(
        () => storedKeys(vm, 'e2e_reload|e2e_reload_health', key),
        (k) => k.length >= produced.length,
        { deadlineMs: 20_000, intervalMs: 300 },
      );
      const got = countBy(stored);
      const missing = [...expected.keys()].filter((k) => !got.has(k));
      const duplicated = [...got.entries()].filter(([k, c]) => c > (expected.get(k) ?? 0));
      assert.deepEqual(
        {
          missing: missing.slice(0, 5),
          missingCount: missing.length,
          duplicated: duplicated.slice(0, 5),
          duplicatedCount: duplicated.length,
        },
        { missing: [], missingCount: 0, duplicated: [], duplicatedCount: 0 },
      );
    },
  );
});

/** (measurement, ip, time) of every ping, ping_summary and health_metrics point stored under the databases matching `db`. */
async function storedKeys(
  server: VictoriaMetrics,
  db: string,
  key: (m: string, ip: string | undefined, t: number) => string,
): Promise<string[]> {
  const keys: string[] = [];
  for (const [measurement, name] of [
    ['ping', 'ping_success'],
    ['ping_summary', 'ping_summary_sent'],
    ['health_metrics', 'health_metrics_device_count'],
  ] as const) {
    for (const s of await server.exportSeries(`{__name__="${name}",db=~"${db}"}`))
      for (const ts of s.timestamps) keys.push(key(measurement, s.metric['ip'], ts));
  }
  return keys;
}

function countBy(keys: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

describe('health endpoints of the agent process', () => {
  test(
    '/health, /health/live, /health/ready (503 while the output fails without a spool) and /metrics answer, and no secret leaks anywhere',
    { timeout: 60_000 },
    async (t) => {
      const secrets = {
        token: 'tok-e2e-5ecret-7f3a',
        community: 'comm-e2e-5ecret-91c2',
        password: 'pw-e2e-5ecret-c0de',
      };
      const snmpDead = await silentUdpPort();
      t.after(() => snmpDead.close());
      const config = {
        networks: ['127.0.21.0/29'],
        spool_dir: '',
        influxdb: {
          url: await refusedLoopbackUrl(),
          token: '${E2E_TOKEN}',
          org: 'o',
          bucket: 'b',
          password: secrets.password,
          flush_interval: '200ms',
        },
        snmp: { community: secrets.community, port: snmpDead.port, timeout: '1s' },
        snmp_rate_limit: 100,
      };
      const agent = await AgentProcess.start({ config, env: { E2E_TOKEN: secrets.token } });
      t.after(() => agent.dispose());
      await agent.waitForLog('sweep finished');

      const notReady = await pollUntil(
        () => agent.http('/health/ready'),
        (r) => r.status === 503,
        { deadlineMs: 15_000, intervalMs: 200 },
      );
      assert.deepEqual(notReady, { status: 503, body: 'NOT READY: output failing and not spooling' });
      assert.deepEqual(await agent.http('/health/live'), { status: 200, body: 'ALIVE' });

      const health = await pollUntil(
        () => agent.health(),
        (h) => h['device_count'] === 6 && (h['pings_sent_total'] as number) > 6,
        { deadlineMs: 10_000 },
      );
      const goKeys = [
        'status',
        'version',
        'uptime',
        'device_count',
        'suspended_devices',
        'active_pingers',
        'influxdb_ok',
        'influxdb_successful',
        'influxdb_failed',
        'pings_sent_total',
        'goroutines',
        'memory_mb',
        'rss_mb',
        'timestamp',
      ];
      assert.deepEqual(Object.keys(health).slice(0, goKeys.length), goKeys, 'the Go keys first, in the Go order');
      for (const k of [
        'ready',
        'queue_depth',
        'spool_bytes',
        'points_dropped',
        'agent_overloaded',
        'event_loop_delay_p99_ms',
        'effective_ping_interval_ms',
        'sweep',
      ]) {
        assert.ok(k in health, `ours: ${k}`);
      }
      assert.equal(health['version'], pkgVersion);
      assert.equal(health['status'], 'unhealthy');
      assert.equal(health['ready'], false);
      assert.equal(health['influxdb_ok'], false);
      assert.ok((health['influxdb_failed'] as number) > 0);
      assert.equal(health['output_state'], 'buffering');
      assert.equal(health['effective_ping_interval_ms'], 1000);
      assert.match(health['uptime'] as string, /^\d+(h|m|s)/);
      assert.ok(!Number.isNaN(Date.parse(health['timestamp'] as string)));
      for (const k of [
        'suspended_devices',
        'active_pingers',
        'goroutines',
        'memory_mb',
        'rss_mb',
        'queue_depth',
        'spool_bytes',
        'points_dropped',
        'agent_overloaded',
      ]) {
        assert.equal(typeof health[k], 'number', k);
      }
      const sweep = health['sweep'] as { last: { alive: number } | null };
      assert.equal(sweep.last?.alive, 6);

      const metrics = await agent.http('/metrics');
      assert.equal(metrics.status, 200);
      const names = new Set(
        metrics.body
          .split('\n')
          .filter((l) => l !== '' && !l.startsWith('#'))
          .map((l) => l.split(/[{ ]/)[0]!),
      );
      assert.deepEqual(
        [...names].filter((n) => !n.startsWith('netscan_')),
        [],
        'every metric is netscan_ prefixed',
      );
      for (const n of [
        'netscan_devices',
        'netscan_pings_sent_total',
        'netscan_ping_replies_total',
        'netscan_ping_rtt_seconds_bucket',
        'netscan_ping_rtt_seconds_count',
        'netscan_write_errors_total',
        'netscan_output_queue_points',
        'netscan_up',
        'netscan_process_resident_memory_bytes',
      ]) {
        assert.ok(names.has(n), `missing ${n}`);
      }
      assert.match(metrics.body, /^netscan_devices 6$/m);
      assert.match(metrics.body, /^netscan_up 0$/m);
      const rttCount = Number(/^netscan_ping_rtt_seconds_count (\d+)$/m.exec(metrics.body)?.[1]);
      assert.ok(rttCount >= 6, `RTT histogram holds ${rttCount} samples`);
      assert.doesNotMatch(metrics.body, /ip="/, 'no per-device labels');

      // A rejected reload that quotes the file must not print the secrets either.
      agent.writeConfig({ ...config, influxdb: { ...config.influxdb, token: secrets.token }, ping_intervall: '2s' });
      const rejected = await agent.http('/-/reload', 'POST');
      assert.equal(rejected.status, 400);
      assert.match(rejected.body, /ping_intervall/);
      agent.signal('SIGHUP');
      await pollUntil(
        async () => agent.logsWith('configuration reload rejected; keeping the running configuration').length,
        (c) => c >= 2,
        { deadlineMs: 10_000 },
      );

      const body = [JSON.stringify(health), metrics.body, rejected.body, (await agent.http('/health')).body];
      // With the server down and no spool, the final flush keeps retrying until its deadline (20 s);
      // a second signal ends the process at once with 130.
      agent.signal('SIGTERM');
      await agent.waitForLog('final state snapshot written');
      assert.equal(agent.exit, undefined, 'still flushing after the first signal');
      agent.signal('SIGTERM');
      assert.deepEqual(await agent.exited, { code: 130, signal: null }, agent.tail());
      assert.equal(agent.logsWith('second signal received, exiting immediately').length, 1);
      const outputs = [
        ...body,
        agent.stderr,
        agent.stdout,
        readFileSync(`${agent.dir}/out.lp`, 'utf8'),
        readFileSync(`${agent.dir}/state.json`, 'utf8'),
      ].join('\n');
      for (const [what, secret] of Object.entries(secrets)) assert.ok(!outputs.includes(secret), `the ${what} leaked`);
      assert.ok(agent.stderr.length > 1000, 'the log was captured');
    },
  );
});
