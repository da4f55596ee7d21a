// Whole-agent scale benchmark: `npm run bench -- agent [--json] [options]`.
//
// Re-executes itself inside a private network namespace (`unshare -n`, lo up: 127.0.0.0/8 answers
// everywhere, nothing leaves the machine), then for each case spawns the compiled agent
// (`node bin/netscan.js run -c FILE`) on a generated config whose networks yield exactly N loopback
// devices, waits until the sweep has found all of them and every one is monitored, and measures
// for --seconds:
//   - CPU (utime+stime deltas of /proc/<pid>/stat, as cores) and RSS (VmRSS sampled every 500 ms,
//     VmHWM), plus what the rest of the machine was doing (other engineers share its 2 cores);
//   - /health, /health/ready, /health/live and /metrics latency, each probed every 500 ms on a fresh
//     connection (issue 8: every answer within 50 ms);
//   - from the line-protocol output afterwards: every scheduled slot of every device in the window
//     checked against its `ping` point (see analyse.ts for the exact "within its slot" definition),
//     failures, RTT quantiles, points per device and send spacing; /health counters as a cross-check.
// Baseline in the same run (--baseline): Debian's fping in loop mode pinging the same devices at
// the same interval (`fping -l -p INTERVAL -i GAP -t TIMEOUT -Q 10 -g FIRST LAST`): the C peer
// doing only the pinging, no points; and/or the agent itself with ping_raw_points false.
//
// Options: --devices N --interval DUR (one custom case instead of the two defaults)
//          --seconds S (120)  --only floor|20k|100k|100k1s  --baseline fping|noraw|all|none (fping)
//          --baseline-seconds S (min(60, seconds))  --cpu-prof (profile the agent, print top functions)
//          --keep (keep the temp dir with config, log, output and profile)
//          --node-opt "FLAGS" (extra node flags for the agent, e.g. "--trace-gc"; its stdout goes to agent.log)
//          --batch-size N (influxdb.batch_size, via influxdb: {enabled: false, batch_size: N}; the file
//                          output uses min(N, 1000) since 5afe2fa, N itself before)
//          --summary-interval DUR (ping_summary period; 0 turns summaries off; default 60s)
//          --probe-ms N (endpoint probe period, default 500; 0 = no probes during the window, to see what
//                        2 Hz probing of /metrics costs the agent's RTT and CPU)
//          --fping-pps N (most pings/s per fping process, default 2500: at 5000 fping falls to ~83% of its schedule)
//          --nice N (scheduling priority of the agent and fping, e.g. -10 to shield them from a busy machine)
//          --pin-cpu N (taskset the agent, and fping, to CPU N)  --hog (with --pin-cpu: a busy-looping process
//                      pinned to the same CPU for the whole case: RTT under pressure, judged against p99 <= 0.02 ms
//                      and max <= 1 ms, the RTT coming from kernel stamps: /health icmp.rtt_kernel vs rtt_userspace)
//          --prom-scrape S (prometheus: {per_device: true}, and GET /metrics every S s from this process, inside
//                           the namespace, first at the window's start: each GET's wall time and size reported;
//                           /metrics leaves the 500 ms probe set)  --baseline noscrape (the same case, per_device
//                           on, never scraped: what the scrapes cost is the CPU difference)
//          --probe-thread-nice N (probe_thread_nice of the agent)
//          --probe-thread main|worker|both (probe_thread of the agent, default main; both: every case runs
//                          twice in the same run, main then worker, named ..._main and ..._worker)
//          --kernel-floor (after each case, the C floor bench/icmp/floor.c at the same pings/s for
//                          min(baseline-seconds, 30) s: the agent's µs per ping as a multiple of the kernel's)
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  createReadStream,
  existsSync,
  mkdtempSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { loadavg, setPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { formatIpv4 } from '../../internal/icmp/ipv4.js';
import { parseDuration } from '../../src/config/duration.js';
import { buildFloor } from '../icmp/floor.js';
import { PingLineAnalyser, quantileOf, type PingAnalysis } from './analyse.js';
import { summariseProfile, type CpuProfile } from './cpu-profile.js';
import { deviceNetworks } from './fleet.js';
import { kernelFloorRow } from './kernel-floor.js';
import { exited, PROBE_EVERY_MS, sampleUsage, stopChild } from './measure.js';
import { timedGet } from './proc.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const seconds = Number(argValue('--seconds') ?? 120);
const only = argValue('--only');
const baselineMode = argValue('--baseline') ?? 'fping';
const baselineSeconds = Number(argValue('--baseline-seconds') ?? Math.min(60, seconds));
const cpuProf = args.includes('--cpu-prof');
const keep = args.includes('--keep');
const nodeOpts = (argValue('--node-opt') ?? '').split(' ').filter((x) => x !== '');
const batchSize = argValue('--batch-size') === undefined ? undefined : Number(argValue('--batch-size'));
const niceness = Number(argValue('--nice') ?? 0);
const summaryInterval = argValue('--summary-interval') ?? '60s';
const probeMs = Number(argValue('--probe-ms') ?? 500);
const pinCpu = argValue('--pin-cpu');
const hog = args.includes('--hog');
const promScrapeS = argValue('--prom-scrape') === undefined ? undefined : Number(argValue('--prom-scrape'));
if (hog && pinCpu === undefined) {
  console.error('bench agent: --hog needs --pin-cpu N (the hog shares that CPU with the agent)');
  process.exit(2);
}
/** Prefixes a command with `taskset -c N` under --pin-cpu (taskset execs it: the pid stays the command's). */
const pinned = (cmd: string, argv: string[]): [string, string[]] =>
  pinCpu === undefined ? [cmd, argv] : ['taskset', ['-c', pinCpu, cmd, ...argv]];
/** Under --hog: RTT with a CPU hog on the agent's core, from kernel stamps. */
const HOG_TARGETS = { rttP99Ms: 0.02, rttMaxMs: 1 } as const;

// ---------------------------------------------------------------------------------------------
// Outside the namespace: create it and run this file again inside.
if (process.env.NETSCAN_BENCH_AGENT_NETNS !== '1') {
  const script = ['set -e', 'ip link set lo up', 'exec "$0" "$@"'].join('\n');
  const res = spawnSync(
    'unshare',
    ['-n', '--', 'sh', '-c', script, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...args],
    {
      stdio: 'inherit',
      env: { ...process.env, NETSCAN_BENCH_AGENT_NETNS: '1' },
    },
  );
  if (res.error || res.status === null)
    console.error(
      `bench agent: cannot run inside a private namespace (needs root and unshare -n): ${res.error?.message ?? res.signal}`,
    );
  process.exit(res.status ?? 1);
}

// ---------------------------------------------------------------------------------------------
// Inside the namespace.
const TARGETS = { onTimePct: 99.9, failures: 0, cpuCores: 0.6, rssMb: 200, rttP99Ms: 1, endpointMs: 50 } as const;
const HEALTH_PORT = 18_080;
const SLOT_TOLERANCE_MS = 50;
const ENDPOINTS = ['/health', '/health/ready', '/health/live', '/metrics'] as const;

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('bench agent: package.json not found above this script');
    dir = up;
  }
  return dir;
}
const ROOT = repoRoot();
const BIN = join(ROOT, 'bin', 'netscan.js');

