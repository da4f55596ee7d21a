// Reconciliation benchmarks: `npm run bench -- reconcile [--json] [--time <ms>] [--only <case>] [--n 20000,100000]`.
// Reproduces the Go `reconcile_full_cycle` row (docs/go-parity.md: 2.37 ms and 882 KB allocated per
// cycle at 20k devices, 1% churn) beside ours, with the Go algorithm re-implemented here as the
// in-run baseline: every 5 s it snapshotted all IPs into a set and diffed them against the map of
// running pingers, O(n) per cycle whatever the churn. Ours is driven by change events, O(churn).
//
// One cycle = 1% of the devices leave and as many new ones arrive (the churn of a cycle).
// ns_per_op and bytes_per_op are per cycle. Bytes are allocated bytes: the heap growth over a
// window of cycles in which no garbage collection ran (checked with a `gc` PerformanceObserver).
import { PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';
import { Bench } from 'tinybench';
import type { Clock } from '../../internal/clock/clock.js';
import { StillClock } from '../../internal/testkit/still-clock.js';
import type { DeviceEvent } from '../../internal/model/device.js';
import type { PingOutcome, Pinger } from '../../internal/model/ping.js';
import { Reconciler, type DeviceSource } from '../../internal/reconcile/reconciler.js';
import { PingScheduler } from '../../internal/schedule/ping-scheduler.js';
import type { StallMonitor } from '../../internal/schedule/stall-monitor.js';
import { DeviceStore } from '../../internal/state/device-store.js';
import { silentLogger } from '../../internal/testkit/logger.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const timeMs = Number(argValue('--time') ?? 1000);
const only = argValue('--only');
const sizes = (argValue('--n') ?? '20000,100000').split(',').map(Number);
const wanted = (c: string): boolean => only === undefined || c.startsWith(only);

const noStalls: StallMonitor = {
  start: () => undefined,
  stop: () => undefined,
  maxStallMs: () => 0,
  stats: () => ({ stallsTotal: 0, stallMsTotal: 0, maxStallMs: 0, loopDelayP99Ms: NaN }),
};
const neverPinger: Pinger = { ping: () => new Promise<PingOutcome>(() => undefined) };

const ipOf = (i: number): string => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;

interface Row {
  suite: 'reconcile';
  case: string;
  n: number;
  ns_per_op: number;
  ops_per_sec: number;
  bytes_per_op: number;
  [extra: string]: number | string;
}

function emit(row: Row): void {
  if (json) console.log(JSON.stringify(row));
  else {
    console.error(
      `  ${row.case.padEnd(30)} n=${String(row.n).padEnd(7)} ${(row.ns_per_op / 1e6).toFixed(3).padStart(9)} ms/cycle ${(row.bytes_per_op / 1024).toFixed(1).padStart(9)} KB/cycle` +
        (typeof row['vs_go_style'] === 'number' ? `   ${row['vs_go_style']}x faster than the Go algorithm` : ''),
    );
  }
}

const gc = (): void => (globalThis as { gc?: () => void }).gc?.();
let gcRuns = 0;
new PerformanceObserver((list) => {
  gcRuns += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });
// GC entries reach the observer a little after the collection; wait long enough for them to land.
const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

/** Allocated bytes per call of `fn`: heap growth across `k` calls with no GC in between (halving k until that holds). */
async function allocatedPerOp(fn: () => void, k0: number): Promise<number> {
  if ((globalThis as { gc?: unknown }).gc === undefined) return NaN;
  for (let k = k0; k >= 1; k = Math.floor(k / 2)) {
    const samples: number[] = [];
    for (let attempt = 0; attempt < 6 && samples.length < 3; attempt++) {
      gc();
      await settle();
      const runsBefore = gcRuns;
      const before = v8.getHeapStatistics().used_heap_size;
      for (let i = 0; i < k; i++) fn();
      const after = v8.getHeapStatistics().used_heap_size;
      await settle();
      if (gcRuns === runsBefore) samples.push((after - before) / k);
    }
    if (samples.length > 0) return Math.round(samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!);
  }
  return NaN;
}

async function timePerOp(name: string, fn: () => void): Promise<number> {
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(200, timeMs / 4), iterations: 20 });
  bench.add(name, fn);
  await bench.run();
  const r = bench.tasks[0]!.result;
  if (r.state !== 'completed') throw new Error(`${name}: ${r.state}${'error' in r ? `: ${String(r.error)}` : ''}`);
  return r.latency.p50 * 1e6;
}

