// Sends under main-thread pressure, scheduler on the main thread vs in its probe thread:
//   unshare -n sh -c 'ip link set lo up; node --expose-gc --import tsx bench/schedule/probe-thread.ts [options]'
// (loopback only: the devices are 127.0.x.y inside a private namespace).
//
// Both modes monitor the same devices with the real ICMP engine at the same interval while the
// main thread is blocked every --block-every s for --block-ms ms by synchronous string building
// (the shape of a per-device /metrics render: ~1.1 s at 20k devices) whose garbage the GC then
// collects. Reported per mode: sends within 50 ms of their slot, late sends, missed slots (from
// the scheduler's own counters over the window) and CPU cores of the whole process.
// Options: --devices N (2000) --interval-ms N (1000) --seconds S (30) --block-every S (5) --block-ms N (1100)
//          --together (both modes at once, on separate devices) --worker-first (run the worker mode first) --flush-ms N (the probe thread's batch window, default 20)
//          --thread-nice N (nice value of the probe thread; below 0 needs root or CAP_SYS_NICE) --json
import { systemClock } from '../../internal/clock/clock.js';
import { openNativeIcmpSocket } from '../../internal/icmp/native-socket.js';
import { IcmpSocketOpener } from '../../internal/icmp/open.js';
import { IcmpPinger } from '../../internal/icmp/pinger.js';
import type { PingBreakerState } from '../../internal/schedule/breaker.js';
import { PingScheduler, type PingSchedulerStats } from '../../internal/schedule/ping-scheduler.js';
import { ProbeThread } from '../../internal/schedule/probe-thread.js';
import { spawnProbeWorker } from '../../internal/schedule/probe-thread-worker.js';
import { silentLogger } from '../../internal/testkit/logger.js';

