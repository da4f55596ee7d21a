/**
 * Child processes measured over a window (CPU from /proc utime+stime, RSS), and stopped, for the
 * whole-agent and peer benchmarks.
 */
import type { ChildProcess } from 'node:child_process';
import {
  machineCpuSeconds,
  processCpuSeconds,
  processMemoryMb,
  processUserSystemSeconds,
  runQueueWaitMs,
  threadCpuSeconds,
} from './proc.js';

/** Period of the usage samples (and of the agent bench's endpoint probes), ms. */
export const PROBE_EVERY_MS = 500;
const r2 = (x: number, d = 2): number => (Number.isFinite(x) ? Math.round(x * 10 ** d) / 10 ** d : x);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Resolves with the child's exit code once it has exited (at once if it already has). */
export function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve(child.exitCode);
    else child.once('exit', (code) => resolve(code));
  });
}

/** SIGTERM (or `signal`), then SIGKILL after `graceMs`; resolves with the exit code and how long the stop took. */
export async function stopChild(
  child: ChildProcess,
  graceMs: number,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<{ code: number | null; stopMs: number }> {
  const t = Date.now();
  const done = exited(child);
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  const code = await done;
  clearTimeout(timer);
  return { code, stopMs: Date.now() - t };
}

/** Resource samples of one process over a window. */
export interface Usage {
  windowMs: number;
  cpuCores: number;
  cpuCoresMax5s: number;
  rssAvgMb: number;
  rssPeakMb: number;
  hwmMb: number;
  machineBusyCores: number;
  othersBusyCores: number;
  /** First process only: user and system shares of cpuCores. */
  userCores: number;
  systemCores: number;
  /** First process only: CPU per thread name, cores, largest first. */
  threads: Array<{ name: string; cores: number }>;
  /** First process's main thread: time runnable but kept off the CPU by others, ms, total over the window. */
  runWaitMs: number;
  /** Same, per sample: at `t` (ms since the epoch) the wait accumulated since the previous sample. */
  runWaitSeries: Array<{ t: number; ms: number }>;
  /** CPU cores (all processes) in consecutive 5 s steps from t0. */
  cpuSeries5s: number[];
}

/** Sum over `pids` of a /proc figure; a process that has gone counts as 0. */
function sumOver(pids: readonly number[], read: (pid: number) => number): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += read(pid);
    } catch {
      // exited: nothing more to count
    }
  }
  return total;
}

/** Samples CPU and RSS of `pids` (summed) every PROBE_EVERY_MS until `untilMs`, running `each` per tick. */
export async function sampleUsage(
  pids: readonly number[],
  untilMs: number,
  each: () => Promise<void>,
): Promise<Usage & { t0: number; t1: number }> {
  const cpu = (): number => sumOver(pids, processCpuSeconds);
  const t0 = Date.now();
  const cpu0 = cpu();
  const mach0 = machineCpuSeconds();
  const self0 = process.cpuUsage();
  const main = pids[0]!;
  const us0 = processUserSystemSeconds(main);
  const threads0 = threadCpuSeconds(main);
  const wait = (): number => sumOver([main], (p) => runQueueWaitMs(p));
  const wait0 = wait();
  let waitPrev = wait0;
  const runWaitSeries: Array<{ t: number; ms: number }> = [];
  const cpuTicks: Array<{ t: number; cpu: number }> = [{ t: t0, cpu: cpu0 }];
  const rss: number[] = [];
  for (;;) {
    const tick = Date.now();
    if (tick >= untilMs) break;
    await each();
    rss.push(sumOver(pids, (p) => processMemoryMb(p).rssMb));
    cpuTicks.push({ t: Date.now(), cpu: cpu() });
    const w = wait();
    runWaitSeries.push({ t: Date.now(), ms: w - waitPrev });
    waitPrev = w;
    await sleep(Math.max(0, Math.min(untilMs, tick + PROBE_EVERY_MS) - Date.now()));
  }
  const t1 = Date.now();
  const cpu1 = cpu();
  const mach1 = machineCpuSeconds();
  const self = process.cpuUsage(self0);
  const us1 = processUserSystemSeconds(main);
  const threads1 = threadCpuSeconds(main);
  const wait1 = wait();
  const hwmMb = sumOver(pids, (p) => processMemoryMb(p).hwmMb);
  rss.push(sumOver(pids, (p) => processMemoryMb(p).rssMb));
  const wallS = (t1 - t0) / 1000;
  let max5 = 0;
  for (let i = 0, j = 0; i < cpuTicks.length; i++) {
    while (j < cpuTicks.length && cpuTicks[j]!.t - cpuTicks[i]!.t < 5000) j++;
    if (j >= cpuTicks.length) break;
    max5 = Math.max(max5, (cpuTicks[j]!.cpu - cpuTicks[i]!.cpu) / ((cpuTicks[j]!.t - cpuTicks[i]!.t) / 1000));
  }
  const cpuCores = (cpu1 - cpu0) / wallS;
  const cpuSeries5s: number[] = [];
  for (let i = 0, from = 0; i < cpuTicks.length; i++) {
    if (cpuTicks[i]!.t - cpuTicks[from]!.t >= 5000) {
      cpuSeries5s.push(r2((cpuTicks[i]!.cpu - cpuTicks[from]!.cpu) / ((cpuTicks[i]!.t - cpuTicks[from]!.t) / 1000), 2));
      from = i;
    }
  }
  const machineBusyCores = (mach1.busy - mach0.busy) / wallS;
  return {
    t0,
    t1,
    windowMs: t1 - t0,
    cpuCores,
    cpuCoresMax5s: max5,
    rssAvgMb: rss.reduce((a, b) => a + b, 0) / rss.length,
    rssPeakMb: Math.max(...rss),
    hwmMb,
    machineBusyCores,
    othersBusyCores: machineBusyCores - cpuCores - (self.user + self.system) / 1e6 / wallS,
    userCores: (us1.user - us0.user) / wallS,
    systemCores: (us1.system - us0.system) / wallS,
    threads: [...threads1]
      .map(([name, sec]) => ({ name, cores: r2((sec - (threads0.get(name) ?? 0)) / wallS, 3) }))
      .filter((x) => x.cores > 0)
      .sort((a, b) => b.cores - a.cores),
    runWaitMs: wait1 - wait0,
    runWaitSeries,
    cpuSeries5s,
  };
}
