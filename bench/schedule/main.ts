// Monitoring scheduler benchmarks: `npm run bench -- schedule [--json] [--only <case>] [--seconds <s>]`.
//
//   scheduler_sim_throughput  scheduled pings per real second through the whole per-probe path
//                             (heap, token bucket, breaker state = the real DeviceStore, ping point,
//                             ping_summary) with a no-op pinger on a fake clock; also what share of
//                             one core the target load costs (20k devices at 1 s, 100k at 5 s).
//   scheduler_realtime        the same on the real clock for --seconds: CPU %, send lag p50/p99/max,
//                             against the baseline of one timer per device (the Go shape: one
//                             goroutine + timer per device, here one setTimeout chain per device).
//   pipeline_sim              CPU per ping of everything after the engine (scheduler, state, RTT histogram,
//                             device tags, line protocol, writer) on a fake clock: see pipeline.ts.
//   probe_results_sim         CPU per ping of moving results from the probe thread (in-process, same
//                             messages) through decode, breaker replay, device tags, line protocol and
//                             the writer, and of the main side alone: see probe-results.ts.
//   high_churn                20k devices at 1 s, 10% replaced every minute for 10 simulated minutes:
//                             no device without its schedule for more than one interval, none with two,
//                             and the heap back to its steady level.
import v8 from 'node:v8';
import { systemClock, type Clock, type TimerHandle } from '../../internal/clock/clock.js';
import type { PingOutcome, Pinger } from '../../internal/model/ping.js';
import type { Point, PointSink } from '../../internal/model/point.js';
import { Reconciler } from '../../internal/reconcile/reconciler.js';
import { PingScheduler } from '../../internal/schedule/ping-scheduler.js';
import { EventLoopStallMonitor, type StallMonitor } from '../../internal/schedule/stall-monitor.js';
import { DeviceStore } from '../../internal/state/device-store.js';
import { FakeClock } from '../../internal/testkit/fake-clock.js';
import { silentLogger } from '../../internal/testkit/logger.js';
import { pingPoint } from '../../internal/model/points.js';
import { pipelineSim } from './pipeline.js';
import { probeResultsSim } from './probe-results.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = argValue('--only');
const realSeconds = Number(argValue('--seconds') ?? 6);
const wanted = (c: string): boolean => only === undefined || c.startsWith(only);

const ipOf = (i: number): string => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
// Twice: one full collection can leave garbage that the next one finds (weak maps, finalizers).
const gc = (): void => {
  (globalThis as { gc?: () => void }).gc?.();
  (globalThis as { gc?: () => void }).gc?.();
};
/** JS heap plus ArrayBuffer backing stores (typed arrays over 64 bytes live outside the JS heap). */
const heldBytes = (): number => v8.getHeapStatistics().used_heap_size + process.memoryUsage().arrayBuffers;
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

interface Row {
  suite: 'schedule';
  case: string;
  n: number;
  ns_per_op: number;
  ops_per_sec: number;
  [extra: string]: number | string | boolean | number[];
}

function emit(row: Row, human: string): void {
  if (json) console.log(JSON.stringify(row));
  else console.error(`  ${row.case.padEnd(28)} n=${String(row.n).padEnd(7)} ${human}`);
}

const noStalls: StallMonitor = {
  start: () => undefined,
  stop: () => undefined,
  maxStallMs: () => 0,
  stats: () => ({ stallsTotal: 0, stallMsTotal: 0, maxStallMs: 0, loopDelayP99Ms: NaN }),
};

class CountingSink implements PointSink {
  points = 0;
  write(_p: Point): number {
    this.points++;
    return 0;
  }
}

/** Answers every probe at once with a loopback-like RTT, stamped with the clock's time. */
function noopPinger(clock: Clock): Pinger {
  return { ping: (ip) => Promise.resolve<PingOutcome>({ ok: true, ip, rttMs: 0.02, sentAtMs: clock.now() }) };
}

