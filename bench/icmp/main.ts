// ICMP engine and sweep benchmarks: `npm run bench -- icmp [--json] [--rounds N] [--skip-12] [--only startup|24|16|v6|12|engine|monitor|rtt|hot]`.
// Re-executes itself inside a private network namespace (only loopback; 256 addresses of the /16
// dropped by nft on the INPUT hook; fd00:1::/64 local on lo) and measures, in one run:
//   - one-shot start-up: `netscan sweep 127.0.0.1` (bin/netscan.js) against `node -e 0`;
//   - a /24 and a /16 sweep with netscan (`netscan sweep`, a child process, raw and datagram
//     sockets) and with Debian's `fping -g CIDR -a -q -r 0 -t 500 -i 0`, interleaved, median of
//     --rounds (5); all must report exactly the live addresses;
//   - a /112 of the ULA test bed (65,536 addresses, all live) with netscan and `fping -6 -f LIST`;
//   - a /12 sweep (1,048,574 addresses) with the sweeping process's peak RSS;
//   - raw engine pings/s and RTT resolution, against net-ping on the same workload;
//   - CPU per ping of the engine alone at a steady 20,000 pings/s (monitoring load), per socket mode
//     and family, against the pacing loop alone, with the RTT percentiles seen under that load, and
//     once more with kernel TX stamps off (what they cost); beside the C floor at the same rate
//     (bench/icmp/floor.c, gcc -O2 at bench time: the kernel's own cost), each engine row with its ratio;
//   - loopback RTT p50/p99/max from kernel stamps, one ping at a time, per mode and family;
//   - the per-packet hot path (encode + checksum, parse + tag) with tinybench.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Bench } from 'tinybench';
import { IcmpEngine, type ProbeSink, type ProbeTarget } from '../../internal/icmp/engine.js';
import { openNativeIcmpSocketWith } from '../../internal/icmp/native-socket.js';
import type { IcmpFamily, IcmpSocketMode } from '../../internal/icmp/icmp-socket.js';
import { formatIpv4, parseIpv4 } from '../../internal/icmp/ipv4.js';
import { newEchoView, parseIcmpV4, probeTag, writeEchoRequest, writePadding } from '../../internal/icmp/packet.js';
import type { PingOutcome } from '../../internal/model/ping.js';
import { FakeIcmpSocket } from '../../internal/testkit/fake-icmp.js';
import { buildFloor, runFloor } from './floor.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const rounds = Number(argValue('--rounds') ?? 5);
const skip12 = args.includes('--skip-12');
const only = argValue('--only'); // startup | 24 | 16 | v6 | 12 | engine | monitor | rtt | hot
const want = (part: string): boolean => only === undefined || only === part;

const NET24 = '127.1.0.0/24';
const NET16 = '127.2.0.0/16';
const NET12 = '127.16.0.0/12';
const NET6 = 'fd00:1::/112';
const DROPPED16 = Array.from({ length: 256 }, (_, k) => `127.2.${k}.${((k * 37 + 11) % 254) + 1}`);

