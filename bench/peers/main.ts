// Peer benchmark for monitoring at scale: `npm run bench -- peers [--devices 1000,5000] [--seconds 30] [--json]
// [--only netscan,fping_one,fping_burst,fping_paced,smokeping,floor] [--smokeping-mode unprivileged|privileged]
// [--smokeping-wait S]`.
//
// Re-executes itself inside a private network namespace (`unshare -n`, lo up: 127.0.0.0/8 answers,
// nothing leaves the machine). For each fleet size N, every peer pings the same N loopback devices
// (bench/agent's fleet) once per second for --seconds, one after the other, and one table is printed
// with CPU cores (utime+stime of all the peer's processes over the window, /proc), µs of CPU per ping
// sent, pings sent as % of N per second, replies lost (sent - received) and RSS:
//   - netscan: the whole agent, run by bench/agent itself (`--devices N --interval 1s --baseline none
//     --probe-ms 0`: the same spawn, discovery wait and measurement, no endpoint probes);
//   - fping one: `fping -l -p 1000 -i GAP -t 500 -Q 10 -g FIRST LAST`, GAP = 1000 / N / 1.25 ms;
//   - fping -i 0: one process per 5,000 targets, `-i 0` (each process sends its whole round at once);
//   - fping paced: the same processes with `-i` = 1000 / targets-per-process ms;
//   - smokeping_prober (Debian prometheus-smokeping-prober, installed with apt-get when missing and
//     possible): N hosts at 1 s, /metrics on 127.0.0.1, sent and received from its counters; its default
//     unprivileged mode (one datagram ICMP socket per host), or --smokeping-mode privileged (one raw
//     socket per host: the kernel hands every raw ICMP socket a copy of every reply, N x N a second).
//     It starts its pingers one at a time and serves /metrics once all have: the window starts 3 s
//     after spawn like the others, or with --smokeping-wait S once /metrics answers (at most S s);
//   - the C floor (bench/icmp/floor.c, gcc -O2 at bench time): one raw socket, sendmmsg every 5 ms,
//     recvmmsg, kernel TX and RX stamps: what the kernel alone costs at N pings/s.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatIpv4 } from '../../internal/icmp/ipv4.js';
import { deviceNetworks } from '../agent/fleet.js';
import { sampleUsage, stopChild } from '../agent/measure.js';
import { timedGet } from '../agent/proc.js';
import { buildFloor, runFloor, type FloorBinary } from '../icmp/floor.js';
import {
  PEER_COLUMNS,
  countStartedPingers,
  fpingSendRate,
  formatPeersTable,
  fpingLoopArgv,
  parseFpingStderr,
  parseSmokepingMetrics,
  smokepingConfig,
  splitFleet,
  type PeerCell,
  type PeerKey,
  type TargetRange,
} from './peers.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const devicesArg = argValue('--devices') ?? '1000,5000';
const secondsArg = argValue('--seconds') ?? '30';
const onlyArg = argValue('--only');
const smokepingMode = argValue('--smokeping-mode') ?? 'unprivileged';
const smokepingWaitArg = argValue('--smokeping-wait') ?? '0';
const smokepingWaitS = Number(smokepingWaitArg);
const problems: string[] = [];
const fleets = devicesArg.split(',').map(Number);
if (fleets.some((n) => !Number.isInteger(n) || n < 1 || n > 100_000))
  problems.push(`--devices: "${devicesArg}" must be a comma-separated list of integers from 1 to 100000`);
const seconds = Number(secondsArg);
// At least one whole fping -Q interval (10 s) in every fping run: its steady send rate.
if (!Number.isFinite(seconds) || seconds < 10 || seconds > 600)
  problems.push(`--seconds: "${secondsArg}" must be a number of seconds from 10 to 600`);
const peers = onlyArg === undefined ? [...PEER_COLUMNS] : (onlyArg.split(',') as PeerKey[]);
const unknown = peers.filter((p) => !(PEER_COLUMNS as readonly string[]).includes(p));
if (unknown.length > 0) problems.push(`--only: "${unknown.join(',')}" unknown; allowed: ${PEER_COLUMNS.join(', ')}`);
if (smokepingMode !== 'unprivileged' && smokepingMode !== 'privileged')
  problems.push(`--smokeping-mode: "${smokepingMode}" must be unprivileged or privileged`);
