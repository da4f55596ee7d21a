import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  deviceInfoPoint,
  healthPoint,
  pingPoint,
  pingSummaryPoint,
  sanitizeString,
  suspendedPingPoint,
  type HealthValues,
  type WriterCounters,
} from './points.js';
import { field } from './point.js';

// Field types are asserted here; how each type is spelled in line protocol is the writer's tests' business.
const T = 1_700_000_000_123;

const noWrites: WriterCounters = {
  batchesOk: 0,
  batchesFailed: 0,
  pointsWritten: 0,
  pointsDropped: 0,
  pointsSpooled: 0,
  spoolBytes: 0,
  spoolPoints: 0,
  queueDepth: 0,
  writeErrors: { retry: 0, throttle: 0, split: 0, drop: 0, config: 0 },
};

test('ping points have the Go shape: tag ip, float rtt_ms, bool success and suspended', () => {
  assert.deepEqual(pingPoint({ ok: true, ip: '127.0.0.2', rttMs: 12.5, sentAtMs: T - 13 }, { timeMs: T }), {
    measurement: 'ping',
    tags: { ip: '127.0.0.2' },
    timeMs: T,
    fields: { rtt_ms: field.float(12.5), success: field.bool(true), suspended: field.bool(false) },
  });
  assert.deepEqual(
    pingPoint(
      { ok: false, ip: '127.0.0.3', reason: 'timeout', sentAtMs: T - 1000 },
      { timeMs: T, failedRttZero: true },
    ),
    {
      measurement: 'ping',
      tags: { ip: '127.0.0.3' },
      timeMs: T,
      fields: {
        rtt_ms: field.float(0),
        success: field.bool(false),
        suspended: field.bool(false),
        reason: field.string('timeout'),
      },
    },
  );
  assert.deepEqual(suspendedPingPoint('127.0.0.4', T, true), {
    measurement: 'ping',
    tags: { ip: '127.0.0.4' },
    timeMs: T,
    fields: {
      rtt_ms: field.float(0),
      success: field.bool(false),
      suspended: field.bool(true),
      reason: field.string('suspended'),
    },
  });
});

test('a failed or suspended ping carries no rtt_ms by default, so RTT means count replies only', () => {
  assert.deepEqual(
    pingPoint({ ok: false, ip: '127.0.0.3', reason: 'unreachable', sentAtMs: T - 1000 }, { timeMs: T }).fields,
    {
      success: field.bool(false),
      suspended: field.bool(false),
      reason: field.string('unreachable'),
    },
  );
  assert.deepEqual(suspendedPingPoint('127.0.0.4', T).fields, {
    success: field.bool(false),
    suspended: field.bool(true),
    reason: field.string('suspended'),
  });
});

// Telegraf's ping input (plugins/inputs/ping/README.md), the fields it writes to measurement `ping`
// on Linux, with their types and meaning. Fields it writes only on Windows (errors, reply_received,
// percent_reply_loss) and ttl (netscan's echo replies do not report it) are left out.
const telegrafPingFields: Record<string, { type: 'int' | 'float'; meaning: string }> = {
  packets_transmitted: { type: 'int', meaning: 'echo requests sent' },
  packets_received: { type: 'int', meaning: 'echo replies received' },
  percent_packet_loss: { type: 'float', meaning: 'percent of requests without a reply' },
  minimum_response_ms: { type: 'float', meaning: 'smallest round-trip time, ms' },
  average_response_ms: { type: 'float', meaning: 'mean round-trip time, ms' },
  maximum_response_ms: { type: 'float', meaning: 'largest round-trip time, ms' },
  standard_deviation_ms: { type: 'float', meaning: 'standard deviation of the round-trip time, ms' },
  result_code: { type: 'int', meaning: '0 success, 1 no such host, 2 ping error' },
};

