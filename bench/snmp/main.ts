// SNMP enrichment throughput: `npm run bench -- snmp [--json] [--devices N] [--rate R] [--dead 0,50,80] [--cap-demo]`.
// Re-executes itself inside a private network namespace (only loopback) where one real Debian
// snmpd bound on udp:0.0.0.0 answers for every 127.x address, so 10,000 "devices" are 10,000
// loopback addresses. Dead devices: nft drops their SNMP requests on the INPUT hook, so they
// time out exactly like a dead host. The enricher runs with the real net-snmp session, the real
// clock and the real token bucket; only the state (FakeSnmpState) and the sink (a counter) are stand-ins.
//
// Per scenario (share of dead agents) it measures the time from enqueueing N devices until every
// one has succeeded or failed, and compares it with N / rate and with a baseline measured in the
// same run: the same enricher and token bucket over an instant fake session (pacing alone).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../internal/clock/clock.js';
import { createLogger } from '../../internal/log/log.js';
import type { SnmpInfo } from '../../internal/model/device.js';
import type { Point, PointSink } from '../../internal/model/point.js';
import { SnmpEnricher, type SnmpEnricherOptions } from '../../internal/snmp/enricher.js';
import {
  NetSnmpSession,
  type SnmpGetRequest,
  type SnmpGetResult,
  type SnmpSession,
} from '../../internal/snmp/session.js';
import { FakeSnmpSession, FakeSnmpState } from '../../internal/testkit/fake-snmp.js';
import { Snmpd } from '../../internal/testkit/snmpd.js';

const args = process.argv.slice(2);
const json = args.includes('--json');
const argValue = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const N = Number(argValue('--devices') ?? 10_000);
const RATE = Number(argValue('--rate') ?? 500);
const DEAD = (argValue('--dead') ?? '0,50,80').split(',').map(Number);
const capDemo = args.includes('--cap-demo');

// ---------------------------------------------------------------------------------------------
// Outside the namespace: create it and run this file again inside.
if (process.env.NETSCAN_BENCH_NETNS !== '1') {
  const res = spawnSync(
    'unshare',
    [
      '-n',
      '--',
      'sh',
      '-c',
      'set -e; ip link set lo up; exec "$0" "$@"',
      process.execPath,
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      ...args,
    ],
    {
      stdio: 'inherit',
      env: { ...process.env, NETSCAN_BENCH_NETNS: '1', NETSCAN_TEST_NETNS: '1' },
    },
  );
  if (res.error || res.status === null)
    console.error(
      `bench snmp: cannot run inside a private namespace (needs root and unshare -n): ${res.error?.message ?? res.signal}`,
    );
  process.exit(res.status ?? 1);
}

// ---------------------------------------------------------------------------------------------
// Inside the namespace.
const ips = Array.from({ length: N }, (_, i) => `127.1.${(i >> 8) & 255}.${i & 255}`);
if (N > 65_536) throw new Error('at most 65,536 devices (127.1.0.0/16)');
// Dead devices are spread over the whole dispatch order, not bunched: a multiplicative hash of the index.
const isDead = (i: number, pct: number): boolean => ((i * 2_654_435_761) >>> 0) % 100 < pct;