if (!Number.isFinite(smokepingWaitS) || smokepingWaitS < 0 || smokepingWaitS > 3600)
  problems.push(`--smokeping-wait: "${smokepingWaitArg}" must be a number of seconds from 0 to 3600`);
if (problems.length > 0) {
  console.error(`bench peers: ${problems.join('; ')}`);
  process.exit(2);
}
const note = (msg: string): void => console.error(`bench peers: ${msg}`);
const have = (bin: string): boolean => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0;
const SMOKEPING_BINS = ['prometheus-smokeping-prober', 'smokeping_prober'];

/** Installs a Debian package the way scripts/setup.sh does when its binary is missing and apt-get can. */
function ensurePackage(pkg: string, bins: string[]): void {
  if (bins.some(have)) return;
  if (process.getuid?.() !== 0 || !have('apt-get')) {
    note(`${pkg} missing; not root or no apt-get, so its peer will be skipped (apt-get install -y ${pkg})`);
    return;
  }
  note(`${pkg} missing: apt-get install -y ${pkg}`);
  const install = (): number | null => spawnSync('apt-get', ['install', '-y', '-q', pkg], { stdio: 'ignore' }).status;
  if (install() !== 0) {
    spawnSync('apt-get', ['update', '-q'], { stdio: 'ignore' });
    if (install() !== 0) note(`apt-get install -y ${pkg} failed; its peer will be skipped`);
  }
}

// ---------------------------------------------------------------------------------------------
// Outside the namespace: install what is missing (the namespace has no network), then run again inside.
if (process.env.NETSCAN_BENCH_PEERS_NETNS !== '1') {
  if (peers.some((p) => p.startsWith('fping'))) ensurePackage('fping', ['fping']);
  if (peers.includes('smokeping')) ensurePackage('prometheus-smokeping-prober', SMOKEPING_BINS);
  // Datagram ICMP sockets for every group, in this namespace only (smokeping_prober's default mode;
  // the agent's engine tries raw sockets first, so it is unaffected).
  const groups = 'echo "0 2147483647" > /proc/sys/net/ipv4/ping_group_range';
  const script = ['set -e', 'ip link set lo up', groups, 'exec "$0" "$@"'].join('\n');
  const res = spawnSync(
    'unshare',
    ['-n', '--', 'sh', '-c', script, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...args],
    { stdio: 'inherit', env: { ...process.env, NETSCAN_BENCH_PEERS_NETNS: '1' } },
  );
  if (res.error || res.status === null)
    console.error(
      `bench peers: cannot run inside a private namespace (needs root and unshare -n): ${res.error?.message ?? res.signal}`,
    );
  process.exit(res.status ?? 1);
}

// ---------------------------------------------------------------------------------------------
// Inside the namespace.
const INTERVAL_MS = 1000;
const TIMEOUT_MS = 500;
const WARMUP_MS = 3000;
const FPING_PER_PROCESS = 5000;
/** fping -Q: its interval summaries give the send rate (whole intervals only). */
const FPING_SUMMARY_S = 10;
const SMOKEPING_LISTEN = { host: '127.0.0.1', port: 19_374 };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const r3 = (x: number): number => Math.round(x * 1000) / 1000;

/** A peer's cell plus what the table does not show (commands, notes, extra figures). */
interface PeerResult {
  cell: PeerCell;
  command?: string;
  notes: string[];
  extra?: Record<string, unknown>;
}

function workDir(tag: string): string {
  return mkdtempSync(join(tmpdir(), `netscan-bench-peers-${tag}-`));
}