// ---------------------------------------------------------------------------------------------
// Outside the namespace: create it and run this file again inside.
if (process.env.NETSCAN_BENCH_NETNS !== '1') {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-bench-icmp-'));
  const rules = join(dir, 'rules.nft');
  writeFileSync(
    rules,
    [
      'table inet netscan_bench {',
      '  chain input {',
      '    type filter hook input priority 0; policy accept;',
      `    ip daddr { ${DROPPED16.join(', ')} } icmp type echo-request drop`,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  const script = [
    'set -e',
    'ip link set lo up',
    `nft -f '${rules}'`,
    // Datagram sockets for root (gid 0) and a ULA prefix answering on loopback, in this namespace only.
    'echo "0 0" > /proc/sys/net/ipv4/ping_group_range',
    'ip -6 route add local fd00:1::/64 dev lo',
    'exec "$0" "$@"',
  ].join('\n');
  const res = spawnSync(
    'unshare',
    ['-n', '--', 'sh', '-c', script, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...args],
    {
      stdio: 'inherit',
      env: { ...process.env, NETSCAN_BENCH_NETNS: '1' },
    },
  );
  rmSync(dir, { recursive: true, force: true });
  if (res.error || res.status === null)
    console.error(
      `bench icmp: cannot run inside a private namespace (needs root and unshare -n): ${res.error?.message ?? res.signal}`,
    );
  process.exit(res.status ?? 1);
}

// ---------------------------------------------------------------------------------------------
// Inside the namespace.
interface Row {
  suite: 'icmp';
  case: string;
  [k: string]: number | string | boolean;
}
const rows: Row[] = [];
function emit(row: Row): void {
  rows.push(row);
  if (json) {
    console.log(JSON.stringify(row));
  } else {
    const { suite: _s, case: name, ...rest } = row;
    const fields = Object.entries(rest).map(
      ([k, v]) => `${k}=${typeof v === 'number' ? (Number.isInteger(v) ? v : v.toFixed(3)) : v}`,
    );
    console.error(`  ${name.padEnd(30)} ${fields.join('  ')}`);
  }
}

interface RunResult {
  wallMs: number;
  alive: number;
  bad: number;
  duplicates: number;
  /** Sweep time reported by the process itself (netscan only), without process start-up. */
  sweepMs?: number;
  maxRssMb?: number;
}

/** Offset of a printed address in the swept range, or -1 when it is outside (or not an address). */
type OffsetOf = (line: string) => number;

/** An IPv4 CIDR's offsets: network and broadcast addresses and `dropped` ones count as outside. */
function ipv4Offsets(cidr: string, dropped: ReadonlySet<number>): { size: number; offsetOf: OffsetOf } {
  const [base, prefix] = cidr.split('/') as [string, string];
  const first = parseIpv4(base)!;
  const size = 2 ** (32 - Number(prefix));
  return {
    size,
    offsetOf: (line) => {
      const ip = parseIpv4(line);
      const off = ip === undefined ? -1 : ip - first;
      return ip === undefined || off <= 0 || off >= size - 1 || dropped.has(ip) ? -1 : off;
    },
  };
}

/** fd00:1::/112 (every address answers): the last 16 bits, from canonical text. */
const V6_BASE = 'fd00:1::';
const ipv6Offsets: { size: number; offsetOf: OffsetOf } = {
  size: 65536,
  offsetOf: (line) => {
    if (!line.startsWith(V6_BASE)) return -1;
    const rest = line.slice(V6_BASE.length);
    if (rest === '') return 0;
    return /^[0-9a-f]{1,4}$/.test(rest) ? parseInt(rest, 16) : -1;
  },
};

/** Runs a sweeping process, counting (and checking) the addresses it prints. */
function runSweeper(cmd: string, argv: string[], range: { size: number; offsetOf: OffsetOf }): Promise<RunResult> {
  const { size, offsetOf } = range;
  const seen = new Uint8Array(size);
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let alive = 0;
    let bad = 0;
    let duplicates = 0;
    let rest = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n');
      rest = lines.pop()!;
      for (const line of lines) {
        const off = offsetOf(line.trim());
        if (off < 0) bad++;
        else if (seen[off]) duplicates++;
        else {
          seen[off] = 1;
          alive++;
        }
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', () => {
      const wallMs = Number(process.hrtime.bigint() - started) / 1e6;
      const benchLine = stderr
        .trim()
        .split('\n')
        .reverse()
        .find((l) => l.startsWith('{"bench"'));
      const result: RunResult = { wallMs, alive, bad, duplicates };
      if (benchLine) result.maxRssMb = (JSON.parse(benchLine) as { bench: { maxRssMb: number } }).bench.maxRssMb;
      const elapsed = /elapsed ([0-9.]+) s/.exec(stderr);
      if (elapsed) result.sweepMs = Number(elapsed[1]) * 1000;
      resolve(result);
    });
  });
}

