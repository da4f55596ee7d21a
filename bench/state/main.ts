// Device state benchmarks: `npm run bench -- state [--json] [--cpu] [--time <ms>] [--only <case>]`.
// Reproduces the Go StateManager tables (docs/go-parity.md) so the numbers stand side by side, with
// baselines measured in the same run: the Go-era O(n) scans, a bare Map doing the same traffic,
// and the memory floor (one dependent load in a table the size of the store's IP index).
import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Bench, type TimestampProvider } from 'tinybench';
import { StillClock } from '../../internal/testkit/still-clock.js';
import type { SnmpInfo } from '../../internal/model/device.js';
import { DeviceStore } from '../../internal/state/device-store.js';
import { nodeStateFs, type StateFs } from '../../internal/state/state-file.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const timeMs = Number(argValue('--time') ?? 400);
const only = argValue('--only');
// --cpu: time with this process's CPU time (getrusage) instead of the wall clock. On a shared,
// overloaded host this drops the time spent descheduled; GC threads still count.
const cpu = args.includes('--cpu');
const cpuTimestamps: TimestampProvider = {
  name: 'cpuUsage',
  fn: () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  },
  fromMs: (ms) => ms * 1000,
  toMs: (us) => Number(us) / 1000,
};

/** Operations per tinybench iteration: timer overhead (~100 ns) would swamp single sub-µs calls. */
const BATCH = 1000;

const ipOf = (i: number): string => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const ips = (n: number): string[] => Array.from({ length: n }, (_, i) => ipOf(i));

interface Row {
  suite: 'state';
  case: string;
  n: number;
  ns_per_op: number;
  ops_per_sec: number;
  [extra: string]: number | string;
}

const rows: Row[] = [];
function emit(row: Row): void {
  rows.push(row);
  if (json) console.log(JSON.stringify(row));
  else {
    const extra = Object.entries(row).filter(
      ([k]) => !['suite', 'case', 'n', 'ns_per_op', 'ops_per_sec', 'ns_per_op_p50', 'samples'].includes(k),
    );
    const p50 = row['ns_per_op_p50'] === undefined ? '' : `(p50 ${row['ns_per_op_p50']})`;
    console.error(
      `  ${row.case.padEnd(24)} n=${String(row.n).padEnd(8)} ${row.ns_per_op.toFixed(1).padStart(12)} ns/op ${p50.padEnd(16)} ${Math.round(row.ops_per_sec).toLocaleString('en-US').padStart(14)} ops/s  ${extra.map(([k, v]) => `${k}=${v}`).join(' ')}`,
    );
  }
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Runs `fn` (which performs BATCH operations) under tinybench and reports per-operation figures. */
async function measure(
  name: string,
  n: number,
  fn: () => void,
  opts: { beforeEach?: () => void; batch?: number; iterations?: number } = {},
): Promise<Row> {
  const batch = opts.batch ?? BATCH;
  // Start clean: garbage left by building the fixture must not be collected inside the timing.
  gc();
  // At 100k+ devices rare costs (Map rehash, old-generation GC) dominate the mean; run long
  // enough that they are amortised rather than hit or missed by luck.
  const big = n >= 100_000;
  const bench = new Bench({
    time: big ? timeMs * 5 : timeMs,
    warmupTime: Math.min(100, timeMs / 4),
    iterations: opts.iterations ?? (big ? 300 : 10),
    ...(cpu ? { timestampProvider: cpuTimestamps } : {}),
  });
  bench.add(name, fn, opts.beforeEach ? { beforeEach: opts.beforeEach } : {});
  await bench.run();
  const r = bench.tasks[0]!.result;
  if (r.state !== 'completed')
    throw new Error(`${name} n=${n}: ${r.state}${'error' in r ? `: ${String(r.error)}` : ''}`);
  const ns = (r.latency.mean * 1e6) / batch;
  const row: Row = {
    suite: 'state',
    case: name,
    n,
    ns_per_op: round(ns),
    ops_per_sec: Math.round(1e9 / ns),
    ns_per_op_p50: round((r.latency.p50 * 1e6) / batch),
    samples: r.latency.samplesCount,
  };
  emit(row);
  return row;
}

const round = (x: number): number => Math.round(x * 10) / 10;
const pct = (xs: number[], q: number): number =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))] ?? 0;