/** The whole agent, by bench/agent's own case runner (a child process: that bench runs at module level). */
async function runNetscan(n: number): Promise<PeerResult> {
  const here = fileURLToPath(import.meta.url);
  const agentBench = join(dirname(here), '..', 'agent', `main${extname(here)}`);
  const argv = ['--devices', String(n), '--interval', '1s', '--seconds', String(seconds)];
  argv.push('--baseline', 'none', '--probe-ms', '0', '--json');
  const child = spawn(process.execPath, [...process.execArgv, agentBench, ...argv], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NETSCAN_BENCH_AGENT_NETNS: '1' },
  });
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  await new Promise((resolve) => child.on('close', resolve));
  const row = out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((r) => String(r.case).startsWith('monitor_') && typeof r.cpu_cores === 'number');
  if (!row) throw new Error(`bench agent printed no monitor row: ${err.trim().slice(-500)}`);
  const num = (k: string): number => Number(row[k]);
  const pps = num('health_pings_sent') / num('window_s');
  return {
    cell: {
      label: '1 (agent)',
      cpuCores: num('cpu_cores'),
      usPerPing: (num('cpu_cores') * 1e6) / pps,
      sentPct: num('health_sent_pct'),
      lost: num('failures'),
      rssMb: num('rss_avg_mb'),
    },
    command: `bench/agent ${argv.join(' ')}`,
    notes: [
      `within slot ${String(row.on_time_pct)}%, RTT p99 ${String(row.rtt_p99_ms)} ms, kernel stamps ${String(row.icmp_kernel_timestamps)}, raw points written`,
    ],
    extra: Object.fromEntries(
      ['cpu_cores', 'rss_avg_mb', 'health_pings_sent', 'health_sent_pct', 'failures', 'on_time_pct', 'rtt_p99_ms'].map(
        (k) => [k, row[k]],
      ),
    ),
  };
}