/** A DeviceSource that only emits: isolates the reconciler + scheduler from the state manager's own cost. */
class EventSource implements DeviceSource {
  readonly live = new Set<string>();
  #listener: ((e: DeviceEvent) => void) | undefined;
  subscribe(l: (e: DeviceEvent) => void): () => void {
    this.#listener = l;
    return () => {
      this.#listener = undefined;
    };
  }
  ips(): IterableIterator<string> {
    return this.live.values();
  }
  has(ip: string): boolean {
    return this.live.has(ip);
  }
  add(ip: string): void {
    this.live.add(ip);
    this.#listener?.({ type: 'added', ip });
  }
  remove(ip: string): void {
    this.live.delete(ip);
    this.#listener?.({ type: 'removed', ip, cause: 'evicted' });
  }
}

/** A rolling window of device IPs: each cycle retires the oldest `churn` and admits as many new ones. */
class Rolling {
  next: number;
  oldest = 0;
  constructor(readonly n: number) {
    this.next = n;
  }
  cycle(churn: number, leave: (ip: string) => void, arrive: (ip: string) => void): void {
    for (let i = 0; i < churn; i++) leave(ipOf(this.oldest++));
    for (let i = 0; i < churn; i++) arrive(ipOf(this.next++));
  }
}

function newScheduler(clock: Clock, state: ConstructorParameters<typeof PingScheduler>[0]['state']): PingScheduler {
  return new PingScheduler(
    { clock, pinger: neverPinger, sink: { write: () => 0 }, state, logger: silentLogger(), stallMonitor: noStalls },
    { intervalMs: 2000, ratePerSec: 1e9, burst: 1e9 },
  );
}

async function ours(n: number, goNs: number): Promise<void> {
  const churn = Math.max(1, Math.round(n / 100));
  const clock = new StillClock(1_700_000_040_000);
  const source = new EventSource();
  const sched = newScheduler(clock, {
    isPingSuspended: () => false,
    recordPingSuccess: () => undefined,
    recordPingFailure: () => false,
  });
  const rec = new Reconciler(
    { source, target: sched, clock, logger: silentLogger() },
    { maxMonitored: n, resyncIntervalMs: 0 },
  );
  const roll = new Rolling(n);
  for (let i = 0; i < n; i++) source.live.add(ipOf(i));
  sched.start();
  rec.start();
  const cycle = (): void =>
    roll.cycle(
      churn,
      (ip) => source.remove(ip),
      (ip) => source.add(ip),
    );
  const ns = await timePerOp('reconcile_full_cycle', cycle);
  const bytes = await allocatedPerOp(cycle, 64);
  if (sched.size !== n) throw new Error(`scheduler holds ${sched.size}, expected ${n}`);
  emit({
    suite: 'reconcile',
    case: 'reconcile_full_cycle',
    n,
    ns_per_op: Math.round(ns),
    ops_per_sec: Math.round(1e9 / ns),
    bytes_per_op: bytes,
    churn,
    ns_per_change: Math.round(ns / (2 * churn)),
    vs_go_style: Math.round((goNs / ns) * 10) / 10,
  });

  const resync = (): void => {
    rec.resync();
  };
  // Resync with 1% drift: changes made behind the reconciler's back, then one full pass.
  const drifted = (): void => {
    roll.cycle(
      churn,
      (ip) => source.live.delete(ip),
      (ip) => source.live.add(ip),
    );
    rec.resync();
  };
  const nsR = await timePerOp('reconcile_resync', drifted);
  const bytesR = await allocatedPerOp(resync, 8);
  emit({
    suite: 'reconcile',
    case: 'reconcile_resync',
    n,
    ns_per_op: Math.round(nsR),
    ops_per_sec: Math.round(1e9 / nsR),
    bytes_per_op: bytesR,
    churn,
  });
  await rec.stop();
  await sched.stop();
}

