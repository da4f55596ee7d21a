/**
 * A burst of concurrent GET requests against a loopback HTTP server, for pressure tests and the
 * pressure bench. Run in the caller's process ({@link httpBurst}), or as a script inside another
 * process's network namespace ({@link httpBurstInNetns}: `nsenter --net`), since an agent in a
 * private namespace is only reachable from there. Loopback only.
 */
import { spawn } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';

/** What a burst got back. */
export interface BurstResult {
  /** Answers by HTTP status code. */
  statuses: Record<string, number>;
  /** Requests that got no answer, by error code (ECONNRESET when the server's connection cap refused them, ...). */
  errors: Record<string, number>;
  /** Slowest answer, ms from the burst start. */
  slowestMs: number;
  /** Wall time of the whole burst, ms. */
  elapsedMs: number;
}

/** Options for {@link httpBurst}. */
export interface BurstOptions {
  /** Loopback port of the server. */
  port: number;
  /** Paths requested in turn (`/metrics`, `/health`, ...). */
  paths: readonly string[];
  /** Requests in flight at once, all started together. */
  count: number;
  /** Per-request timeout, ms (default 30,000). */
  timeoutMs?: number;
}

/** Sends `count` GET requests at once, each on its own connection, and waits for every one. */
export async function httpBurst(o: BurstOptions): Promise<BurstResult> {
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const start = performance.now();
  let slowestMs = 0;
  const one = (path: string): Promise<void> =>
    new Promise((resolve) => {
      const req = request(
        { host: '127.0.0.1', port: o.port, path, agent: false, timeout: o.timeoutMs ?? 30_000 },
        (res) => {
          res.resume();
          res.on('end', () => {
            statuses[String(res.statusCode)] = (statuses[String(res.statusCode)] ?? 0) + 1;
            slowestMs = Math.max(slowestMs, performance.now() - start);
            resolve();
          });
          res.on('error', (err: NodeJS.ErrnoException) => {
            errors[err.code ?? 'error'] = (errors[err.code ?? 'error'] ?? 0) + 1;
            resolve();
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
      req.on('error', (err: NodeJS.ErrnoException) => {
        errors[err.code ?? 'error'] = (errors[err.code ?? 'error'] ?? 0) + 1;
        resolve();
      });
      req.end();
    });
  await Promise.all(Array.from({ length: o.count }, (_, i) => one(o.paths[i % o.paths.length]!)));
  return { statuses, errors, slowestMs: Math.round(slowestMs), elapsedMs: Math.round(performance.now() - start) };
}

/** Runs {@link httpBurst} in the network namespace of process `pid` (needs nsenter and root). */
export function httpBurstInNetns(pid: number, o: BurstOptions): Promise<BurstResult> {
  const self = fileURLToPath(import.meta.url);
  const tsx = fileURLToPath(import.meta.resolve('tsx'));
  const args = [`--net=/proc/${pid}/ns/net`, process.execPath, '--import', tsx, self, JSON.stringify(o)];
  return new Promise((resolve, reject) => {
    const child = spawn('nsenter', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve(JSON.parse(out) as BurstResult);
      else reject(new Error(`http burst in netns exited ${code}: ${err}`));
    });
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  httpBurst(JSON.parse(process.argv[2]!) as BurstOptions)
    .then((r) => process.stdout.write(JSON.stringify(r)))
    .catch((err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exitCode = 1;
    });
}
