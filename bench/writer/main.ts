// Writer benchmarks: `npm run bench -- writer [--json] [--only throughput,null,outage,saturation,wal,sustained]
//   [--points N] [--rounds R] [--outage-seconds S] [--rate P] [--saturation-seconds S]`.
// Every case runs against servers started here on loopback (VictoriaMetrics, a slow HTTP sink).
//  - throughput: points/s through InfluxWriter to VictoriaMetrics vs the plain
//    @influxdata/influxdb-client WriteApi in the same run (acknowledged points only).
//  - null: the same two against an endpoint that only answers 204 (the client-side ceiling).
//  - outage: P points/s flow while VictoriaMetrics is stopped for S seconds; afterwards the
//    server must hold every point produced; RSS is sampled throughout.
//  - saturation: a producer faster than the server; the queue must stay bounded and the books
//    balance exactly: produced = written + spooled + dropped.
//  - wal: P points/s (20k and 100k, or --rate) for S seconds (--wal-seconds, default 10) into an
//    endpoint that answers 204, with the write-ahead log on vs off (spool on in both) in the
//    same run: process CPU, bytes the log wrote per second, and what the kernel wrote to disk.
//  - sustained: what the agent writes for --sustained-devices (100k) devices pinged every second,
//    paced at --sustained-rate P (100k points/s) for --sustained-seconds S (20), through the outputs
//    as the agent builds them (default options, spool and write-ahead log on) to VictoriaMetrics and
//    to the file output (--sustained-targets vm,file; vm-cold: a server without the series yet); see sustained.ts.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep, setImmediate as yieldLoop } from 'node:timers/promises';
import { gunzipSync } from 'node:zlib';
import { InfluxDB, Point as ClientPoint } from '@influxdata/influxdb-client';
import { systemClock } from '../../internal/clock/clock.js';
import { createLogger } from '../../internal/log/log.js';
import type { Point } from '../../internal/model/point.js';
import { distinctSampleCount, VictoriaMetrics } from '../../internal/testkit/victoria-metrics.js';
import { InfluxWriter, type WriterStats } from '../../internal/writer/influx-writer.js';
import { pingPoint } from '../../internal/model/points.js';
import { InfluxV2Transport } from '../../internal/writer/transport.js';
import { sustained, type SustainedTarget } from './sustained.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = (argValue('--only') ?? 'throughput,outage,saturation').split(',');
const POINTS = Number(argValue('--points') ?? 1_000_000);
const ROUNDS = Number(argValue('--rounds') ?? 3);
const OUTAGE_S = Number(argValue('--outage-seconds') ?? 60);
const RATE = Number(argValue('--rate') ?? 20_000);
const SATURATION_S = Number(argValue('--saturation-seconds') ?? 10);
const WAL_S = Number(argValue('--wal-seconds') ?? 10);
const DEVICES = 20_000;
const log = createLogger({ level: process.env['NETSCAN_BENCH_LOG'] ?? 'warn' });

function emit(row: Record<string, unknown>): void {
  if (json) console.log(JSON.stringify({ suite: 'writer', ...row }));
  else
    console.error(
      `  ${Object.entries(row)
        .map(([k, v]) => `${k}=${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toFixed(2)) : String(v)}`)
        .join(' ')}`,
    );
}

const ipOf = (i: number): string => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const IPS = Array.from({ length: DEVICES }, (_, i) => ipOf(i + 1));
/** Point i: device i % DEVICES, one point per device per second, so (series, time) is unique. */
const timeOf = (base: number, i: number): number => base + Math.floor(i / DEVICES) * 1000;
const rss = (): number => Math.round(process.memoryUsage().rss / 1048576);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function waitFor<T>(probe: () => T, done: (v: T) => boolean, deadlineMs: number, intervalMs = 5): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = probe();
    if (done(v) || Date.now() > end) return v;
    await sleep(intervalMs);
  }
}

function v2(url: string): InfluxV2Transport {
  return new InfluxV2Transport({ url, token: 'bench', org: 'bench', bucket: 'bench', healthBucket: 'bench' });
}

// ---------------------------------------------------------------- throughput

