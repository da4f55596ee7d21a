// An in-process agent with probe_thread: worker monitoring loopback hosts: its points, /health
// figures and per-device series come from the probe thread, and stop ends that thread.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { stringify } from 'yaml';
import { netnsAvailable } from '../internal/testkit/netns.js';
import { captureLogger } from '../internal/testkit/logger.js';
import { freeLoopbackPort, pollUntil } from '../internal/testkit/server-process.js';
import { Agent } from './agent.js';
import { parseConfigText } from './config/load.js';

// run-tests.mjs runs every file inside a private network namespace; alone, wrap it in `unshare -n`.
const skip = netnsAvailable() ? false : 'needs root and unshare -n (network namespaces)';

test(
  'with probe_thread: worker, points, /health and per-device series come from the probe thread',
  { timeout: 60_000, skip },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'netscan-probe-thread-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const out = join(dir, 'out.lp');
    const text = stringify({
      networks: ['127.0.95.0/30'],
      icmp_discovery_interval: '1h',
      ping_interval: '1s',
      ping_timeout: '500ms',
      probe_thread: 'worker',
      health_check_port: await freeLoopbackPort(),
      health_check_bind: '127.0.0.1',
      prometheus: { per_device: true },
      output_file: out,
      state_file: join(dir, 'state.json'),
      spool_dir: join(dir, 'spool'),
    });
    const { logger, lines } = captureLogger('info');
    const agent = new Agent({ config: parseConfigText(text, { env: {} }).config, logger, version: '1.2.3' });
    await agent.start();
    let stopped = false;
    t.after(() => (stopped ? undefined : agent.stop()));
    const base = `http://127.0.0.1:${agent.healthPort}`;
    const health = await pollUntil(
      () => fetch(`${base}/health`).then((r) => r.json() as Promise<Record<string, unknown>>),
      (h) => Number(h.ping_replies_total) >= 4,
      { deadlineMs: 30_000, intervalMs: 250 },
    );
    assert.equal(health.monitored_devices, 2);
    assert.ok(Number((health.icmp as Record<string, unknown>).sent) >= Number(health.pings_sent_total));
    const metrics = await fetch(`${base}/metrics`).then((r) => r.text());
    assert.match(metrics, /^netscan_device_rtt_seconds_count\{ip="127\.0\.95\.1"\} [1-9]/m);
    assert.match(metrics, /^netscan_ping_rtt_seconds_count [1-9]/m);
    await agent.stop();
    stopped = true;
    const points = readFileSync(out, 'utf8');
    assert.match(points, /^ping,.*ip=127\.0\.95\.2 .*success=T/m);
    assert.match(points, /^ping_summary,.*ip=127\.0\.95\.1/m);
    const probeLines = lines.filter((l) => l.thread === 'probe').map((l) => l.msg);
    assert.ok(probeLines.includes('probe thread started'), probeLines.join(', '));
    assert.ok(probeLines.includes('ping scheduler stopped'), probeLines.join(', '));
    assert.ok(probeLines.includes('probe thread stopped'), probeLines.join(', '));
    assert.equal(lines.filter((l) => String(l.msg).startsWith('probe thread ended unexpectedly')).length, 0);
  },
);