type Row = { suite: 'agent'; case: string } & Record<string, unknown>;
const rows: Row[] = [];
function emit(row: Row, human: string[]): void {
  rows.push(row);
  if (json) console.log(JSON.stringify(row));
  else console.error([`\n${row.case}`, ...human.map((l) => `  ${l}`)].join('\n'));
}
const note = (msg: string): void => {
  if (!json) console.error(`bench agent: ${msg}`);
};
const r2 = (x: number, d = 2): number => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const mark = (ok: boolean): string => (ok ? 'PASS' : 'FAIL');

interface CaseSpec {
  name: string;
  devices: number;
  intervalMs: number;
  rawPoints: boolean;
  /** prometheus.per_device on, /metrics scraped every scrapeS s (0: never scraped). */
  prom?: { scrapeS: number };
  /** Measurement window, s. */
  seconds: number;
  /** A reference run (the idle floor): reported, not judged against the targets. */
  reference?: boolean;
  /** probe_thread of the agent (default main). */
  probeThread?: 'main' | 'worker';
}

const yamlList = (xs: string[]): string => (xs.length === 0 ? ' []' : `\n${xs.map((x) => `  - "${x}"`).join('\n')}`);

function writeConfig(dir: string, c: CaseSpec, nets: { networks: string[]; exclude: string[] }): string {
  const timeoutMs = Math.min(1000, c.intervalMs / 2);
  // Room above the need (devices / interval) so the rate limiter never paces a slot.
  const rate = Math.ceil((1.25 * c.devices * 1000) / c.intervalMs);
  const text = `# Generated by bench/agent/main.ts for ${c.name}: ${c.devices} loopback devices in a private namespace.
networks:${yamlList(nets.networks)}
exclude:${yamlList(nets.exclude)}
icmp_discovery_interval: "1h"
icmp_workers: 2000
sweep_rate_limit: 20000
sweep_timeout: "1s"
sweep_retries: 1
ping_interval: "${c.intervalMs}ms"
ping_timeout: "${timeoutMs}ms"
ping_rate_limit: ${rate}
ping_burst_limit: ${rate}
max_concurrent_pingers: ${c.devices}
max_devices: ${c.devices}
ping_raw_points: ${c.rawPoints}
summary_interval: "${summaryInterval}"
output_file: "${join(dir, 'points.lp')}"
output_file_max_bytes: ${2 ** 40}
state_file: "${join(dir, 'state.json')}"
spool_dir: "${join(dir, 'spool')}"
health_check_port: ${HEALTH_PORT}
health_check_bind: "127.0.0.1"
probe_thread: ${c.probeThread ?? 'main'}
probe_thread_nice: ${argValue('--probe-thread-nice') ?? 0}
${c.prom ? 'prometheus:\n  per_device: true\n' : ''}${batchSize === undefined ? '' : `influxdb:\n  enabled: false\n  batch_size: ${batchSize}\n`}`;
  const path = join(dir, 'config.yaml');
  writeFileSync(path, text);
  return path;
}

interface HealthDoc {
  device_count: number;
  monitored_devices: number;
  pings_sent_total: number;
  ping_replies_total: number;
  ping_failures: Record<string, number>;
  agent_overloaded: number;
  skipped_ticks: number;
  /** Added to /health after this bench was written; absent on older agents. */
  late_sends?: number;
  missed_slots?: number;
  send_lag_p99_ms: number;
  event_loop_delay_p99_ms: number;
  memory_mb: number;
  rss_mb: number;
  queue_depth: number;
  points_written: number;
  points_dropped: number;
  effective_ping_interval_ms: number;
  /** Pings/s the agent's devices need, each at its own interval (absent on older agents). */
  expected_pings_per_sec?: number;
  sweep: { last: { elapsed_ms: number; alive: number; probes_sent: number } | null };
  /** Engine counters (absent on older agents). */
  icmp?: {
    mode: string | null;
    kernel_timestamps: boolean;
    rtt_kernel: number;
    rtt_userspace: number;
    tx_stamps_unpaired: number;
  };
}

async function getHealth(timeoutMs = 5000): Promise<HealthDoc | undefined> {
  const r = await timedGet('127.0.0.1', HEALTH_PORT, '/health', timeoutMs);
  if (r.status !== 200) return undefined;
  try {
    return JSON.parse(r.body) as HealthDoc;
  } catch {
    return undefined;
  }
}

/** /health, retried (a /metrics scrape of 20k devices can hold the event loop for seconds). */
async function mustGetHealth(): Promise<HealthDoc> {
  for (let i = 0; ; i++) {
    const h = await getHealth(15_000);
    if (h || i >= 4) {
      if (!h) throw new Error('bench agent: /health did not answer within 15 s, 5 times');
      return h;
    }
  }
}

/** Main-thread run-queue wait in the samples overlapping [fromMs - 500, toMs + 500], ms. */
function runWaitAround(series: ReadonlyArray<{ t: number; ms: number }>, fromMs: number, toMs: number): number {
  let total = 0;
  for (const x of series)
    if (x.t >= fromMs - PROBE_EVERY_MS && x.t - PROBE_EVERY_MS <= toMs + PROBE_EVERY_MS) total += x.ms;
  return total;
}

interface LogSummary {
  warnings: number;
  errors: number;
  messages: string[];
  stopped: Record<string, unknown> | undefined;
}

function readLog(path: string): LogSummary {
  const out: LogSummary = { warnings: 0, errors: 0, messages: [], stopped: undefined };
  const seen = new Set<string>();
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let o: { level?: number; msg?: string };
    try {
      o = JSON.parse(line) as { level?: number; msg?: string };
    } catch {
      continue;
    }
    if (o.msg === 'netscan stopped') out.stopped = o;
    if ((o.level ?? 0) >= 50) out.errors++;
    else if ((o.level ?? 0) >= 40) out.warnings++;
    else continue;
    const m = `${o.level! >= 50 ? 'error' : 'warn'}: ${o.msg ?? ''}`;
    if (!seen.has(m)) {
      seen.add(m);
      out.messages.push(m);
    }
  }
  return out;
}

