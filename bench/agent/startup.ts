// Start-up benchmark: `npm run bench -- agent-startup [--json] [--devices N] [--interval DUR] [--runs R]
//   [--cpu-prof] [--keep] [--nice N]`.
//
// Re-executes itself inside a private network namespace (`unshare -n`, lo up: 127.0.0.0/8 answers,
// nothing leaves the machine). Writes a state file holding N loopback devices (default 100,000)
// with the device store's own persistence (DeviceStore.stop writes the final snapshot), then R times
// (default 3) spawns the compiled agent (`node bin/netscan.js run -c FILE`, the launcher's node
// flags) on a config whose networks hold exactly those devices, ping_interval DUR (default 5s:
// 100k devices at 20k pings/s, within two cores), discovery once a day (the first sweep still runs
// at start, at 50 packets/s so it stays out of the figure), and measures from spawn:
//   - health_ms: /health first answers (it starts last, once every stage started);
//   - monitored_ms: /health says every device is monitored (reconciler.monitored = the scheduler's devices);
//   - all_pinged_ms: the latest first `ping` point of any device (its timestamp, from the output file);
//   - the agent's own log: state restore duration and when "netscan started" was logged;
//   - CPU seconds the agent used until every device was monitored, and how long the machine kept
//     its main thread waiting for a CPU (others share the 2 cores).
// Target: every device monitored within 5 s of spawn. --cpu-prof profiles the agent (whole run,
// stopped once every device pinged) and prints the top functions; --keep keeps the work directory;
// --nice N runs the agent at that scheduling priority (e.g. -10: what it does when the machine's
// other work does not take its CPU).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { setPriority, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../internal/clock/clock.js';
import { formatIpv4 } from '../../internal/icmp/ipv4.js';
import { DeviceStore } from '../../internal/state/device-store.js';
import { parseDuration } from '../../src/config/duration.js';
import { summariseProfile, type CpuProfile } from './cpu-profile.js';
import { processCpuSeconds, runQueueWaitMs, timedGet } from './proc.js';
import { deviceBlock, FirstPings, startupConfigYaml, type DeviceBlock } from './startup-lib.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const devices = Number(argValue('--devices') ?? 100_000);
const intervalMs = parseDuration(argValue('--interval') ?? '5s');
const runs = Number(argValue('--runs') ?? 3);
const cpuProf = args.includes('--cpu-prof');
const keep = args.includes('--keep');
const niceness = Number(argValue('--nice') ?? 0);

if (process.env.NETSCAN_BENCH_STARTUP_NETNS !== '1') {
  const script = ['set -e', 'ip link set lo up', 'exec "$0" "$@"'].join('\n');
  const res = spawnSync(
    'unshare',
    ['-n', '--', 'sh', '-c', script, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...args],
    { stdio: 'inherit', env: { ...process.env, NETSCAN_BENCH_STARTUP_NETNS: '1' } },
  );
  if (res.error || res.status === null)
    console.error(
      `bench agent-startup: cannot run inside a private namespace (needs root and unshare -n): ${res.error?.message ?? res.signal}`,
    );
  process.exit(res.status ?? 1);
}

