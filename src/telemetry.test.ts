import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { Registry } from 'prom-client';
import { zeroIcmpEngineStats } from '../internal/icmp/engine-options.js';
import type { IcmpSocketInfo } from '../internal/icmp/open.js';
import type { PingSchedulerStats } from '../internal/schedule/ping-scheduler.js';
import type { WriterStats } from '../internal/writer/influx-writer.js';
import {
  buildHealthDocument,
  icmpHealth,
  icmpTotals,
  registerAgentMetrics,
  registerIcmpInfo,
  type AgentFigures,
} from './telemetry.js';

test('/health names the ICMP socket kind, the families and kernel stamping, before the counters', () => {
  const icmp = {
    ...zeroIcmpEngineStats('ipv4'),
    sent: 5,
    replies: 4,
    rttKernel: 3,
    rttUserspace: 1,
    txStampsUnpaired: 2,
  };
  const none = icmpHealth({ icmp, icmpModeSetting: 'auto', icmpSockets: [] });
  assert.deepEqual(
    [none['mode'], none['mode_setting'], none['families'], none['kernel_timestamps']],
    [null, 'auto', [], false],
  );

  const both: IcmpSocketInfo[] = [
    { family: 'ipv4', mode: 'dgram', kernelStamps: true },
    { family: 'ipv6', mode: 'dgram', kernelStamps: true },
  ];
  const h = icmpHealth({ icmp, icmpModeSetting: 'auto', icmpSockets: both });
  assert.deepEqual(Object.keys(h).slice(0, 4), ['mode', 'mode_setting', 'families', 'kernel_timestamps']);
  assert.deepEqual(
    [h['mode'], h['families'], h['kernel_timestamps'], h['sent'], h['replies']],
    ['dgram', ['ipv4', 'ipv6'], true, 5, 4],
  );

  const mixed = icmpHealth({
    icmp,
    icmpModeSetting: 'auto',
    icmpSockets: [both[0]!, { family: 'ipv6', mode: 'raw', kernelStamps: false }],
  });
  assert.deepEqual([mixed['mode'], mixed['kernel_timestamps']], ['dgram+raw', false]);
  assert.deepEqual([h['rtt_kernel'], h['rtt_userspace'], h['tx_stamps_unpaired']], [3, 1, 2]);
});