async function simThroughput(n: number, intervalMs: number, simSeconds: number): Promise<void> {
  const clock = new FakeClock(1_700_000_040_000);
  const store = new DeviceStore({ clock, maxDevices: n });
  const sink = new CountingSink();
  const sched = new PingScheduler(
    { clock, pinger: noopPinger(clock), sink, state: store, logger: silentLogger(), stallMonitor: noStalls },
    { intervalMs, timeoutMs: 1000, ratePerSec: 1e7, burst: 1e5 },
  );
  for (let i = 0; i < n; i++) {
    store.markSeen(ipOf(i));
    sched.add(ipOf(i));
  }
  sched.start();
  await clock.advanceAsync(intervalMs); // warm-up: every device probed once
  const sent0 = sched.stats().pingsSentTotal;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  for (let t = 0; t < simSeconds * 1000; t += 50) {
    clock.advance(50);
    await Promise.resolve();
  }
  const realNs = Number(process.hrtime.bigint() - t0);
  const cpu = process.cpuUsage(cpu0);
  const sent = sched.stats().pingsSentTotal - sent0;
  await sched.stop();
  const target = (n * 1000) / intervalMs;
  // CPU time, not wall time: the bench machine is shared and wall time measures the neighbours.
  const nsPerPing = ((cpu.user + cpu.system) * 1000) / sent;
  emit(
    {
      suite: 'schedule',
      case: 'scheduler_sim_throughput',
      n,
      ns_per_op: Math.round(nsPerPing),
      ops_per_sec: Math.round(1e9 / nsPerPing),
      interval_ms: intervalMs,
      target_pings_per_sec: target,
      core_share_at_target: round((target * nsPerPing) / 1e9, 3),
      cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
      wall_ms: Math.round(realNs / 1e6),
      points: sink.points,
    },
    `${Math.round(1e9 / nsPerPing)
      .toLocaleString('en-US')
      .padStart(
        10,
      )} pings/s (${Math.round(nsPerPing)} ns CPU each); ${target.toLocaleString('en-US')}/s costs ${round((100 * target * nsPerPing) / 1e9)}% of a core`,
  );
}

/**
 * Heap held by the scheduler per device: entries, heap and map slots, and the summary accumulator
 * after a few probes. The state manager and the IP strings exist before the first measurement.
 */
async function schedulerMemory(n: number, intervalMs: number): Promise<void> {
  const ips = Array.from({ length: n }, (_, i) => ipOf(i));
  const clock = new FakeClock(1_700_000_040_000);
  const store = new DeviceStore({ clock, maxDevices: n });
  for (const ip of ips) store.markSeen(ip);
  const sched = new PingScheduler(
    {
      clock,
      pinger: noopPinger(clock),
      sink: new CountingSink(),
      state: store,
      logger: silentLogger(),
      stallMonitor: noStalls,
    },
    { intervalMs, timeoutMs: 1000, ratePerSec: 1e7, burst: 1e5 },
  );
  gc();
  const heap0 = heldBytes();
  for (const ip of ips) sched.add(ip);
  gc();
  const heap1 = heldBytes();
  sched.start();
  await clock.advanceAsync(3 * intervalMs);
  gc();
  const heap2 = heldBytes();
  await sched.stop();
  const idle = Math.round((heap1 - heap0) / n);
  const probing = Math.round((heap2 - heap0) / n);
  emit(
    {
      suite: 'schedule',
      case: 'scheduler_memory',
      n,
      ns_per_op: 0,
      ops_per_sec: 0,
      interval_ms: intervalMs,
      bytes_per_device_scheduled: idle,
      bytes_per_device_probing: probing,
      mb_total: round((heap2 - heap0) / 1048576),
    },
    `${idle} B/device scheduled, ${probing} B/device once probing (open summary window): ${round((heap2 - heap0) / 1048576)} MB`,
  );
}