const args = process.argv.slice(2);
const argValue = (name: string, dflt: number): number => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const devices = argValue('--devices', 2000);
const intervalMs = argValue('--interval-ms', 1000);
const seconds = argValue('--seconds', 30);
const blockEveryS = argValue('--block-every', 5);
const blockMs = argValue('--block-ms', 1100);
const flushMs = argValue('--flush-ms', 20);
const threadNice = args.includes('--thread-nice') ? argValue('--thread-nice', 0) : undefined;
const json = args.includes('--json');
const ipOf = (net: number, i: number): string => `127.${net}.${(i >> 8) & 255}.${i & 255}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const opts = {
  intervalMs,
  timeoutMs: Math.min(1000, intervalMs / 2),
  ratePerSec: Math.ceil((1.25 * devices * 1000) / intervalMs),
  burst: Math.ceil((1.25 * devices * 1000) / intervalMs),
  summaryIntervalMs: 60_000,
};
// No breaker trips on loopback; a plain map is the store here.
const state: PingBreakerState & { get(ip: string): undefined } = {
  isPingSuspended: () => false,
  recordPingSuccess: () => undefined,
  recordPingFailure: () => false,
  get: () => undefined,
};
let points = 0;
const sink = { write: (): number => (points++, 0) };
const engineSettings = {
  mode: 'auto' as const,
  payloadBytes: 56,
  tos: undefined,
  ttl: undefined,
  interfaceName: undefined,
  sourceIpv4: undefined,
  sourceIpv6: undefined,
};

/** Blocks the main thread for `ms` building strings, as a /metrics render does. */
function block(ms: number): number {
  const until = performance.now() + ms;
  let kept = 0;
  while (performance.now() < until) {
    const lines: string[] = [];
    for (let i = 0; i < 2000; i++) lines.push(`netscan_device_rtt_seconds_bucket{ip="${ipOf(9, i)}",le="0.001"} ${i}`);
    kept += lines.join('\n').length;
  }
  return kept;
}

interface Mode {
  start(): void;
  stop(): Promise<void>;
  add(ip: string): void;
  stats(): PingSchedulerStats;
  refresh?(): Promise<PingSchedulerStats>;
}

async function open(name: 'main' | 'worker', net: number): Promise<{ sched: Mode; engine?: IcmpPinger }> {
  let engine: IcmpPinger | undefined;
  let sched: Mode;
  if (name === 'main') {
    const opener = new IcmpSocketOpener({ mode: 'auto', open: openNativeIcmpSocket });
    engine = new IcmpPinger({ clock: systemClock, engine: { openSocket: opener.open } });
    await engine.start();
    sched = new PingScheduler({ clock: systemClock, pinger: engine, sink, state, logger: silentLogger() }, opts);
  } else {
    sched = new ProbeThread(
      { clock: systemClock, sink, state, logger: silentLogger(), spawn: spawnProbeWorker(engineSettings) },
      opts,
      { logLevel: 'silent', flushEveryMs: flushMs, niceness: threadNice },
    );
  }
  for (let i = 0; i < devices; i++) sched.add(ipOf(net, i + 256));
  return engine ? { sched, engine } : { sched };
}

/** Runs the modes at the same time (each on its own devices), so they share the machine's load. */
async function run(names: Array<'main' | 'worker'>): Promise<Array<Record<string, number | string>>> {
  const opened = await Promise.all(names.map((n, k) => open(n, k + 1)));
  for (const o of opened) o.sched.start();
  for (const o of opened) await o.sched.refresh?.();
  // Two intervals to reach the steady state.
  await sleep(2 * intervalMs);
  const s0 = await Promise.all(opened.map(async (o) => (await o.sched.refresh?.()) ?? o.sched.stats()));
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let blocks = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await sleep(blockEveryS * 1000);
    block(blockMs);
    blocks++;
  }
  const s1 = await Promise.all(opened.map(async (o) => (await o.sched.refresh?.()) ?? o.sched.stats()));
  const cpu = process.cpuUsage(cpu0);
  const wallS = (performance.now() - t0) / 1000;
  for (const o of opened) {
    await o.sched.stop();
    await o.engine?.stop();
  }
  return names.map((name, k) => {
    const a = s0[k]!;
    const b = s1[k]!;
    const sent = b.pingsSentTotal - a.pingsSentTotal;
    const late = b.lateSendsTotal - a.lateSendsTotal;
    const missed = b.missedSlotsTotal - a.missedSlotsTotal;
    return {
      mode: names.length > 1 ? `${name}*` : name,
      slots: sent + missed,
      sent,
      late_sends: late,
      missed_slots: missed,
      within_slot_pct: +((100 * (sent - late)) / (sent + missed)).toFixed(2),
      // Whole process; with --together, of both modes at once.
      cpu_cores: +((cpu.user + cpu.system) / 1e6 / wallS).toFixed(3),
      // Stalls of the loop that sends (the main thread's, or the probe thread's).
      send_loop_stalls: b.stalls.stallsTotal - a.stalls.stallsTotal,
      send_loop_max_stall_ms: Math.round(b.stalls.maxStallMs),
      blocks,
      wall_s: +wallS.toFixed(1),
    };
  });
}

// --together: both modes at once in this process, sharing the machine's load (which changes over a
// run on a shared machine); otherwise one after the other (--worker-first swaps the order).
const rows = args.includes('--together')
  ? await run(['main', 'worker'])
  : args.includes('--worker-first')
    ? [...(await run(['worker'])), ...(await run(['main']))]
    : [...(await run(['main'])), ...(await run(['worker']))];
if (json) console.log(JSON.stringify(rows));
else {
  console.log(
    `${devices} loopback devices every ${intervalMs} ms, ${seconds} s per mode, main thread blocked ${blockMs} ms every ${blockEveryS} s (points ${points})`,
  );
  for (const r of rows)
    console.log(
      `${String(r.mode).padEnd(7)} within slot ${r.within_slot_pct}% of ${r.slots} slots; late ${r.late_sends}, missed ${r.missed_slots}; CPU ${r.cpu_cores} cores; send loop stalls ${r.send_loop_stalls}, longest ${r.send_loop_max_stall_ms} ms`,
    );
}
