/**
 * One simulated hour of 1,000 devices on a FakeClock, run in a worker thread by
 * ping-scheduler.test.ts: node:test tracks every promise with async hooks, which triples the cost
 * of 3.6 million probes, and a worker has no such hooks. Posts a {@link HourResult}.
 */
import { parentPort } from 'node:worker_threads';
import { FakeClock } from '../../testkit/fake-clock.js';
import { FakeDeviceState } from '../../testkit/fake-device-state.js';
import { FakePinger } from '../../testkit/fake-pinger.js';
import { FakeStallMonitor } from '../../testkit/fake-stall-monitor.js';
import { RecordingSink } from '../../testkit/recording-sink.js';
import { silentLogger } from '../../testkit/logger.js';
import { phaseMs, slotAfter, summaryOffsetMs } from '../phase.js';
import { PingScheduler, type PingSchedulerStats } from '../ping-scheduler.js';

/** What the simulation reports back. */
export interface HourResult {
  readonly startMs: number;
  readonly devices: number;
  readonly zeroPhase: number;
  readonly offSlot: number;
  readonly overlaps: number;
  readonly minCallsPerDevice: number;
  readonly maxCallsPerDevice: number;
  readonly stats: Omit<PingSchedulerStats, 'stalls'>;
  readonly pingPoints: number;
  readonly summaryPoints: number;
  /** Summary windows the probed slots fall in, over all devices (each window is written once). */
  readonly expectedSummaryPoints: number;
  /** Start of the first summary window of the sampled device (127.0.0.7). */
  readonly sampleFirstWindowMs: number;
  readonly sample: Array<{ timeMs: number; fields: Record<string, unknown> }>;
  readonly realMs: number;
}

/** Runs the hour and returns the result. */
export async function runHour(devices = 1000, intervalMs = 1000, hourMs = 3_600_000): Promise<HourResult> {
  const startMs = 1_700_000_040_000;
  const clock = new FakeClock(startMs);
  let offSlot = 0;
  const pinger = new FakePinger({
    clock,
    mode: 'immediate',
    respond: (ip, now) => {
      if ((now - phaseMs(ip, intervalMs)) % intervalMs !== 0) offSlot++;
      return { rttMs: 0.5 };
    },
  });
  const sink = new RecordingSink({ keep: (p) => p.measurement === 'ping_summary' && p.tags['ip'] === '127.0.0.7' });
  const state = new FakeDeviceState(clock);
  const sched = new PingScheduler(
    { clock, pinger, sink, state, logger: silentLogger(), stallMonitor: new FakeStallMonitor() },
    { intervalMs, timeoutMs: 500, ratePerSec: 1e6, burst: 1e6, summaryIntervalMs: 60_000 },
  );
  const ips = Array.from({ length: devices }, (_, i) => `127.0.${((i + 1) >> 8) & 255}.${(i + 1) & 255}`);
  for (const ip of ips) {
    state.markSeen(ip);
    sched.add(ip);
  }
  const t0 = performance.now();
  sched.start();
  for (let t = 0; t < hourMs; t += 100) {
    clock.advance(100);
    // Lets the probe completions queued during advance() run, as the event loop would.
    await Promise.resolve();
  }
  await sched.stop();
  const realMs = performance.now() - t0;
  const calls = ips.map((ip) => pinger.callsTo(ip));
  const { stalls: _stalls, ...stats } = sched.stats();
  const windowMs = 60_000;
  const firstWindow = (ip: string): number => {
    const off = summaryOffsetMs(ip, windowMs);
    return Math.floor((slotAfter(phaseMs(ip, intervalMs), intervalMs, startMs - 1) - off) / windowMs) * windowMs + off;
  };
  const windowsOf = (ip: string): number => {
    const phase = phaseMs(ip, intervalMs);
    const off = summaryOffsetMs(ip, windowMs);
    const first = slotAfter(phase, intervalMs, startMs - 1);
    const last = slotAfter(phase, intervalMs, startMs + hourMs) - intervalMs;
    return Math.floor((last - off) / windowMs) - Math.floor((first - off) / windowMs) + 1;
  };
  return {
    startMs,
    devices,
    zeroPhase: ips.filter((ip) => phaseMs(ip, intervalMs) === 0).length,
    offSlot,
    overlaps: pinger.overlaps,
    minCallsPerDevice: Math.min(...calls),
    maxCallsPerDevice: Math.max(...calls),
    stats,
    pingPoints: sink.count('ping'),
    summaryPoints: sink.count('ping_summary'),
    expectedSummaryPoints: ips.reduce((n, ip) => n + windowsOf(ip), 0),
    sampleFirstWindowMs: firstWindow('127.0.0.7'),
    sample: sink.points.map((p) => ({
      timeMs: p.timeMs,
      fields: Object.fromEntries(Object.entries(p.fields).map(([k, v]) => [k, v.value])),
    })),
    realMs,
  };
}

if (parentPort !== null) {
  const port = parentPort;
  runHour().then(
    (r) => port.postMessage(r),
    (err: unknown) => port.postMessage({ error: String(err) }),
  );
}