test('netscan_icmp_info has one series per open socket, read at scrape time', async () => {
  const registry = new Registry();
  let sockets: IcmpSocketInfo[] = [];
  registerIcmpInfo(registry, () => sockets);
  assert.doesNotMatch(await registry.metrics(), /^netscan_icmp_info\{/m);
  sockets = [
    { family: 'ipv4', mode: 'raw', kernelStamps: true },
    { family: 'ipv6', mode: 'raw', kernelStamps: false },
  ];
  const text = await registry.metrics();
  assert.match(text, /^netscan_icmp_info\{mode="raw",family="ipv4",kernel_timestamps="true"\} 1$/m);
  assert.match(text, /^netscan_icmp_info\{mode="raw",family="ipv6",kernel_timestamps="false"\} 1$/m);
  sockets = [{ family: 'ipv4', mode: 'dgram', kernelStamps: true }];
  const after = await registry.metrics();
  assert.doesNotMatch(after, /mode="raw"/, 'a socket no longer open leaves no stale series');
  assert.match(after, /^netscan_icmp_info\{mode="dgram",family="ipv4",kernel_timestamps="true"\} 1$/m);
});

test('the ICMP counters of both families add up; IPv4 alone until the IPv6 engine started', () => {
  const v4 = {
    ...zeroIcmpEngineStats('ipv4'),
    mode: 'dgram' as const,
    kernelStamps: true,
    sent: 10,
    replies: 9,
    rttKernel: 8,
    rttUserspace: 1,
    inFlight: 1,
  };
  const v6 = {
    ...zeroIcmpEngineStats('ipv6'),
    mode: 'dgram' as const,
    sent: 4,
    replies: 4,
    rttKernel: 4,
    txStampsUnpaired: 2,
  };
  assert.deepEqual(icmpTotals({ ipv4: v4, ipv6: undefined }), { ...v4, mode: undefined, kernelStamps: false });
  const both = icmpTotals({ ipv4: v4, ipv6: v6 });
  assert.deepEqual(
    [both.sent, both.replies, both.rttKernel, both.rttUserspace, both.txStampsUnpaired, both.inFlight],
    [14, 13, 12, 1, 2, 1],
  );
  assert.deepEqual(icmpTotals({ ipv4: undefined, ipv6: undefined }), zeroIcmpEngineStats('ipv4'));
});

/** Agent figures for the exposition tests: every figure set, the ones under test given. */
function agentFigures(over: Partial<AgentFigures> = {}): AgentFigures {
  const scheduler = {
    devicesScheduled: 3,
    intervalMs: 1000,
    effectiveIntervalMs: 1000,
    rateLimited: false,
    ownIntervalDevices: 0,
    expectedPingsPerSec: 3,
    pingsSentTotal: 10,
    inFlight: 0,
    repliesTotal: 9,
    failuresByReason: { timeout: 1 },
    overloadedTotal: 0,
    skippedTicksTotal: 0,
    missedSlotsTotal: 0,
    lateSendsTotal: 0,
    hungProbesTotal: 0,
    breakerTripsTotal: 0,
    sendLagP99Ms: 0,
    sendLagMaxMs: 0,
    interval: { sends: 0, sendLagP99Ms: Number.NaN, sendLagMaxMs: Number.NaN },
  } as unknown as PingSchedulerStats;
  const writer = {
    state: 'writing',
    pointsWritten: 5,
    pointsSpooled: 0,
    pointsDropped: 0,
    droppedByReason: {},
    writeErrors: {},
    queueDepth: 0,
    spoolBytes: 0,
    spoolPoints: 0,
    batchesOk: 1,
    batchesFailed: 0,
  } as unknown as WriterStats;
  return {
    version: '1.2.3',
    nowMs: 1_700_000_000_000,
    uptimeMs: 1000,
    ready: { ready: true },
    deviceCount: 3,
    maxDevices: 3,
    pingSuspended: 0,
    snmpSuspended: 0,
    removals: { evicted: 0, pruned: 0, notAdded: 0 },
    scheduler,
    reconciler: { monitored: 3, unmonitored: 0 } as AgentFigures['reconciler'],
    writer,
    outputOk: true,
    outputHealthy: true,
    icmp: zeroIcmpEngineStats('ipv4'),
    icmpModeSetting: 'auto',
    icmpSockets: [],
    snmp: undefined,
    persistence: {} as AgentFigures['persistence'],
    eventLoopDelayP99Ms: 1,
    tasks: 1,
    memoryMb: 1,
    rssMb: 1,
    sweep: { running: false, progress: undefined, total: 2, errors: 0, skipped: 0, nextMs: 0, last: undefined },
    shard: { index: 0, count: 1 },
    reloads: { applied: 0, failed: 0, lastOk: true },
    ...over,
  };
}

const havePromtool = spawnSync('promtool', ['--version']).status === 0;

test('devices the state let go, targets not pinged, failed sweeps and rejected reloads are in /health and /metrics, and the text passes promtool', async () => {
  const f = agentFigures({
    removals: { evicted: 7, pruned: 2, notAdded: 1 },
    targets: {
      configured: 5,
      resolved: 2,
      unresolved: 2,
      excluded: 1,
      dnsFailures: 4,
      cycles: 3,
      lastCycleMs: 12,
    },
    sweep: { running: false, progress: undefined, total: 2, errors: 3, skipped: 0, nextMs: 0, last: undefined },
    reloads: { applied: 2, failed: 1, lastOk: false },
  });
  const doc = buildHealthDocument(f);
  assert.deepEqual([doc['devices_evicted'], doc['devices_pruned'], doc['devices_not_added']], [7, 2, 1]);
  const registry = new Registry();
  registerAgentMetrics(registry, () => f);
  const text = await registry.metrics();
  for (const sample of [
    'netscan_devices_evicted_total 7',
    'netscan_devices_pruned_total 2',
    'netscan_devices_not_added_total 1',
    'netscan_targets{state="configured"} 5',
    'netscan_targets{state="resolved"} 2',
    'netscan_targets{state="unresolved"} 2',
    'netscan_targets{state="excluded"} 1',
    'netscan_sweep_errors_total 3',
    'netscan_config_reloads_total 2',
    'netscan_config_reload_failures_total 1',
    'netscan_config_last_reload_successful 0',
  ])
    assert.ok(text.split('\n').includes(sample), sample);
  if (havePromtool) {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.deepEqual({ status: check.status, problems: `${check.stdout}${check.stderr}` }, { status: 0, problems: '' });
  }
});