async function analyseOutput(
  path: string,
  opts: ConstructorParameters<typeof PingLineAnalyser>[0],
): Promise<PingAnalysis> {
  const a = new PingLineAnalyser(opts);
  if (existsSync(path)) {
    const rl = createInterface({
      input: createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 }),
      crlfDelay: Infinity,
    });
    for await (const line of rl) a.add(line);
  }
  return a.result();
}

function latencyFigures(xs: number[]): { p50: number; p99: number; max: number; over: number } {
  const s = Float64Array.from(xs).sort();
  return {
    p50: quantileOf(s, 0.5),
    p99: quantileOf(s, 0.99),
    max: quantileOf(s, 1),
    over: xs.filter((x) => x > TARGETS.endpointMs).length,
  };
}

function newWorkDir(tag: string): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, `netscan-bench-agent-${tag}-`));
}

/**
 * Prints each profile's top functions and areas and, given the process's CPU µs per ping sent, that
 * cost split by group (engine / scheduler / summaries / encoding / output / other): each group's
 * share of the profiled main thread's busy time (whole process life, the start-up sweep included)
 * times the measured µs per ping.
 */
function summariseProfiles(dir: string, usPerPing: number): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.cpuprofile'))) {
    const s = summariseProfile(JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile, 25);
    const perPing = s.groups.map((g) => ({ ...g, us_per_ping: r2((g.busySharePct / 100) * usPerPing, 2) }));
    const row: Row = {
      suite: 'agent',
      case: 'cpu_profile',
      file: f,
      wall_ms: s.wallMs,
      busy_pct: s.busyPct,
      areas: s.areas.slice(0, 15),
      functions: s.functions,
      cpu_us_per_ping: r2(usPerPing, 2),
      groups: perPing,
    };
    emit(row, [
      `CPU per ping sent by group (${r2(usPerPing, 1)} µs in all; share of busy profile x µs/ping): ${perPing.map((g) => `${g.group} ${g.us_per_ping} µs (${g.busySharePct}%)`).join(', ')}`,
      `profile ${f}: ${s.wallMs} ms (whole process life), main thread busy ${s.busyPct}%; self time by area (% of wall, % of busy):`,
      ...s.areas
        .slice(0, 15)
        .map((a) => `  ${String(a.selfPct).padStart(5)}% ${String(a.busySharePct).padStart(5)}%  ${a.area}`),
      'top functions by self time (self% / inclusive%):',
      ...s.functions.map(
        (fn) => `  ${String(fn.selfPct).padStart(5)}% ${String(fn.totalPct).padStart(5)}%  ${fn.name}`,
      ),
    ]);
  }
}

/** A process that only spins, pinned to --pin-cpu: the agent's core is never idle. */
function startHog(): ChildProcess {
  const child = spawn(...pinned(process.execPath, ['-e', 'for (;;);']), { stdio: 'ignore' });
  note(`CPU hog pid ${child.pid} on CPU ${pinCpu}`);
  return child;
}