/** Real clock, `seconds` long: our one-heap scheduler, CPU and send lag. */
async function realtimeOurs(n: number, intervalMs: number, seconds: number): Promise<number> {
  const clock = systemClock;
  const store = new DeviceStore({ clock, maxDevices: n });
  const sink = new CountingSink();
  const stalls = new EventLoopStallMonitor({ clock });
  const sched = new PingScheduler(
    { clock, pinger: noopPinger(clock), sink, state: store, logger: silentLogger(), stallMonitor: stalls },
    { intervalMs, timeoutMs: 1000, ratePerSec: ((n * 1000) / intervalMs) * 1.2, burst: Math.max(256, n / 20) },
  );
  for (let i = 0; i < n; i++) {
    store.markSeen(ipOf(i));
    sched.add(ipOf(i));
  }
  sched.start();
  await new Promise((r) => setTimeout(r, intervalMs)); // warm-up
  const sent0 = sched.stats().pingsSentTotal;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const s = sched.stats();
  await sched.stop();
  const sent = s.pingsSentTotal - sent0;
  const cpuPct = (100 * (cpu.user + cpu.system)) / 1000 / wallMs;
  emit(
    {
      suite: 'schedule',
      case: 'scheduler_realtime',
      n,
      ns_per_op: Math.round(((cpu.user + cpu.system) * 1000) / sent),
      ops_per_sec: Math.round((sent * 1000) / wallMs),
      interval_ms: intervalMs,
      cpu_pct: round(cpuPct),
      send_lag_p50_ms: round(s.sendLagP50Ms, 2),
      send_lag_p99_ms: round(s.sendLagP99Ms, 2),
      send_lag_max_ms: round(s.sendLagMaxMs, 2),
      late_sends: s.lateSendsTotal,
      missed_slots: s.missedSlotsTotal,
      stalls: s.stalls.stallsTotal,
      max_stall_ms: round(s.stalls.maxStallMs),
      seconds,
    },
    `${Math.round((sent * 1000) / wallMs)
      .toLocaleString('en-US')
      .padStart(
        10,
      )} pings/s  cpu ${round(cpuPct)}%  send lag p50 ${round(s.sendLagP50Ms, 2)} p99 ${round(s.sendLagP99Ms, 2)} max ${round(s.sendLagMaxMs, 1)} ms  missed ${s.missedSlotsTotal}`,
  );
  return cpuPct;
}

/** Baseline: one setTimeout chain per device doing the same per-probe work (ping, point, breaker). */
async function realtimePerDeviceTimers(n: number, intervalMs: number, seconds: number, oursCpu: number): Promise<void> {
  const clock = systemClock;
  const store = new DeviceStore({ clock, maxDevices: n });
  const sink = new CountingSink();
  const pinger = noopPinger(clock);
  let sent = 0;
  let stop = false;
  const lags: number[] = [];
  const timers: TimerHandle[] = [];
  for (let i = 0; i < n; i++) {
    const ip = ipOf(i);
    store.markSeen(ip);
    // Go netscan: the first fire 1 s after start, then interval after each completion (docs/go-parity.md);
    // spread the first fire over the interval here so the baseline is not handicapped by a burst.
    let due = clock.now() + (i * intervalMs) / n;
    const fire = (): void => {
      if (stop) return;
      lags.push(clock.now() - due);
      if (lags.length > 8192) lags.shift();
      sent++;
      void pinger.ping(ip, { timeoutMs: 1000 }).then((o) => {
        if (o.ok) store.recordPingSuccess(ip);
        sink.write(pingPoint(o, { timeMs: o.sentAtMs }));
      });
      due += intervalMs;
      timers[i] = clock.setTimeout(fire, due - clock.now());
    };
    timers[i] = clock.setTimeout(fire, due - clock.now());
  }
  await new Promise((r) => setTimeout(r, intervalMs));
  const sent0 = sent;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, seconds * 1000));
  const cpu = process.cpuUsage(cpu0);
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  stop = true;
  for (const t of timers) t.cancel();
  const done = sent - sent0;
  const cpuPct = (100 * (cpu.user + cpu.system)) / 1000 / wallMs;
  const sorted = [...lags].sort((a, b) => a - b);
  const p99 = sorted[Math.floor(sorted.length * 0.99)] ?? NaN;
  emit(
    {
      suite: 'schedule',
      case: 'per_device_timers_realtime',
      n,
      ns_per_op: Math.round(((cpu.user + cpu.system) * 1000) / done),
      ops_per_sec: Math.round((done * 1000) / wallMs),
      interval_ms: intervalMs,
      cpu_pct: round(cpuPct),
      send_lag_p99_ms: round(p99, 2),
      ours_cpu_ratio: round(oursCpu / cpuPct, 2),
      seconds,
    },
    `${Math.round((done * 1000) / wallMs)
      .toLocaleString('en-US')
      .padStart(
        10,
      )} pings/s  cpu ${round(cpuPct)}%  send lag p99 ${round(p99, 2)} ms  (baseline; ours uses ${round((100 * oursCpu) / cpuPct)}% of its CPU)`,
  );
}

