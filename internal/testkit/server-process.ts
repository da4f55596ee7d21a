import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../clock/clock.js';

/**
 * Shared plumbing for the real servers tests start themselves (VictoriaMetrics, influxd):
 * free loopback ports, spawning with logs to a file, readiness polling with a deadline, and a
 * stop that waits for the exit. Only loopback addresses are ever used.
 */

/** Asks the kernel for a free TCP port on 127.0.0.1 (bind to port 0, read it, release it). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** A URL on loopback where nothing listens: requests to it fail with ECONNREFUSED. */
export async function refusedLoopbackUrl(): Promise<string> {
  return `http://127.0.0.1:${await freeLoopbackPort()}`;
}

/** Options for {@link ServerProcess}. */
export interface ServerProcessOptions {
  /** Human name for error messages (`victoria-metrics`, `influxd`). */
  name: string;
  /** Executable to run. */
  command: string;
  /** Arguments. */
  args: readonly string[];
  /** File receiving the child's stdout and stderr (appended). */
  logFile: string;
  /** Resolves true once the server answers; polled until `startTimeoutMs`. */
  ready: () => Promise<boolean>;
  /** How long to wait for readiness, in ms. */
  startTimeoutMs: number;
}

/** One child server process: start, wait until ready, stop (SIGTERM then SIGKILL), restart. */
export class ServerProcess {
  readonly #opts: ServerProcessOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<void> | undefined;

  constructor(opts: ServerProcessOptions) {
    this.#opts = opts;
  }

  /** True while the child runs. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Spawns the server and waits until `ready()` answers true; throws with the log tail otherwise. */
  async start(): Promise<void> {
    if (this.#child) return;
    const fd = openSync(this.#opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.#opts.command, [...this.#opts.args], { stdio: ['ignore', fd, fd] });
    } finally {
      closeSync(fd);
    }
    this.#child = child;
    let spawnError: Error | undefined;
    let exitCode: number | null | undefined;
    this.#exited = new Promise<void>((resolve) => {
      child.once('error', (err) => {
        spawnError = err;
        resolve();
      });
      child.once('exit', (code) => {
        exitCode = code;
        resolve();
      });
    }).then(() => {
      if (this.#child === child) this.#child = undefined;
    });
    const deadline = systemClock.now() + this.#opts.startTimeoutMs;
    for (;;) {
      if (spawnError || exitCode !== undefined) {
        const why = spawnError
          ? `${spawnError.message} (is the Debian package installed? scripts/setup.sh --with-system)`
          : `exited with code ${exitCode}`;
        throw new Error(`${this.#opts.name} failed to start: ${why}\n${this.logTail()}`);
      }
      if (await this.#opts.ready().catch(() => false)) return;
      if (systemClock.now() > deadline) {
        await this.stop();
        throw new Error(`${this.#opts.name} not ready within ${this.#opts.startTimeoutMs} ms\n${this.logTail()}`);
      }
      await sleep(50);
    }
  }

  /** Stops the server with SIGTERM (SIGKILL after `graceMs`) and waits for it to exit; idempotent. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGTERM');
    const timer = systemClock.setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    timer.cancel();
  }

  /** Kills the server with SIGKILL and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill('SIGKILL');
    await this.#exited;
  }

  /** Last lines of the server's log, for error messages. */
  logTail(lines = 20): string {
    try {
      return readFileSync(this.#opts.logFile, 'utf8').split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }
}

/**
 * Polls `probe` every `intervalMs` until it returns a value that `done` accepts, or the deadline
 * passes (then returns the last value). Its sleeps are ref'd timers, unlike the Clock's, so a
 * test waiting on a writer whose only activity is unref'd timers keeps the process alive.
 */
export async function pollUntil<T>(
  probe: () => Promise<T>,
  done: (v: T) => boolean,
  opts: { deadlineMs: number; intervalMs?: number },
): Promise<T> {
  const end = systemClock.now() + opts.deadlineMs;
  for (;;) {
    const v = await probe();
    if (done(v) || systemClock.now() > end) return v;
    await sleep(opts.intervalMs ?? 100);
  }
}