/** fping processes in loop mode over `ranges`, measured together. */
async function runFping(tag: string, ranges: TargetRange[], gapMs: (size: number) => number): Promise<PeerResult> {
  const dir = workDir(tag);
  const children: Array<{ child: ChildProcess; argv: string[]; errPath: string }> = [];
  const started = Date.now();
  try {
    for (const [k, range] of ranges.entries()) {
      const gap = gapMs(range.to - range.from + 1);
      const argv = fpingLoopArgv({
        range,
        intervalMs: INTERVAL_MS,
        gapMs: gap,
        timeoutMs: TIMEOUT_MS,
        summaryS: FPING_SUMMARY_S,
      });
      const errPath = join(dir, `fping-${k}.stderr`);
      const fd = openSync(errPath, 'w');
      children.push({ child: spawn('fping', argv, { stdio: ['ignore', 'ignore', fd] }), argv, errPath });
      closeSync(fd);
    }
    await sleep(WARMUP_MS);
    const usage = await sampleUsage(
      children.map((x) => x.child.pid!),
      Date.now() + seconds * 1000,
      async () => undefined,
    );
    const died = children.filter((x) => x.child.exitCode !== null || x.child.signalCode !== null);
    const lifeS = (Date.now() - started) / 1000;
    await Promise.all(children.map((x) => stopChild(x.child, 5000, 'SIGINT')));
    let sent = 0;
    let received = 0;
    let pps = 0;
    const other = new Set<string>();
    for (const { errPath } of children) {
      const rep = parseFpingStderr(readFileSync(errPath, 'utf8'));
      // A process that died printed no final summary: what its interval summaries counted.
      const counts = rep.final ?? rep.intervals;
      sent += counts.sent;
      received += counts.received;
      pps += fpingSendRate(rep, FPING_SUMMARY_S, lifeS);
      for (const l of rep.otherLines) other.add(l.slice(0, 200));
    }
    const notes = [...other];
    if (died.length > 0)
      notes.unshift(
        `${died.length} of ${children.length} fping process(es) exited before the window ended (exit ${died.map((x) => x.child.exitCode ?? x.child.signalCode).join(', ')}): its CPU after that counts as 0`,
      );
    const n = ranges.reduce((a, r) => a + r.to - r.from + 1, 0);
    return {
      cell: {
        label: ranges.length === 1 ? '1' : `${ranges.length} x ${Math.ceil(n / ranges.length).toLocaleString('en-US')}`,
        cpuCores: usage.cpuCores,
        usPerPing: pps > 0 ? (usage.cpuCores * 1e6) / pps : Number.NaN,
        sentPct: (100 * pps) / ((n * 1000) / INTERVAL_MS),
        lost: sent - received,
        rssMb: usage.rssAvgMb,
      },
      command: children.map((x) => `fping ${x.argv.join(' ')}`).join(' & '),
      notes,
      extra: {
        processes: ranges.length,
        sent,
        received,
        pps: r3(pps),
        life_s: r3(lifeS),
        window_s: r3(usage.windowMs / 1000),
      },
    };
  } finally {
    for (const { child } of children)
      if (child.exitCode === null && child.signalCode === null) await stopChild(child, 5000, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * smokeping_prober over the fleet, measured like the others from 3 s after spawn. It starts its
 * pingers one by one and serves /metrics only once all have started, so pingers started come from
 * its log, and sent/received from /metrics when it answers (deltas over the window when it already
 * answered at the window's start, else its counters since start).
 */
async function runSmokeping(first: number, n: number): Promise<PeerResult> {
  const bin = SMOKEPING_BINS.find(have);
  if (bin === undefined) return { cell: { label: '-', skipped: 'skipped: not installed' }, notes: [] };
  const dir = workDir('smokeping');
  const hosts = Array.from({ length: n }, (_, k) => formatIpv4(first + k));
  const config = join(dir, 'smokeping.yml');
  writeFileSync(config, smokepingConfig(hosts, INTERVAL_MS));
  const listen = `${SMOKEPING_LISTEN.host}:${SMOKEPING_LISTEN.port}`;
  const argv = [`--config.file=${config}`, `--web.listen-address=${listen}`, '--log.level=info'];
  if (smokepingMode === 'privileged') argv.push('--privileged');
  const logPath = join(dir, 'smokeping.log');
  const fd = openSync(logPath, 'w');
  const started = Date.now();
  const child = spawn(bin, argv, { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const scrape = async (): Promise<{ at: number; m: ReturnType<typeof parseSmokepingMetrics> } | undefined> => {
    const at = Date.now();
    const r = await timedGet(SMOKEPING_LISTEN.host, SMOKEPING_LISTEN.port, '/metrics', 60_000);
    return r.status === 200 ? { at, m: parseSmokepingMetrics(r.body) } : undefined;
  };
  try {
    await sleep(WARMUP_MS);
    // --smokeping-wait: up to so many seconds for every pinger to start (/metrics answering) before the window.
    for (const until = Date.now() + smokepingWaitS * 1000; Date.now() < until && child.exitCode === null;) {
      if ((await scrape()) !== undefined) break;
      await sleep(1000);
    }
    if (child.exitCode !== null)
      throw new Error(`exited with ${child.exitCode}: ${readFileSync(logPath, 'utf8').slice(-300)}`);
    const windowStart = Date.now();
    const startedAt0 = countStartedPingers(readFileSync(logPath, 'utf8'));
    const s0 = await scrape();
    const usage = await sampleUsage([child.pid!], Date.now() + seconds * 1000, async () => undefined);
    const s1 = await scrape();
    const startedAt1 = countStartedPingers(readFileSync(logPath, 'utf8'));
    const figures = ((): { sent: number; received: number; spanS: number; how: string } | undefined => {
      if (s1 === undefined) return undefined;
      if (s0 !== undefined)
        return {
          sent: s1.m.sent - s0.m.sent,
          received: s1.m.received - s0.m.received,
          spanS: (s1.at - s0.at) / 1000,
          how: 'over the window',
        };
      return {
        sent: s1.m.sent,
        received: s1.m.received,
        spanS: (s1.at - started) / 1000,
        how: 'since start (it began serving /metrics during the window)',
      };
    })();
    return {
      cell: {
        label: `1 (${startedAt1.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} pingers started)`,
        cpuCores: usage.cpuCores,
        usPerPing: figures && figures.sent > 0 ? (usage.cpuCores * 1e6 * figures.spanS) / figures.sent : Number.NaN,
        sentPct: figures ? (100 * figures.sent) / ((n * figures.spanS * 1000) / INTERVAL_MS) : Number.NaN,
        lost: figures ? figures.sent - figures.received : Number.NaN,
        rssMb: usage.rssAvgMb,
      },
      command: `${bin} ${argv.join(' ')} (${n} hosts, interval ${INTERVAL_MS}ms, network ip4, protocol icmp)`,
      notes: [
        `${smokepingMode} mode, window from ${((windowStart - started) / 1000).toFixed(1)} s after spawn; pingers started (its log): ${startedAt0} of ${n} at the window's start, ${startedAt1} at its end; /metrics ${s0 ? 'answered at the window start' : s1 ? 'answered only at the window end' : 'not answering at the window end (it listens once every pinger has started): sent, lost and µs/ping unknown'}${figures ? `; counters ${figures.how}` : ''}`,
      ],
      extra: {
        mode: smokepingMode,
        started_start: startedAt0,
        started_end: startedAt1,
        listening_start: s0 !== undefined,
        listening_end: s1 !== undefined,
        ...figures,
      },
    };
  } finally {
    await stopChild(child, 10_000);
    rmSync(dir, { recursive: true, force: true });
  }
}
/** The C floor at N pings/s over the same fleet, kernel TX stamps on (as the agent's engine). */
async function runFloorPeer(bin: FloorBinary | { skipped: string }, first: number, n: number): Promise<PeerResult> {
  if (!('path' in bin)) return { cell: { label: '-', skipped: bin.skipped }, notes: [] };
  const f = await runFloor(bin, { pps: n, seconds, txStamps: true, targets: n, firstIpv4: formatIpv4(first) });
  return {
    cell: {
      label: '1',
      cpuCores: f.cpuUs / 1e6 / f.wallS,
      usPerPing: f.cpuUsPerPing,
      // Late by less than 50 ms (the agent's late-send tolerance) is on time; later, the rate over its real span.
      sentPct: (100 * f.sent) / (f.pps * (f.sendSpanS - f.seconds < 0.05 ? f.seconds : f.sendSpanS)),
      lost: f.sent - f.received,
      rssMb: f.maxRssMb,
    },
    command: `floor ${n} ${seconds} 1 ${n} ${formatIpv4(first)} (bench/icmp/floor.c, gcc -O2)`,
    notes: [`TX stamps read ${f.txStampsRead}, mean RTT (kernel stamps) ${f.rttAvgUs.toFixed(1)} µs; RSS is the peak`],
    extra: { ...f },
  };
}

// ---------------------------------------------------------------------------------------------
note(
  `inside a private namespace; ${spawnSync('fping', ['-v'], { encoding: 'utf8' }).stdout?.trim() || 'fping not found'}; ${seconds} s per peer; fleets ${fleets.join(', ')}`,
);
const floorBin = peers.includes('floor') ? buildFloor() : { skipped: 'not run' };
const runs: Array<{ devices: number; cells: Partial<Record<PeerKey, PeerCell>> }> = [];
const footnotes: string[] = [];
try {
  for (const n of fleets) {
    const { first } = deviceNetworks(n);
    const cells: Partial<Record<PeerKey, PeerCell>> = {};
    runs.push({ devices: n, cells });
    const ranges = splitFleet(first, n, FPING_PER_PROCESS);
    const runners: Record<PeerKey, () => Promise<PeerResult>> = {
      netscan: () => runNetscan(n),
      fping_one: () => runFping('one', [{ from: first, to: first + n - 1 }], (size) => INTERVAL_MS / size / 1.25),
      fping_burst: () => runFping('burst', ranges, () => 0),
      fping_paced: () => runFping('paced', ranges, (size) => INTERVAL_MS / size),
      smokeping: () => runSmokeping(first, n),
      floor: () => runFloorPeer(floorBin, first, n),
    };
    for (const key of peers) {
      if (key.startsWith('fping') && !have('fping')) {
        cells[key] = { label: '-', skipped: 'skipped: not installed' };
        continue;
      }
      note(`${n} devices: ${key}...`);
      let r: PeerResult;
      try {
        r = await runners[key]();
      } catch (e) {
        r = {
          cell: { label: '-', skipped: `failed: ${(e instanceof Error ? e.message : String(e)).slice(0, 300)}` },
          notes: [],
        };
      }
      cells[key] = r.cell;
      const fig =
        r.cell.skipped ??
        `${r3(r.cell.cpuCores ?? NaN)} cores, ${r3(r.cell.usPerPing ?? NaN)} µs/ping, sent ${r3(r.cell.sentPct ?? NaN)}%`;
      note(`${n} devices: ${key}: ${fig}`);
      if (r.command) footnotes.push(`${n} ${key}: ${r.command}`);
      for (const x of r.notes) footnotes.push(`${n} ${key}: ${x}`);
      if (json)
        console.log(
          JSON.stringify({
            suite: 'peers',
            case: `${key}_${n}`,
            devices: n,
            ...r.cell,
            command: r.command,
            notes: r.notes,
            ...r.extra,
          }),
        );
    }
  }
} finally {
  if ('dispose' in floorBin) floorBin.dispose();
}
const table = formatPeersTable(runs);
if (json) console.log(JSON.stringify({ suite: 'peers', case: 'table', seconds, markdown: table }));
else
  console.log(
    [
      `peers: N loopback devices pinged once per second, ${seconds} s window each; CPU = utime+stime of all the peer's processes; µs/ping = CPU per ping sent; sent % of N/s; lost = sent - received`,
      table,
      '',
      ...footnotes.map((f) => `- ${f}`),
    ].join('\n'),
  );