const here = fileURLToPath(import.meta.url);
const childScript = here.replace(/main\.(ts|js)$/, 'sweep-child.$1');
const netscanArgv = (cidr: string, mode = 'auto'): string[] => [
  ...process.execArgv.filter((a) => a !== '--expose-gc'),
  childScript,
  cidr,
  '10000000',
  '500',
  '0',
  '4096',
  mode,
];
const fpingArgv = (cidr: string): string[] => ['-g', cidr, '-a', '-q', '-r', '0', '-t', '500', '-i', '0'];
const fpingFileArgv = (file: string): string[] => ['-6', '-f', file, '-a', '-q', '-r', '0', '-t', '500', '-i', '0'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Sweeps one range with fping and with netscan in raw and datagram mode, interleaved, median of `rounds`. */
async function compareSweep(
  label: string,
  range: { size: number; offsetOf: OffsetOf },
  expected: number,
  fping: string[],
  target: string,
  ratioTarget: number,
): Promise<void> {
  const modes = ['raw', 'dgram'] as const;
  const theirs: RunResult[] = [];
  const ours: Record<(typeof modes)[number], RunResult[]> = { raw: [], dgram: [] };
  const load0 = loadavg()[0]!;
  for (let r = 0; r < rounds; r++) {
    theirs.push(await runSweeper('fping', fping, range));
    for (const mode of modes) ours[mode].push(await runSweeper(process.execPath, netscanArgv(target, mode), range));
  }
  const exact = (xs: RunResult[]): boolean =>
    xs.every((x) => x.alive === expected && x.bad === 0 && x.duplicates === 0);
  const theirsMs = median(theirs.map((x) => x.wallMs));
  const load = (load0 + loadavg()[0]!) / 2;
  emit({
    suite: 'icmp',
    case: `${label} fping`,
    target,
    command: `fping ${fping.join(' ')}`,
    expected_alive: expected,
    alive: theirs[0]!.alive,
    exact: exact(theirs),
    wall_ms: theirsMs,
    wall_ms_all: theirs.map((x) => Math.round(x.wallMs)).join('/'),
    pps: (range.size * 1000) / theirsMs,
  });
  for (const mode of modes) {
    const xs = ours[mode];
    const oursMs = median(xs.map((x) => x.wallMs));
    emit({
      suite: 'icmp',
      case: `${label} netscan ${mode}`,
      target,
      expected_alive: expected,
      alive: xs[0]!.alive,
      exact: exact(xs),
      wall_ms: oursMs,
      wall_ms_all: xs.map((x) => Math.round(x.wallMs)).join('/'),
      pps: (range.size * 1000) / oursMs,
      sweep_ms: median(xs.map((x) => x.sweepMs ?? NaN)),
      max_rss_mb: Math.max(...xs.map((x) => x.maxRssMb ?? 0)),
    });
    // Per round: each netscan run against the fping run just before it.
    const perRound = xs.map((x, i) => x.wallMs / theirs[i]!.wallMs);
    emit({
      suite: 'icmp',
      case: `${label} ratio ${mode}/fping`,
      ratio: oursMs / theirsMs,
      ratio_median_per_round: median(perRound),
      target: ratioTarget,
      met: oursMs / theirsMs <= ratioTarget,
      rounds,
      load_avg_1m: load,
    });
  }
}

/**
 * The one-shot CLI's start-up: `netscan sweep 127.0.0.1` (one address) against `node -e 0`,
 * interleaved; wall time and the child's CPU (user + system, from GNU time(1): on a busy machine
 * the wall time is mostly waiting for a CPU).
 */
function startUp(): void {
  const bin = fileURLToPath(new URL('../../../bin/netscan.js', import.meta.url));
  const run = (argv: string[]): { wallMs: number; cpuMs: number } => {
    const t = process.hrtime.bigint();
    const r = spawnSync('/usr/bin/time', ['-f', 'cpu %U %S', process.execPath, ...argv], { encoding: 'utf8' });
    const wallMs = Number(process.hrtime.bigint() - t) / 1e6;
    if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
    const m = /cpu ([0-9.]+) ([0-9.]+)\s*$/.exec(r.stderr);
    return { wallMs, cpuMs: m ? (Number(m[1]) + Number(m[2])) * 1000 : NaN };
  };
  const node: Array<{ wallMs: number; cpuMs: number }> = [];
  const sweep: Array<{ wallMs: number; cpuMs: number }> = [];
  const load0 = loadavg()[0]!;
  for (let r = 0; r < rounds; r++) {
    node.push(run(['-e', '0']));
    sweep.push(run([bin, 'sweep', '127.0.0.1']));
  }
  const w = (xs: typeof node): number => median(xs.map((x) => x.wallMs));
  const c = (xs: typeof node): number => median(xs.map((x) => x.cpuMs));
  emit({
    suite: 'icmp',
    case: 'start-up node -e 0',
    wall_ms: w(node),
    cpu_ms: c(node),
    wall_ms_all: node.map((x) => Math.round(x.wallMs)).join('/'),
  });
  emit({
    suite: 'icmp',
    case: 'start-up netscan sweep 127.0.0.1',
    wall_ms: w(sweep),
    cpu_ms: c(sweep),
    wall_ms_all: sweep.map((x) => Math.round(x.wallMs)).join('/'),
    above_node_wall_ms: w(sweep) - w(node),
    above_node_cpu_ms: c(sweep) - c(node),
    rounds,
    load_avg_1m: (load0 + loadavg()[0]!) / 2,
  });
}

async function sweep12(): Promise<void> {
  const r = await runSweeper(process.execPath, netscanArgv(NET12), ipv4Offsets(NET12, new Set()));
  emit({
    suite: 'icmp',
    case: '/12 netscan',
    cidr: NET12,
    expected_alive: 2 ** 20 - 2,
    alive: r.alive,
    exact: r.alive === 2 ** 20 - 2 && r.bad === 0,
    wall_ms: r.wallMs,
    pps: ((2 ** 20 - 2) * 1000) / r.wallMs,
    sweep_ms: r.sweepMs ?? NaN,
    max_rss_mb: r.maxRssMb ?? -1,
    rss_target_mb: 250,
  });
}

// --- raw engine throughput and RTT: own engine vs net-ping, same workload ---------------------
interface Windowed {
  pingsPerSec: number;
  ok: number;
}

/** Sends `total` pings to distinct addresses of 127.3/16, `window` outstanding at a time. */
async function windowed(total: number, window: number, ping: (ip: string) => Promise<boolean>): Promise<Windowed> {
  let next = 0;
  let ok = 0;
  const started = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    while (next < total) {
      const n = next++;
      if (await ping(formatIpv4(0x7f030000 + ((n % 65534) + 1)))) ok++;
    }
  };
  await Promise.all(Array.from({ length: window }, worker));
  const s = Number(process.hrtime.bigint() - started) / 1e9;
  return { pingsPerSec: total / s, ok };
}