// ----------------------------------------------------------------------------------------------

async function addWithEviction(): Promise<void> {
  for (const n of [100, 1_000, 10_000, 20_000, 100_000, 1_000_000]) {
    gc();
    // The store holds a sliding window of n IPs from a ring of n + SPARE; the next IP is always new.
    const SPARE = 65_536;
    const pool = ips(n + SPARE);
    const clock = new StillClock();
    const store = new DeviceStore({ clock, maxDevices: n });
    for (let i = 0; i < n; i++) store.markSeen(pool[i]!);
    let next = n;
    await measure('add_with_eviction', n, () => {
      clock.t++;
      for (let k = 0; k < BATCH; k++) {
        store.markSeen(pool[next]!);
        if (++next === pool.length) next = 0;
      }
    });
    if (store.size !== n) throw new Error('store size drifted');

    // Floor: the same traffic on a bare Map (set the new key, delete the oldest).
    const map = new Map<string, number>();
    for (let i = 0; i < n; i++) map.set(pool[i]!, i);
    let head = 0;
    let tail = n;
    await measure('baseline_map_set_delete', n, () => {
      for (let k = 0; k < BATCH; k++) {
        map.delete(pool[head]!);
        if (++head === pool.length) head = 0;
        map.set(pool[tail]!, k);
        if (++tail === pool.length) tail = 0;
      }
    });

    // Memory floor: a chain of dependent loads, each to a random cache line of an Int32Array the
    // size of the store's IP index at n (16 MiB at 1M). What one cache miss costs at this size.
    if (n === 1_000 || n === 1_000_000) {
      const chase = chaseTable(indexBytesFor(n));
      let p = 0;
      await measure('floor_dependent_load', n, () => {
        for (let k = 0; k < BATCH; k++) p = chase[p]!;
      });
      if (p < 0) throw new Error('unreachable');
    }

    // Go before its eviction heap: find the victim by scanning every device's lastSeen.
    if (n <= 20_000) {
      const scan = new Map<string, { lastSeenMs: number }>();
      for (let i = 0; i < n; i++) scan.set(pool[i]!, { lastSeenMs: i });
      let t = n;
      let nxt = n;
      const scanBatch = Math.max(1, Math.floor(BATCH / Math.max(1, n / 100)));
      await measure(
        'baseline_scan_eviction',
        n,
        () => {
          for (let k = 0; k < scanBatch; k++) {
            let victim: string | undefined;
            let best = Infinity;
            for (const [ip, d] of scan)
              if (d.lastSeenMs < best) {
                best = d.lastSeenMs;
                victim = ip;
              }
            scan.delete(victim!);
            scan.set(pool[nxt]!, { lastSeenMs: t++ });
            if (++nxt === pool.length) nxt = 0;
          }
        },
        { batch: scanBatch },
      );
    }
  }
}

/** Bytes of the store's IP index at capacity n: 8-byte entries, a power of two ≥ 2n of them (ip-index.ts). */
function indexBytesFor(n: number): number {
  let size = 16;
  while (size < n * 2) size *= 2;
  return size * 8;
}

/** One random cyclic permutation over the cache lines of `bytes`: a[line * 16] holds the next line's index. */
function chaseTable(bytes: number): Int32Array {
  const lines = Math.max(2, Math.floor(bytes / 64));
  const a = new Int32Array(lines * 16);
  const order = new Int32Array(lines);
  for (let i = 0; i < lines; i++) order[i] = i;
  let seed = 7;
  for (let i = lines - 1; i > 0; i--) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const j = seed % (i + 1);
    const t = order[i]!;
    order[i] = order[j]!;
    order[j] = t;
  }
  for (let i = 0; i < lines; i++) a[order[i]! * 16] = order[(i + 1) % lines]! * 16;
  return a;
}