const TARGET_MONITORED_MS = 5000;
const HEALTH_PORT = 18_081;
const POLL_MS = 100;
const DEADLINE_MS = 120_000;

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('bench agent-startup: package.json not found above this script');
    dir = up;
  }
  return dir;
}
const BIN = join(repoRoot(), 'bin', 'netscan.js');
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const note = (msg: string): void => {
  if (!json) console.error(`bench agent-startup: ${msg}`);
};
function emit(row: Record<string, unknown>): void {
  if (json) console.log(JSON.stringify({ suite: 'agent-startup', ...row }));
  else
    console.error(
      `  ${Object.entries(row)
        .map(([k, v]) => `${k}=${typeof v === 'number' && !Number.isInteger(v) ? v.toFixed(2) : String(v)}`)
        .join(' ')}`,
    );
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

/** Writes the state file of the block's devices with the store's own snapshot code; returns its size and how long it took. */
async function writeState(path: string, block: DeviceBlock): Promise<{ bytes: number; ms: number }> {
  const t0 = Date.now();
  const store = new DeviceStore({
    clock: systemClock,
    maxDevices: block.n,
    stateFile: path,
    snapshotIntervalMs: 0,
    pruneIntervalMs: 0,
  });
  await store.start();
  for (let i = 0; i < block.n; i++) store.markSeen(formatIpv4(block.first + i));
  await store.stop();
  return { bytes: statSync(path).size, ms: Date.now() - t0 };
}

/** Reads what was appended to a file since the last call, line by line. */
class Tail {
  readonly #path: string;
  #pos = 0;
  #rest = '';
  readonly #buf = Buffer.alloc(1 << 20);

  constructor(path: string) {
    this.#path = path;
  }

  read(each: (line: string) => void): void {
    if (!existsSync(this.#path)) return;
    const fd = openSync(this.#path, 'r');
    try {
      for (;;) {
        const n = readSync(fd, this.#buf, 0, this.#buf.length, this.#pos);
        if (n <= 0) break;
        this.#pos += n;
        const lines = (this.#rest + this.#buf.toString('utf8', 0, n)).split('\n');
        this.#rest = lines.pop() ?? '';
        for (const l of lines) each(l);
      }
    } finally {
      closeSync(fd);
    }
  }
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** The agent's JSON log: ms after `t0` of the first line with `msg`, and that line. */
function logged(logPath: string, msg: string, t0: number): { ms: number; line: Record<string, unknown> } | undefined {
  for (const l of readFileSync(logPath, 'utf8').split('\n')) {
    if (!l.includes(msg)) continue;
    try {
      const line = JSON.parse(l) as Record<string, unknown>;
      if (line['msg'] === msg) return { ms: Date.parse(String(line['time'])) - t0, line };
    } catch {
      // not JSON (a stack trace, node's own output)
    }
  }
  return undefined;
}

async function runOnce(run: number, dir: string, configPath: string, block: DeviceBlock): Promise<void> {
  rmSync(join(dir, 'points.lp'), { force: true });
  rmSync(join(dir, 'spool'), { recursive: true, force: true });
  const logPath = join(dir, `agent-${run}.log`);
  const profDir = join(dir, `prof-${run}`);
  const logFd = openSync(logPath, 'w');
  const tail = new Tail(join(dir, 'points.lp'));
  const first = new FirstPings(block);
  const t0 = Date.now();
  const child = spawn(
    process.execPath,
    [
      ...launcherNodeFlags(),
      ...(cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []),
      BIN,
      '--log-level',
      'info',
      '--log-format',
      'json',
      'run',
      '-c',
      configPath,
    ],
    { stdio: ['ignore', logFd, logFd] },
  );
  closeSync(logFd);
  const pid = child.pid!;
  if (niceness !== 0) setPriority(pid, niceness);
  let healthMs = Number.NaN;
  let monitoredMs = Number.NaN;
  let cpuAtMonitored = Number.NaN;
  let waitAtMonitored = Number.NaN;
  let allInFileMs = Number.NaN;
  let lastMonitored = 0;
  try {
    while (Date.now() - t0 < DEADLINE_MS && child.exitCode === null) {
      if (Number.isNaN(monitoredMs)) {
        const r = await timedGet('127.0.0.1', HEALTH_PORT, '/health', 2000);
        if (r.status === 200) {
          const now = Date.now() - t0;
          if (Number.isNaN(healthMs)) healthMs = now;
          lastMonitored = (JSON.parse(r.body) as { monitored_devices: number }).monitored_devices;
          if (lastMonitored >= block.n) {
            monitoredMs = now;
            cpuAtMonitored = processCpuSeconds(pid);
            waitAtMonitored = runQueueWaitMs(pid);
          }
        }
      }
      tail.read((l) => first.add(l));
      if (first.devices >= block.n && Number.isNaN(allInFileMs)) allInFileMs = Date.now() - t0;
      if (!Number.isNaN(monitoredMs) && !Number.isNaN(allInFileMs)) break;
      await sleep(POLL_MS);
    }
  } finally {
    const done = exited(child);
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await done;
    clearTimeout(killer);
  }
  const restored = logged(logPath, 'device state restored', t0);
  const started = logged(logPath, 'netscan started', t0);
  emit({
    case: 'startup',
    run,
    devices: block.n,
    interval_ms: intervalMs,
    nice: niceness,
    restored: Number(restored?.line['count'] ?? Number.NaN),
    restore_ms: Math.round(Number(restored?.line['duration_ms'] ?? Number.NaN)),
    restored_logged_ms: restored?.ms ?? Number.NaN,
    started_logged_ms: started?.ms ?? Number.NaN,
    health_ms: healthMs,
    monitored_ms: monitoredMs,
    monitored_at_deadline: Number.isNaN(monitoredMs) ? lastMonitored : block.n,
    monitored_ok: monitoredMs <= TARGET_MONITORED_MS ? 'yes' : 'NO',
    all_pinged_ms: first.lastFirstMs() - t0,
    half_pinged_ms: first.quantileMs(0.5) - t0,
    pinged_devices: first.devices,
    first_ping_replies: first.replies,
    all_in_file_ms: allInFileMs,
    agent_cpu_s_to_monitored: Math.round(cpuAtMonitored * 100) / 100,
    agent_waited_for_cpu_ms_to_monitored: Math.round(waitAtMonitored),
    exit_code: child.exitCode,
  });
  if (cpuProf && existsSync(profDir))
    for (const f of readdirSync(profDir).filter((x) => x.endsWith('.cpuprofile'))) {
      const s = summariseProfile(JSON.parse(readFileSync(join(profDir, f), 'utf8')) as CpuProfile, 25);
      note(
        `profile ${join(profDir, f)}: ${s.wallMs} ms, main thread busy ${s.busyPct}%; top functions (self% / inclusive%):`,
      );
      for (const fn of s.functions)
        note(`  ${String(fn.selfPct).padStart(5)}% ${String(fn.totalPct).padStart(5)}%  ${fn.name}`);
    }
}

const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'netscan-bench-startup-'));
try {
  const block = deviceBlock(devices);
  const configPath = join(dir, 'config.yaml');
  writeFileSync(configPath, startupConfigYaml({ block, intervalMs, dir, healthPort: HEALTH_PORT, sweepRatePps: 50 }));
  const state = await writeState(join(dir, 'state.json'), block);
  note(
    `${devices} devices (${formatIpv4(block.first)} ...), state file ${state.bytes} bytes written in ${state.ms} ms; ${runs} run(s) in ${dir}`,
  );
  for (let r = 1; r <= runs; r++) await runOnce(r, dir, configPath, block);
} finally {
  if (keep) note(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
}
