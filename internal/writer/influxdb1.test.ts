import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../clock/clock.js';
import { field } from '../model/point.js';
import { captureLogger, silentLogger } from '../testkit/logger.js';
import { InfluxDb1 } from '../testkit/influxdb1.js';
import { pollUntil } from '../testkit/server-process.js';
import { InfluxWriter, sumWriterStats, type InfluxWriterOptions } from './influx-writer.js';
import { deviceInfoPoint, healthPoint, pingPoint } from '../model/points.js';
import { InfluxV1Transport } from './transport.js';

let influx: InfluxDb1;
before(async () => {
  influx = new InfluxDb1({ databases: ['netscan'] });
  await influx.start();
});
after(() => influx.dispose());

const BASE = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

function writer(
  t: { after: (fn: () => Promise<void>) => void },
  opts: Partial<InfluxWriterOptions> = {},
): InfluxWriter {
  const w = new InfluxWriter({
    transport: new InfluxV1Transport({ url: influx.url, database: 'netscan' }),
    clock: systemClock,
    logger: silentLogger(),
    flushIntervalMs: 50,
    minRetryDelayMs: 20,
    maxRetryDelayMs: 200,
    ...opts,
  });
  t.after(() => w.close(5000));
  return w;
}

const settled = (w: InfluxWriter, n: number) =>
  pollUntil(
    async () => w.stats(),
    (s) => s.pointsWritten + s.pointsDropped >= n,
    { deadlineMs: 10_000, intervalMs: 20 },
  );

test('hostile SNMP strings are stored verbatim minus control characters and inject nothing', async (t) => {
  const w = writer(t);
  await w.start();
  const hostile = [
    'evil\nping,ip=127.9.9.9 rtt_ms=666 1',
    'quote" ,injected=1 x="',
    'back\\slash\\',
    'comma, space and = equals',
    'ctl\x00\x1b[31mred\x7f',
    'ünïcødé ✓ 🛰',
  ];
  hostile.forEach((s, i) =>
    w.write(deviceInfoPoint(`127.0.4.${i + 1}`, { hostname: s, sysDescr: s, sysLocation: s }, BASE + i)),
  );
  await settled(w, hostile.length);
  assert.equal(w.stats().pointsWritten, hostile.length);
  const rows = await influx.waitForRows('netscan', 'device_info', hostile.length);
  const byIp = Object.fromEntries(rows.map((r) => [r['ip'], r]));
  assert.deepEqual(
    hostile.map((_, i) => byIp[`127.0.4.${i + 1}`]?.['snmp_description']),
    [
      'evil ping,ip=127.9.9.9 rtt_ms=666 1',
      'quote" ,injected=1 x="',
      'back\\slash\\',
      'comma, space and = equals',
      'ctl[31mred',
      'ünïcødé ✓ 🛰',
    ],
  );
  assert.deepEqual(await influx.query('netscan', `SELECT * FROM /.*/ WHERE ip = '127.9.9.9'`), []);
  assert.equal(rows.length, hostile.length);
  const fieldKeys = (await influx.query('netscan', 'SHOW FIELD KEYS FROM device_info')).flatMap((s) =>
    s.values.map((v) => v[0]),
  );
  assert.ok(!fieldKeys.includes('injected'), fieldKeys.join(','));
});

test('field types in InfluxDB 1.x match the Go netscan, with unsigned counters stored as integers', async (t) => {
  const w = writer(t);
  await w.start();
  w.write(pingPoint({ ok: true, ip: '127.0.5.1', rttMs: 1.5, sentAtMs: BASE }, { timeMs: BASE }));
  w.write(pingPoint({ ok: false, ip: '127.0.5.2', reason: 'unreachable', sentAtMs: BASE }, { timeMs: BASE }));
  const stats = sumWriterStats([]);
  stats.batchesOk = 5;
  w.write(
    healthPoint(
      {
        deviceCount: 2,
        activePingers: 0,
        suspendedDevices: 0,
        goroutines: 4,
        memoryMb: 30,
        rssMb: 60,
        influxdbOk: false,
        pingsSentTotal: 7,
        writer: stats,
      },
      BASE,
    ),
  );
  await settled(w, 3);
  assert.equal(w.stats().pointsWritten, 3);
  const types = async (m: string): Promise<Record<string, unknown>> =>
    Object.fromEntries(
      (await influx.query('netscan', `SHOW FIELD KEYS FROM ${m}`)).flatMap((s) => s.values.map((v) => [v[0], v[1]])),
    );
  assert.deepEqual(await types('ping'), {
    reason: 'string',
    rtt_ms: 'float',
    success: 'boolean',
    suspended: 'boolean',
  });
  const health = await types('health_metrics');
  assert.equal(health['influxdb_ok'], 'boolean');
  for (const f of [
    'device_count',
    'memory_mb',
    'influxdb_successful_batches',
    'influxdb_failed_batches',
    'pings_sent_total',
    'points_written',
    'queue_depth',
  ]) {
    assert.equal(health[f], 'integer', f);
  }
  const [row] = await influx.waitForRows('netscan', 'health_metrics', 1);
  assert.equal(row!['influxdb_successful_batches'], 5);
  assert.equal(row!['influxdb_ok'], false);
});

test('a batch the server rejects (field type conflict) is dropped with the server reason and the next batch goes through', async (t) => {
  const { logger, lines } = captureLogger('warn');
  const w = writer(t, { logger, batchSize: 1 });
  await w.start();
  w.write({ measurement: 'conflict', tags: {}, fields: { v: field.float(1.5) }, timeMs: BASE });
  await settled(w, 1);
  w.write({ measurement: 'conflict', tags: {}, fields: { v: field.string('text') }, timeMs: BASE + 1 });
  await settled(w, 2);
  w.write({ measurement: 'conflict', tags: {}, fields: { v: field.float(2.5) }, timeMs: BASE + 2 });
  const s = await settled(w, 3);
  assert.equal(s.pointsWritten, 2);
  assert.equal(s.droppedByReason.rejected, 1);
  const logged = lines.find((l) => l['reason'] === 'rejected');
  assert.match(String(logged?.['server_reason']), /field type conflict/);
});

test('a partial write (InfluxDB stores the good lines of a batch) counts those lines as written and only the refused ones as dropped', async (t) => {
  const w = writer(t, { batchSize: 5 });
  await w.start();
  w.write({ measurement: 'partial', tags: {}, fields: { v: field.float(1.5) }, timeMs: BASE });
  await settled(w, 1);
  for (let i = 1; i <= 5; i++) {
    w.write({
      measurement: 'partial',
      tags: {},
      fields: { v: i === 3 ? field.string('text') : field.float(i) },
      timeMs: BASE + i,
    });
  }
  const s = await settled(w, 6);
  assert.equal(s.pointsWritten, 5);
  assert.equal(s.droppedByReason.rejected, 1);
  assert.equal(s.pointsReceived, s.pointsWritten + s.pointsDropped);
  assert.equal((await influx.waitForRows('netscan', 'partial', 5)).length, 5);
});
