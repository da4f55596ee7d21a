import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../clock/clock.js';
import { field, type Point } from '../model/point.js';
import { silentLogger } from '../testkit/logger.js';
import { pollUntil } from '../testkit/server-process.js';
import { distinctSampleCount, sampleCount, VictoriaMetrics, type ExportedSeries } from '../testkit/victoria-metrics.js';
import { InfluxWriter, sumWriterStats, type InfluxWriterOptions } from './influx-writer.js';
import { deviceInfoPoint, healthPoint, pingPoint, suspendedPingPoint } from '../model/points.js';
import { InfluxV1Transport, InfluxV2Transport } from './transport.js';

let vm: VictoriaMetrics;
before(async () => {
  vm = new VictoriaMetrics();
  await vm.start();
});
after(() => vm.dispose());

// Recent timestamps: VictoriaMetrics keeps data inside its retention window only.
const BASE = Math.floor(Date.now() / 1000) * 1000 - 3_600_000;

function writer(
  t: { after: (fn: () => Promise<void>) => void },
  opts: Partial<InfluxWriterOptions> & Pick<InfluxWriterOptions, 'transport'>,
): InfluxWriter {
  const w = new InfluxWriter({
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

const v2 = (): InfluxV2Transport =>
  new InfluxV2Transport({ url: vm.url, token: 'unused', org: 'acme', bucket: 'netscan', healthBucket: 'health' });
const byName = (series: ExportedSeries[], name: string, ip?: string): ExportedSeries | undefined =>
  series.find((s) => s.metric['__name__'] === name && (ip === undefined || s.metric['ip'] === ip));

test('ping, device_info and health points arrive in VictoriaMetrics through /api/v2/write with their values', async (t) => {
  const w = writer(t, { transport: v2() });
  await w.start();
  w.write(pingPoint({ ok: true, ip: '127.0.1.1', rttMs: 0.25, sentAtMs: BASE }, { timeMs: BASE + 1 }));
  w.write(pingPoint({ ok: false, ip: '127.0.1.2', reason: 'timeout', sentAtMs: BASE }, { timeMs: BASE + 2 }));
  w.write(suspendedPingPoint('127.0.1.3', BASE + 3));
  w.write(deviceInfoPoint('127.0.1.1', { hostname: 'lo-host', sysDescr: 'Linux', sysUptimeS: 42 }, BASE + 4));
  const stats = sumWriterStats([]);
  stats.batchesOk = 17;
  w.write(
    healthPoint(
      {
        deviceCount: 3,
        activePingers: 1,
        suspendedDevices: 1,
        goroutines: 9,
        memoryMb: 50,
        rssMb: 80,
        influxdbOk: true,
        pingsSentTotal: 99,
        writer: stats,
      },
      BASE + 5,
    ),
  );
  await pollUntil(
    async () => w.stats(),
    (s) => s.pointsWritten === 5,
    { deadlineMs: 10_000, intervalMs: 20 },
  );
  const series = await vm.waitForSamples('{__name__=~"ping_.*|device_info_.*|health_metrics_.*"}', 3 * 3 + 1 + 21);
  assert.deepEqual(byName(series, 'ping_rtt_ms', '127.0.1.1')?.values, [0.25]);
  assert.deepEqual(byName(series, 'ping_rtt_ms', '127.0.1.1')?.timestamps, [BASE + 1]);
  assert.deepEqual(byName(series, 'ping_success', '127.0.1.1')?.values, [1]);
  assert.deepEqual(byName(series, 'ping_success', '127.0.1.2')?.values, [0]);
  assert.deepEqual(byName(series, 'ping_suspended', '127.0.1.3')?.values, [1]);
  assert.deepEqual(byName(series, 'device_info_sys_uptime_s', '127.0.1.1')?.values, [42]);
  assert.deepEqual(byName(series, 'health_metrics_influxdb_successful_batches')?.values, [17]);
  assert.deepEqual(byName(series, 'health_metrics_pings_sent_total')?.values, [99]);
});

test('the v1 /write endpoint of VictoriaMetrics takes the same points', async (t) => {
  const w = writer(t, { transport: new InfluxV1Transport({ url: vm.url, database: 'netscan_v1' }), batchSize: 100 });
  await w.start();
  for (let i = 0; i < 250; i++)
    w.write({ measurement: 'v1probe', tags: { ip: '127.0.2.1' }, fields: { seq: field.uint(i) }, timeMs: BASE + i });
  await pollUntil(
    async () => w.stats(),
    (s) => s.pointsWritten === 250,
    { deadlineMs: 10_000, intervalMs: 20 },
  );
  const series = await vm.waitForSamples('{__name__="v1probe_seq"}', 250);
  assert.equal(sampleCount(series), 250);
  assert.equal(series[0]!.metric['db'], 'netscan_v1');
});

test(
  'points written while VictoriaMetrics is down are spooled and all arrive once it is back',
  { timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'netscan-writer-vm-outage-'));
    const w = writer(t, { transport: v2(), batchSize: 500, spoolDir: dir });
    t.after(() => rmSync(dir, { recursive: true, force: true })); // after the writer's close: hooks run in the order added
    await w.start();
    const point = (i: number): Point => ({
      measurement: 'outage',
      tags: { ip: '127.0.3.1' },
      fields: { seq: field.int(i) },
      timeMs: BASE + i,
    });
    for (let i = 0; i < 1000; i++) w.write(point(i));
    await pollUntil(
      async () => w.stats(),
      (s) => s.pointsWritten === 1000,
      { deadlineMs: 10_000, intervalMs: 20 },
    );
    await vm.stop();
    for (let i = 1000; i < 6000; i++) w.write(point(i));
    const down = await pollUntil(
      async () => w.stats(),
      (s) => s.spoolPoints === 5000,
      { deadlineMs: 10_000, intervalMs: 20 },
    );
    assert.equal(down.state, 'spooling');
    await vm.start();
    for (let i = 6000; i < 7000; i++) w.write(point(i));
    const up = await pollUntil(
      async () => w.stats(),
      (s) => s.pointsWritten === 7000,
      { deadlineMs: 20_000, intervalMs: 20 },
    );
    assert.equal(up.pointsDropped, 0);
    const series = await vm.waitForSamples('{__name__="outage_seq"}', 7000);
    assert.equal(distinctSampleCount(series), 7000);
    assert.equal(sampleCount(series), 7000);
    assert.deepEqual(
      [...series[0]!.values].sort((a, b) => a - b),
      Array.from({ length: 7000 }, (_, i) => i),
    );
  },
);