async function sequentialRtts(n: number, ping: () => Promise<number>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(await ping());
  return out;
}

interface NetPingSession {
  pingHost(target: string, cb: (err: Error | null, target: string, sent?: Date, rcvd?: Date) => void): void;
  close(): void;
}

async function engineVsNetPing(): Promise<void> {
  const total = 200_000;
  const window = 1024;
  const engine = new IcmpEngine({ maxInFlight: 8192 });
  await engine.start();
  const own = await windowed(total, window, async (ip) => (await engine.ping(ip, { timeoutMs: 2000 })).ok);
  const ownRtts = await sequentialRtts(200, async () => {
    const o = await engine.ping('127.0.0.1', { timeoutMs: 1000 });
    return o.ok ? o.rttMs : NaN;
  });
  await engine.stop();

  const netPing = createRequire(import.meta.url)('net-ping') as { createSession(o: object): NetPingSession };
  const session = netPing.createSession({ retries: 0, timeout: 2000, packetSize: 56 });
  const np = await windowed(
    total,
    window,
    (ip) => new Promise((resolve) => session.pingHost(ip, (err) => resolve(!err))),
  );
  const npRtts = await sequentialRtts(
    200,
    () =>
      new Promise((resolve) =>
        session.pingHost('127.0.0.1', (err, _t, sent, rcvd) =>
          resolve(err || !sent || !rcvd ? NaN : rcvd.getTime() - sent.getTime()),
        ),
      ),
  );
  session.close();

  const describe = (xs: number[]): { median: number; distinct: number; whole_ms: number } => ({
    median: median(xs),
    distinct: new Set(xs.map((x) => x.toFixed(6))).size,
    whole_ms: xs.filter((x) => Number.isInteger(x)).length,
  });
  const o = describe(ownRtts);
  const n = describe(npRtts);
  emit({
    suite: 'icmp',
    case: 'engine pings/s (own)',
    pings: total,
    window,
    ok: own.ok,
    pings_per_sec: own.pingsPerSec,
  });
  emit({
    suite: 'icmp',
    case: 'engine pings/s (net-ping)',
    pings: total,
    window,
    ok: np.ok,
    pings_per_sec: np.pingsPerSec,
  });
  emit({ suite: 'icmp', case: 'ratio own/net-ping pings/s', ratio: own.pingsPerSec / np.pingsPerSec });
  emit({
    suite: 'icmp',
    case: 'loopback RTT (own)',
    samples: ownRtts.length,
    median_ms: o.median,
    distinct_values: o.distinct,
    whole_ms_values: o.whole_ms,
  });
  emit({
    suite: 'icmp',
    case: 'loopback RTT (net-ping)',
    samples: npRtts.length,
    median_ms: n.median,
    distinct_values: n.distinct,
    whole_ms_values: n.whole_ms,
  });
}