test("telegraf summary naming writes exactly the fields of Telegraf's ping input, typed as Telegraf types them", () => {
  const s = {
    windowStartMs: T,
    sent: 10,
    received: 9,
    overloaded: 1,
    suspendedTicks: 0,
    lossPct: 10,
    rttMinMs: 1,
    rttAvgMs: 2,
    rttMaxMs: 4,
    rttP50Ms: 2,
    rttP95Ms: 3.5,
    rttStddevMs: 0.5,
    jitterMs: 0.25,
  };
  const p = pingSummaryPoint('127.0.0.5', s, 'telegraf');
  assert.equal(p.measurement, 'ping');
  assert.deepEqual(p.tags, { url: '127.0.0.5', ip: '127.0.0.5' });
  assert.equal(p.timeMs, T);
  assert.deepEqual(Object.keys(p.fields).sort(), Object.keys(telegrafPingFields).sort());
  for (const [name, want] of Object.entries(telegrafPingFields))
    assert.equal(p.fields[name]?.type, want.type, `${name}: ${want.meaning}`);
  assert.deepEqual(p.fields, {
    packets_transmitted: field.int(10),
    packets_received: field.int(9),
    result_code: field.int(0),
    percent_packet_loss: field.float(10),
    minimum_response_ms: field.float(1),
    average_response_ms: field.float(2),
    maximum_response_ms: field.float(4),
    standard_deviation_ms: field.float(0.5),
  });
  // Nothing came back: Telegraf still says success (the ping ran) and writes no RTT fields.
  const lost = pingSummaryPoint(
    '127.0.0.6',
    { ...s, received: 0, lossPct: 100, rttMinMs: NaN, rttAvgMs: NaN, rttMaxMs: NaN, rttStddevMs: NaN },
    'telegraf',
  );
  assert.deepEqual(lost.fields, {
    packets_transmitted: field.int(10),
    packets_received: field.int(0),
    result_code: field.int(0),
    percent_packet_loss: field.float(100),
  });
  // No probe went out (agent overloaded): a ping error.
  const none = pingSummaryPoint(
    '127.0.0.7',
    { ...s, sent: 0, received: 0, lossPct: NaN, rttMinMs: NaN, rttAvgMs: NaN, rttMaxMs: NaN, rttStddevMs: NaN },
    'telegraf',
  );
  assert.deepEqual(none.fields, {
    packets_transmitted: field.int(0),
    packets_received: field.int(0),
    result_code: field.int(2),
  });
});

test('ping_summary counts are integers, RTT statistics floats, stamped at the window start', () => {
  const p = pingSummaryPoint('127.0.0.5', {
    windowStartMs: T,
    sent: 10,
    received: 9,
    overloaded: 1,
    suspendedTicks: 2,
    missedSlots: 3,
    skippedTicks: 1,
    lossPct: 10,
    rttMinMs: 1,
    rttAvgMs: 2,
    rttMaxMs: 4,
    rttP50Ms: 2,
    rttP95Ms: 3.5,
    rttStddevMs: 0.5,
    jitterMs: 0.25,
  });
  assert.deepEqual(p, {
    measurement: 'ping_summary',
    tags: { ip: '127.0.0.5' },
    timeMs: T,
    fields: {
      sent: field.int(10),
      received: field.int(9),
      overloaded: field.int(1),
      suspended_ticks: field.int(2),
      missed_slots: field.int(3),
      skipped_ticks: field.int(1),
      loss_pct: field.float(10),
      rtt_min_ms: field.float(1),
      rtt_avg_ms: field.float(2),
      rtt_max_ms: field.float(4),
      rtt_p50_ms: field.float(2),
      rtt_p95_ms: field.float(3.5),
      rtt_stddev_ms: field.float(0.5),
      jitter_ms: field.float(0.25),
    },
  });
});

test('device_info carries hostname and snmp_description always and the new fields when present', () => {
  const full = deviceInfoPoint(
    '127.0.0.2',
    {
      hostname: 'core-sw1',
      sysDescr: 'Linux 6.1',
      sysObjectId: '1.3.6.1.4.1.8072.3.2.10',
      sysLocation: 'rack 4',
      sysContact: 'noc@example.org',
      sysUptimeS: 86400.7,
    },
    T,
  );
  assert.deepEqual(full, {
    measurement: 'device_info',
    tags: { ip: '127.0.0.2' },
    timeMs: T,
    fields: {
      hostname: field.string('core-sw1'),
      snmp_description: field.string('Linux 6.1'),
      sys_object_id: field.string('1.3.6.1.4.1.8072.3.2.10'),
      sys_location: field.string('rack 4'),
      sys_contact: field.string('noc@example.org'),
      sys_uptime_s: { type: 'int', value: 86400 },
    },
  });
  const bare = deviceInfoPoint('127.0.0.2', { hostname: '127.0.0.2', sysDescr: '', sysLocation: ' \n ' }, T);
  assert.deepEqual(bare.fields, { hostname: field.string('127.0.0.2'), snmp_description: field.string('') });
});

