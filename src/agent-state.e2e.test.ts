// End-to-end: SNMP enrichment through the real agent process (Debian's snmpd, bound to 0.0.0.0
// in the suite's private namespace so it answers for every 127.x address), then a restart from
// the state file in a namespace of its own where nft hides the network from the sweep.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AgentProcess, type LinePoint } from '../internal/testkit/agent-process.js';
import { netnsAvailable, nftRuleset } from '../internal/testkit/netns.js';
import { pollUntil } from '../internal/testkit/server-process.js';
import { Snmpd } from '../internal/testkit/snmpd.js';

const hosts = (prefix: string, from: number, to: number): string[] =>
  Array.from({ length: to - from + 1 }, (_, i) => `${prefix}.${from + i}`);
const skip =
  netnsAvailable() && process.env.NETSCAN_TEST_NETNS === '1'
    ? false
    : 'needs the suite namespace (scripts/run-tests.mjs) and unshare -n';

describe('SNMP and state through the agent process', { skip }, () => {
  const devices = hosts('127.0.50', 1, 6);
  const sysName = 'e2e-sysname';
  let snmpd: Snmpd;
  let first: AgentProcess;
  let stateDir: string;

  before(async () => {
    snmpd = await Snmpd.start({
      sysName,
      community: 'e2e-community',
      sysLocation: 'e2e-rack-7',
      sysDescr: 'e2e test agent',
    });
    first = await AgentProcess.start({
      config: {
        networks: ['127.0.50.0/29'],
        snmp: { community: 'e2e-community', port: snmpd.port, timeout: '1s' },
        snmp_rate_limit: 100,
      },
    });
    stateDir = mkdtempSync(join(tmpdir(), 'netscan-e2e-restart-'));
  });
  after(async () => {
    await first?.dispose();
    await snmpd?.stop();
    if (stateDir) rmSync(stateDir, { recursive: true, force: true });
  });

  test(
    'device_info with hostname = sysName arrives in the line-protocol file for every device',
    { timeout: 60_000 },
    async () => {
      const infos = (): LinePoint[] => first.points().filter((p) => p.measurement === 'device_info');
      await pollUntil(
        async () => infos(),
        (p) => new Set(p.map((x) => x.tags['ip'])).size === devices.length,
        { deadlineMs: 20_000, intervalMs: 200 },
      );
      const h = await first.health();
      assert.equal((h['snmp'] as { devices_enriched: number }).devices_enriched, 6);
      assert.deepEqual(await first.stop(), { code: 0, signal: null }, first.tail());
      const byIp = new Map(infos().map((p) => [p.tags['ip']!, p]));
      assert.deepEqual([...byIp.keys()].sort(), devices);
      for (const p of byIp.values()) {
        assert.equal(p.fields['hostname'], sysName);
        assert.equal(p.fields['snmp_description'], 'e2e test agent');
        assert.equal(p.fields['sys_location'], 'e2e-rack-7');
        assert.equal(typeof p.fields['sys_uptime_s'], 'number');
      }
      const state = first.stateDevices();
      assert.deepEqual(
        state.map((d) => [d.ip, d['hostname']]).sort(),
        devices.map((ip) => [ip, sysName]),
      );
    },
  );

  test(
    'a restart from the state file monitors the devices before the sweep finishes, even when the sweep finds nothing, and keeps SNMP data',
    { timeout: 60_000 },
    async (t) => {
      assert.ok(first.exit, 'the first agent ran and stopped');
      copyFileSync(join(first.dir, 'state.json'), join(stateDir, 'state.json'));
      // In a namespace of its own: the network answers no echo at first, so the sweep finds nothing.
      const second = await AgentProcess.start({
        dir: stateDir,
        netns: true,
        nftRuleset: nftRuleset({ dropEchoTo: devices }),
        // The sweep waits 6 s for echoes that never come: time for the probe thread to start and serve
        // every restored device's first slot (1 s apart at most) even on a machine busy with other work.
        config: { networks: ['127.0.50.0/29'], sweep_timeout: '6s', sweep_retries: 0, ping_timeout: '300ms' },
      });
      t.after(() => second.dispose());
      assert.equal(second.logsWith('device state restored')[0]?.['count'], 6, second.tail());
      assert.equal(second.logsWith('netscan started')[0]?.['devices'], 6);
      const swept = await second.waitForLog('sweep finished');
      assert.equal(swept['alive'], 0);
      const sweptAtMs = Date.parse(swept['time'] as string);
      const early =
        second.points().length > 0
          ? second.points()
          : await pollUntil(
              async () => second.points(),
              (p) => p.length > 0,
              { deadlineMs: 5_000 },
            );
      const pingedEarly = new Set(
        early.filter((p) => p.measurement === 'ping' && p.timeMs < sweptAtMs).map((p) => p.tags['ip']),
      );
      assert.deepEqual([...pingedEarly].sort(), devices, 'every restored device was probed while the sweep still ran');

      // The network answers again: the restored devices, never rediscovered, are pinged successfully.
      second.nft('delete table inet netscan_test\n');
      const answeredAfterMs = Date.now();
      await pollUntil(
        async () => second.points(),
        (p) =>
          devices.every((ip) =>
            p.some(
              (x) =>
                x.measurement === 'ping' &&
                x.tags['ip'] === ip &&
                x.fields['success'] === true &&
                x.timeMs > answeredAfterMs,
            ),
          ),
        { deadlineMs: 10_000, intervalMs: 200 },
      );
      assert.deepEqual(await second.stop(), { code: 0, signal: null }, second.tail());
      const fails = second.points().filter((p) => p.measurement === 'ping' && p.fields['success'] === false);
      assert.ok(
        fails.length >= 6 &&
          fails.every((p) => p.fields['reason'] === 'timeout' || p.fields['reason'] === 'agent_overloaded'),
        'the early failures are timeouts',
      );

      const state = second.stateDevices();
      assert.deepEqual(
        state.map((d) => [d.ip, d['hostname']]).sort(),
        devices.map((ip) => [ip, sysName]),
        'SNMP names kept across the restart',
      );
      const snmp = state.map((d) => JSON.stringify(d)).join('\n');
      assert.match(snmp, /e2e-rack-7/);
    },
  );
});
