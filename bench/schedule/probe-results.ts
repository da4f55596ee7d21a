// What moving each ping's result from the probe thread into the writer costs, in one process on a
// fake clock: the probe thread's host (scheduler, breaker copy, result encoder) behind the same
// messages as the Worker (structured clone, buffers transferred), and on the "main" side the
// decoder, the breaker replay on the real DeviceStore, the RTT histogram, DeviceTags, line
// protocol and the writer in front of a transport that only counts bytes. The pinger answers at
// once. Reported: CPU per ping of the whole, and of the main side alone (the batch handler: decode
// through the writer's enqueue); the rest is the thread side (scheduler, pinger, encoder, clone).
import type { PingOutcome, Pinger } from '../../internal/model/ping.js';
import { ProbeThread, type ProbeThreadSpawn } from '../../internal/schedule/probe-thread.js';
import { inProcessProbeThread } from '../../internal/testkit/in-process-probe-thread.js';
import { noStalls, simulatedDownstream, tick } from './pipeline.js';

/** One run's figures. */
export interface ProbeResultsFigures {
  /** CPU (user + system) per ping sent, µs: both sides. */
  usPerPing: number;
  /** CPU per ping of the main side (batch handler), µs. */
  mainUsPerPing: number;
  /**
   * The same two over the simulated second that cost least (a busy machine inflates CPU time in
   * bursts: the least of ten seconds is the steadier figure to compare).
   */
  minUsPerPing: number;
  minMainUsPerPing: number;
  pings: number;
  /** Line-protocol bytes the writer handed to the transport. */
  bytes: number;
}

const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/** Runs `n` devices at 1 s for `simSeconds` of simulated time after a 3 s warm-up; every `failEvery`th probe times out (0: none). */
export async function probeResultsSim(n: number, simSeconds: number, failEvery = 0): Promise<ProbeResultsFigures> {
  const { clock, logger, writer, tags, store, rtt, bytes } = await simulatedDownstream(n);
  let k = 0;
  const pinger: Pinger = {
    ping: (ip) => {
      k++;
      return Promise.resolve<PingOutcome>(
        failEvery > 0 && k % failEvery === 0
          ? { ok: false, ip, reason: 'timeout', sentAtMs: clock.now() }
          : { ok: true, ip, rttMs: 0.0123 + (k % 1000) * 1e-5, sentAtMs: clock.now() },
      );
    },
  };
  const fake = inProcessProbeThread({ clock, pinger, stallMonitor: noStalls });
  let mainUs = 0;
  const spawn: ProbeThreadSpawn = (init, events) =>
    fake.spawn(init, {
      message: (m) => {
        const t0 = cpuUs();
        events.message(m);
        mainUs += cpuUs() - t0;
      },
      exit: (code, err) => events.exit(code, err),
    });
  const thread = new ProbeThread(
    { clock, sink: tags, state: store, logger, rtt: (ms) => rtt.observe(ms / 1000), spawn },
    { intervalMs: 1000, timeoutMs: 500, ratePerSec: 1e7, burst: 1e5, summaryIntervalMs: 60_000 },
  );
  for (let i = 0; i < n; i++) {
    const ip = `127.${((i + 256) >> 16) & 255}.${((i + 256) >> 8) & 255}.${(i + 256) & 255}`;
    store.markSeen(ip);
    thread.add(ip);
  }
  thread.start();
  const run = async (ms: number): Promise<void> => {
    for (let t = 0; t < ms; t += 10) {
      clock.advance(10);
      await tick();
    }
  };
  await run(3000);
  const sent0 = (await thread.refresh()).pingsSentTotal;
  mainUs = 0;
  const cpu0 = cpuUs();
  let minUs = Infinity;
  let minMainUs = Infinity;
  for (let s = 0; s < simSeconds; s++) {
    const [c, m] = [cpuUs(), mainUs];
    await run(1000);
    minUs = Math.min(minUs, cpuUs() - c);
    minMainUs = Math.min(minMainUs, mainUs - m);
  }
  const cpu = cpuUs() - cpu0;
  const main = mainUs;
  const pings = (await thread.refresh()).pingsSentTotal - sent0;
  const perSecond = pings / simSeconds;
  await thread.stop();
  await writer.close();
  writer.checkBooks();
  return {
    usPerPing: cpu / pings,
    mainUsPerPing: main / pings,
    minUsPerPing: minUs / perSecond,
    minMainUsPerPing: minMainUs / perSecond,
    pings,
    bytes: bytes(),
  };
}