/** The node flags on bin/netscan.js's `#!/usr/bin/env -S node ...` line: the agent runs as shipped. */
function launcherNodeFlags(): string[] {
  const first = readFileSync(BIN, 'utf8').split('\n')[0] ?? '';
  return first
    .replace(/^#!.*?\bnode\b/, '')
    .trim()
    .split(/\s+/)
    .filter((x) => x !== '');
}

/** One agent run: spawn, wait for discovery, measure, stop, analyse. */
async function runAgent(c: CaseSpec): Promise<void> {
  const dir = newWorkDir(c.name);
  const nets = deviceNetworks(c.devices);
  const configPath = writeConfig(dir, c, nets);
  const logPath = join(dir, 'agent.log');
  const profDir = join(dir, 'prof');
  const logFd = openSync(logPath, 'w');
  const nodeArgs = [
    ...launcherNodeFlags(),
    ...nodeOpts,
    ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
  ];
  const spawnedAt = Date.now();
  const child = spawn(
    ...pinned(process.execPath, [
      ...nodeArgs,
      BIN,
      '--log-level',
      'info',
      '--log-format',
      'json',
      'run',
      '-c',
      configPath,
    ]),
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  const hogChild = hog ? startHog() : undefined;
  if (niceness !== 0) setPriority(child.pid!, niceness);
  let exitedEarly: number | null | undefined;
  void exited(child).then((code) => {
    exitedEarly = code;
  });
  note(
    `${c.name}: agent pid ${child.pid}, ${c.devices} devices (${nets.networks.join(', ')} minus ${nets.exclude.length} excluded blocks), interval ${c.intervalMs} ms, dir ${dir}`,
  );
  try {
    // Discovery: until the sweep finished and every device is monitored.
    const deadline = Date.now() + 60_000 + c.devices;
    let h: HealthDoc | undefined;
    for (;;) {
      if (exitedEarly !== undefined)
        throw new Error(
          `agent exited with ${exitedEarly} during start-up; log:\n${readFileSync(logPath, 'utf8').slice(-3000)}`,
        );
      h = await getHealth().catch(() => undefined);
      if (h?.sweep.last && h.device_count === c.devices && h.monitored_devices === c.devices) break;
      if (Date.now() > deadline)
        throw new Error(
          `discovery did not reach ${c.devices} monitored devices (last /health: devices ${h?.device_count}, monitored ${h?.monitored_devices}, sweep ${JSON.stringify(h?.sweep.last)})`,
        );
      await sleep(250);
    }
    const discoveryMs = Date.now() - spawnedAt;
    const sweep = h.sweep.last!;
    note(
      `${c.name}: ${c.devices} devices monitored ${(discoveryMs / 1000).toFixed(1)} s after spawn (sweep ${sweep.elapsed_ms} ms); warming up, then measuring ${c.seconds} s`,
    );
    // Every device's first slot falls within one interval; two intervals reach the steady state.
    await sleep(Math.max(3000, 2 * c.intervalMs));

    const health0 = await mustGetHealth();
    // Under --prom-scrape /metrics is tens of MB: scraped on its own timer, not probed every 500 ms.
    const probed = ENDPOINTS.filter((p) => !(c.prom && p === '/metrics'));
    const lat: Record<string, number[]> = Object.fromEntries(ENDPOINTS.map((p) => [p, []]));
    const worst: Record<string, { ms: number; at: number }> = Object.fromEntries(
      ENDPOINTS.map((p) => [p, { ms: -1, at: 0 }]),
    );
    const badStatus: Record<string, number> = Object.fromEntries(ENDPOINTS.map((p) => [p, 0]));
    const healthSamples: HealthDoc[] = [];
    let lastProbe = 0;
    const scrapes: Array<{ at: number; ms: number; bytes: number; status: number }> = [];
    const pending: Array<Promise<void>> = [];
    const scrape = (): void => {
      const at = Date.now();
      pending.push(
        timedGet('127.0.0.1', HEALTH_PORT, '/metrics', 14_000).then((r) => {
          scrapes.push({ at, ms: r.latencyMs, bytes: Buffer.byteLength(r.body), status: r.status });
        }),
      );
    };
    const scrapeS = c.prom?.scrapeS ?? 0;
    const scrapeTimer = scrapeS > 0 ? setInterval(scrape, scrapeS * 1000) : undefined;
    if (scrapeS > 0) scrape();
    const usage = await sampleUsage([child.pid!], Date.now() + c.seconds * 1000, async () => {
      if (probeMs <= 0 || Date.now() - lastProbe < probeMs - 50) return;
      lastProbe = Date.now();
      for (const path of probed) {
        const at = Date.now();
        const r = await timedGet('127.0.0.1', HEALTH_PORT, path, 5000);
        lat[path]!.push(r.latencyMs);
        if (r.latencyMs > worst[path]!.ms) worst[path] = { ms: r.latencyMs, at };
        if (r.status !== 200) badStatus[path]!++;
        if (path === '/health' && r.status === 200) healthSamples.push(JSON.parse(r.body) as HealthDoc);
      }
    });
    if (scrapeTimer) clearInterval(scrapeTimer);
    const health1 = await mustGetHealth();
    await Promise.all(pending);
    const scrapeMs = scrapes.map((x) => x.ms).sort((x, y) => x - y);
    // Points of the window's last slots are written at completion and flushed within flush_interval (5 s).
    await sleep(Math.max(6000, 1000 + Math.min(1000, c.intervalMs / 2)));
    const healthEnd = await mustGetHealth();
    const stop = await stopChild(child, 60_000);
    const log = readLog(logPath);
    const a = await analyseOutput(join(dir, 'points.lp'), {
      firstIpU32: nets.first,
      count: c.devices,
      intervalMs: c.intervalMs,
      windowStartMs: usage.t0,
      windowEndMs: usage.t1,
      toleranceMs: SLOT_TOLERANCE_MS,
    });
    const windowS = usage.windowMs / 1000;
    // Every device here is swept (no target, so no interval of its own): devices / interval is the
    // need, and the agent's own figure must agree.
    const expectedPings = (c.devices * usage.windowMs) / c.intervalMs;
    const sent = health1.pings_sent_total - health0.pings_sent_total;
    // What a ping really costs: CPU over the window per ping the agent sent (not per ping due).
    const usPerPing = sent > 0 ? (1e6 * usage.cpuCores * windowS) / sent : Number.NaN;
    const sumFailures = (d: HealthDoc): number => Object.values(d.ping_failures).reduce((x, y) => x + y, 0);
    const healthFailures = sumFailures(health1) - sumFailures(health0);
    const lags = healthSamples.map((s) => s.send_lag_p99_ms).sort((x, y) => x - y);
    const ep = Object.fromEntries(probed.map((p) => [p, latencyFigures(lat[p]!)]));
    const epMax = Math.max(...Object.values(ep).map((x) => x.max));
    const pps = (c.devices * 1000) / c.intervalMs;
    const ok = {
      on_time: c.rawPoints ? a.onTimePct >= TARGETS.onTimePct : true,
      failures: (c.rawPoints ? a.failures : healthFailures) === TARGETS.failures && healthEnd.points_dropped === 0,
      cpu: usage.cpuCores <= TARGETS.cpuCores,
      rss: usage.rssPeakMb <= TARGETS.rssMb,
      rtt: c.rawPoints
        ? a.rttP99Ms <= (hog ? HOG_TARGETS.rttP99Ms : TARGETS.rttP99Ms) && (!hog || a.rttMaxMs <= HOG_TARGETS.rttMaxMs)
        : true,
      endpoints: probeMs > 0 && epMax <= TARGETS.endpointMs && Object.values(badStatus).every((x) => x === 0),
      ...(scrapeS > 0 ? { scrapes: scrapes.length > 0 && scrapes.every((x) => x.status === 200) } : {}),
    };
    const row: Row = {
      suite: 'agent',
      case: c.name,
      devices: c.devices,
      interval_ms: c.intervalMs,
      raw_points: c.rawPoints,
      pings_per_sec_target: pps,
      influxdb_batch_size: batchSize ?? 5000,
      probe_ms: probeMs,
      nice: niceness,
      node_opts: nodeOpts.join(' '),
      summary_interval: summaryInterval,
      window_s: r2(windowS, 1),
      discovery_s: r2(discoveryMs / 1000, 1),
      cpu_us_per_ping: r2(usPerPing, 2),
      sweep_ms: sweep.elapsed_ms,
      sweep_alive: sweep.alive,
      cpu_cores: r2(usage.cpuCores, 3),
      cpu_cores_max_5s: r2(usage.cpuCoresMax5s, 3),
      cpu_millicores_per_1k_devices: r2((1e6 * usage.cpuCores) / c.devices, 1),
      cpu_millicores_per_1k_pps: r2((1e6 * usage.cpuCores) / pps, 1),
      rss_avg_mb: r2(usage.rssAvgMb, 1),
      rss_peak_mb: r2(usage.rssPeakMb, 1),
      rss_hwm_mb: r2(usage.hwmMb, 1),
      heap_used_mb: healthEnd.memory_mb,
      rss_mb_per_1k_devices: r2((1000 * usage.rssAvgMb) / c.devices, 2),
      machine_busy_cores: r2(usage.machineBusyCores, 2),
      others_busy_cores: r2(usage.othersBusyCores, 2),
      cpu_series_5s: usage.cpuSeries5s,
      window_start: new Date(usage.t0).toISOString(),
      cpu_user_cores: r2(usage.userCores, 3),
      cpu_system_cores: r2(usage.systemCores, 3),
      cpu_threads: usage.threads,
      run_queue_wait_ms: Math.round(usage.runWaitMs),
      run_queue_wait_max_per_500ms: Math.round(Math.max(0, ...usage.runWaitSeries.map((x) => x.ms))),
      scheduled_slots: a.scheduledSlots,
      on_time_slots: a.onTimeSlots,
      on_time_pct: r2(a.onTimePct, 4),
      late_sends: a.lateSends,
      missing_slots: a.missingSlots,
      duplicates: a.duplicates,
      points_per_device_min: a.perDeviceMin,
      points_per_device_max: a.perDeviceMax,
      devices_short: a.devicesShort,
      send_lag_p50_ms: a.lagP50Ms,
      send_lag_p99_ms: a.lagP99Ms,
      send_lag_p999_ms: a.lagP999Ms,
      send_lag_max_ms: a.lagMaxMs,
      spacing_dev_p99_ms: a.spacingDevP99Ms,
      spacing_dev_max_ms: a.spacingDevMaxMs,
      late_bursts: a.lateBursts.map((b) => ({
        ...b,
        at: new Date(usage.t0 + b.atMs).toISOString(),
        run_queue_wait_ms: Math.round(
          runWaitAround(usage.runWaitSeries, usage.t0 + b.atMs, usage.t0 + b.atMs + b.spanMs),
        ),
      })),
      failures: a.failures,
      failures_by_reason: a.failuresByReason,
      suspended_points: a.suspendedPoints,
      rtt_p50_ms: r2(a.rttP50Ms, 4),
      rtt_p99_ms: r2(a.rttP99Ms, 4),
      rtt_p999_ms: r2(a.rttP999Ms, 4),
      rtt_max_ms: r2(a.rttMaxMs, 4),
      pin_cpu: pinCpu ?? 'none',
      hog,
      load_avg_1m: loadavg()[0]!,
      icmp_mode: healthEnd.icmp?.mode ?? 'unknown',
      icmp_kernel_timestamps: healthEnd.icmp?.kernel_timestamps ?? false,
      rtt_kernel: (health1.icmp?.rtt_kernel ?? NaN) - (health0.icmp?.rtt_kernel ?? NaN),
      rtt_userspace: (health1.icmp?.rtt_userspace ?? NaN) - (health0.icmp?.rtt_userspace ?? NaN),
      tx_stamps_unpaired: (health1.icmp?.tx_stamps_unpaired ?? NaN) - (health0.icmp?.tx_stamps_unpaired ?? NaN),
      health_pings_sent: sent,
      pings_expected: Math.round(expectedPings),
      health_expected_pps: healthEnd.expected_pings_per_sec ?? Number.NaN,
      health_sent_pct: r2((100 * sent) / expectedPings, 3),
      health_failures: healthFailures,
      health_skipped_ticks: health1.skipped_ticks - health0.skipped_ticks,
      health_late_sends: (health1.late_sends ?? Number.NaN) - (health0.late_sends ?? Number.NaN),
      health_missed_slots: (health1.missed_slots ?? Number.NaN) - (health0.missed_slots ?? Number.NaN),
      health_agent_overloaded: health1.agent_overloaded - health0.agent_overloaded,
      health_send_lag_p99_ms_median: quantileOf(lags, 0.5),
      health_send_lag_p99_ms_max: quantileOf(lags, 1),
      event_loop_delay_p99_ms: healthEnd.event_loop_delay_p99_ms,
      queue_depth_max: Math.max(0, ...healthSamples.map((s) => s.queue_depth)),
      file_ping_points: a.pingPoints,
      file_summary_points: a.summaryPoints,
      file_health_points: a.healthPoints,
      file_unparsable: a.unparsable,
      points_written: (log.stopped?.points_written as number | undefined) ?? healthEnd.points_written,
      points_dropped: (log.stopped?.points_dropped as number | undefined) ?? healthEnd.points_dropped,
      ...Object.fromEntries(
        probed.flatMap((p) => {
          const k = p === '/health' ? 'health' : p.replace('/health/', '').replace('/', '');
          const f = ep[p]!;
          return [
            [`${k}_p50_ms`, r2(f.p50, 2)],
            [`${k}_p99_ms`, r2(f.p99, 2)],
            [`${k}_max_ms`, r2(f.max, 2)],
            [`${k}_max_at`, worst[p]!.at ? new Date(worst[p]!.at).toISOString() : null],
            [`${k}_over_50ms`, f.over],
            [`${k}_probes`, lat[p]!.length],
            [`${k}_bad_status`, badStatus[p]],
          ];
        }),
      ),
      ...(c.prom
        ? {
            prometheus_per_device: true,
            scrape_every_s: scrapeS,
            scrapes: scrapes.length,
            scrape_ms: scrapes.map((x) => r2(x.ms, 1)),
            scrape_p50_ms: r2(quantileOf(scrapeMs, 0.5), 1),
            scrape_max_ms: r2(quantileOf(scrapeMs, 1), 1),
            scrape_bytes_max: Math.max(0, ...scrapes.map((x) => x.bytes)),
            scrape_bad_status: scrapes.filter((x) => x.status !== 200).length,
          }
        : {}),
      log_warnings: log.warnings,
      log_errors: log.errors,
      log_messages: log.messages.slice(0, 10),
      exit_code: stop.code,
      stop_ms: stop.stopMs,
      ...(c.reference ? { reference: true } : { ok, pass: Object.values(ok).every(Boolean) }),
    };
    const lines = [
      `${c.devices} devices every ${c.intervalMs} ms (${pps} pings/s), raw points ${c.rawPoints}, influxdb.batch_size ${batchSize ?? '5000 (default)'}, nice ${niceness}${nodeOpts.length ? `, node ${nodeOpts.join(' ')}` : ''}; window ${r2(windowS, 1)} s; discovered and monitored ${r2(discoveryMs / 1000, 1)} s after spawn (sweep ${sweep.elapsed_ms} ms)`,
      c.rawPoints
        ? `within slot (lag <= ${SLOT_TOLERANCE_MS} ms): ${a.onTimeSlots}/${a.scheduledSlots} = ${r2(a.onTimePct, 4)}% (target >= ${TARGETS.onTimePct}%) ${mark(ok.on_time)}; late ${a.lateSends}, missing ${a.missingSlots}, duplicates ${a.duplicates}`
        : 'within slot: not measurable without raw points (see /health figures)',
      `send lag from the output: p50 ${a.lagP50Ms} p99 ${a.lagP99Ms} p99.9 ${a.lagP999Ms} max ${a.lagMaxMs} ms; spacing vs interval p99 ${a.spacingDevP99Ms} max ${a.spacingDevMaxMs} ms; points/device ${a.perDeviceMin}..${a.perDeviceMax}`,
      ...(a.lateBursts.length
        ? [
            `late-send bursts (time, offset s: count, max lag ms, main-thread run-queue wait ms around it): ${a.lateBursts.map((b) => `${new Date(usage.t0 + b.atMs).toISOString().slice(11, 22)} ${r2(b.atMs / 1000, 1)}: ${b.count}, ${b.maxLagMs}, ${Math.round(runWaitAround(usage.runWaitSeries, usage.t0 + b.atMs, usage.t0 + b.atMs + b.spanMs))}`).join('; ')}`,
          ]
        : []),
      `/health: sent ${sent} of ${Math.round(expectedPings)} expected (${r2((100 * sent) / expectedPings, 3)}%; the agent expects ${healthEnd.expected_pings_per_sec ?? '?'} pings/s, ${pps} by devices / interval), skipped ticks ${health1.skipped_ticks - health0.skipped_ticks}, late sends ${(health1.late_sends ?? Number.NaN) - (health0.late_sends ?? Number.NaN)}, missed slots ${(health1.missed_slots ?? Number.NaN) - (health0.missed_slots ?? Number.NaN)}, overloaded ${health1.agent_overloaded - health0.agent_overloaded}, send_lag_p99 median ${quantileOf(lags, 0.5)} max ${quantileOf(lags, 1)} ms, event-loop p99 ${healthEnd.event_loop_delay_p99_ms} ms`,
      `failures ${c.rawPoints ? a.failures : healthFailures} ${JSON.stringify(a.failuresByReason)}, points dropped ${row.points_dropped} (written ${row.points_written}) ${mark(ok.failures)}`,
      `CPU ${r2(usage.cpuCores, 3)} cores avg (max over 5 s ${r2(usage.cpuCoresMax5s, 2)}; target <= ${TARGETS.cpuCores}) ${mark(ok.cpu)}; machine busy ${r2(usage.machineBusyCores, 2)} of 2 cores, others ${r2(usage.othersBusyCores, 2)}`,
      `CPU per 5 s from ${new Date(usage.t0).toISOString().slice(11, 19)} (cores): ${usage.cpuSeries5s.join(' ')}`,
      `CPU by thread (cores): ${usage.threads.map((t) => `${t.name} ${t.cores}`).join(', ')}; user ${r2(usage.userCores, 3)}, system ${r2(usage.systemCores, 3)}; main thread waited ${Math.round(usage.runWaitMs)} ms for a CPU (max ${Math.round(Math.max(0, ...usage.runWaitSeries.map((x) => x.ms)))} ms per 500 ms)`,
      `RSS avg ${r2(usage.rssAvgMb, 1)} MB, peak ${r2(usage.rssPeakMb, 1)} MB (target <= ${TARGETS.rssMb}) ${mark(ok.rss)}; VmHWM ${r2(usage.hwmMb, 1)} MB (includes discovery); heap used ${healthEnd.memory_mb} MB`,
      c.rawPoints
        ? `RTT p50 ${r2(a.rttP50Ms, 4)} p99 ${r2(a.rttP99Ms, 4)} p99.9 ${r2(a.rttP999Ms, 4)} max ${r2(a.rttMaxMs, 3)} ms (target p99 <= ${hog ? `${HOG_TARGETS.rttP99Ms}, max <= ${HOG_TARGETS.rttMaxMs}` : TARGETS.rttP99Ms}) ${mark(ok.rtt)}`
        : 'RTT: no raw points',
      `ICMP ${row.icmp_mode}, kernel stamps ${row.icmp_kernel_timestamps}: RTT from kernel stamps ${row.rtt_kernel}, from user space ${row.rtt_userspace}, TX stamps unpaired ${row.tx_stamps_unpaired} (window); CPU pin ${pinCpu ?? 'none'}, hog ${hog}; load average ${r2(loadavg()[0]!, 2)}`,
      ...probed.map(
        (p) =>
          `${p.padEnd(14)} p50 ${r2(ep[p]!.p50, 2)} p99 ${r2(ep[p]!.p99, 2)} max ${r2(ep[p]!.max, 2)} ms${worst[p]!.at ? ` (at ${new Date(worst[p]!.at).toISOString().slice(11, 22)})` : ''} over ${lat[p]!.length} probes, ${ep[p]!.over} over 50 ms, ${badStatus[p]} non-200`,
      ),
      `endpoints within ${TARGETS.endpointMs} ms: ${mark(ok.endpoints)}`,
      ...(c.prom
        ? [
            scrapeS > 0
              ? `prometheus.per_device on, GET /metrics every ${scrapeS} s: ${scrapes.length} scrapes, wall ${scrapes.map((x) => r2(x.ms, 0)).join(', ')} ms (p50 ${r2(quantileOf(scrapeMs, 0.5), 0)}, max ${r2(quantileOf(scrapeMs, 1), 0)}), ${r2(Math.max(0, ...scrapes.map((x) => x.bytes)) / 1e6, 2)} MB each, ${scrapes.filter((x) => x.status !== 200).length} non-200 ${mark(ok.scrapes === true)}`
              : 'prometheus.per_device on, /metrics never scraped (baseline)',
          ]
        : []),
      `CPU per ping sent: ${r2(usPerPing, 1)} µs (user ${r2((usPerPing * usage.userCores) / Math.max(usage.cpuCores, 1e-9), 1)}, system ${r2((usPerPing * usage.systemCores) / Math.max(usage.cpuCores, 1e-9), 1)}; ${sent} pings in ${r2(windowS, 1)} s)`,
      `per 1k devices: CPU ${r2((1e6 * usage.cpuCores) / c.devices, 1)} millicores, RSS ${r2((1000 * usage.rssAvgMb) / c.devices, 2)} MB; per 1k pings/s: ${r2((1e6 * usage.cpuCores) / pps, 1)} millicores`,
      `log: ${log.warnings} warnings, ${log.errors} errors${log.messages.length ? ` (${log.messages.slice(0, 5).join('; ')})` : ''}; exit ${stop.code} after ${stop.stopMs} ms`,
      c.reference
        ? 'reference run (idle floor): not judged against the targets'
        : `overall ${mark(row.pass as boolean)}`,
    ];
    emit(row, lines);
    if (cpuProf) summariseProfiles(profDir, usPerPing);
  } finally {
    if (child.exitCode === null && child.signalCode === null) await stopChild(child, 10_000);
    if (hogChild) await stopChild(hogChild, 5000, 'SIGKILL');
    if (keep) note(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * fping 5.1 keeps a sequence number per ping for 10 s (its seqmap) out of 65,536, so one process
 * cannot send more than 6,553 pings/s ("not enough sequence numbers available"); the peer run
 * splits the devices over as many processes as needed at <= 2,500 pings/s each (at 5,000 each it
 * sends only ~83% of its schedule), as an operator would.
 */
const FPING_MAX_PPS = Number(argValue('--fping-pps') ?? 2500);

/** The peer: fping in loop mode over the same devices at the same interval, measured the same way. */
async function runFping(c: CaseSpec): Promise<void> {
  const dir = newWorkDir(`fping-${c.devices}`);
  const nets = deviceNetworks(c.devices);
  const timeoutMs = Math.min(1000, c.intervalMs / 2);
  const pps = (c.devices * 1000) / c.intervalMs;
  const procs = Math.max(1, Math.ceil(pps / FPING_MAX_PPS));
  const per = Math.ceil(c.devices / procs);
  const children: Array<{ child: ChildProcess; argv: string[]; errPath: string }> = [];
  const started = Date.now();
  for (let k = 0; k < procs; k++) {
    const from = nets.first + k * per;
    const to = Math.min(nets.first + c.devices - 1, from + per - 1);
    // Global gap between two sends of this process, with the agent's 25% rate headroom.
    const gapMs = c.intervalMs / (to - from + 1) / 1.25;
    const argv = [
      '-l',
      '-p',
      String(c.intervalMs),
      '-i',
      gapMs.toFixed(4),
      '-t',
      String(timeoutMs),
      '-Q',
      '10',
      '-g',
      formatIpv4(from),
      formatIpv4(to),
    ];
    const errPath = join(dir, `fping-${k}.stderr`);
    const fd = openSync(errPath, 'w');
    const child = spawn(...pinned('fping', argv), { stdio: ['ignore', 'ignore', fd] });
    if (niceness !== 0) setPriority(child.pid!, niceness);
    children.push({ child, argv, errPath });
    closeSync(fd);
  }
  const hogChild = hog ? startHog() : undefined;
  const name = `fping_${c.name.replace(/^monitor_/, '')}`;
  const cmd = children.map((x) => `fping ${x.argv.join(' ')}`).join(' & ');
  note(`${name}: ${procs} fping process(es): ${cmd}; measuring ${baselineSeconds} s`);
  try {
    await sleep(Math.max(3000, 2 * c.intervalMs));
    const gone = children.filter((x) => x.child.exitCode !== null);
    if (gone.length > 0) throw new Error(`fping exited early: ${readFileSync(gone[0]!.errPath, 'utf8').slice(0, 500)}`);
    const usage = await sampleUsage(
      children.map((x) => x.child.pid!),
      Date.now() + baselineSeconds * 1000,
      async () => undefined,
    );
    const stops = await Promise.all(children.map((x) => stopChild(x.child, 10_000, 'SIGINT')));
    const elapsedMs = Date.now() - Math.max(...stops.map((x) => x.stopMs)) - started;
    const last = new Map<string, { xmt: number; rcv: number; avg: number; max: number }>();
    for (const { errPath } of children) {
      for (const line of readFileSync(errPath, 'utf8').split('\n')) {
        const m =
          /^(\S+)\s+: xmt\/rcv\/%loss = (\d+)\/(\d+)\/[^,]*(?:, min\/avg\/max = ([0-9.]+)\/([0-9.]+)\/([0-9.]+))?/.exec(
            line,
          );
        if (m)
          last.set(m[1]!, { xmt: Number(m[2]), rcv: Number(m[3]), avg: Number(m[5] ?? NaN), max: Number(m[6] ?? NaN) });
      }
    }
    let xmt = 0;
    let rcv = 0;
    let avgSum = 0;
    let maxMax = 0;
    for (const v of last.values()) {
      xmt += v.xmt;
      rcv += v.rcv;
      if (Number.isFinite(v.avg)) avgSum += v.avg;
      if (Number.isFinite(v.max)) maxMax = Math.max(maxMax, v.max);
    }
    const expected = (c.devices * elapsedMs) / c.intervalMs;
    const row: Row = {
      suite: 'agent',
      case: name,
      devices: c.devices,
      interval_ms: c.intervalMs,
      processes: procs,
      window_s: r2(usage.windowMs / 1000, 1),
      command: cmd,
      cpu_cores: r2(usage.cpuCores, 3),
      cpu_cores_max_5s: r2(usage.cpuCoresMax5s, 3),
      cpu_millicores_per_1k_devices: r2((1e6 * usage.cpuCores) / c.devices, 1),
      cpu_millicores_per_1k_pps: r2((1e6 * usage.cpuCores) / pps, 1),
      rss_avg_mb: r2(usage.rssAvgMb, 1),
      rss_peak_mb: r2(usage.rssPeakMb, 1),
      rss_hwm_mb: r2(usage.hwmMb, 1),
      rss_mb_per_1k_devices: r2((1000 * usage.rssAvgMb) / c.devices, 2),
      machine_busy_cores: r2(usage.machineBusyCores, 2),
      others_busy_cores: r2(usage.othersBusyCores, 2),
      targets_reported: last.size,
      pings_sent: xmt,
      pings_expected: Math.round(expected),
      sent_pct: r2((100 * xmt) / expected, 2),
      replies: rcv,
      loss_pct: r2(xmt > 0 ? (100 * (xmt - rcv)) / xmt : NaN, 3),
      rtt_avg_ms: r2(avgSum / Math.max(1, last.size), 4),
      rtt_max_ms: maxMax,
      exit_codes: stops.map((x) => x.code),
    };
    emit(row, [
      `${procs} process(es): ${cmd}`,
      `sent ${xmt} of ${Math.round(expected)} expected over ${r2(elapsedMs / 1000, 1)} s (${r2((100 * xmt) / expected, 2)}%), replies ${rcv}, loss ${row.loss_pct}%, targets reported ${last.size}`,
      `CPU ${r2(usage.cpuCores, 3)} cores avg, all processes (max over 5 s ${r2(usage.cpuCoresMax5s, 2)}); machine busy ${r2(usage.machineBusyCores, 2)}, others ${r2(usage.othersBusyCores, 2)}`,
      `RSS avg ${r2(usage.rssAvgMb, 1)} MB, peak ${r2(usage.rssPeakMb, 1)} MB, VmHWM ${r2(usage.hwmMb, 1)} MB (sum of processes)`,
      `RTT mean of per-target averages ${row.rtt_avg_ms} ms, largest per-target max ${maxMax} ms`,
      `per 1k devices: CPU ${row.cpu_millicores_per_1k_devices} millicores, RSS ${row.rss_mb_per_1k_devices} MB; per 1k pings/s: ${row.cpu_millicores_per_1k_pps} millicores`,
    ]);
  } finally {
    for (const { child } of children)
      if (child.exitCode === null && child.signalCode === null) await stopChild(child, 5000, 'SIGKILL');
    if (hogChild) await stopChild(hogChild, 5000, 'SIGKILL');
    if (keep) note(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

/** CPU and memory per 1k devices, absolute and above the idle floor (when it was measured in this run). */
function sizingTable(): void {
  const data = rows.filter((r) => typeof r.cpu_cores === 'number');
  if (data.length === 0) return;
  const floor = data.find((r) => r.reference === true && String(r.case).startsWith('floor_'));
  const marginal = (r: Row, k: 'cpu_cores' | 'rss_avg_mb', scale: number): number | string =>
    floor && r !== floor && !String(r.case).startsWith('fping_')
      ? r2(((Number(r[k]) - Number(floor[k])) * scale * 1000) / Number(r.devices), 2)
      : '-';
  const table = data.map((r) => ({
    case: String(r.case),
    devices: Number(r.devices),
    interval_s: Number(r.interval_ms) / 1000,
    pings_per_sec: (Number(r.devices) * 1000) / Number(r.interval_ms),
    cpu_cores: Number(r.cpu_cores),
    cpu_millicores_per_1k_devices: Number(r.cpu_millicores_per_1k_devices),
    cpu_millicores_per_1k_pps: Number(r.cpu_millicores_per_1k_pps),
    cpu_millicores_per_1k_devices_above_floor: marginal(r, 'cpu_cores', 1000),
    rss_avg_mb: Number(r.rss_avg_mb),
    rss_peak_mb: Number(r.rss_peak_mb),
    rss_mb_per_1k_devices: Number(r.rss_mb_per_1k_devices),
    rss_mb_per_1k_devices_above_floor: marginal(r, 'rss_avg_mb', 1),
    others_busy_cores: Number(r.others_busy_cores),
  }));
  if (json) {
    console.log(JSON.stringify({ suite: 'agent', case: 'sizing', rows: table }));
    return;
  }
  const head = [
    'case',
    'devices',
    'interval',
    'pings/s',
    'CPU cores',
    'mcores/1k dev',
    '(above floor)',
    'mcores/1k pps',
    'RSS avg MB',
    'RSS peak MB',
    'MB/1k dev',
    '(above floor)',
    'others busy',
  ];
  const body = table.map((t) =>
    [
      t.case,
      t.devices,
      `${t.interval_s} s`,
      t.pings_per_sec,
      t.cpu_cores,
      t.cpu_millicores_per_1k_devices,
      t.cpu_millicores_per_1k_devices_above_floor,
      t.cpu_millicores_per_1k_pps,
      t.rss_avg_mb,
      t.rss_peak_mb,
      t.rss_mb_per_1k_devices,
      t.rss_mb_per_1k_devices_above_floor,
      t.others_busy_cores,
    ].map(String),
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]): string => cells.map((x, i) => x.padEnd(widths[i]!)).join('  ');
  console.error(
    [
      '\nsizing (CPU = utime+stime of the process(es) over the window; "above floor" subtracts the idle floor_10_1s run; "others busy" = rest of the machine from /proc/stat, tick-sampled, approximate (can read below 0))',
      fmt(head),
      ...body.map(fmt),
    ].join('\n'),
  );
}

// ---------------------------------------------------------------------------------------------
const custom = argValue('--devices') !== undefined || argValue('--interval') !== undefined;
const cases: CaseSpec[] = custom
  ? [
      (() => {
        const devices = Number(argValue('--devices') ?? 20_000);
        const intervalMs = parseDuration(argValue('--interval') ?? '1s');
        const label = devices % 1000 === 0 ? `${devices / 1000}k` : String(devices);
        return {
          name: `monitor_${label}_${intervalMs % 1000 === 0 ? `${intervalMs / 1000}s` : `${intervalMs}ms`}${promScrapeS === undefined ? '' : `_prom${promScrapeS}s`}`,
          devices,
          intervalMs,
          rawPoints: true,
          seconds,
          ...(promScrapeS === undefined ? {} : { prom: { scrapeS: promScrapeS } }),
        };
      })(),
    ]
  : [
      // The idle floor (process, libraries, endpoints probed): the fixed part of the sizing table.
      {
        name: 'floor_10_1s',
        devices: 10,
        intervalMs: 1000,
        rawPoints: true,
        seconds: Math.min(20, seconds),
        reference: true,
      },
      { name: 'monitor_20k_1s', devices: 20_000, intervalMs: 1000, rawPoints: true, seconds },
      { name: 'monitor_100k_5s', devices: 100_000, intervalMs: 5000, rawPoints: true, seconds },
      // Beyond what 2 cores serve (100k pings/s): how far the agent gets. Only with --only 100k1s.
      ...(only === '100k1s'
        ? [{ name: 'overload_100k1s_1s', devices: 100_000, intervalMs: 1000, rawPoints: true, seconds }]
        : []),
    ].filter((c) => only === undefined || c.name.includes(`_${only}_`) || c.name.startsWith(`${only}_`));
if (cases.length === 0) {
  console.error(`bench agent: --only ${only} matches no case (floor, 20k, 100k, 100k1s)`);
  process.exit(2);
}
note(
  `inside a private namespace; node ${process.version}; ${spawnSync('fping', ['-v'], { encoding: 'utf8' }).stdout.trim() || 'fping not found'}; agent ${BIN}; ${seconds} s per case`,
);
const probeThreadArg = argValue('--probe-thread') ?? 'main';
if (!['main', 'worker', 'both'].includes(probeThreadArg)) {
  console.error(`bench agent: --probe-thread ${probeThreadArg}: expected main, worker or both`);
  process.exit(2);
}
const threaded: CaseSpec[] =
  probeThreadArg === 'both'
    ? cases.flatMap((c): CaseSpec[] => [
        { ...c, name: `${c.name}_main`, probeThread: 'main' },
        { ...c, name: `${c.name}_worker`, probeThread: 'worker' },
      ])
    : cases.map((c) => ({ ...c, probeThread: probeThreadArg as 'main' | 'worker' }));
const floorBin = args.includes('--kernel-floor') ? buildFloor() : undefined;
if (floorBin !== undefined && !('path' in floorBin)) note(`--kernel-floor: ${floorBin.skipped}`);
for (const c of threaded) {
  await runAgent(c);
  const agentRow = rows.find((r) => r.case === c.name);
  if (floorBin !== undefined && 'path' in floorBin && !c.reference && agentRow !== undefined) {
    const f = await kernelFloorRow(
      floorBin,
      { ...c, agentUsPerPing: Number(agentRow.cpu_us_per_ping) },
      Math.min(baselineSeconds, 30),
    );
    emit({ suite: 'agent', ...f.row }, f.lines);
  }
  if ((baselineMode === 'noraw' || baselineMode === 'all') && !c.reference)
    await runAgent({ ...c, name: `${c.name}_noraw`, rawPoints: false });
  if ((baselineMode === 'fping' || baselineMode === 'all') && !c.reference) await runFping(c);
  if (baselineMode === 'noscrape' && c.prom && !c.reference)
    await runAgent({ ...c, name: `${c.name.replace(/_prom\d+s$/, '')}_prom_noscrape`, prom: { scrapeS: 0 } });
}
if (floorBin !== undefined && 'dispose' in floorBin) floorBin.dispose();
sizingTable();
process.exitCode = rows.every((r) => r.pass !== false) ? 0 : 1;