/** 20k devices at 1 s; every simulated minute 10% leave and as many new ones arrive; 10 minutes. */
async function highChurn(n: number, minutes: number): Promise<void> {
  const intervalMs = 1000;
  const clock = new FakeClock(1_700_000_040_000);
  const store = new DeviceStore({ clock, maxDevices: n });
  const sink = new CountingSink();
  const lastSend = new Map<string, number>();
  const addedAt = new Map<string, number>();
  let minSpacing = Infinity;
  let maxAddToFirstProbe = 0;
  let overlaps = 0;
  const open = new Set<string>();
  const pinger: Pinger = {
    ping(ip) {
      const now = clock.now();
      if (open.has(ip)) overlaps++;
      const prev = lastSend.get(ip);
      if (prev !== undefined) minSpacing = Math.min(minSpacing, now - prev);
      lastSend.set(ip, now);
      const added = addedAt.get(ip);
      if (added !== undefined) {
        maxAddToFirstProbe = Math.max(maxAddToFirstProbe, now - added);
        addedAt.delete(ip);
      }
      open.add(ip);
      return Promise.resolve<PingOutcome>({ ok: true, ip, rttMs: 0.02, sentAtMs: now }).finally(() => open.delete(ip));
    },
  };
  const sched = new PingScheduler(
    { clock, pinger, sink, state: store, logger: silentLogger(), stallMonitor: noStalls },
    { intervalMs, timeoutMs: 500, ratePerSec: 1e7, burst: 1e5 },
  );
  const rec = new Reconciler(
    { source: store, target: sched, clock, logger: silentLogger() },
    { maxMonitored: n, resyncIntervalMs: 60_000 },
  );
  sched.start();
  rec.start();
  let next = 0;
  let oldest = 0;
  for (; next < n; next++) {
    store.markSeen(ipOf(next));
    addedAt.set(ipOf(next), clock.now());
  }
  const replace = Math.round(n / 10);
  let unscheduled = 0;
  const heap: number[] = [];
  const t0 = performance.now();
  for (let m = 0; m < minutes; m++) {
    // Churn 30 s into each minute, off the summary-window boundary.
    for (let t = 0; t < 60_000; t += 100) {
      if (t === 30_000) {
        for (let k = 0; k < replace; k++) {
          const gone = ipOf(oldest++);
          store.remove(gone);
          lastSend.delete(gone);
        }
        for (let k = 0; k < replace; k++, next++) {
          store.markSeen(ipOf(next));
          addedAt.set(ipOf(next), clock.now());
        }
        for (const ip of store.ips()) if (!sched.has(ip)) unscheduled++;
        if (sched.size !== store.size) unscheduled += Math.abs(sched.size - store.size);
      }
      clock.advance(100);
      await Promise.resolve();
    }
    gc();
    heap.push(round(heldBytes() / 1048576));
  }
  const realMs = performance.now() - t0;
  const s = sched.stats();
  await rec.stop();
  await sched.stop();
  const steady = heap[1] ?? heap[0]!;
  const growthPct = round((100 * (heap.at(-1)! - steady)) / steady);
  const ok =
    maxAddToFirstProbe <= intervalMs &&
    minSpacing >= intervalMs &&
    overlaps === 0 &&
    unscheduled === 0 &&
    addedAt.size === 0;
  emit(
    {
      suite: 'schedule',
      case: 'high_churn',
      n,
      ns_per_op: Math.round((realMs * 1e6) / s.pingsSentTotal),
      ops_per_sec: Math.round((s.pingsSentTotal * 1000) / realMs),
      minutes,
      replaced_per_minute: replace,
      max_add_to_first_probe_ms: maxAddToFirstProbe,
      min_send_spacing_ms: minSpacing,
      overlaps,
      unscheduled,
      never_probed: addedAt.size,
      heap_mb_by_minute: heap,
      heap_growth_pct_vs_minute2: growthPct,
      pings: s.pingsSentTotal,
      skipped: s.skippedTicksTotal,
      missed: s.missedSlotsTotal,
      real_ms: Math.round(realMs),
      ok,
    },
    `${ok ? 'OK ' : 'FAIL'} add->first probe max ${maxAddToFirstProbe} ms, min spacing ${minSpacing} ms, overlaps ${overlaps}, unscheduled ${unscheduled}; heap MB by minute ${heap.join(' ')} (${growthPct >= 0 ? '+' : ''}${growthPct}% vs minute 2); ${Math.round(realMs)} ms real`,
  );
}

