// Child process for probe-thread-netns.test.ts, run inside a private network namespace (only
// loopback): monitors four loopback devices with the scheduler and its ICMP engine in a real
// worker thread for about two seconds, then stops it. Prints one JSON line: what reached the
// main thread.
import { getPriority } from 'node:os';
import { isMainThread } from 'node:worker_threads';
import { systemClock } from '../../clock/clock.js';
import type { Point } from '../../model/point.js';
import { DeviceStore } from '../../state/device-store.js';
import { captureLogger } from '../../testkit/logger.js';
import { ProbeThread } from '../probe-thread.js';
import { spawnProbeWorker } from '../probe-thread-worker.js';

const ips = ['127.0.5.1', '127.0.5.2', '127.0.5.3', '127.0.5.4'];
const clock = systemClock;
const { logger, lines } = captureLogger('info');
const store = new DeviceStore({ clock, maxDevices: 100 });
const points: Point[] = [];
let rtts = 0;
const thread = new ProbeThread(
  {
    clock,
    sink: { write: (p) => (points.push(p), 0) },
    state: store,
    logger,
    rtt: () => rtts++,
    spawn: spawnProbeWorker({
      mode: 'auto',
      payloadBytes: 56,
      tos: undefined,
      ttl: undefined,
      interfaceName: undefined,
      sourceIpv4: undefined,
      sourceIpv6: undefined,
    }),
  },
  { intervalMs: 250, timeoutMs: 200, ratePerSec: 1000, burst: 100, summaryIntervalMs: 60_000 },
  // Raising one's own nice value needs no privilege: the thread's alone changes.
  { niceness: 5 },
);
for (const ip of ips) {
  store.markSeen(ip);
  thread.add(ip);
}
const seenBefore = Object.fromEntries(ips.map((ip) => [ip, store.get(ip)!.lastSeenMs]));
thread.start();
// The worker loads its modules first (through tsx here): count the two seconds from its first answer.
await thread.refresh();
await clock.sleep(2_000);
const stats = await thread.refresh();
await thread.stop();
await thread.stop();
const kinds = (m: string, ip: string): number => points.filter((p) => p.measurement === m && p.tags.ip === ip).length;
const successes = (ip: string): number =>
  points.filter((p) => p.measurement === 'ping' && p.tags.ip === ip && p.fields.success?.value === true).length;
console.log(
  JSON.stringify({
    mainThread: isMainThread,
    pings: Object.fromEntries(ips.map((ip) => [ip, kinds('ping', ip)])),
    successes: Object.fromEntries(ips.map((ip) => [ip, successes(ip)])),
    summarised: Object.fromEntries(
      ips.map((ip) => [
        ip,
        points
          .filter((p) => p.measurement === 'ping_summary' && p.tags.ip === ip)
          .reduce((n, p) => n + Number(p.fields.sent?.value ?? 0), 0),
      ]),
    ),
    lastSeenMoved: ips.filter((ip) => store.get(ip)!.lastSeenMs > seenBefore[ip]!),
    rtts,
    sent: stats.pingsSentTotal,
    replies: stats.repliesTotal,
    engine: thread.engineFigures().stats?.ipv4?.sent ?? 0,
    counters: thread.counters(),
    logs: lines.filter((l) => l.thread === 'probe').map((l) => l.msg),
    threadNice: lines.find((l) => l.msg === 'probe thread priority set')?.nice,
    mainNice: getPriority(),
  }),
);