// --- monitoring load and kernel-stamped RTT -----------------------------------------------------
const MODES: Array<[IcmpFamily, IcmpSocketMode]> = [
  ['ipv4', 'raw'],
  ['ipv4', 'dgram'],
  ['ipv6', 'raw'],
  ['ipv6', 'dgram'],
];

function monitorTarget(family: IcmpFamily, n: number): string {
  return family === 'ipv4' ? formatIpv4(0x7f0b0000 + (n % 5000) + 1) : `fd00:1::${((n % 5000) + 1).toString(16)}`;
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

/**
 * Paces `pps` pings per second for `seconds` (a tick every 5 ms) through `ping`, and returns the
 * process CPU (user + system) spent per ping. 5,000 distinct targets, like a monitoring fleet.
 */
async function paced(
  pps: number,
  seconds: number,
  ping: (n: number) => Promise<unknown> | undefined,
  settled: () => Promise<void> = () => Promise.resolve(),
): Promise<{ cpuUsPerPing: number; userUsPerPing: number; sysUsPerPing: number; pings: number; lagMs: number }> {
  const tickMs = 5;
  const perTick = (pps * tickMs) / 1000;
  const ticks = (seconds * 1000) / tickMs;
  const pending: Array<Promise<unknown>> = [];
  let n = 0;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let t = 0; t < ticks; t++) {
    for (let i = 0; i < perTick; i++) {
      const p = ping(n++);
      if (p !== undefined) pending.push(p);
    }
    // The next tick is due from the schedule, not from when this one ran.
    const dueNs = t0 + BigInt(Math.round((t + 1) * tickMs * 1e6));
    const waitMs = Number(dueNs - process.hrtime.bigint()) / 1e6;
    if (waitMs > 0) await new Promise((r) => setTimeout(r, waitMs));
    if (pending.length > 50_000) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
  await settled();
  const lagMs = Number(process.hrtime.bigint() - t0) / 1e6 - seconds * 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    cpuUsPerPing: (cpu.user + cpu.system) / n,
    userUsPerPing: cpu.user / n,
    sysUsPerPing: cpu.system / n,
    pings: n,
    lagMs,
  };
}

/** The engine's JavaScript alone: a fake socket answers every request at once, no syscall, no kernel work. */
async function engineJsOnly(): Promise<void> {
  const socket = new FakeIcmpSocket({ family: 'ipv4' });
  const engine = new IcmpEngine({ openSocket: socket.factory(), maxInFlight: 8192 });
  await engine.start();
  const rounds = 100;
  const perRound = 1000;
  let cpu0 = process.cpuUsage();
  // The first 100 rounds warm the JIT up and are not counted.
  for (let r = -100; r < rounds; r++) {
    if (r === 0) cpu0 = process.cpuUsage();
    const pending = Array.from({ length: perRound }, (_, i) =>
      engine.ping(monitorTarget('ipv4', (r + 100) * perRound + i), { timeoutMs: 1000 }),
    );
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = socket.sent.length - perRound; i < socket.sent.length; i++) socket.reply(i);
    socket.deliver();
    await Promise.all(pending);
    socket.sent.length = 0;
  }
  const cpu = process.cpuUsage(cpu0);
  await engine.stop();
  emit({
    suite: 'icmp',
    case: 'engine JS alone (fake socket)',
    pings: rounds * perRound,
    cpu_us_per_ping: (cpu.user + cpu.system) / (rounds * perRound),
  });
}