async function updateLastSeen(): Promise<void> {
  for (const n of [20_000, 1_000_000]) {
    gc();
    const pool = ips(n);
    const clock = new StillClock();
    const store = new DeviceStore({ clock, maxDevices: n });
    for (const ip of pool) store.markSeen(ip);
    // Random order, like replies arriving from many devices.
    const order = new Uint32Array(1 << 20);
    let seed = 12345;
    for (let i = 0; i < order.length; i++) {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      order[i] = seed % n;
    }
    let i = 0;
    await measure('update_last_seen', n, () => {
      clock.t++;
      for (let k = 0; k < BATCH; k++) store.touch(pool[order[i++ & 0xfffff]!]!);
    });
    const map = new Map<string, { lastSeenMs: number }>();
    for (const ip of pool) map.set(ip, { lastSeenMs: 0 });
    await measure('baseline_map_get_write', n, () => {
      clock.t++;
      for (let k = 0; k < BATCH; k++) map.get(pool[order[i++ & 0xfffff]!]!)!.lastSeenMs = clock.t;
    });
  }
}

async function suspendedCount(): Promise<void> {
  for (const n of [1_000, 10_000, 20_000]) {
    gc();
    const pool = ips(n);
    const clock = new StillClock();
    const store = new DeviceStore({ clock, maxDevices: n });
    for (const ip of pool) store.markSeen(ip);
    for (let i = 0; i < n; i += 10) store.recordPingFailure(pool[i]!, 1, 3_600_000 + i);
    let sink = 0;
    await measure('suspended_count', n, () => {
      for (let k = 0; k < BATCH; k++) sink += store.pingSuspendedCount();
    });
    if (sink % (n / 10) !== 0) throw new Error('unexpected count');
    // Go after #52 (and GetSuspendedCountAccurate): walk every device.
    const devices = [...store.devices()];
    const now = clock.now();
    const scanBatch = Math.max(1, Math.floor(BATCH / (n / 100)));
    await measure(
      'baseline_scan_count',
      n,
      () => {
        for (let k = 0; k < scanBatch; k++) {
          let c = 0;
          for (const d of devices) if (now < d.ping.suspendedUntilMs) c++;
          sink += c;
        }
      },
      { batch: scanBatch },
    );
  }
}

async function prune(): Promise<void> {
  const n = 20_000;
  const stale = 2_000;
  const pool = ips(n);
  const clock = new StillClock();
  let store = new DeviceStore({ clock, maxDevices: n });
  const build = (): void => {
    store = new DeviceStore({ clock, maxDevices: n });
    clock.t = 1_700_000_000_000;
    for (let i = 0; i < stale; i++) store.markSeen(pool[i]!);
    clock.t += 3_600_000;
    for (let i = stale; i < n; i++) store.markSeen(pool[i]!);
    clock.t += 60_000;
  };
  await measure(
    'prune',
    n,
    () => {
      if (store.prune(1_800_000).length !== stale) throw new Error('prune removed the wrong number');
    },
    { beforeEach: build, batch: 1, iterations: 30 },
  );
}