const dir = mkdtempSync(join(tmpdir(), 'netscan-bench-snmp-'));
function nft(script: string): void {
  const file = join(dir, 'rules.nft');
  writeFileSync(file, script);
  const r = spawnSync('nft', ['-f', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`nft failed: ${r.stderr}`);
}

/** The fake state, counting finished queries so the wait loop stays O(1) (stats() is O(devices)). */
class CountingState extends FakeSnmpState {
  done = 0;
  override recordSnmpSuccess(ip: string, info: SnmpInfo): void {
    this.done++;
    super.recordSnmpSuccess(ip, info);
  }
  override recordSnmpFailure(ip: string, maxFails: number, backoffMs: number): boolean {
    this.done++;
    return super.recordSnmpFailure(ip, maxFails, backoffMs);
  }
}

class CountingSink implements PointSink {
  points = 0;
  write(_p: Point): number {
    this.points++;
    return 0;
  }
}

/** Counts GETs in flight on the real session, to report the peak. */
class PeakSession implements SnmpSession {
  inFlight = 0;
  peak = 0;
  readonly #inner: SnmpSession;
  constructor(inner: SnmpSession) {
    this.#inner = inner;
  }
  async get(req: SnmpGetRequest): Promise<SnmpGetResult> {
    this.inFlight++;
    this.peak = Math.max(this.peak, this.inFlight);
    try {
      return await this.#inner.get(req);
    } finally {
      this.inFlight--;
    }
  }
}

interface RunResult {
  scenario: string;
  devices: number;
  dead_pct: number;
  rate_limit: number;
  max_in_flight: number;
  deadline_ms: number;
  total_ms: number;
  ideal_ms: number;
  ratio_to_ideal: number;
  ratio_to_baseline: number | null;
  devices_per_s: number;
  successes: number;
  failures: { timeout: number; auth: number; no_such: number; other: number };
  peak_in_flight: number;
  cpu_ms: number;
}

const snmpd = await Snmpd.start({
  community: 'bench-ro',
  sysName: 'bench',
  sysDescr: 'netscan bench agent',
  bindAll: true,
});
nft(
  [
    'table inet snmp_bench {',
    '  set dead { type ipv4_addr; }',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    `    ip daddr @dead udp dport ${snmpd.port} drop`,
    '  }',
    '}',
    '',
  ].join('\n'),
);

const base: Partial<SnmpEnricherOptions> & Pick<SnmpEnricherOptions, 'credentials'> = {
  credentials: [{ version: '2c', community: 'bench-ro' }],
  port: snmpd.port,
  ratePerSec: RATE,
  burst: 50,
  timeoutMs: 1_000,
  retries: 0,
  deadlineMs: 1_000,
  // Little's law: rate x deadline x share of dead agents must fit; 1.2 x rate x deadline covers 100% dead.
  maxInFlight: Math.ceil(RATE * 1.2),
  intervalMs: 3_600_000,
};

async function run(
  scenario: string,
  session: SnmpSession,
  deadPct: number,
  opts: Partial<SnmpEnricherOptions> = {},
  baselineMs?: number,
  list: readonly string[] = ips,
): Promise<RunResult> {
  const n = list.length;
  nft(
    `flush set inet snmp_bench dead\n${deadPct > 0 ? `add element inet snmp_bench dead { ${list.filter((_, i) => isDead(i, deadPct)).join(', ')} }\n` : ''}`,
  );
  const state = new CountingState(systemClock);
  for (const ip of list) state.add(ip);
  const sink = new CountingSink();
  const peak = new PeakSession(session);
  const o = { ...base, ...opts };
  const enricher = new SnmpEnricher(
    { clock: systemClock, session: peak, state, sink, logger: createLogger({ level: 'error' }) },
    o,
  );
  await enricher.start();
  global.gc?.();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const ip of list) enricher.enqueue(ip);
  while (state.done < n) await systemClock.sleep(5);
  const totalMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const s = enricher.stats();
  await enricher.stop();
  const idealMs = (n / o.ratePerSec!) * 1000;
  return {
    scenario,
    devices: n,
    dead_pct: deadPct,
    rate_limit: o.ratePerSec!,
    max_in_flight: o.maxInFlight!,
    deadline_ms: o.deadlineMs!,
    total_ms: Math.round(totalMs),
    ideal_ms: Math.round(idealMs),
    ratio_to_ideal: Math.round((totalMs / idealMs) * 1000) / 1000,
    ratio_to_baseline: baselineMs === undefined ? null : Math.round((totalMs / baselineMs) * 1000) / 1000,
    devices_per_s: Math.round(n / (totalMs / 1000)),
    successes: s.successesTotal,
    failures: { ...s.failuresByClass },
    peak_in_flight: peak.peak,
    cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
  };
}

const results: RunResult[] = [];
function report(r: RunResult): void {
  results.push(r);
  if (json) {
    console.log(JSON.stringify(r));
    return;
  }
  const f = r.failures;
  console.log(
    `${r.scenario.padEnd(34)} ${String(r.dead_pct).padStart(3)}% dead  ${(r.total_ms / 1000).toFixed(2).padStart(7)} s  ` +
      `x${r.ratio_to_ideal.toFixed(3)} of N/rate  ${r.ratio_to_baseline === null ? '        ' : `x${r.ratio_to_baseline.toFixed(3)} base`}  ` +
      `${String(r.devices_per_s).padStart(5)} dev/s  ok ${r.successes} timeout ${f.timeout} other ${f.other + f.auth + f.no_such}  ` +
      `peak in flight ${r.peak_in_flight}  cpu ${(r.cpu_ms / 1000).toFixed(1)} s`,
  );
}

try {
  if (!json) {
    console.log(
      `SNMP enrichment: ${N} devices (127.1.0.0/16 in a private namespace, one real snmpd 5.9), rate ${RATE}/s, burst 50, timeout = deadline 1 s, max_in_flight ${base.maxInFlight}`,
    );
    console.log(
      `ideal N / rate = ${(N / RATE).toFixed(1)} s; a Go-style sequential poll (Get + 2 GetNext per dead agent, 1 s timeout) would need ${((N * 0.8 * 3) / 3600).toFixed(1)} h at 80% dead\n`,
    );
  }
  // Baseline: pacing alone, with an instant fake session on the real clock.
  const instant = new FakeSnmpSession({ clock: systemClock, record: false });
  for (const ip of ips) instant.setAgent(ip, { values: { sysName: 'x', sysDescr: 'x' }, latencyMs: 0 });
  const baseline = await run('baseline: instant fake session', instant, 0);
  report(baseline);
  const real = new NetSnmpSession();
  for (const pct of DEAD) report(await run('real snmpd via net-snmp', real, pct, {}, baseline.total_ms));
  if (capDemo) {
    // The default max_in_flight 50 with a 1 s deadline sustains only 50 / (0.8 x 1 s) = 62 devices/s at 80% dead.
    const n = Math.min(N, 2_000);
    report(
      await run(`cap demo: max_in_flight 50, ${n} devices`, real, 80, { maxInFlight: 50 }, undefined, ips.slice(0, n)),
    );
  }
} finally {
  await snmpd.stop();
  rmSync(dir, { recursive: true, force: true });
}
const worst = Math.max(...results.filter((r) => r.scenario.startsWith('real')).map((r) => r.ratio_to_ideal));
if (!json) console.log(`\nworst real scenario: x${worst.toFixed(3)} of N/rate (target <= 1.10)`);