async function monitorLoad(): Promise<void> {
  const pps = 20_000;
  const seconds = 5;
  await engineJsOnly();
  const base = await paced(pps, seconds, () => Promise.resolve());
  emit({
    suite: 'icmp',
    case: 'monitor 20k/s pacing loop alone',
    pps,
    pings: base.pings,
    cpu_us_per_ping: base.cpuUsPerPing,
    user_us: base.userUsPerPing,
    sys_us: base.sysUsPerPing,
  });
  // The kernel floor at the same rate (bench/icmp/floor.c: one raw socket, sendmmsg every 5 ms,
  // recvmmsg), with and without TX stamps: each engine row prints its ratio to the matching one.
  const floorUs = new Map<boolean, number>();
  const floorBin = buildFloor();
  if ('path' in floorBin) {
    try {
      for (const stamps of [true, false]) {
        const f = await runFloor(floorBin, { pps, seconds, txStamps: stamps });
        floorUs.set(stamps, f.cpuUsPerPing);
        emit({
          suite: 'icmp',
          case: `monitor 20k/s C floor (kernel)${stamps ? '' : ' no TX stamps'}`,
          pps,
          pings: f.sent,
          failed: f.sent - f.received,
          cpu_us_per_ping: f.cpuUsPerPing,
          behind_ms: Math.max(0, f.sendSpanS - f.seconds) * 1000,
          tx_stamps_read: f.txStampsRead,
          rtt_avg_us: f.rttAvgUs,
        });
      }
    } finally {
      floorBin.dispose();
    }
  } else emit({ suite: 'icmp', case: 'monitor 20k/s C floor (kernel)', skipped: floorBin.skipped });
  // Kernel TX stamps cost a clone of every request on the socket's error queue and a read of it:
  // the IPv4 cases run again without them (RTT then timed in user space).
  // The IPv4 cases run again through probe() and a sink (what the scheduler uses: no promise per ping).
  const cases: Array<[IcmpFamily, IcmpSocketMode, boolean, boolean]> = [
    ...MODES.map(([f, m]): [IcmpFamily, IcmpSocketMode, boolean, boolean] => [f, m, true, false]),
    ['ipv4', 'raw', false, false],
    ['ipv4', 'dgram', false, false],
    ['ipv4', 'raw', true, true],
    ['ipv4', 'dgram', true, true],
  ];
  for (const [family, mode, stamps, useSink] of cases) {
    const engine = new IcmpEngine({
      family,
      mode,
      maxInFlight: 8192,
      ...(stamps ? {} : { openSocket: (o) => openNativeIcmpSocketWith(o, { noStamps: true }) }),
    });
    await engine.start();
    const rtts: number[] = [];
    let failed = 0;
    const record = (o: PingOutcome): void => {
      if (o.ok) rtts.push(o.rttMs);
      else failed++;
    };
    const r = useSink
      ? await pacedSink(engine, family, record)
      : await paced(pps, seconds, async (n) =>
          record(await engine.ping(monitorTarget(family, n), { timeoutMs: 1000 })),
        );
    const st = engine.stats();
    await engine.stop();
    rtts.sort((a, b) => a - b);
    emit({
      suite: 'icmp',
      case: `monitor 20k/s ${family} ${mode}${stamps ? '' : ' no TX stamps'}${useSink ? ' sink' : ''}`,
      pps,
      pings: r.pings,
      failed,
      cpu_us_per_ping: r.cpuUsPerPing,
      engine_us_per_ping: r.cpuUsPerPing - base.cpuUsPerPing,
      floor_us_per_ping: floorUs.get(stamps) ?? NaN,
      x_floor: r.cpuUsPerPing / (floorUs.get(stamps) ?? NaN),
      user_us: r.userUsPerPing,
      sys_us: r.sysUsPerPing,
      engine_user_us: r.userUsPerPing - base.userUsPerPing,
      target_us: 8,
      behind_ms: r.lagMs,
      load_avg_1m: loadavg()[0]!,
      rtt_p50_ms: percentile(rtts, 0.5),
      rtt_p99_ms: percentile(rtts, 0.99),
      rtt_max_ms: rtts[rtts.length - 1] ?? NaN,
      rtt_kernel: st.rttKernel,
      rtt_userspace: st.rttUserspace,
      tx_unpaired: st.txStampsUnpaired,
    });
  }
}

/** {@link paced} through probe() and one sink, to 5,000 target objects made once (as the scheduler's entries). */
async function pacedSink(
  engine: IcmpEngine,
  family: IcmpFamily,
  record: (o: PingOutcome) => void,
): ReturnType<typeof paced> {
  const targets = Array.from({ length: 5000 }, (_, k) => ({ ip: monitorTarget(family, k) }));
  let sent = 0;
  let done = 0;
  let allDone: (() => void) | undefined;
  const count = (): void => {
    if (++done === sent) allDone?.();
  };
  const sink: ProbeSink<ProbeTarget> = {
    timeoutMs: 1000,
    signal: undefined,
    settled: (_t, _tag, o) => {
      record(o);
      count();
    },
    rejected: () => {
      record({ ok: false, ip: '', reason: 'agent_error', sentAtMs: NaN });
      count();
    },
  };
  const settled = (): Promise<void> =>
    done === sent ? Promise.resolve() : new Promise<void>((resolve) => (allDone = resolve));
  return paced(
    20_000,
    5,
    (n) => {
      sent++;
      engine.probe(targets[n % 5000]!, n, sink);
      return undefined;
    },
    settled,
  );
}