async function withStore(n: number): Promise<void> {
  const churn = Math.max(1, Math.round(n / 100));
  const clock = new StillClock(1_700_000_040_000);
  const store = new DeviceStore({ clock, maxDevices: n });
  const sched = newScheduler(clock, store);
  const rec = new Reconciler(
    { source: store, target: sched, clock, logger: silentLogger() },
    { maxMonitored: n, resyncIntervalMs: 0 },
  );
  for (let i = 0; i < n; i++) store.markSeen(ipOf(i));
  sched.start();
  rec.start();
  let next = n;
  // markSeen of a new IP in a full store evicts the least recently seen: one removed + one added event.
  const cycle = (): void => {
    clock.t += 1;
    for (let i = 0; i < churn; i++) store.markSeen(ipOf(next++));
  };
  const ns = await timePerOp('reconcile_cycle_with_store', cycle);
  const bytes = await allocatedPerOp(cycle, 64);
  if (sched.size !== n || store.size !== n)
    throw new Error(`scheduler ${sched.size}, store ${store.size}, expected ${n}`);
  emit({
    suite: 'reconcile',
    case: 'reconcile_cycle_with_store',
    n,
    ns_per_op: Math.round(ns),
    ops_per_sec: Math.round(1e9 / ns),
    bytes_per_op: bytes,
    churn,
  });
  await rec.stop();
  await sched.stop();
}

/** The Go algorithm (docs/go-parity.md, "Ping scheduling") on the same data: snapshot, set, diff, both ways. */
async function goStyle(n: number): Promise<number> {
  const churn = Math.max(1, Math.round(n / 100));
  const state = new Set<string>();
  for (let i = 0; i < n; i++) state.add(ipOf(i));
  const active = new Map<string, () => void>();
  const stopping = new Map<string, boolean>();
  for (const ip of state) active.set(ip, () => undefined);
  const roll = new Rolling(n);
  const cycle = (): void => {
    roll.cycle(
      churn,
      (ip) => state.delete(ip),
      (ip) => state.add(ip),
    );
    const current = new Set<string>(Array.from(state)); // GetAllIPs() copy, then the map build
    for (const ip of current) {
      if (!active.has(ip) && !stopping.has(ip) && active.size < n + churn) active.set(ip, () => undefined);
    }
    for (const [ip, cancel] of active) {
      if (!current.has(ip)) {
        stopping.set(ip, true);
        active.delete(ip);
        cancel();
        stopping.delete(ip);
      }
    }
  };
  const ns = await timePerOp('go_style_snapshot_diff', cycle);
  const bytes = await allocatedPerOp(cycle, 16);
  emit({
    suite: 'reconcile',
    case: 'go_style_snapshot_diff',
    n,
    ns_per_op: Math.round(ns),
    ops_per_sec: Math.round(1e9 / ns),
    bytes_per_op: bytes,
    churn,
  });
  return ns;
}

if (!json)
  console.error(
    `reconcile: ${timeMs} ms per case; Go published reconcile_full_cycle at 20k: 2.37 ms and 882 KB per cycle (GitHub Actions, 4 cores)`,
  );
for (const n of sizes) {
  const goNs = wanted('go_style') || wanted('reconcile_full_cycle') ? await goStyle(n) : NaN;
  if (wanted('reconcile_full_cycle') || wanted('reconcile_resync')) await ours(n, goNs);
  if (wanted('reconcile_cycle_with_store')) await withStore(n);
}
if (json)
  console.log(
    JSON.stringify({
      suite: 'reconcile',
      case: 'go_published_full_cycle',
      n: 20_000,
      ns_per_op: 2_370_000,
      ops_per_sec: Math.round(1e9 / 2_370_000),
      bytes_per_op: 882 * 1024,
      source: 'docs/go-parity.md (Go, GitHub Actions 4 cores)',
    }),
  );