test('health_metrics keeps the Go field types and adds the writer counters', () => {
  const writer: WriterCounters = {
    batchesOk: 1234,
    batchesFailed: 0,
    pointsWritten: 10,
    pointsDropped: 2,
    pointsSpooled: 3,
    spoolBytes: 4096,
    spoolPoints: 3,
    queueDepth: 7,
    writeErrors: { retry: 5, throttle: 0, split: 0, drop: 0, config: 0 },
  };
  const values: HealthValues = {
    deviceCount: 150,
    activePingers: 2,
    suspendedDevices: 5,
    goroutines: 325,
    memoryMb: 245.9,
    rssMb: 512,
    influxdbOk: true,
    pingsSentTotal: 456789,
    writer,
  };
  const p = healthPoint(values, T);
  assert.equal(p.measurement, 'health_metrics');
  assert.equal(p.bucket, 'health');
  assert.deepEqual(p.tags, {});
  assert.deepEqual(p.fields, {
    device_count: { type: 'int', value: 150 },
    active_pingers: { type: 'int', value: 2 },
    suspended_devices: { type: 'int', value: 5 },
    goroutines: { type: 'int', value: 325 },
    memory_mb: { type: 'int', value: 245 },
    rss_mb: { type: 'int', value: 512 },
    influxdb_ok: { type: 'bool', value: true },
    influxdb_successful_batches: { type: 'uint', value: 1234 },
    influxdb_failed_batches: { type: 'uint', value: 0 },
    pings_sent_total: { type: 'uint', value: 456789 },
    points_written: { type: 'uint', value: 10 },
    points_dropped: { type: 'uint', value: 2 },
    points_spooled: { type: 'uint', value: 3 },
    spool_bytes: { type: 'int', value: 4096 },
    spool_points: { type: 'int', value: 3 },
    queue_depth: { type: 'int', value: 7 },
    write_errors_retry: { type: 'uint', value: 5 },
    write_errors_throttle: { type: 'uint', value: 0 },
    write_errors_split: { type: 'uint', value: 0 },
    write_errors_drop: { type: 'uint', value: 0 },
    write_errors_config: { type: 'uint', value: 0 },
  });
});

test('health_metrics extra fields: agent counters unsigned, gauges integer, delays float', () => {
  const extra = {
    agent_overloaded: 3,
    agent_errors: 4,
    event_loop_delay_p99_ms: 2.5,
    unmonitored_devices: 6,
    snmp_suspended_devices: 7,
    effective_ping_interval_ms: 1000,
    skipped_ticks: 8,
    snmp_enriched_devices: 9,
  };
  const base = {
    deviceCount: 1,
    activePingers: 0,
    suspendedDevices: 0,
    goroutines: 1,
    memoryMb: 1,
    rssMb: 1,
    influxdbOk: true,
    pingsSentTotal: 1,
    writer: noWrites,
  };
  const fields = healthPoint({ ...base, extra }, T).fields;
  assert.deepEqual(Object.fromEntries(Object.keys(extra).map((k) => [k, fields[k]])), {
    agent_overloaded: { type: 'uint', value: 3 },
    agent_errors: { type: 'uint', value: 4 },
    event_loop_delay_p99_ms: { type: 'float', value: 2.5 },
    unmonitored_devices: { type: 'int', value: 6 },
    snmp_suspended_devices: { type: 'int', value: 7 },
    effective_ping_interval_ms: { type: 'float', value: 1000 },
    skipped_ticks: { type: 'uint', value: 8 },
    snmp_enriched_devices: { type: 'int', value: 9 },
  });
  const noSample = healthPoint({ ...base, extra: { ...extra, event_loop_delay_p99_ms: NaN } }, T).fields;
  assert.equal('event_loop_delay_p99_ms' in noSample, false, 'no p99 before the first sample');
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
