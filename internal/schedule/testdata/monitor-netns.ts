// Child process for ping-scheduler-netns.test.ts, run inside a private network namespace (only
// loopback): sweep a /28 of 127.0.4.x with the real ICMP engine, monitor every host found, then
// nft-drop echo requests to some of them and keep monitoring. Prints one JSON line per host:
// the sequence of point kinds written before and after the drop.
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../../clock/clock.js';
import { IcmpEngine } from '../../icmp/engine.js';
import type { Point } from '../../model/point.js';
import { Reconciler } from '../../reconcile/reconciler.js';
import { DeviceStore } from '../../state/device-store.js';
import { Sweeper } from '../../sweep/sweeper.js';
import { nftRuleset } from '../../testkit/netns.js';
import { silentLogger } from '../../testkit/logger.js';
import { PingScheduler } from '../ping-scheduler.js';

const dropped = ['127.0.4.2', '127.0.4.3', '127.0.4.4', '127.0.4.5'];

/** One host's story: 's' reply, 't' timeout, 'u' unreachable, 'e' send_error, 'o' agent_overloaded, 'S' suspended. */
function kind(p: Point): string {
  if (p.fields['suspended']?.value === true) return 'S';
  if (p.fields['success']?.value === true) return 's';
  const reason = p.fields['reason']?.value;
  return reason === 'timeout' ? 't' : reason === 'unreachable' ? 'u' : reason === 'agent_overloaded' ? 'o' : 'e';
}

const clock = systemClock;
const logger = silentLogger();
const engine = new IcmpEngine({ clock });
await engine.start();
const store = new DeviceStore({ clock, maxDevices: 100 });
const points: Point[] = [];
const sink = {
  write(p: Point): number {
    if (p.measurement === 'ping') points.push(p);
    return 0;
  },
};
const sched = new PingScheduler(
  { clock, pinger: engine, sink, state: store, logger },
  {
    intervalMs: 250,
    timeoutMs: 400,
    ratePerSec: 1000,
    burst: 100,
    maxConsecutiveFails: 3,
    backoffMs: 1500,
    summaryIntervalMs: 0,
  },
);
const rec = new Reconciler({ source: store, target: sched, clock, logger }, { maxMonitored: 100 });
sched.start();
rec.start();

const sweeper = new Sweeper({ pinger: engine, clock, ratePps: 2000, maxInFlight: 64, timeoutMs: 300, retries: 1 });
const found: string[] = [];
await sweeper.sweep({ cidrs: ['127.0.4.0/28'] }, (h) => {
  found.push(h.ip);
  store.markSeen(h.ip);
});
await clock.sleep(1200);

const dir = mkdtempSync(join(tmpdir(), 'netscan-monitor-'));
writeFileSync(join(dir, 'drop.nft'), nftRuleset({ dropEchoTo: dropped }));
const ruleFromMs = clock.now();
const nft = spawnSync('nft', ['-f', join(dir, 'drop.nft')], { encoding: 'utf8' });
if (nft.status !== 0) throw new Error(`nft failed: ${nft.stderr}`);
const ruleToMs = clock.now();
await clock.sleep(4000);

// Ping points are stamped with their send time: split them around the nft call (a probe sent
// while nft was running could go either way and is left out).
const before = new Map<string, string>();
const after = new Map<string, string>();
const whole = new Map<string, string>();
for (const p of [...points].sort((a, b) => a.timeMs - b.timeMs)) {
  const side = p.timeMs < ruleFromMs ? before : p.timeMs > ruleToMs ? after : undefined;
  const ip = p.tags['ip']!;
  side?.set(ip, (side.get(ip) ?? '') + kind(p));
  whole.set(ip, (whole.get(ip) ?? '') + kind(p));
}

const suspendedNow = dropped.filter((ip) => store.isPingSuspended(ip));
const stats = sched.stats();
await rec.stop();
await sched.stop();
await engine.stop();
console.log(
  JSON.stringify({
    found: found.sort(),
    dropped,
    before: Object.fromEntries(before),
    after: Object.fromEntries(after),
    whole: Object.fromEntries(whole),
    suspendedNow,
    trips: stats.breakerTripsTotal,
    failuresByReason: stats.failuresByReason,
    devicesScheduled: stats.devicesScheduled,
  }),
);