if (wanted('scheduler_memory')) {
  await schedulerMemory(20_000, 1000);
  await schedulerMemory(100_000, 5000);
}
if (wanted('scheduler_sim')) {
  await simThroughput(20_000, 1000, 20);
  await simThroughput(100_000, 5000, 20);
}
if (wanted('scheduler_realtime') || wanted('per_device')) {
  // Twice, alternating, so a neighbour's burst on the shared machine does not decide the comparison.
  for (let round = 0; round < 2; round++) {
    const ours = await realtimeOurs(20_000, 1000, realSeconds);
    gc();
    await realtimePerDeviceTimers(20_000, 1000, realSeconds, ours);
    gc();
  }
}
if (wanted('pipeline_sim')) {
  for (const n of [20_000, 100_000]) {
    const f = await pipelineSim(n, n > 20_000 ? 5 : 10);
    emit(
      {
        suite: 'schedule',
        case: 'pipeline_sim',
        n,
        ns_per_op: Math.round(1000 * f.usPerPing),
        ops_per_sec: Math.round(1e6 / f.usPerPing),
        user_us_per_ping: f.userUsPerPing,
        pings: f.pings,
        bytes: f.bytes,
      },
      `${f.usPerPing.toFixed(2)} µs CPU per ping after the engine (user ${f.userUsPerPing.toFixed(2)}), ${f.pings} pings, ${f.bytes} bytes of line protocol`,
    );
  }
}
if (wanted('probe_results_sim')) {
  for (const failEvery of [0, 10]) {
    const f = await probeResultsSim(20_000, 10, failEvery);
    emit(
      {
        suite: 'schedule',
        case: failEvery === 0 ? 'probe_results_sim' : 'probe_results_sim_10pct_fail',
        n: 20_000,
        ns_per_op: Math.round(1000 * f.usPerPing),
        ops_per_sec: Math.round(1e6 / f.usPerPing),
        main_us_per_ping: f.mainUsPerPing,
        min_second_us_per_ping: f.minUsPerPing,
        min_second_main_us_per_ping: f.minMainUsPerPing,
        pings: f.pings,
        bytes: f.bytes,
      },
      `${f.usPerPing.toFixed(2)} µs CPU per ping in all, main side ${f.mainUsPerPing.toFixed(2)} (least second: ${f.minUsPerPing.toFixed(2)}, ${f.minMainUsPerPing.toFixed(2)}), ${f.pings} pings, ${f.bytes} bytes`,
    );
  }
}
if (wanted('high_churn')) await highChurn(20_000, Number(argValue('--minutes') ?? 10));
