/**
 * The C floor (bench/icmp/floor.c): compiled with `gcc -O2` into a temporary directory when a
 * benchmark needs it, run at a given rate, its JSON line parsed. Used by the icmp bench's monitor
 * part and by the peers bench. Skipped, with the reason, when gcc is missing or the build fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What one floor run printed. */
export interface FloorResult {
  /** Requested pings per second. */
  pps: number;
  /** Requested duration, s. */
  seconds: number;
  /** Measured from the first tick to the end of the final 200 ms drain, s. */
  wallS: number;
  /** From the first tick to the end of the last, s: above `seconds` when ticks ran late (a busy machine). */
  sendSpanS: number;
  targets: number;
  txStamps: boolean;
  sent: number;
  received: number;
  sendErrors: number;
  /** TX stamps read from the error queue. */
  txStampsRead: number;
  /** Peak RSS, MiB. */
  maxRssMb: number;
  /** getrusage user + system over the run, µs. */
  cpuUs: number;
  cpuUsPerPing: number;
  /** Mean RTT, µs: kernel TX stamp to kernel RX stamp, or tick start to RX stamp without TX stamps. */
  rttAvgUs: number;
}

/** Parses the JSON line floor.c prints; throws naming the field when one is missing. */
export function parseFloorLine(stdout: string): FloorResult {
  const line = stdout
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`floor: no JSON line in its output: ${JSON.stringify(stdout.slice(0, 200))}`);
  const o = JSON.parse(line) as Record<string, unknown>;
  const num = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number') throw new Error(`floor: field ${k} missing or not a number in ${line}`);
    return v;
  };
  return {
    pps: num('pps'),
    seconds: num('seconds'),
    wallS: num('wall_s'),
    sendSpanS: num('send_span_s'),
    targets: num('targets'),
    txStamps: o.tx_stamps_on === true,
    sent: num('sent'),
    received: num('received'),
    sendErrors: num('send_errors'),
    txStampsRead: num('tx_stamps'),
    maxRssMb: num('max_rss_kb') / 1024,
    cpuUs: num('cpu_us'),
    cpuUsPerPing: num('cpu_us_per_ping'),
    rttAvgUs: num('rtt_avg_us'),
  };
}

/** floor.c in the source tree (this module runs from dist/bench/icmp or from bench/icmp). */
function floorSource(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) {
      const src = join(dir, 'bench', 'icmp', 'floor.c');
      return existsSync(src) ? src : undefined;
    }
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

/** A compiled floor binary; `dispose()` removes its directory. */
export interface FloorBinary {
  path: string;
  dispose(): void;
}

/** Compiles floor.c with `gcc -O2`; `{ skipped }` says why when it cannot. */
export function buildFloor(): FloorBinary | { skipped: string } {
  const src = floorSource();
  if (src === undefined) return { skipped: 'skipped: bench/icmp/floor.c not found' };
  if (spawnSync('sh', ['-c', 'command -v gcc'], { stdio: 'ignore' }).status !== 0)
    return { skipped: 'skipped: gcc not installed (the C floor is compiled at bench time)' };
  const dir = mkdtempSync(join(tmpdir(), 'netscan-bench-floor-'));
  const path = join(dir, 'floor');
  const r = spawnSync('gcc', ['-O2', '-o', path, src], { encoding: 'utf8' });
  if (r.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    return { skipped: `skipped: gcc -O2 floor.c failed: ${(r.stderr || String(r.error)).trim().slice(0, 300)}` };
  }
  return { path, dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Options of one floor run. */
export interface FloorRunOptions {
  pps: number;
  seconds: number;
  txStamps: boolean;
  /** Distinct targets, round-robin (default 5000). */
  targets?: number;
  /** First target, dotted IPv4 (default 127.11.0.1); must be loopback or inside a private namespace. */
  firstIpv4?: string;
}

/** Runs the compiled floor once and parses what it printed. */
export function runFloor(bin: FloorBinary, o: FloorRunOptions): Promise<FloorResult> {
  const argv = [String(o.pps), String(o.seconds), o.txStamps ? '1' : '0'];
  if (o.targets !== undefined || o.firstIpv4 !== undefined) argv.push(String(o.targets ?? 5000));
  if (o.firstIpv4 !== undefined) argv.push(o.firstIpv4);
  return new Promise((resolve, reject) => {
    const child = spawn(bin.path, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`floor ${argv.join(' ')} exited with ${code}: ${err.trim().slice(0, 300)}`));
      else {
        try {
          resolve(parseFloorLine(out));
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      }
    });
  });
}