async function snapshot(): Promise<void> {
  const n = 100_000;
  gc();
  const dir = mkdtempSync(join(tmpdir(), 'netscan-bench-state-'));
  try {
    const stateFile = join(dir, 'state.json');
    const clock = new StillClock();
    // Longest stretch of our own synchronous work between two writes (serialising one chunk),
    // which, unlike the event-loop delay, excludes GC and the OS descheduling us on a busy host.
    let lastDoneNs = 0n;
    let maxSliceNs = 0n;
    const slices: number[] = [];
    const timedFs: StateFs = {
      ...nodeStateFs,
      async openForWrite(p) {
        const fh = await nodeStateFs.openForWrite(p);
        lastDoneNs = process.hrtime.bigint();
        return {
          ...fh,
          async write(text) {
            const t = process.hrtime.bigint();
            if (t - lastDoneNs > maxSliceNs) maxSliceNs = t - lastDoneNs;
            slices.push(Number(t - lastDoneNs) / 1e6);
            await fh.write(text);
            lastDoneNs = process.hrtime.bigint();
          },
        };
      },
    };
    const store = new DeviceStore({ clock, maxDevices: n, stateFile, fs: timedFs });
    const info = (i: number): SnmpInfo => ({
      sysName: `sw-${i}`,
      sysDescr: 'Cisco IOS Software, C2960 Software (C2960-LANBASEK9-M), Version 15.0(2)SE11, RELEASE SOFTWARE (fc3)',
      sysObjectId: '1.3.6.1.4.1.9.1.1208',
      sysLocation: 'building 2, rack 14',
      sysContact: 'noc',
      sysUptimeS: 1_234_567,
      credentialId: 'v2c#0',
    });
    for (let i = 0; i < n; i++) {
      const ip = ipOf(i);
      store.markSeen(ip);
      if (i % 2 === 0) store.recordSnmpSuccess(ip, info(i));
      if (i % 10 === 0) store.recordPingFailure(ip, 1, 300_000);
    }
    const runs: Array<{ ms: number; stallMs: number; bytes: number }> = [];
    for (let r = 0; r < 5; r++) {
      gc();
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const t0 = process.hrtime.bigint();
      await store.snapshot();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      h.disable();
      runs.push({ ms, stallMs: h.max / 1e6, bytes: store.persistenceStats().lastBytes });
    }
    runs.sort((a, b) => a.ms - b.ms);
    const med = runs[Math.floor(runs.length / 2)]!;
    const maxStall = Math.max(...runs.map((x) => x.stallMs));
    emit({
      suite: 'state',
      case: 'snapshot',
      n,
      ns_per_op: round((med.ms * 1e6) / n),
      ops_per_sec: Math.round(n / (med.ms / 1000)),
      total_ms: round(med.ms),
      max_stall_ms: round(maxStall),
      max_slice_ms: round(Number(maxSliceNs) / 1e6),
      p99_slice_ms: Math.round(pct(slices, 0.99) * 100) / 100,
      p50_slice_ms: Math.round(pct(slices, 0.5) * 100) / 100,
      bytes: med.bytes,
      runs: runs.length,
    });

    const restores: number[] = [];
    let restoreStall = 0;
    for (let r = 0; r < 3; r++) {
      gc();
      const h = monitorEventLoopDelay({ resolution: 1 });
      h.enable();
      const t0 = process.hrtime.bigint();
      const fresh = new DeviceStore({ clock, maxDevices: n, stateFile, snapshotIntervalMs: 0, pruneIntervalMs: 0 });
      await fresh.start();
      restores.push(Number(process.hrtime.bigint() - t0) / 1e6);
      h.disable();
      restoreStall = Math.max(restoreStall, h.max / 1e6);
      if (fresh.size !== n) throw new Error(`restored ${fresh.size} devices`);
    }
    restores.sort((a, b) => a - b);
    const rms = restores[1]!;
    emit({
      suite: 'state',
      case: 'restore',
      n,
      ns_per_op: round((rms * 1e6) / n),
      ops_per_sec: Math.round(n / (rms / 1000)),
      total_ms: round(rms),
      max_stall_ms: round(restoreStall),
      runs: restores.length,
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const suites: Array<[string, () => Promise<void>]> = [
  ['add_with_eviction', addWithEviction],
  ['update_last_seen', updateLastSeen],
  ['suspended_count', suspendedCount],
  ['prune', prune],
  ['snapshot', snapshot],
];
if (only !== undefined) {
  const suite = suites.find(([name]) => name === only);
  if (suite === undefined) throw new Error(`unknown suite ${only}; one of ${suites.map(([n]) => n).join(', ')}`);
  await suite[1]();
} else {
  // Each suite in its own process: the 1M-device heaps of one suite would otherwise still be
  // swept and collected (on GC threads, which --cpu counts) while the next one is measured.
  if (!json)
    console.error(
      `state bench (node ${process.version}, ${timeMs} ms per case, ${cpu ? 'CPU' : 'wall'} time; --json for machine output)`,
    );
  const self = fileURLToPath(import.meta.url);
  for (const [name] of suites) {
    const child = spawnSync(
      process.execPath,
      ['--expose-gc', self, '--only', name, '--json', '--time', String(timeMs), ...(cpu ? ['--cpu'] : [])],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        encoding: 'utf8',
        maxBuffer: 1 << 24,
      },
    );
    if (child.status !== 0) throw new Error(`suite ${name} failed with status ${child.status}`);
    for (const line of child.stdout.split('\n')) if (line.startsWith('{')) emit(JSON.parse(line) as Row);
  }
}

if (!json && only === undefined) {
  const get = (c: string, n: number, k: 'ns_per_op' | 'ns_per_op_p50' = 'ns_per_op'): number | undefined => {
    const v = rows.find((r) => r.case === c && r.n === n)?.[k];
    return typeof v === 'number' ? v : undefined;
  };
  const verdict = (ok: boolean): string => (ok ? 'ok' : 'MISSED');
  const a20k = get('add_with_eviction', 20_000);
  if (a20k !== undefined)
    console.error(
      `  target add_with_eviction(20k) <= 1000 ns: ${a20k} ns mean, ${get('add_with_eviction', 20_000, 'ns_per_op_p50')} ns p50 -> ${verdict(a20k <= 1000)}`,
    );
  for (const k of ['ns_per_op', 'ns_per_op_p50'] as const) {
    const a1k = get('add_with_eviction', 1_000, k);
    const a1m = get('add_with_eviction', 1_000_000, k);
    const m1k = get('baseline_map_set_delete', 1_000, k);
    const m1m = get('baseline_map_set_delete', 1_000_000, k);
    if (a1k !== undefined && a1m !== undefined) {
      const floor = m1k !== undefined && m1m !== undefined ? ` (bare Map: ${(m1m / m1k).toFixed(2)})` : '';
      console.error(
        `  target add_with_eviction ${k} 1M/1k <= 3: ${(a1m / a1k).toFixed(2)}${floor} -> ${verdict(a1m / a1k <= 3)}`,
      );
    }
  }
  const a1k = get('add_with_eviction', 1_000);
  const a1m = get('add_with_eviction', 1_000_000);
  const f1m = get('floor_dependent_load', 1_000_000);
  if (a1k !== undefined && a1m !== undefined && f1m !== undefined) {
    console.error(
      `  add_with_eviction(1M) - add_with_eviction(1k) = ${(a1m - a1k).toFixed(0)} ns = ${((a1m - a1k) / f1m).toFixed(2)} dependent loads in a ${indexBytesFor(1_000_000) / 1048576} MiB table (${f1m} ns each)`,
    );
  }
  for (const n of [1_000, 10_000, 20_000]) {
    const c = get('suspended_count', n);
    if (c !== undefined)
      console.error(
        `  target suspended_count(${n}) <= 100 ns: ${c} ns mean, ${get('suspended_count', n, 'ns_per_op_p50')} ns p50 -> ${verdict(c <= 100)}`,
      );
  }
  for (const n of [100, 1_000, 10_000, 20_000]) {
    const ours = get('add_with_eviction', n);
    const scan = get('baseline_scan_eviction', n);
    if (ours !== undefined && scan !== undefined)
      console.error(`  add_with_eviction vs Go-era O(n) scan at n=${n}: ${(scan / ours).toFixed(0)}x faster`);
  }
}
