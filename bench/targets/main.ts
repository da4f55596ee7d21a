// Targets by name: `npm run bench -- targets [--json] [--count N] [--only agent]`. Runs in a mount + network
// namespace of its own (it re-executes itself under `unshare -m -n`) whose /etc/hosts names N
// loopback addresses, so every lookup is answered by the system resolver from that file and every
// ping stays on lo. Reports, for N names:
//   - one resolution cycle (TargetResolver.resolveAll) through dns.lookup: wall ms, names/s and
//     bytes allocated, against two baselines in the same run: the same targets given as addresses
//     (no lookup) and an in-memory fake lookup (the resolver's own cost);
//   - the whole agent (bin/netscan.js run): spawn to the first ping point, and to every target pinged.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lookup } from 'node:dns/promises';
import { GCProfiler } from 'node:v8';
import { stringify } from 'yaml';
import { TargetResolver, type LookupAll } from '../../internal/targets/target-resolver.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const count = args.includes('--count') ? Number(args[args.indexOf('--count') + 1]) || 20_000 : 20_000;
const root = fileURLToPath(new URL('../../..', import.meta.url));
const bin = join(root, 'bin', 'netscan.js');

const nameOf = (i: number): string => `t${String(i).padStart(5, '0')}.bench`;
const addressOf = (i: number): string => `127.1.${Math.floor(i / 250)}.${(i % 250) + 1}`;

if (process.env.NETSCAN_BENCH_TARGETS_NS !== '1') {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-bench-targets-'));
  const lines = ['127.0.0.1 localhost'];
  for (let i = 0; i < count; i++) lines.push(`${addressOf(i)} ${nameOf(i)}`);
  writeFileSync(join(dir, 'hosts'), `${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'nsswitch.conf'), 'hosts: files\n');
  const sh = [
    'set -e',
    'ip link set lo up',
    `mount --bind '${join(dir, 'hosts')}' /etc/hosts`,
    `mount --bind '${join(dir, 'nsswitch.conf')}' /etc/nsswitch.conf`,
    'exec "$0" "$@"',
  ].join('\n');
  const r = spawnSync(
    'unshare',
    ['-m', '-n', '--', 'sh', '-c', sh, process.execPath, ...process.execArgv, fileURLToPath(import.meta.url), ...args],
    {
      stdio: 'inherit',
      env: { ...process.env, NETSCAN_BENCH_TARGETS_NS: '1', NETSCAN_BENCH_DIR: dir },
    },
  );
  rmSync(dir, { recursive: true, force: true });
  process.exit(r.status ?? 1);
}

/** Wall time and bytes allocated by `fn` (allocated = heap growth + everything the collections freed meanwhile). */
async function measure(fn: () => Promise<unknown>): Promise<{ ms: number; allocatedBytes: number }> {
  (globalThis as { gc?: () => void }).gc?.();
  const profiler = new GCProfiler();
  profiler.start();
  const before = process.memoryUsage().heapUsed;
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  const after = process.memoryUsage().heapUsed;
  const events = profiler.stop()?.statistics ?? [];
  let freed = 0;
  for (const e of events)
    freed += Math.max(0, e.beforeGC.heapStatistics.usedHeapSize - e.afterGC.heapStatistics.usedHeapSize);
  return { ms, allocatedBytes: after - before + freed };
}

async function cycle(label: string, hosts: string[], look: LookupAll): Promise<Record<string, number | string>> {
  const resolver = new TargetResolver({ lookup: look });
  resolver.setHosts(hosts);
  const first = await measure(() => resolver.resolveAll());
  const again = await measure(() => resolver.resolveAll());
  const failing = [...resolver.failing()].length;
  return {
    case: label,
    targets: hosts.length,
    failing,
    first_cycle_ms: Math.round(first.ms),
    steady_cycle_ms: Math.round(again.ms),
    steady_names_per_s: Math.round(hosts.length / (again.ms / 1000)),
    steady_alloc_bytes_per_target: Math.round(again.allocatedBytes / hosts.length),
    steady_alloc_mib: Number((again.allocatedBytes / 1048576).toFixed(1)),
  };
}

async function agentStartup(): Promise<Record<string, number | string>> {
  const dir = process.env.NETSCAN_BENCH_DIR!;
  const out = join(dir, 'out.lp');
  const config = {
    targets: Array.from({ length: count }, (_, i) => nameOf(i)),
    icmp_discovery_interval: '1h',
    ping_interval: '10s',
    ping_timeout: '1s',
    ping_rate_limit: 20_000,
    ping_burst_limit: 20_000,
    max_devices: count + 10,
    max_concurrent_pingers: count + 10,
    summary_interval: '0',
    ping_raw_points: true,
    output_file: out,
    output_file_max_bytes: 1024 ** 3,
    influxdb: { enabled: false, flush_interval: '200ms' },
    state_file: join(dir, 'state.json'),
    spool_dir: join(dir, 'spool'),
    health_check_port: 0,
    agent_name: 'bench',
  };
  writeFileSync(join(dir, 'netscan.yaml'), stringify(config));
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin, 'run', '-c', join(dir, 'netscan.yaml')], {
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  let firstPingMs = NaN;
  let allMs = NaN;
  const seen = new Set<string>();
  let offset = 0;
  const deadline = t0 + 240_000;
  while (performance.now() < deadline && Number.isNaN(allMs)) {
    await new Promise((r) => setTimeout(r, 100));
    if (!existsSync(out)) continue;
    const text = readFileSync(out, 'utf8');
    const end = text.lastIndexOf('\n') + 1;
    for (const line of text.slice(offset, end).split('\n')) {
      if (!line.startsWith('ping,')) continue;
      if (Number.isNaN(firstPingMs)) firstPingMs = performance.now() - t0;
      const ip = /(?:^|,)ip=([^, ]+)/.exec(line)?.[1];
      if (ip) seen.add(ip);
    }
    offset = end;
    if (seen.size >= count) allMs = performance.now() - t0;
  }
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  return {
    case: 'agent start-up',
    targets: count,
    spawn_to_first_ping_ms: Math.round(firstPingMs),
    spawn_to_all_pinged_ms: Math.round(allMs),
    pinged: seen.size,
  };
}

const names = Array.from({ length: count }, (_, i) => nameOf(i));
const table = new Map(names.map((n, i) => [n, [{ address: addressOf(i), family: 4 }]]));
const fake: LookupAll = async (host) =>
  table.get(host) ?? Promise.reject(Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' }));
// --only agent: the whole-agent case alone (the lookup cycles take minutes at 20k).
const rows = args.includes('--only')
  ? [await agentStartup()]
  : [
      await cycle(
        'addresses (no lookup, baseline)',
        names.map((_, i) => addressOf(i)),
        fake,
      ),
      await cycle('names, in-memory lookup (resolver cost)', names, fake),
      await cycle('names, dns.lookup from /etc/hosts', names, lookup),
      await agentStartup(),
    ];
if (json) for (const r of rows) console.log(JSON.stringify(r));
else
  for (const r of rows)
    console.log(
      Object.entries(r)
        .map(([k, v]) => `${k}=${v}`)
        .join('  '),
    );
