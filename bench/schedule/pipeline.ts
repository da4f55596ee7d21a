// What the agent's JavaScript costs per ping after the ICMP engine, in one process on a fake clock:
// scheduler (heap, token bucket, breaker = the real DeviceStore, summaries), the RTT histogram,
// device tags, line protocol and the writer (batching, books) in front of a transport that only
// counts bytes. The engine is a no-op pinger answering at once (into the scheduler's probe sink), so the figure is CPU per ping of
// everything the whole-agent bench measures minus the engine and the kernel; CPU time, not wall
// time, so a busy shared machine inflates it less than it does the whole-agent bench.
import { Histogram, Registry } from 'prom-client';
import type { ProbeSink, ProbeSinkPinger, ProbeTarget } from '../../internal/icmp/engine-completions.js';
import type { PingOutcome, Pinger } from '../../internal/model/ping.js';
import { PingScheduler } from '../../internal/schedule/ping-scheduler.js';
import type { StallMonitor } from '../../internal/schedule/stall-monitor.js';
import { DeviceStore } from '../../internal/state/device-store.js';
import { FakeClock } from '../../internal/testkit/fake-clock.js';
import { silentLogger } from '../../internal/testkit/logger.js';
import { InfluxWriter } from '../../internal/writer/influx-writer.js';
import type { LineTransport } from '../../internal/writer/transport.js';
import { rttObserver } from '../../src/agent-stages.js';
import { parseConfigText } from '../../src/config/load.js';
import { DeviceTags } from '../../src/device-tags.js';

/** One run's figures. */
export interface PipelineFigures {
  /** CPU (user + system) per ping sent, µs. */
  usPerPing: number;
  /** User CPU per ping sent, µs. */
  userUsPerPing: number;
  pings: number;
  /** Line-protocol bytes the writer handed to the transport. */
  bytes: number;
}

/** A stall monitor that never sees a stall (simulated time has none). */
export const noStalls: StallMonitor = {
  start: () => undefined,
  stop: () => undefined,
  maxStallMs: () => 0,
  stats: () => ({ stallsTotal: 0, stallMsTotal: 0, maxStallMs: 0, loopDelayP99Ms: NaN }),
};

/** One turn of the event loop (lets the writer's flushes run between simulated seconds). */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * The main thread's side of both pipelines in simulated time: a writer into a null transport (it
 * counts the bytes), DeviceTags with one network label, the device store and the RTT histogram.
 */
export async function simulatedDownstream(n: number) {
  const clock = new FakeClock(1_700_000_040_000);
  const logger = silentLogger();
  let sent = 0;
  const transport: LineTransport = {
    name: 'null',
    unsignedAsInteger: false,
    send: (body) => {
      sent += body.length;
      return Promise.resolve();
    },
    close: () => Promise.resolve(),
  };
  const writer = new InfluxWriter({ transport, clock, logger, batchSize: 5000, maxBufferPoints: 1_000_000 });
  await writer.start();
  const config = parseConfigText('agent_name: bench\nnetworks: [{cidr: "127.0.0.0/8", labels: {site: lab}}]\n', {
    env: {},
  }).config;
  const tags = new DeviceTags(writer, config);
  const store = new DeviceStore({ clock, maxDevices: n });
  const rtt = new Histogram({
    name: 'rtt',
    help: 'RTT',
    buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [new Registry()],
  });
  return { clock, logger, writer, tags, store, rtt, bytes: (): number => sent };
}

/** Runs `n` devices at 1 s for `simSeconds` of simulated time after a 3 s warm-up. */
export async function pipelineSim(n: number, simSeconds: number): Promise<PipelineFigures> {
  const { clock, logger, writer, tags, store, rtt, bytes } = await simulatedDownstream(n);
  let k = 0;
  const answer = (ip: string): PingOutcome => ({
    ok: true,
    ip,
    rttMs: 0.0123 + (k++ % 1000) * 1e-5,
    sentAtMs: clock.now(),
  });
  // Like the ICMP engine, the pinger also completes probes into a sink, in one microtask per burst.
  let targets: ProbeTarget[] = [];
  let probeTags: number[] = [];
  let sinks: Array<ProbeSink<ProbeTarget>> = [];
  const deliver = (): void => {
    const [t, g, s] = [targets, probeTags, sinks];
    [targets, probeTags, sinks] = [[], [], []];
    for (let i = 0; i < t.length; i++) s[i]!.settled(t[i]!, g[i]!, answer(t[i]!.ip));
  };
  const pinger: Pinger & ProbeSinkPinger = {
    ping: (ip) => Promise.resolve(answer(ip)),
    probe: (target, tag, sink) => {
      if (targets.length === 0) queueMicrotask(deliver);
      targets.push(target);
      probeTags.push(tag);
      sinks.push(sink as unknown as ProbeSink<ProbeTarget>);
    },
  };
  const sched = new PingScheduler(
    { clock, pinger, sink: tags, state: store, logger, stallMonitor: noStalls, observer: rttObserver(rtt, undefined) },
    { intervalMs: 1000, timeoutMs: 500, ratePerSec: 1e7, burst: 1e5, summaryIntervalMs: 60_000 },
  );
  for (let i = 0; i < n; i++) {
    const ip = `127.${((i + 256) >> 16) & 255}.${((i + 256) >> 8) & 255}.${(i + 256) & 255}`;
    store.markSeen(ip);
    sched.add(ip);
  }
  sched.start();
  const run = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      await tick();
    }
  };
  await run(3000);
  const sent0 = sched.stats().pingsSentTotal;
  const cpu0 = process.cpuUsage();
  await run(simSeconds * 1000);
  const cpu = process.cpuUsage(cpu0);
  const pings = sched.stats().pingsSentTotal - sent0;
  await sched.stop();
  await writer.close();
  writer.checkBooks();
  return { usPerPing: (cpu.user + cpu.system) / pings, userUsPerPing: cpu.user / pings, pings, bytes: bytes() };
}