async function loopbackRtt(): Promise<void> {
  const samples = 2000;
  for (const [family, mode] of MODES) {
    const engine = new IcmpEngine({ family, mode });
    await engine.start();
    const target = family === 'ipv4' ? '127.0.0.1' : '::1';
    const rtts = (
      await sequentialRtts(samples, async () => {
        const o = await engine.ping(target, { timeoutMs: 1000 });
        return o.ok ? o.rttMs : NaN;
      })
    ).sort((a, b) => a - b);
    const st = engine.stats();
    await engine.stop();
    emit({
      suite: 'icmp',
      case: `loopback RTT ${family} ${mode}`,
      samples,
      p50_us: percentile(rtts, 0.5) * 1000,
      p99_us: percentile(rtts, 0.99) * 1000,
      max_us: rtts[rtts.length - 1]! * 1000,
      rtt_kernel: st.rttKernel,
      rtt_userspace: st.rttUserspace,
    });
  }
}

// --- per-packet hot path ------------------------------------------------------------------------
async function hotPath(): Promise<void> {
  const buf = Buffer.alloc(64);
  const view = newEchoView();
  const reply = Buffer.alloc(64);
  writePadding(buf, 56);
  writePadding(reply, 56);
  writeEchoRequest(reply, { id: 1, seq: 2, nonceHi: 3, nonceLo: 4, serial: 5, tag: 6 }, 56);
  reply[0] = 0;
  const bench = new Bench({ time: 300 });
  let serial = 0;
  bench.add('encode echo request (1000x)', () => {
    for (let i = 0; i < 1000; i++) {
      serial = (serial + 1) >>> 0;
      writeEchoRequest(
        buf,
        { id: 7, seq: serial & 0xffff, nonceHi: 1, nonceLo: 2, serial, tag: probeTag(9, serial, 0x7f000001, serial) },
        56,
      );
    }
  });
  bench.add('parse + verify reply (1000x)', () => {
    for (let i = 0; i < 1000; i++) parseIcmpV4(reply, 0, 64, view, true);
  });
  await bench.run();
  for (const t of bench.tasks) {
    const r = t.result as { latency?: { mean: number }; mean?: number } | undefined;
    const meanMs = r?.latency?.mean ?? r?.mean ?? NaN;
    emit({
      suite: 'icmp',
      case: t.name,
      ns_per_packet: (meanMs * 1e6) / 1000,
      packets_per_sec: 1000 / (meanMs / 1000),
    });
  }
}

const fping = spawnSync('fping', ['-v'], { encoding: 'utf8' });
if (!json)
  console.error(
    `bench icmp: inside a private namespace; ${fping.stdout.trim() || 'fping not found'}; node ${process.version}; rounds=${rounds}`,
  );
if (want('startup')) startUp();
if (want('24')) await compareSweep('/24', ipv4Offsets(NET24, new Set()), 254, fpingArgv(NET24), NET24, 2.0);
if (want('16')) {
  const dropped = new Set(DROPPED16.map((d) => parseIpv4(d)!));
  await compareSweep('/16', ipv4Offsets(NET16, dropped), 2 ** 16 - 2 - DROPPED16.length, fpingArgv(NET16), NET16, 1.0);
}
if (want('v6')) {
  // fping -6 takes no prefix (-g is IPv4 only): the same 65,536 addresses as a list.
  const dir = mkdtempSync(join(tmpdir(), 'netscan-bench-icmp6-'));
  const list = join(dir, 'targets');
  writeFileSync(
    list,
    Array.from({ length: 65536 }, (_, k) => (k === 0 ? V6_BASE : `${V6_BASE}${k.toString(16)}`)).join('\n') + '\n',
  );
  try {
    await compareSweep('/112 v6', ipv6Offsets, 65536, fpingFileArgv(list), NET6, 1.0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
if (want('12') && !skip12) await sweep12();
if (want('engine')) await engineVsNetPing();
if (want('monitor')) await monitorLoad();
if (want('rtt')) await loopbackRtt();
if (want('hot')) await hotPath();
