// The `sustained` writer case (bench/writer/main.ts): what the agent writes for D devices pinged
// every second, for S seconds, paced at P points/s, through the outputs exactly as the agent
// builds them from its config (OutputSlot: InfluxDB v2 with gzip, spool and write-ahead log on,
// or the line-protocol file), behind the agent's DeviceTags. Every point is a `ping` point of one
// of D devices, one per device per second (so (series, time) is unique and the server's count
// proves every point arrived). A baseline in the same run: the same producer into a sink that only
// counts, so the writer's CPU per point is the difference.
import { createReadStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../internal/clock/clock.js';
import type { Logger } from '../../internal/log/log.js';
import type { Point, PointSink } from '../../internal/model/point.js';
import { pingPoint } from '../../internal/model/points.js';
import { distinctSampleCount, VictoriaMetrics } from '../../internal/testkit/victoria-metrics.js';
import { threadCpuSeconds } from '../agent/proc.js';
import { parseConfigText } from '../../src/config/load.js';
import { DeviceTags } from '../../src/device-tags.js';
import { OutputSlot } from '../../src/output-slot.js';

/** Options of one sustained run. */
export interface SustainedOptions {
  /** Points per second the producer offers. */
  ratePointsPerS: number;
  /** How long it produces, s. */
  seconds: number;
  /** Distinct devices (one point each per second at the default rate). */
  devices: number;
  /** Extra keys of the `influxdb` section, YAML flow style without braces (`max_in_flight_writes: 4`). */
  influxdbExtra?: string;
  /** Extra top-level config lines (`wal: false`). */
  configExtra?: string | undefined;
  /** Write a CPU profile of each measured window (production and drain) into this directory. */
  cpuProfDir?: string | undefined;
  /** Where the rows go. */
  emit: (row: Record<string, unknown>) => void;
  logger: Logger;
}

const hourAgo = (): number => Math.floor(Date.now() / 1000) * 1000 - 3_600_000;
const ipOf = (i: number): string => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

/** What one paced production did. */
interface Production {
  /** Points written to the sink. */
  produced: number;
  /** Points never offered: the producer was more than a second behind its schedule (the agent misses those slots). */
  missed: number;
  seconds: number;
  cpuUs: number;
  maxLagMs: number;
}

/**
 * Paces `ping` points into `sink` at `ratePointsPerS` for `seconds`, in 20 ms slices scheduled
 * from the start. Point k is device k mod D in round floor(k / D). Like the agent's scheduler, a
 * producer that fell behind catches up on at most one second of its schedule; older slots are missed.
 */
async function produce(
  sink: PointSink,
  o: SustainedOptions & { baseMs: number },
  each?: () => void,
): Promise<Production> {
  const ips = Array.from({ length: o.devices }, (_, i) => ipOf(i + 1 + 65_536));
  const n = o.devices;
  const rate = o.ratePointsPerS;
  let k = 0;
  let produced = 0;
  let maxLagMs = 0;
  const cpu0 = process.cpuUsage();
  const t0 = Date.now();
  const total = Math.round(rate * o.seconds);
  while (k < total) {
    const elapsedMs = Date.now() - t0;
    // How long ago the first point not yet offered was due.
    maxLagMs = Math.max(maxLagMs, elapsedMs - (k * 1000) / rate);
    const slice = Math.floor(elapsedMs / 20) + 1;
    const due = Math.min(total, Math.floor((rate * slice) / 50));
    k = Math.max(k, due - rate);
    for (; k < due; k++, produced++) {
      const d = k % n;
      // One point per device per round; within a round the devices' send times spread over the second.
      const timeMs = o.baseMs + Math.floor(k / n) * 1000 + Math.floor((d * 1000) / n);
      const p: Point = pingPoint(
        k % 1000 !== 999
          ? { ok: true, ip: ips[d]!, rttMs: 0.05 + (k % 997) / 1000, sentAtMs: timeMs }
          : { ok: false, ip: ips[d]!, reason: 'timeout', sentAtMs: timeMs },
        { timeMs },
      );
      sink.write(p);
    }
    each?.();
    await sleep(Math.max(0, t0 + slice * 20 - Date.now()));
  }
  const cpu = process.cpuUsage(cpu0);
  return { produced, missed: k - produced, seconds: (Date.now() - t0) / 1000, cpuUs: cpu.user + cpu.system, maxLagMs };
}

/** The agent's config for this run: one output (VictoriaMetrics or a file), everything else default. */
function configFor(dir: string, target: { vmUrl: string; extra?: string | undefined } | { file: string }, extra = '') {
  const output =
    'vmUrl' in target
      ? `influxdb: {url: "${target.vmUrl}", token: bench, org: bench, bucket: bench${target.extra ? `, ${target.extra}` : ''}}\n`
      : `output_file: "${target.file}"\n`;
  const text = `agent_name: bench-agent\nnetworks: ["127.0.0.0/8"]\nstate_file: ""\nspool_dir: "${join(dir, 'spool')}"\n${output}${extra}\n`;
  return parseConfigText(text, { env: {} }).config;
}

/** Lines in `path` and its rotated copies (`path.1` ...). */
async function countLines(path: string): Promise<number> {
  let n = 0;
  for (let i = 0; ; i++) {
    const p = i === 0 ? path : `${path}.${i}`;
    if (!existsSync(p)) {
      if (i === 0) continue;
      break;
    }
    for await (const chunk of createReadStream(p, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      for (let k = chunk.indexOf(10); k >= 0; k = chunk.indexOf(10, k + 1)) n++;
    }
  }
  return n;
}

/** The producer alone, into a sink that only counts: the CPU the writer's figure is measured against. */
async function baseline(o: SustainedOptions): Promise<number> {
  const config = configFor(tmpdir(), { file: '/dev/null' });
  let points = 0;
  const counting: PointSink = {
    write: () => {
      points++;
      return 0;
    },
  };
  const r = await produce(new DeviceTags(counting, config), { ...o, baseMs: hourAgo() });
  if (points !== r.produced) throw new Error(`baseline sink saw ${points} of ${r.produced}`);
  o.emit({
    case: 'sustained_baseline',
    rate_points_per_s: o.ratePointsPerS,
    produced: r.produced,
    produced_per_s: Math.round(r.produced / r.seconds),
    missed: r.missed,
    producer_cpu_us_per_point: r.cpuUs / r.produced,
    max_lag_ms: r.maxLagMs,
  });
  return r.cpuUs / r.produced;
}

/** Profiles the main thread from now until the returned function is called, which writes `<dir>/<name>.cpuprofile`. */
async function profileWindow(dir: string | undefined, name: string): Promise<() => Promise<void>> {
  if (!dir) return () => Promise.resolve();
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async () => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  };
}

/** Writes `points` through `slot` and waits until all are acknowledged. */
async function settle(slot: OutputSlot, points: number, what: string): Promise<void> {
  const end = Date.now() + 300_000;
  for (let s = slot.stats(); s.pointsWritten + s.pointsDropped < points; s = slot.stats()) {
    if (Date.now() > end) throw new Error(`${what}: ${s.pointsWritten} of ${points} written after 300 s`);
    await sleep(20);
  }
}

async function run(
  target: 'vm' | 'file',
  o: SustainedOptions,
  baselineUsPerPoint: number,
  cold = false,
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-bench-sustained-'));
  const vm = target === 'vm' ? new VictoriaMetrics() : undefined;
  const file = join(dir, 'points.lp');
  try {
    await vm?.start();
    const config = configFor(dir, vm ? { vmUrl: vm.url, extra: o.influxdbExtra } : { file }, o.configExtra);
    const slot = new OutputSlot(config, { clock: systemClock, logger: o.logger });
    await slot.start();
    // Warm: the server already holds every device's series (an agent's steady state; a series is
    // created once, on a device's first point). Cold: the first 100k points each create a series.
    const base = hourAgo();
    const warm = vm && !cold ? o.devices : 0;
    if (warm > 0) {
      await produce(new DeviceTags(slot, config), { ...o, seconds: 1, ratePointsPerS: warm, baseMs: base - 60_000 });
      await settle(slot, warm, 'warm-up');
    }
    let maxQueue = 0;
    let maxInFlight = 0;
    let inFlightSum = 0;
    let samples = 0;
    let maxSpool = 0;
    const stopProfile = await profileWindow(o.cpuProfDir, `sustained-${target}${cold ? '-cold' : ''}`);
    const before = slot.stats();
    const main0 = threadCpuSeconds(process.pid).get('main (event loop)') ?? 0;
    const cpu0 = process.cpuUsage();
    const rss0 = process.memoryUsage().rss;
    let rssMax = rss0;
    const r = await produce(new DeviceTags(slot, config), { ...o, baseMs: base }, () => {
      const s = slot.stats();
      maxQueue = Math.max(maxQueue, s.queueDepth);
      maxInFlight = Math.max(maxInFlight, s.inFlightPoints);
      inFlightSum += s.inFlightPoints;
      samples++;
      maxSpool = Math.max(maxSpool, s.spoolPoints);
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
    });
    const atEnd = slot.stats();
    // Everything delivered (the last partial batch waits for the flush interval), then a normal close.
    const tEnd = Date.now();
    for (let s = slot.stats(); s.pointsWritten + s.pointsDropped < r.produced + warm && Date.now() - tEnd < 120_000;) {
      await sleep(20);
      s = slot.stats();
    }
    const drainMs = Date.now() - tEnd;
    await slot.close(60_000);
    const cpu = process.cpuUsage(cpu0);
    await stopProfile();
    const mainUs = ((threadCpuSeconds(process.pid).get('main (event loop)') ?? 0) - main0) * 1e6;
    const s = slot.stats();
    const balance =
      r.produced + warm - (s.pointsWritten + s.pointsDropped + s.spoolPoints + s.queueDepth + s.inFlightPoints);
    let stored: number | undefined;
    if (vm) {
      // Every ping point has a `success` field (a failed probe has no rtt_ms): one sample per point.
      const series = await vm.waitForSamples('{__name__="ping_success"}', r.produced + warm, 120_000);
      stored = distinctSampleCount(series) - warm;
    } else stored = await countLines(file);
    const cpuUs = cpu.user + cpu.system;
    o.emit({
      case: `sustained_${target}${vm ? (cold ? '_cold' : '_warm') : ''}`,
      devices: o.devices,
      rate_points_per_s: o.ratePointsPerS,
      ...(vm && o.influxdbExtra ? { influxdb: o.influxdbExtra } : {}),
      ...(o.configExtra ? { config: o.configExtra } : {}),
      seconds: Math.round(r.seconds * 10) / 10,
      produced: r.produced,
      produced_per_s: Math.round(r.produced / r.seconds),
      missed: r.missed,
      written: s.pointsWritten - before.pointsWritten,
      dropped: s.pointsDropped,
      spooled_total: s.pointsSpooled - before.pointsSpooled,
      spool_left: s.spoolPoints,
      books_balance: balance,
      [vm ? 'in_server' : 'lines_in_file']: stored,
      books_ok: balance === 0 && s.pointsDropped === 0 && stored === r.produced ? 'yes' : 'NO',
      queue_max: maxQueue,
      in_flight_max: maxInFlight,
      // Little's law: points in requests on average over points written per second.
      request_ms_mean: Math.round(
        (1000 * inFlightSum) / Math.max(1, samples) / ((atEnd.pointsWritten - before.pointsWritten) / r.seconds),
      ),
      spool_max: maxSpool,
      queue_at_end: atEnd.queueDepth,
      drained_after_ms: drainMs,
      cpu_us_per_point: cpuUs / r.produced,
      writer_cpu_us_per_point: cpuUs / r.produced - baselineUsPerPoint,
      main_thread_us_per_point: mainUs / r.produced,
      writer_cores_at_rate: ((cpuUs / r.produced - baselineUsPerPoint) * o.ratePointsPerS) / 1e6,
      max_lag_ms: r.maxLagMs,
      rss_mb_max: Math.round(rssMax / 1048576),
      batches_ok: s.batchesOk,
      batches_failed: s.batchesFailed,
    });
  } finally {
    await vm?.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Outputs of the sustained case: VictoriaMetrics holding the series already, or not yet; the file output. */
export type SustainedTarget = 'vm' | 'vm-cold' | 'file';

/** The sustained case: the baseline, then each target in turn. */
export async function sustained(o: SustainedOptions, targets: readonly SustainedTarget[]): Promise<void> {
  const base = await baseline(o);
  for (const t of targets) await run(t === 'file' ? 'file' : 'vm', o, base, t === 'vm-cold');
}
