import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deviceInfoPoint, healthPoint, pingPoint, sanitizeString, suspendedPingPoint, type HealthValues } from './points.js';
import { toLineProtocol } from './line-protocol.js';
import { sumWriterStats } from './influx-writer.js';

const v2 = { unsignedAsInteger: false };
const v1 = { unsignedAsInteger: true };
const T = 1_700_000_000_123;

test('ping points have the Go shape: tag ip, float rtt_ms, bool success and suspended', () => {
  const ok = pingPoint({ ok: true, ip: '127.0.0.2', rttMs: 12.5, sentAtMs: T - 13 }, { timeMs: T });
  assert.equal(toLineProtocol(ok, v2), `ping,ip=127.0.0.2 rtt_ms=12.5,success=T,suspended=F ${T}`);
  const fail = pingPoint({ ok: false, ip: '127.0.0.3', reason: 'timeout', sentAtMs: T - 1000 }, { timeMs: T });
  assert.equal(toLineProtocol(fail, v2), `ping,ip=127.0.0.3 reason="timeout",rtt_ms=0,success=F,suspended=F ${T}`);
  assert.equal(toLineProtocol(suspendedPingPoint('127.0.0.4', T), v2), `ping,ip=127.0.0.4 reason="suspended",rtt_ms=0,success=F,suspended=T ${T}`);
});

test('device_info carries hostname and snmp_description always and the new fields when present', () => {
  const full = deviceInfoPoint('127.0.0.2', {
    hostname: 'core-sw1', sysDescr: 'Linux 6.1', sysObjectId: '1.3.6.1.4.1.8072.3.2.10',
    sysLocation: 'rack 4', sysContact: 'noc@example.org', sysUptimeS: 86400.7,
  }, T);
  assert.equal(toLineProtocol(full, v2),
    `device_info,ip=127.0.0.2 hostname="core-sw1",snmp_description="Linux 6.1",sys_contact="noc@example.org",sys_location="rack 4",sys_object_id="1.3.6.1.4.1.8072.3.2.10",sys_uptime_s=86400i ${T}`);
  const bare = deviceInfoPoint('127.0.0.2', { hostname: '127.0.0.2', sysDescr: '', sysLocation: ' \n ' }, T);
  assert.equal(toLineProtocol(bare, v2), `device_info,ip=127.0.0.2 hostname="127.0.0.2",snmp_description="" ${T}`);
});

test('health_metrics keeps the Go field types and adds the writer counters', () => {
  const writer = sumWriterStats([]);
  Object.assign(writer, { batchesOk: 1234, batchesFailed: 0, pointsWritten: 10, pointsDropped: 2, pointsSpooled: 3, spoolBytes: 4096, spoolPoints: 3, queueDepth: 7 });
  writer.writeErrors.retry = 5;
  const values: HealthValues = {
    deviceCount: 150, activePingers: 2, suspendedDevices: 5, goroutines: 325, memoryMb: 245.9, rssMb: 512,
    influxdbOk: true, pingsSentTotal: 456789, writer,
  };
  const p = healthPoint(values, T);
  assert.equal(p.bucket, 'health');
  assert.deepEqual(p.tags, {});
  const line = toLineProtocol(p, v2)!;
  const fields = Object.fromEntries(line.split(' ')[1]!.split(',').map((kv) => kv.split('=') as [string, string]));
  assert.deepEqual(fields, {
    device_count: '150i', active_pingers: '2i', suspended_devices: '5i', goroutines: '325i', memory_mb: '245i', rss_mb: '512i',
    influxdb_ok: 'T', influxdb_successful_batches: '1234u', influxdb_failed_batches: '0u', pings_sent_total: '456789u',
    points_written: '10u', points_dropped: '2u', points_spooled: '3u', spool_bytes: '4096i', spool_points: '3i', queue_depth: '7i',
    write_errors_retry: '5u', write_errors_throttle: '0u', write_errors_split: '0u', write_errors_drop: '0u', write_errors_config: '0u',
  });
  assert.match(toLineProtocol(p, v1)!, /influxdb_successful_batches=1234i,.*pings_sent_total=456789i/);
});

test('health_metrics extra fields: agent counters unsigned, gauges integer, delays float', () => {
  const extra = {
    agent_overloaded: 3, agent_errors: 4, event_loop_delay_p99_ms: 2.5, unmonitored_devices: 6, snmp_suspended_devices: 7,
    effective_ping_interval_ms: 1000, skipped_ticks: 8, snmp_enriched_devices: 9,
  };
  const line = toLineProtocol(healthPoint({
    deviceCount: 1, activePingers: 0, suspendedDevices: 0, goroutines: 1, memoryMb: 1, rssMb: 1, influxdbOk: true, pingsSentTotal: 1,
    writer: sumWriterStats([]), extra,
  }, T), v2)!;
  const fields = Object.fromEntries(line.split(' ')[1]!.split(',').map((kv) => kv.split('=') as [string, string]));
  assert.deepEqual(
    Object.fromEntries(Object.keys(extra).map((k) => [k, fields[k]])),
    {
      agent_overloaded: '3u', agent_errors: '4u', event_loop_delay_p99_ms: '2.5', unmonitored_devices: '6i', snmp_suspended_devices: '7i',
      effective_ping_interval_ms: '1000', skipped_ticks: '8u', snmp_enriched_devices: '9i',
    },
  );
});

test('sanitizeString removes control characters, keeps words apart and caps the UTF-8 length', () => {
  const cases: Array<[string, string]> = [
    ['Device\x00Name', 'DeviceName'],
    ['line1\nline2\r\n\tline3', 'line1 line2 line3'],
    ['  padded\x07 ', 'padded'],
    ['bell\x7f and c1\x85', 'bell and c1'],
    ['lone \ud800 surrogate', 'lone \ufffd surrogate'],
    ['quote " backslash \\ comma , equals =', 'quote " backslash \\ comma , equals ='],
    ['', ''],
  ];
  for (const [input, want] of cases) assert.equal(sanitizeString(input), want, JSON.stringify(input));
  const long = sanitizeString('é'.repeat(400));
  assert.ok(Buffer.byteLength(long) <= 500, `${Buffer.byteLength(long)} bytes`);
  assert.ok(long.endsWith('...'));
  assert.equal(long.slice(0, -3), 'é'.repeat((Buffer.byteLength(long) - 3) / 2), 'cut on a character boundary');
});
