// The real /metrics text of an in-process agent monitoring loopback hosts with per-device series
// on, checked by Prometheus' own linter (promtool check metrics) and for the series it must carry.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { silentLogger } from '../internal/testkit/logger.js';
import { freeLoopbackPort, pollUntil } from '../internal/testkit/server-process.js';
import { Agent } from './agent.js';
import { parseConfigText } from './config/load.js';

const havePromtool = spawnSync('promtool', ['--version']).status === 0;

test(
  '/metrics passes promtool check metrics, with build info, one event-loop figure and per-device series',
  {
    timeout: 60_000,
    skip: havePromtool ? false : 'needs promtool (Debian prometheus)',
  },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'netscan-metrics-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const text = stringify({
      networks: ['127.0.94.0/30'],
      icmp_discovery_interval: '1h',
      ping_interval: '1s',
      ping_timeout: '500ms',
      health_check_port: await freeLoopbackPort(),
      health_check_bind: '127.0.0.1',
      prometheus: { per_device: true },
      output_file: join(dir, 'out.lp'),
      state_file: join(dir, 'state.json'),
      spool_dir: join(dir, 'spool'),
    });
    const agent = new Agent({
      config: parseConfigText(text, { env: {} }).config,
      logger: silentLogger(),
      version: '9.8.7',
    });
    await agent.start();
    t.after(() => agent.stop());
    const url = `http://127.0.0.1:${agent.healthPort}/metrics`;
    const body = await pollUntil(
      () => fetch(url).then((r) => r.text()),
      (b) => /^netscan_device_up\{ip="127\.0\.94\.1"\} 1$/m.test(b),
      {
        deadlineMs: 30_000,
        intervalMs: 250,
      },
    );
    const check = spawnSync('promtool', ['check', 'metrics'], { input: body, encoding: 'utf8' });
    assert.deepEqual({ status: check.status, problems: `${check.stdout}${check.stderr}` }, { status: 0, problems: '' });
    assert.match(
      body,
      new RegExp(
        `^netscan_build_info\\{version="9\\.8\\.7",node_version="${process.versions.node.replaceAll('.', '\\.')}"\\} 1$`,
        'm',
      ),
    );
    assert.match(body, /^netscan_event_loop_delay_p99_seconds \d/m);
    assert.doesNotMatch(body, /eventloop_lag|_active_\w+_total/, 'one event-loop figure; no gauge named _total');
    assert.match(body, /^netscan_device_info\{ip="127\.0\.94\.1"\} 1$/m);
    assert.match(body, /^netscan_device_rtt_seconds_count\{ip="127\.0\.94\.1"\} [1-9]/m);
  },
);

test('per-device series follow a reload that changes labels', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-metrics-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freeLoopbackPort();
  const yaml = (labels: Record<string, string>) =>
    stringify({
      networks: [{ cidr: '127.0.95.0/30', labels }],
      icmp_discovery_interval: '1h',
      ping_interval: '1s',
      ping_timeout: '500ms',
      health_check_port: port,
      health_check_bind: '127.0.0.1',
      prometheus: { per_device: true },
      output_file: join(dir, 'out.lp'),
      state_file: join(dir, 'state.json'),
      spool_dir: join(dir, 'spool'),
    });
  const agent = new Agent({
    config: parseConfigText(yaml({ site: 'a' }), { env: {} }).config,
    logger: silentLogger(),
  });
  await agent.start();
  t.after(() => agent.stop());
  const url = `http://127.0.0.1:${agent.healthPort}/metrics`;
  const scrape = (want: RegExp): Promise<string> =>
    pollUntil(
      () => fetch(url).then((r) => r.text()),
      (b) => want.test(b),
      { deadlineMs: 20_000, intervalMs: 250 },
    );
  assert.match(await scrape(/^netscan_device_up\{ip="127\.0\.95\.1",site="a"\} 1$/m), /site="a"/);
  await agent.reload(parseConfigText(yaml({ site: 'b' }), { env: {} }).config);
  const after = await scrape(/^netscan_device_up\{ip="127\.0\.95\.1",site="b"\} 1$/m);
  assert.match(after, /^netscan_device_up\{ip="127\.0\.95\.1",site="b"\} 1$/m, 'the new label, at once');
  assert.doesNotMatch(after, /site="a"/, 'no series keeps the old label');
});