/** Plain client: WriteApi with the same batch size, retries off; counts lines in writeSuccess. */
async function runClient(url: string, measurement: string, n: number, base: number): Promise<number> {
  let acked = 0;
  const api = new InfluxDB({ url, token: 'bench' }).getWriteApi('bench', 'bench', 'ms', {
    batchSize: 5000,
    flushInterval: 1000,
    maxRetries: 0,
    writeSuccess: (lines: string[]) => {
      acked += lines.length;
    },
  });
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    api.writePoint(
      new ClientPoint(measurement)
        .tag('ip', IPS[i % DEVICES]!)
        .floatField('rtt_ms', (i % 1000) / 10)
        .booleanField('success', true)
        .booleanField('suspended', false)
        .timestamp(timeOf(base, i)),
    );
    if (i % 5000 === 4999) await yieldLoop();
  }
  await api.flush();
  await waitFor(
    () => acked,
    (a) => a >= n,
    60_000,
    1,
  );
  const dt = (performance.now() - t0) / 1000;
  await api.close().catch(() => undefined);
  if (acked !== n) throw new Error(`client acknowledged ${acked} of ${n}`);
  return n / dt;
}

async function runWriter(url: string, measurement: string, n: number, base: number): Promise<number> {
  const w = new InfluxWriter({
    transport: v2(url),
    clock: systemClock,
    logger: log,
    flushIntervalMs: 1000,
    maxConcurrentWrites: 2,
    maxBufferPoints: 2 * n,
  });
  await w.start();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const p = pingPoint(
      { ok: true, ip: IPS[i % DEVICES]!, rttMs: (i % 1000) / 10, sentAtMs: 0 },
      { timeMs: timeOf(base, i) },
    );
    w.write(measurement === 'ping' ? p : { ...p, measurement });
    if (i % 5000 === 4999) await yieldLoop();
  }
  w.flush();
  const s = await waitFor(
    () => w.stats(),
    (st) => st.pointsWritten + st.pointsDropped >= n,
    60_000,
    1,
  );
  const dt = (performance.now() - t0) / 1000;
  await w.close(10_000);
  if (s.pointsWritten !== n) throw new Error(`writer wrote ${s.pointsWritten} of ${n} (dropped ${s.pointsDropped})`);
  return n / dt;
}

/** The writer's own ceiling: the same pipeline against an endpoint that only reads and answers 204. */
async function throughputNull(): Promise<void> {
  const server = await slowServer(0, false);
  try {
    const base = Math.floor(Date.now() / 1000) * 1000;
    await runClient(server.url, 'bench_client', 100_000, base);
    await runWriter(server.url, 'bench_writer', 100_000, base);
    const client: number[] = [];
    const writer: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      client.push(await runClient(server.url, 'bench_client', POINTS, base));
      writer.push(await runWriter(server.url, 'bench_writer', POINTS, base));
    }
    emit({
      case: 'throughput_null_server_client',
      points: POINTS,
      points_per_s: Math.round(median(client)),
      all: client.map(Math.round).join('/'),
    });
    emit({
      case: 'throughput_null_server_writer',
      points: POINTS,
      points_per_s: Math.round(median(writer)),
      all: writer.map(Math.round).join('/'),
    });
  } finally {
    await server.close();
  }
}

async function throughput(): Promise<void> {
  const vm = new VictoriaMetrics();
  await vm.start();
  try {
    const base = Math.floor(Date.now() / 1000) * 1000 - 24 * 3_600_000;
    // Warm-up: JIT, connection pool, VictoriaMetrics series creation.
    await runClient(vm.url, 'bench_client', 100_000, base);
    await runWriter(vm.url, 'bench_writer', 100_000, base);
    const client: number[] = [];
    const writer: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      client.push(await runClient(vm.url, 'bench_client', POINTS, base));
      writer.push(await runWriter(vm.url, 'bench_writer', POINTS, base));
    }
    emit({
      case: 'throughput_client',
      points: POINTS,
      rounds: ROUNDS,
      points_per_s: Math.round(median(client)),
      all: client.map(Math.round).join('/'),
    });
    emit({
      case: 'throughput_writer',
      points: POINTS,
      rounds: ROUNDS,
      points_per_s: Math.round(median(writer)),
      all: writer.map(Math.round).join('/'),
    });
    emit({
      case: 'throughput_ratio',
      writer_over_client: median(writer) / median(client),
      target: '>= 0.9 and >= 250000 points/s',
    });
  } finally {
    await vm.dispose();
  }
}

// ---------------------------------------------------------------- outage

