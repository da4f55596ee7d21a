import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SnmpInfo } from '../model/device.js';
import { PingScheduler } from '../schedule/ping-scheduler.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { FakeDeviceState } from '../testkit/fake-device-state.js';
import { FakePinger, type FakeReply } from '../testkit/fake-pinger.js';
import { FakeStallMonitor } from '../testkit/fake-stall-monitor.js';
import { silentLogger } from '../testkit/logger.js';
import { RecordingSink } from '../testkit/recording-sink.js';
import { DeviceSeries } from './device-series.js';

const T0 = 1_700_000_040_000;
const A = '127.0.0.1'; // phase 407 ms at a 1 s interval (pinned in phase.test.ts)
const B = '127.0.0.2';

/** The sample of `metric` for `ip`, or undefined when the series does not exist. */
function sample(series: DeviceSeries, metric: string, ip: string): number | undefined {
  const line = series
    .render()
    .split('\n')
    .find((l) => l.startsWith(`${metric}{ip="${ip}"`));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

function rig(respond: (ip: string) => FakeReply) {
  const clock = new FakeClock(T0);
  const state = new FakeDeviceState(clock);
  const stalls = new FakeStallMonitor();
  const series = new DeviceSeries({ devices: state });
  const sched = new PingScheduler(
    {
      clock,
      pinger: new FakePinger({ clock, respond }),
      sink: new RecordingSink(),
      state,
      logger: silentLogger(),
      stallMonitor: stalls,
      observer: series,
    },
    {
      intervalMs: 1000,
      timeoutMs: 500,
      ratePerSec: 1e6,
      burst: 1e6,
      maxConsecutiveFails: 3,
      backoffMs: 60_000,
      overloadThresholdMs: 200,
    },
  );
  return { clock, state, stalls, series, sched };
}

test('the scheduler record drives the series: replies, real failures, suspension; an agent stall changes nothing', async () => {
  let reply: FakeReply = { rttMs: 2 };
  const r = rig(() => reply);
  r.state.markSeen(A);
  r.sched.add(A);
  r.sched.start();
  assert.equal(sample(r.series, 'netscan_device_up', A), undefined, 'no series before the first probe settles');
  await r.clock.advanceAsync(3000); // replies at 407, 1407, 2407
  assert.equal(sample(r.series, 'netscan_device_up', A), 1);
  assert.equal(sample(r.series, 'netscan_device_pings_sent_total', A), 3);
  assert.equal(sample(r.series, 'netscan_device_pings_received_total', A), 3);
  assert.equal(sample(r.series, 'netscan_device_rtt_seconds_sum', A), 0.006);
  reply = { reason: 'timeout' };
  r.stalls.inject(T0 + 3000, T0 + 6000); // probes at 3407, 4407 and 5407 time out inside a stall
  await r.clock.advanceAsync(3000);
  assert.equal(sample(r.series, 'netscan_device_up', A), 1, 'agent_overloaded says nothing about the host');
  assert.equal(sample(r.series, 'netscan_device_pings_sent_total', A), 3);
  await r.clock.advanceAsync(3000); // real timeouts at 6407, 7407, 8407: the third trips the breaker
  assert.equal(r.state.isPingSuspended(A), true);
  assert.equal(sample(r.series, 'netscan_device_up', A), 0);
  assert.equal(sample(r.series, 'netscan_device_pings_sent_total', A), 6);
  assert.equal(sample(r.series, 'netscan_device_pings_received_total', A), 3);
  await r.sched.stop();
});

test('a device suspended before its first probe is down at its first slot; a removed device loses its series for good', async () => {
  const r = rig(() => ({ reason: 'timeout' }));
  r.state.markSeen(A);
  r.state.markSeen(B);
  for (let i = 0; i < 3; i++) r.state.recordPingFailure(B, 3, 60_000); // restored suspended
  r.sched.add(A);
  r.sched.add(B);
  r.sched.start();
  await r.clock.advanceAsync(2000);
  assert.equal(sample(r.series, 'netscan_device_up', B), 0);
  assert.equal(sample(r.series, 'netscan_device_pings_sent_total', B), 0);
  await r.clock.advanceAsync(507); // a probe of A is in flight (sent at 2407, times out at 2907)
  assert.equal(sample(r.series, 'netscan_device_pings_sent_total', A), 2);
  r.sched.remove(A);
  await r.clock.advanceAsync(2000); // its probe settles after the removal
  assert.equal(sample(r.series, 'netscan_device_up', A), undefined);
  assert.equal(r.series.size, 1);
  await r.sched.stop();
});

test('an SNMP answer names the series and fills netscan_device_info; a device without series is not created by it', () => {
  const info: SnmpInfo = {
    sysName: 'core-1',
    sysDescr: 'Linux "x"',
    sysObjectId: '1.3.6.1.4.1.8072.3.2.10',
    sysLocation: 'rack 9',
    sysContact: '',
    sysUptimeS: 5,
    credentialId: 'c',
  };
  const series = new DeviceSeries({ devices: { get: () => undefined }, labelsOf: () => ({ site: 'ams1' }) });
  series.snmpAnswered(A, info);
  assert.equal(series.size, 0);
  series.probed({ ok: true, ip: A, rttMs: 1, sentAtMs: T0 });
  series.snmpAnswered(A, info);
  const lines = series
    .render()
    .split('\n')
    .filter((l) => /^netscan_device_(info|up)\{/.test(l));
  assert.deepEqual(lines, [
    'netscan_device_info{ip="127.0.0.1",name="core-1",site="ams1",description="Linux \\"x\\"",sys_object_id="1.3.6.1.4.1.8072.3.2.10",location="rack 9"} 1',
    'netscan_device_up{ip="127.0.0.1",name="core-1",site="ams1"} 1',
  ]);
});

test("a target's name and the configured labels label its series; SNMP's sysName only when no name is configured", () => {
  const clock = new FakeClock(T0);
  const state = new FakeDeviceState(clock);
  const labels: Record<string, Record<string, string>> = {
    [A]: { name: 'core-1', site: 'ams1' },
    [B]: { role: 'edge' },
  };
  const series = new DeviceSeries({ devices: state, labelsOf: (ip) => labels[ip] });
  series.probed({ ok: true, ip: A, rttMs: 1, sentAtMs: T0 });
  series.probed({ ok: true, ip: B, rttMs: 1, sentAtMs: T0 });
  series.snmpAnswered(A, { sysName: 'snmp-a' } as SnmpInfo);
  series.snmpAnswered(B, { sysName: 'snmp-b' } as SnmpInfo);
  const up = series
    .render()
    .split('\n')
    .filter((l) => l.startsWith('netscan_device_up{'));
  assert.deepEqual(up, [
    'netscan_device_up{ip="127.0.0.1",name="core-1",site="ams1"} 1',
    'netscan_device_up{ip="127.0.0.2",name="snmp-b",role="edge"} 1',
  ]);
});

test('relabel takes a device name and labels afresh and keeps its counts; unknown devices get no series', () => {
  const labels = new Map<string, Record<string, string>>([[A, { name: 'old.test', site: 'a' }]]);
  const series = new DeviceSeries({ devices: { get: () => undefined }, labelsOf: (ip) => labels.get(ip) });
  series.probed({ ok: true, ip: A, rttMs: 1, sentAtMs: T0 });
  assert.match(series.render(), /^netscan_device_pings_sent_total\{ip="127\.0\.0\.1",name="old\.test",site="a"\} 1$/m);
  labels.set(A, { name: 'new.test', site: 'b' });
  series.relabel(A);
  series.relabel(B);
  assert.match(series.render(), /^netscan_device_pings_sent_total\{ip="127\.0\.0\.1",name="new\.test",site="b"\} 1$/m);
  assert.doesNotMatch(series.render(), /old\.test|127\.0\.0\.2/);
  labels.set(A, {});
  series.relabel();
  assert.match(series.render(), /^netscan_device_pings_sent_total\{ip="127\.0\.0\.1"\} 1$/m);
});