async function outage(): Promise<void> {
  const vm = new VictoriaMetrics();
  await vm.start();
  const spoolDir = mkdtempSync(join(tmpdir(), 'netscan-bench-spool-'));
  const w = new InfluxWriter({
    transport: v2(vm.url),
    clock: systemClock,
    logger: log,
    spoolDir,
    minRetryDelayMs: 500,
    maxRetryDelayMs: 5000,
  });
  await w.start();
  const base = Math.floor(Date.now() / 1000) * 1000 - 12 * 3_600_000;
  let produced = 0;
  let producing = true;
  let rssMax = 0;
  const rssSampler = setInterval(() => {
    rssMax = Math.max(rssMax, rss());
  }, 250);
  // Paced producer: RATE points/s in 50 ms slices, scheduled from the start time (no drift).
  const t0 = Date.now();
  const producer = (async () => {
    for (let slice = 1; producing; slice++) {
      const target = Math.floor((RATE * slice) / 20);
      while (produced < target) {
        const p = pingPoint(
          { ok: true, ip: IPS[produced % DEVICES]!, rttMs: 1, sentAtMs: 0 },
          { timeMs: timeOf(base, produced) },
        );
        w.write({ ...p, measurement: 'outage' });
        produced++;
      }
      await sleep(Math.max(0, t0 + slice * 50 - Date.now()));
    }
  })();
  try {
    await sleep(5000);
    const rssBefore = rss();
    await vm.stop();
    const downAt = Date.now();
    await sleep(OUTAGE_S * 1000);
    const during = w.stats();
    await vm.start();
    const upAt = Date.now();
    const replayed = await waitFor(
      () => w.stats(),
      (st) => st.spoolPoints === 0,
      300_000,
      20,
    );
    const replayDoneAt = Date.now();
    await sleep(Math.max(0, upAt + 5000 - Date.now()));
    producing = false;
    await producer;
    w.flush();
    const s = await waitFor(
      () => w.stats(),
      (st) => st.pointsWritten + st.pointsDropped >= produced,
      300_000,
      50,
    );
    const drainedAt = Date.now();
    const series = await vm.waitForSamples('{__name__="outage_rtt_ms"}', produced, 60_000);
    const inServer = distinctSampleCount(series);
    emit({
      case: 'outage',
      rate_points_per_s: RATE,
      outage_s: OUTAGE_S,
      produced,
      written: s.pointsWritten,
      dropped: s.pointsDropped,
      in_server: inServer,
      books_ok: inServer === produced && s.pointsDropped === 0 ? 'yes' : 'NO',
      spooled_at_end_of_outage: during.spoolPoints,
      spool_mb_at_end_of_outage: Math.round(during.spoolBytes / 1048576),
      downtime_s: Math.round((upAt - downAt) / 1000),
      spool_empty_after_s: Math.round((replayDoneAt - upAt) / 100) / 10,
      replay_points_per_s: Math.round(
        (replayed.pointsWritten - during.pointsWritten) / Math.max(0.001, (replayDoneAt - upAt) / 1000),
      ),
      all_written_after_stop_s: Math.round((drainedAt - upAt) / 100) / 10,
      rss_mb_before: rssBefore,
      rss_mb_max: rssMax,
    });
  } finally {
    producing = false;
    clearInterval(rssSampler);
    await w.close(10_000);
    await vm.dispose();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- saturation

/** An HTTP write endpoint that takes `delayMs` per request: a server slower than the producer. */
async function slowServer(
  delayMs: number,
  count = true,
): Promise<{ url: string; lines: () => number; close: () => Promise<void> }> {
  let lines = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!count) {
        res.writeHead(204);
        res.end();
        return;
      }
      const raw = Buffer.concat(chunks);
      const body = req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw;
      setTimeout(() => {
        let n = body.length > 0 ? 1 : 0;
        for (const b of body) if (b === 10) n++;
        lines += n;
        res.writeHead(204);
        res.end();
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    lines: () => lines,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function saturation(withSpool: boolean): Promise<void> {
  const server = await slowServer(100);
  const spoolDir = mkdtempSync(join(tmpdir(), 'netscan-bench-sat-'));
  const maxBufferPoints = 100_000;
  const w = new InfluxWriter({
    transport: v2(server.url),
    clock: systemClock,
    logger: log,
    maxBufferPoints,
    maxConcurrentWrites: 2,
    spoolDir: withSpool ? spoolDir : undefined,
    spoolMaxBytes: 256 * 1024 * 1024,
  });
  await w.start();
  let produced = 0;
  let maxDepth = 0;
  let returnedDrops = 0;
  const rssBefore = rss();
  let rssMax = rssBefore;
  const base = Math.floor(Date.now() / 1000) * 1000;
  const end = Date.now() + SATURATION_S * 1000;
  try {
    while (Date.now() < end) {
      for (let k = 0; k < 5000; k++) {
        const p: Point = pingPoint(
          { ok: true, ip: IPS[produced % DEVICES]!, rttMs: 1, sentAtMs: 0 },
          { timeMs: timeOf(base, produced) },
        );
        returnedDrops += w.write(p);
        produced++;
      }
      maxDepth = Math.max(maxDepth, w.stats().queueDepth);
      rssMax = Math.max(rssMax, rss());
      await yieldLoop();
    }
    const atStop: WriterStats = w.stats();
    await w.close(2000);
    const s = w.stats();
    const balance = produced - (s.pointsWritten + s.spoolPoints + s.pointsDropped);
    emit({
      case: withSpool ? 'saturation_spool' : 'saturation_memory',
      seconds: SATURATION_S,
      produced,
      produced_per_s: Math.round(produced / SATURATION_S),
      written: s.pointsWritten,
      server_lines: server.lines(),
      spooled: s.spoolPoints,
      dropped: s.pointsDropped,
      dropped_returned_by_write: returnedDrops,
      books_balance: balance,
      books_ok: balance === 0 && server.lines() === s.pointsWritten && returnedDrops <= s.pointsDropped ? 'yes' : 'NO',
      max_queue_depth: maxDepth,
      max_buffer_points: maxBufferPoints,
      queue_at_stop: atStop.queueDepth,
      spool_mb: Math.round(s.spoolBytes / 1048576),
      rss_mb_before: rssBefore,
      rss_mb_max: rssMax,
    });
  } finally {
    await w.close(2000);
    await server.close();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- wal

/** Bytes this process caused to be written to storage (Linux /proc/self/io), or NaN elsewhere. */
function diskWriteBytes(): number {
  try {
    return Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

async function walCase(rate: number, wal: boolean): Promise<void> {
  const server = await slowServer(0, false);
  const spoolDir = mkdtempSync(join(tmpdir(), 'netscan-bench-wal-'));
  const w = new InfluxWriter({
    transport: v2(server.url),
    clock: systemClock,
    logger: log,
    spoolDir,
    wal,
    flushIntervalMs: 5000,
  });
  await w.start();
  const base = Math.floor(Date.now() / 1000) * 1000 - 6 * 3_600_000;
  let produced = 0;
  const cpu0 = process.cpuUsage();
  const disk0 = diskWriteBytes();
  const t0 = Date.now();
  try {
    // Paced producer in 20 ms slices, scheduled from the start time (no drift).
    for (let slice = 1; Date.now() - t0 < WAL_S * 1000; slice++) {
      for (const due = Math.floor((rate * slice) / 50); produced < due; produced++) {
        const p = pingPoint(
          { ok: true, ip: IPS[produced % DEVICES]!, rttMs: 1, sentAtMs: 0 },
          { timeMs: timeOf(base, produced) },
        );
        w.write(p);
      }
      await sleep(Math.max(0, t0 + slice * 20 - Date.now()));
    }
    const seconds = (Date.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const disk = diskWriteBytes() - disk0;
    const ws = w.walStats();
    const s = w.stats();
    emit({
      case: wal ? 'wal_on' : 'wal_off',
      rate_points_per_s: rate,
      seconds: Math.round(seconds),
      produced,
      produced_per_s: Math.round(produced / seconds),
      cpu_pct: (100 * (cpu.user + cpu.system)) / 1e6 / seconds,
      wal_bytes_per_s: Math.round((ws?.bytes ?? 0) / seconds),
      wal_commits_per_s: (ws?.commits ?? 0) / seconds,
      disk_write_bytes_per_s: Math.round(disk / seconds),
      written: s.pointsWritten,
      dropped: s.pointsDropped,
      rss_mb: rss(),
    });
  } finally {
    await w.close(10_000);
    await server.close();
    rmSync(spoolDir, { recursive: true, force: true });
  }
}

async function walBench(): Promise<void> {
  const rates = argValue('--rate') === undefined ? [20_000, 100_000] : [RATE];
  for (const rate of rates) {
    await walCase(rate, false);
    await walCase(rate, true);
  }
}

console.error(`writer bench (node ${process.version}); cases: ${only.join(', ')}`);
if (only.includes('throughput')) await throughput();
if (only.includes('null')) await throughputNull();
if (only.includes('saturation')) {
  await saturation(false);
  await saturation(true);
}
if (only.includes('outage')) await outage();
if (only.includes('wal')) await walBench();
if (only.includes('sustained'))
  await sustained(
    {
      ratePointsPerS: Number(argValue('--sustained-rate') ?? 100_000),
      seconds: Number(argValue('--sustained-seconds') ?? 20),
      devices: Number(argValue('--sustained-devices') ?? 100_000),
      influxdbExtra: argValue('--sustained-influxdb'),
      cpuProfDir: argValue('--sustained-cpu-prof'),
      configExtra: argValue('--sustained-config'),
      emit,
      logger: log,
    },
    (argValue('--sustained-targets') ?? 'vm,file').split(',') as SustainedTarget[],
  );
