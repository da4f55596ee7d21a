import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from 'node:worker_threads';
import type { Clock } from '../clock/clock.js';
import type { PingOutcome } from '../model/ping.js';
import type { Point } from '../model/point.js';
import { NetscanError } from '../errors/errors.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { FakeDeviceState } from '../testkit/fake-device-state.js';
import { FakePinger, type FakePingerOptions } from '../testkit/fake-pinger.js';
import { FakeStallMonitor } from '../testkit/fake-stall-monitor.js';
import { RecordingSink, type RecordingSinkOptions } from '../testkit/recording-sink.js';
import { captureLogger, silentLogger } from '../testkit/logger.js';
import type { Logger } from '../log/log.js';
import { phaseMs, slotAfter, slotsBetween, summaryOffsetMs } from './phase.js';
import { PingScheduler, type PingSchedulerOptions } from './ping-scheduler.js';
import type { HourResult } from './testdata/hour-simulation.js';

const T0 = 1_700_000_040_000; // a multiple of every interval and window used here

interface Rig {
  clock: FakeClock;
  pinger: FakePinger;
  sink: RecordingSink;
  state: FakeDeviceState;
  stalls: FakeStallMonitor;
  sched: PingScheduler;
}

function rig(
  opts: Partial<PingSchedulerOptions> = {},
  extra: { pinger?: Partial<FakePingerOptions>; sink?: RecordingSinkOptions; logger?: Logger; clock?: FakeClock } = {},
): Rig {
  const clock = extra.clock ?? new FakeClock(T0);
  const pinger = new FakePinger({ clock, ...extra.pinger });
  const sink = new RecordingSink(extra.sink);
  const state = new FakeDeviceState(clock);
  const stalls = new FakeStallMonitor();
  const sched = new PingScheduler(
    { clock, pinger, sink, state, logger: extra.logger ?? silentLogger(), stallMonitor: stalls },
    { intervalMs: 1000, timeoutMs: 500, ratePerSec: 1e6, burst: 1e6, ...opts },
  );
  return { clock, pinger, sink, state, stalls, sched };
}

function addDevices(r: Rig, ips: string[]): void {
  for (const ip of ips) {
    r.state.markSeen(ip);
    r.sched.add(ip);
  }
}

const ipOf = (i: number): string => `127.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`;
const fieldValue = (p: Point, name: string): unknown => p.fields[name]?.value;

test('one hour of 1,000 devices at 1 s: every probe exactly on its phase slot, none skipped, one summary per minute each', async () => {
  const r = await new Promise<HourResult>((resolve, reject) => {
    // Worker entry points do not go through tsx's loader in Node 20; register it, then load the .ts file.
    const url = new URL('./testdata/hour-simulation.ts', import.meta.url).href;
    const w = new Worker(
      `import('tsx/esm/api').then((m) => { m.register(); return import(${JSON.stringify(url)}); })`,
      { eval: true },
    );
    w.once('message', (m: HourResult | { error: string }) => ('error' in m ? reject(new Error(m.error)) : resolve(m)));
    w.once('error', reject);
  });
  const s = r.stats;
  assert.equal(r.offSlot, 0);
  assert.equal(r.overlaps, 0);
  assert.equal(s.pingsSentTotal, 3600 * 1000 + r.zeroPhase);
  assert.equal(r.minCallsPerDevice, 3600);
  assert.equal(r.maxCallsPerDevice, r.zeroPhase > 0 ? 3601 : 3600);
  assert.equal(s.repliesTotal, s.pingsSentTotal);
  assert.equal(s.skippedTicksTotal, 0);
  assert.equal(s.missedSlotsTotal, 0);
  assert.equal(s.sendLagMaxMs, 0);
  assert.equal(s.inFlight, 0);
  assert.equal(r.pingPoints, s.pingsSentTotal);
  // Windows are staggered per device (summaryOffsetMs), so an hour touches 60 or 61 of them.
  assert.equal(r.summaryPoints, r.expectedSummaryPoints);
  assert.ok(r.summaryPoints >= 60 * 1000 && r.summaryPoints <= 61 * 1000, String(r.summaryPoints));
  assert.ok(r.sample.length === 60 || r.sample.length === 61);
  assert.deepEqual(
    r.sample.map((p) => p.timeMs),
    Array.from({ length: r.sample.length }, (_, i) => r.sampleFirstWindowMs + i * 60_000),
  );
  assert.deepEqual(r.sample[1]!.fields, {
    sent: 60,
    received: 60,
    overloaded: 0,
    suspended_ticks: 0,
    missed_slots: 0,
    skipped_ticks: 0,
    loss_pct: 0,
    rtt_min_ms: 0.5,
    rtt_avg_ms: 0.5,
    rtt_max_ms: 0.5,
    rtt_p50_ms: 0.5,
    rtt_p95_ms: 0.5,
    rtt_stddev_ms: 0,
    jitter_ms: 0,
  });
});

const IP = '127.0.0.1'; // phase 407 ms at a 1 s interval (pinned in phase.test.ts)
const sendTimes = (r: Rig): number[] => r.pinger.sends.map((s) => s.sentAtMs - T0);

test('a device whose previous probe is still in flight skips the tick, counted, and never queues', async () => {
  const r = rig({ timeoutMs: 2500 }, { pinger: { respond: () => ({ reason: 'timeout' }), record: true } });
  addDevices(r, [IP]);
  r.sched.start();
  await r.clock.advanceAsync(10_000);
  // Probe at 407 times out at 2907, so the slots at 1407 and 2407 are skipped; and so on.
  assert.deepEqual(sendTimes(r), [407, 3407, 6407, 9407]);
  assert.equal(r.sched.stats().skippedTicksTotal, 6);
  assert.equal(r.sched.stats().missedSlotsTotal, 0);
  assert.equal(r.pinger.overlaps, 0);
  assert.deepEqual(
    r.sink.of('ping').map((p) => [p.timeMs - T0, fieldValue(p, 'reason')]),
    [
      [407, 'timeout'],
      [3407, 'timeout'],
      [6407, 'timeout'],
    ],
  );
  await r.sched.stop();
});

test('the breaker trips after exactly N failures, writes a suspended point per slot without probing, and resumes after the backoff', async () => {
  let alive = false;
  const r = rig(
    { maxConsecutiveFails: 3, backoffMs: 10_000 },
    { pinger: { respond: () => (alive ? { rttMs: 2 } : { reason: 'timeout' }), record: true } },
  );
  addDevices(r, [IP]);
  r.sched.start();
  await r.clock.advanceAsync(2906); // failures at 907 and 1907; the third probe is in flight
  assert.equal(r.state.isPingSuspended(IP), false);
  assert.equal(r.state.get(IP)?.ping.consecutiveFails, 2);
  await r.clock.advanceAsync(1); // third failure at 2907 trips it
  assert.equal(r.state.isPingSuspended(IP), true);
  assert.equal(r.state.get(IP)?.ping.suspendedUntilMs, T0 + 2907 + 10_000);
  assert.equal(r.sched.stats().breakerTripsTotal, 1);
  alive = true;
  await r.clock.advanceAsync(13_000 - 2907); // suspended until 12907: slots 3407 ... 12407 write suspended points
  assert.equal(r.pinger.calls, 3);
  const suspended = r.sink.of('ping').filter((p) => fieldValue(p, 'suspended') === true);
  assert.deepEqual(
    suspended.map((p) => p.timeMs - T0),
    [3407, 4407, 5407, 6407, 7407, 8407, 9407, 10407, 11407, 12407],
  );
  // No rtt_ms: ping_failed_rtt_zero is off by default.
  assert.deepEqual(suspended[0]!.fields, {
    success: { type: 'bool', value: false },
    suspended: { type: 'bool', value: true },
    reason: { type: 'string', value: 'suspended' },
  });
  assert.equal(r.sched.stats().suspendedTicksTotal, 10);
  await r.clock.advanceAsync(1000); // slot 13407: probed normally, answers, breaker closed
  assert.deepEqual(sendTimes(r), [407, 1407, 2407, 13407]);
  assert.equal(r.state.get(IP)?.ping.suspendedUntilMs, 0);
  assert.equal(r.state.get(IP)?.ping.consecutiveFails, 0);
  assert.equal(fieldValue(r.sink.points.at(-1)!, 'success'), true);
  await r.sched.stop();
});

test('a timeout during an injected agent stall is agent_overloaded and never feeds the breaker', async () => {
  const r = rig(
    { maxConsecutiveFails: 3, backoffMs: 60_000, overloadThresholdMs: 200 },
    { pinger: { respond: () => ({ reason: 'timeout' }) } },
  );
  addDevices(r, [IP]);
  r.stalls.inject(T0 + 300, T0 + 9_950); // one long stall covering the probes at 407 ... 9407
  r.stalls.inject(T0 + 10_500, T0 + 10_650); // 150 ms: under the threshold, a real timeout
  r.sched.start();
  await r.clock.advanceAsync(10_000);
  const s1 = r.sched.stats();
  assert.equal(s1.failuresByReason.agent_overloaded, 10);
  assert.equal(s1.overloadedTotal, 10);
  assert.equal(s1.failuresByReason.timeout, 0);
  assert.equal(r.state.failuresReported.get(IP) ?? 0, 0);
  assert.equal(r.state.isPingSuspended(IP), false);
  assert.ok(
    r.sink
      .of('ping')
      .every((p) => fieldValue(p, 'reason') === 'agent_overloaded' && fieldValue(p, 'success') === false),
  );
  await r.clock.advanceAsync(3000); // probes at 10407, 11407, 12407 are real timeouts: the third trips
  assert.equal(r.sched.stats().failuresByReason.timeout, 3);
  assert.equal(r.state.isPingSuspended(IP), true);
  await r.sched.stop();
  const summary = r.sink.of('ping_summary');
  assert.equal(fieldValue(summary[0]!, 'overloaded'), 10);
  assert.equal(fieldValue(summary[0]!, 'sent'), 3);
  assert.equal(fieldValue(summary[0]!, 'loss_pct'), 100);
});

test('a send that lagged its dispatch past the threshold makes a timeout agent_overloaded; lag is measured either way', async () => {
  let n = 0;
  const r = rig(
    { overloadThresholdMs: 200, lateSendToleranceMs: 50 },
    {
      pinger: {
        respond: () =>
          ++n === 1 ? { sendLagMs: 300, then: { reason: 'timeout' } } : { sendLagMs: 100, then: { rttMs: 1 } },
      },
    },
  );
  addDevices(r, [IP]);
  r.sched.start();
  await r.clock.advanceAsync(2000);
  const s = r.sched.stats();
  assert.equal(s.failuresByReason.agent_overloaded, 1);
  assert.equal(s.repliesTotal, 1);
  assert.equal(s.sendLagMaxMs, 300);
  assert.equal(s.lateSendsTotal, 2);
  const pings = r.sink.of('ping');
  assert.deepEqual(
    pings.map((p) => p.timeMs - T0),
    [707, 1507],
  ); // stamped with the actual send time
  await r.sched.stop();
});

test('unreachable and send_error are failures with their reason and count toward the breaker', async () => {
  const ips = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
  const reasons = { '127.0.0.1': 'unreachable', '127.0.0.2': 'send_error', '127.0.0.3': 'timeout' } as const;
  const r = rig(
    { maxConsecutiveFails: 2 },
    { pinger: { respond: (ip) => ({ reason: reasons[ip as keyof typeof reasons] }) } },
  );
  addDevices(r, ips);
  r.sched.start();
  await r.clock.advanceAsync(3000);
  for (const ip of ips) {
    assert.equal(r.state.isPingSuspended(ip), true, ip);
    const reasonsSeen = new Set(
      r.sink
        .of('ping', ip)
        .filter((p) => fieldValue(p, 'suspended') === false)
        .map((p) => fieldValue(p, 'reason')),
    );
    assert.deepEqual([...reasonsSeen], [reasons[ip as keyof typeof reasons]]);
  }
  const s = r.sched.stats();
  assert.deepEqual(s.failuresByReason, {
    timeout: 2,
    unreachable: 2,
    send_error: 2,
    agent_overloaded: 0,
    agent_error: 0,
    dns: 0,
  });
  assert.equal(s.breakerTripsTotal, 3);
  await r.sched.stop();
});

test('ping points keep the Go field types, stamped at send time', async () => {
  const r = rig({}, { pinger: { respond: () => ({ rttMs: 1.25 }) } });
  addDevices(r, [IP]);
  r.sched.start();
  await r.clock.advanceAsync(1000);
  assert.deepEqual(r.sink.of('ping'), [
    {
      measurement: 'ping',
      tags: { ip: IP },
      fields: {
        rtt_ms: { type: 'float', value: 1.25 },
        success: { type: 'bool', value: true },
        suspended: { type: 'bool', value: false },
      },
      timeMs: T0 + 407,
    },
  ]);
  await r.sched.stop();
});

test('with raw points off only summaries are written', async () => {
  const r = rig({ rawPoints: false, summaryIntervalMs: 10_000 }, { pinger: { respond: () => ({ rttMs: 3 }) } });
  addDevices(r, [IP, '127.0.0.2']);
  r.sched.start();
  await r.clock.advanceAsync(30_000);
  await r.sched.stop();
  assert.equal(r.sink.count('ping'), 0);
  // Each device's windows start at its own offset; every window holds its 10 slots exactly once.
  const off = summaryOffsetMs(IP, 10_000);
  const got = r.sink.of('ping_summary', IP).map((p) => [p.timeMs - T0, fieldValue(p, 'sent')] as const);
  const first = slotAfter(phaseMs(IP, 1000), 1000, T0 - 1);
  const w0 = Math.floor((first - off) / 10_000) * 10_000 + off - T0;
  assert.deepEqual(
    got.map(([t]) => t),
    got.map((_, i) => w0 + i * 10_000),
  );
  assert.equal(
    got.reduce((n, [, sent]) => n + (sent as number), 0),
    30,
  );
  for (const [, sent] of got.slice(1, -1)) assert.equal(sent, 10);
  assert.equal(r.sink.count('ping_summary'), got.length + r.sink.of('ping_summary', '127.0.0.2').length);
});

test('a device pinged less often than the summary window gets its summary from the sweep', async () => {
  const r = rig(
    { intervalMs: 20_000, summaryIntervalMs: 10_000 },
    { pinger: { respond: () => ({ rttMs: 3 }), record: true } },
  );
  addDevices(r, [IP]);
  r.sched.start();
  const phase = phaseMs(IP, 20_000);
  const off = summaryOffsetMs(IP, 10_000);
  const window = Math.floor((T0 + phase - off) / 10_000) * 10_000 + off - T0;
  // The sweep runs once per summary interval and writes windows that ended one interval + timeout ago.
  await r.clock.advanceAsync(window + 10_000 + 20_500 + 10_000 + 1);
  assert.deepEqual(
    r.sink.of('ping_summary').map((p) => p.timeMs - T0),
    [window],
  );
  await r.sched.stop();
});

test('pacing: a rate below devices / interval is reported once with the effective interval, and served fairly', async () => {
  const { logger, lines } = captureLogger('info');
  const r = rig({ ratePerSec: 10, burst: 1 }, { logger, pinger: { respond: () => ({ rttMs: 1 }) } });
  const ips = Array.from({ length: 50 }, (_, i) => ipOf(i + 1));
  addDevices(r, ips);
  r.sched.start();
  await r.clock.advanceAsync(60_000);
  const warns = lines.filter((l) => l['level'] === 'warn');
  assert.equal(warns.length, 1);
  assert.match(
    String(warns[0]!['msg']),
    /^ping_rate_limit 10\/s cannot ping 50 devices every 1000 ms; each device is pinged about every 5000 ms/,
  );
  assert.equal(warns[0]!['effective_interval_ms'], 5000);
  const s = r.sched.stats();
  assert.equal(s.effectiveIntervalMs, 5000);
  assert.equal(s.rateLimited, true);
  assert.ok(s.pingsSentTotal >= 595 && s.pingsSentTotal <= 601, `sent ${s.pingsSentTotal}`);
  const calls = ips.map((ip) => r.pinger.callsTo(ip));
  assert.ok(Math.min(...calls) >= 10 && Math.max(...calls) <= 14, calls.join(','));
  assert.equal(r.pinger.overlaps, 0);
  await r.sched.stop();
});

test('reconfigure: a new interval re-phases every device, a rate change keeps phases', async () => {
  const r = rig({}, { pinger: { respond: () => ({ rttMs: 1 }), record: true } });
  const ips = Array.from({ length: 20 }, (_, i) => ipOf(i + 1));
  addDevices(r, ips);
  r.sched.start();
  await r.clock.advanceAsync(5000);
  const before = ips.map((ip) => r.sched.nextSlotMs(ip));
  r.sched.reconfigure({ ratePerSec: 5000, burst: 100 });
  assert.deepEqual(
    ips.map((ip) => r.sched.nextSlotMs(ip)),
    before,
  );
  r.sched.reconfigure({ intervalMs: 2000 });
  const now = r.clock.now();
  for (const ip of ips) {
    const slot = r.sched.nextSlotMs(ip)!;
    assert.equal((slot - T0) % 2000, phaseMs(ip, 2000), ip);
    assert.ok(slot >= now && slot < now + 2000, ip);
  }
  r.pinger.sends.length = 0;
  await r.clock.advanceAsync(10_000);
  for (const s of r.pinger.sends) assert.equal((s.sentAtMs - T0) % 2000, phaseMs(s.ip, 2000));
  assert.equal(r.pinger.sends.length, 20 * 5);
  await r.sched.stop();
});

test('raising the rate on reconfigure serves the devices already waiting for tokens at once', async () => {
  const r = rig({ ratePerSec: 1, burst: 1 }, { pinger: { mode: 'immediate' } });
  const ips = Array.from({ length: 100 }, (_, i) => ipOf(i + 1));
  addDevices(r, ips);
  r.sched.start();
  await r.clock.advanceAsync(5_000);
  r.sched.reconfigure({ ratePerSec: 1e6, burst: 1e6 });
  const before = new Map(ips.map((ip) => [ip, r.pinger.callsTo(ip)]));
  await r.clock.advanceAsync(1_000);
  assert.deepEqual(
    ips.filter((ip) => r.pinger.callsTo(ip) === before.get(ip)),
    [],
    'every device probed within one interval',
  );
  await r.sched.stop();
});

test('a device removed while its probe is in flight and re-added keeps one schedule and never two probes', async () => {
  const r = rig({ timeoutMs: 2500 }, { pinger: { respond: () => ({ reason: 'timeout' }), record: true } });
  addDevices(r, [IP]);
  r.sched.start();
  await r.clock.advanceAsync(500); // probe sent at 407, in flight until 2907
  r.sched.remove(IP);
  assert.equal(r.sched.has(IP), false);
  assert.equal(r.sched.size, 0);
  r.sched.add(IP);
  r.sched.remove(IP);
  r.sched.add(IP);
  assert.equal(r.sched.size, 1);
  assert.deepEqual([...r.sched.ips()], [IP]);
  await r.clock.advanceAsync(5000);
  assert.equal(r.pinger.overlaps, 0);
  assert.deepEqual(sendTimes(r), [407, 3407]);
  r.sched.remove(IP);
  await r.clock.advanceAsync(10_000);
  assert.deepEqual(sendTimes(r), [407, 3407]);
  assert.equal(r.sched.size, 0);
  await r.sched.stop();
});

test('a pinger that throws or rejects is an agent_error, never feeds the breaker, and the device stays scheduled (no zombie)', async () => {
  const clock = new FakeClock(T0);
  const sink = new RecordingSink();
  const state = new FakeDeviceState(clock);
  let n = 0;
  const pinger = {
    ping: (): Promise<never> => {
      n++;
      if (n % 2 === 1) throw new Error('engine bug');
      return Promise.reject(new Error('engine stopped'));
    },
  };
  const sched = new PingScheduler(
    { clock, pinger, sink, state, logger: silentLogger(), stallMonitor: new FakeStallMonitor() },
    { intervalMs: 1000, maxConsecutiveFails: 100 },
  );
  state.markSeen(IP);
  sched.add(IP);
  sched.start();
  await clock.advanceAsync(10_000);
  assert.equal(n, 10);
  assert.equal(sched.stats().failuresByReason.agent_error, 10);
  assert.equal(state.failuresReported.get(IP) ?? 0, 0);
  assert.equal(sink.of('ping').length, 10);
  assert.ok(sink.of('ping').every((p) => fieldValue(p, 'reason') === 'agent_error'));
  await sched.stop();
});

test('a failed ICMP socket (ERR_ICMP_SOCKET) is agent_error: written, counted, never loss and never the breaker', async () => {
  const clock = new FakeClock(T0);
  const sink = new RecordingSink();
  const state = new FakeDeviceState(clock);
  const pinger = {
    ping: (): Promise<never> =>
      Promise.reject(new NetscanError('ERR_ICMP_SOCKET', 'ICMP socket failed: EBADF', { stage: 'icmp' })),
  };
  const { logger, lines } = captureLogger();
  const sched = new PingScheduler(
    { clock, pinger, sink, state, logger, stallMonitor: new FakeStallMonitor() },
    { intervalMs: 1000, maxConsecutiveFails: 3 },
  );
  state.markSeen(IP);
  sched.add(IP);
  sched.start();
  await clock.advanceAsync(10_000);
  assert.equal(sched.stats().failuresByReason.agent_error, 10);
  assert.equal(sched.stats().failuresByReason.send_error, 0);
  assert.equal(state.failuresReported.get(IP) ?? 0, 0);
  assert.equal(state.isPingSuspended(IP), false);
  assert.ok(
    sink.of('ping').length === 10 &&
      sink.of('ping').every((p) => fieldValue(p, 'reason') === 'agent_error' && fieldValue(p, 'success') === false),
  );
  assert.equal(
    lines.filter((l) => l.level === 'warn' || l.level === 'error').length,
    0,
    'the engine logs the socket failure, not every probe',
  );
  await sched.stop();
  const summary = sink.of('ping_summary');
  assert.equal(fieldValue(summary[0]!, 'sent'), 0);
  assert.equal(fieldValue(summary[0]!, 'overloaded'), 10);
});

test('a sink that throws loses the point, is counted, and scheduling goes on', async () => {
  const r = rig({}, { pinger: { respond: () => ({ rttMs: 1 }) } });
  const sink = {
    write: (): number => {
      throw new Error('queue gone');
    },
  };
  const sched = new PingScheduler(
    { clock: r.clock, pinger: r.pinger, sink, state: r.state, logger: silentLogger(), stallMonitor: r.stalls },
    { intervalMs: 1000 },
  );
  r.state.markSeen(IP);
  sched.add(IP);
  sched.start();
  await r.clock.advanceAsync(5000);
  assert.equal(r.pinger.calls, 5);
  assert.equal(sched.stats().sinkErrorsTotal, 5);
  await sched.stop();
});

test('stop is idempotent, safe before start, aborts probes in flight and writes the open summaries', async () => {
  const idle = rig();
  const p1 = idle.sched.stop();
  assert.equal(idle.sched.stop(), p1);
  await p1;
  idle.sched.start(); // after stop: stays stopped
  idle.sched.add(IP);
  assert.equal(idle.sched.size, 0);

  const r = rig(
    { timeoutMs: 5000, summaryIntervalMs: 60_000 },
    { pinger: { respond: (ip) => (ip === IP ? { reason: 'timeout' } : { rttMs: 1 }) } },
  );
  addDevices(r, [IP, '127.0.0.2']);
  r.sched.start();
  await r.clock.advanceAsync(3000);
  assert.equal(r.sched.stats().inFlight, 1);
  const stopped = r.sched.stop();
  await stopped;
  assert.equal(r.sched.stats().inFlight, 0);
  assert.equal(r.sched.stats().failuresByReason.timeout, 0); // the aborted probe is not a failure
  // 127.0.0.2's open window, and IP's: the aborted probe recorded nothing, but the two ticks it made skip are written.
  assert.equal(r.sink.count('ping_summary'), 2);
  assert.equal(fieldValue(r.sink.of('ping_summary', IP)[0]!, 'skipped_ticks'), 2);
  assert.equal(r.stalls.started, false);
  assert.equal(r.clock.pendingTimers(), 0);
});

test('an aborted start signal stops the scheduler', async () => {
  const r = rig({}, { pinger: { respond: () => ({ rttMs: 1 }) } });
  addDevices(r, [IP]);
  const ac = new AbortController();
  r.sched.start(ac.signal);
  await r.clock.advanceAsync(1000);
  ac.abort();
  await r.clock.advanceAsync(5000);
  assert.equal(r.pinger.calls, 1);
});

/** A clock whose wall time can be stepped (NTP, VM resume) while monotonic time and timers go on. */
function steppableClock(fake: FakeClock): { clock: Clock; step: (ms: number) => void } {
  let offsetMs = 0;
  const clock: Clock = {
    now: () => fake.now() + offsetMs,
    monoNs: () => fake.monoNs(),
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    sleep: (ms, signal) => fake.sleep(ms, signal),
  };
  return {
    clock,
    step: (ms) => {
      offsetMs += ms;
    },
  };
}

test('a wall clock stepped back 10 minutes keeps the cadence: pacing follows monotonic time', async () => {
  const fake = new FakeClock(T0);
  const { clock, step } = steppableClock(fake);
  const pinger = new FakePinger({ clock, respond: () => ({ rttMs: 1 }), mode: 'immediate' });
  const state = new FakeDeviceState(clock);
  // 100 devices at 2 s need 50 probes/s: a rate of 64/s is enough.
  const sched = new PingScheduler(
    { clock, pinger, sink: new RecordingSink(), state, logger: silentLogger(), stallMonitor: new FakeStallMonitor() },
    { intervalMs: 2000, timeoutMs: 1000, ratePerSec: 64, burst: 256 },
  );
  addDevices(
    { state, sched } as Rig,
    Array.from({ length: 100 }, (_, i) => ipOf(i + 1)),
  );
  sched.start();
  await fake.advanceAsync(10_000);
  step(-600_000);
  const before = pinger.calls;
  await fake.advanceAsync(120_000);
  assert.ok(pinger.calls - before >= 5990, `${pinger.calls - before} probes in 120 s, expected 6000`);
  assert.ok(sched.stats().sendLagP99Ms <= 100, `send lag p99 ${sched.stats().sendLagP99Ms} ms`);
  await sched.stop();
});

test('a wall-clock jump reschedules from the new time instead of firing every missed slot', async () => {
  const fake = new FakeClock(T0);
  const { clock, step } = steppableClock(fake);
  const { logger, lines } = captureLogger('warn');
  const pinger = new FakePinger({ clock, respond: () => ({ rttMs: 1 }), record: true });
  const state = new FakeDeviceState(clock);
  const sched = new PingScheduler(
    { clock, pinger, sink: new RecordingSink(), state, logger, stallMonitor: new FakeStallMonitor() },
    { intervalMs: 1000, timeoutMs: 500 },
  );
  state.markSeen(IP);
  sched.add(IP);
  sched.start();
  await fake.advanceAsync(2000);
  step(3_600_000);
  await fake.advanceAsync(3000);
  assert.equal(sched.stats().missedSlotsTotal, 0);
  assert.deepEqual(
    pinger.sends.map((s) => s.sentAtMs - T0),
    [407, 1407, 3_600_000 + 2407, 3_600_000 + 3407, 3_600_000 + 4407],
  );
  assert.equal(lines.filter((l) => String(l['msg']).startsWith('wall clock jumped')).length, 1);
  await sched.stop();
});

test('a probe the pinger never settles is given up after 2 × timeout + 1 s and the device is probed again', async () => {
  const clock = new FakeClock(T0);
  const sink = new RecordingSink();
  const state = new FakeDeviceState(clock);
  const sends: number[] = [];
  let hang = true;
  const pinger = {
    ping: (ip: string): Promise<PingOutcome> => {
      sends.push(clock.now() - T0);
      return hang
        ? new Promise<PingOutcome>(() => undefined)
        : Promise.resolve({ ok: true, ip, rttMs: 1, sentAtMs: clock.now() });
    },
  };
  const sched = new PingScheduler(
    { clock, pinger, sink, state, logger: silentLogger(), stallMonitor: new FakeStallMonitor() },
    { intervalMs: 1000, timeoutMs: 500 },
  );
  state.markSeen(IP);
  sched.add(IP);
  sched.start();
  await clock.advanceAsync(2500);
  hang = false;
  await clock.advanceAsync(2000);
  // Sent at 407; the slots at 1407 and 2407 are skipped (within 2 s of the send); at 3407 it is abandoned and probed again.
  assert.deepEqual(sends, [407, 3407, 4407]);
  const s = sched.stats();
  assert.equal(s.hungProbesTotal, 1);
  assert.equal(s.failuresByReason.agent_error, 1, 'the host was never judged');
  assert.equal(state.failuresReported.get(IP) ?? 0, 0, 'an agent fault never feeds the breaker');
  assert.equal(s.inFlight, 0);
  assert.equal(s.repliesTotal, 2);
  await sched.stop();
});

test('a device removed while its probe hangs is released after 2 × timeout + 1 s, its summary written', async () => {
  const clock = new FakeClock(T0);
  const sink = new RecordingSink();
  const state = new FakeDeviceState(clock);
  let hang = false;
  const pinger = {
    ping: (ip: string): Promise<PingOutcome> =>
      hang
        ? new Promise<PingOutcome>(() => undefined)
        : Promise.resolve({ ok: true, ip, rttMs: 1, sentAtMs: clock.now() }),
  };
  const sched = new PingScheduler(
    { clock, pinger, sink, state, logger: silentLogger(), stallMonitor: new FakeStallMonitor() },
    { intervalMs: 1000, timeoutMs: 500, summaryIntervalMs: 10_000 },
  );
  state.markSeen(IP);
  sched.add(IP);
  sched.start();
  await clock.advanceAsync(3000);
  hang = true;
  await clock.advanceAsync(1000); // the probe at 3407 never settles
  sched.remove(IP);
  await clock.advanceAsync(2000); // given up at 3407 + 2000
  const s = sched.stats();
  assert.equal(s.inFlight, 0);
  assert.equal(s.hungProbesTotal, 1);
  assert.equal(sink.count('ping_summary'), 1, 'the open window is written when the entry goes');
  await sched.stop();
});

/** A clock that can stall: wall and monotonic time leap together while no timer fires (a starved event loop). */
function stallableClock(fake: FakeClock): { clock: Clock; stall: (ms: number) => void } {
  let offsetMs = 0;
  const clock: Clock = {
    now: () => fake.now() + offsetMs,
    monoNs: () => fake.monoNs() + BigInt(offsetMs * 1e6),
    setTimeout: (fn, ms) => fake.setTimeout(fn, ms),
    sleep: (ms, signal) => fake.sleep(ms, signal),
  };
  return {
    clock,
    stall: (ms) => {
      offsetMs += ms;
    },
  };
}

test('slots passed over by a stall are written per device in the summary windows they belong to, and every slot is accounted', async () => {
  const fake = new FakeClock(T0);
  const { clock, stall } = stallableClock(fake);
  const pinger = new FakePinger({ clock, respond: () => ({ rttMs: 1 }), mode: 'immediate' });
  const state = new FakeDeviceState(clock);
  const sink = new RecordingSink();
  const sched = new PingScheduler(
    { clock, pinger, sink, state, logger: silentLogger(), stallMonitor: new FakeStallMonitor() },
    { intervalMs: 1000, timeoutMs: 500, ratePerSec: 1e6, burst: 1e6, summaryIntervalMs: 10_000 },
  );
  const ips = Array.from({ length: 20 }, (_, i) => ipOf(i + 1));
  addDevices({ state, sched } as Rig, ips);
  sched.start();
  await fake.advanceAsync(5000);
  assert.equal(sched.stats().missedSlotsTotal, 0);
  stall(3500);
  await fake.advanceAsync(31_000);
  const endMs = clock.now();
  await sched.stop();

  const stats = sched.stats();
  assert.ok(stats.missedSlotsTotal >= 2 * ips.length, `missed ${stats.missedSlotsTotal}`);
  assert.equal(stats.devicesMissed, ips.length);
  let missedInSummaries = 0;
  for (const ip of ips) {
    const summaries = sink.of('ping_summary', ip);
    const count = (name: string): number => summaries.reduce((n, p) => n + Number(fieldValue(p, name)), 0);
    const accounted =
      count('sent') + count('overloaded') + count('suspended_ticks') + count('missed_slots') + count('skipped_ticks');
    const first = slotAfter(phaseMs(ip, 1000), 1000, T0 - 1);
    const expected = Math.floor((endMs - first) / 1000) + 1;
    assert.ok(Math.abs(accounted - expected) <= 1, `${ip}: ${accounted} slots accounted, ${expected} expected`);
    assert.ok(count('missed_slots') >= 2, `${ip}: ${count('missed_slots')} missed`);
    missedInSummaries += count('missed_slots');
  }
  assert.equal(missedInSummaries, stats.missedSlotsTotal);
});

test('takeInterval reports the send lag of the interval and starts a new one', async () => {
  const fake = new FakeClock(T0);
  const { clock, stall } = stallableClock(fake);
  const pinger = new FakePinger({ clock, respond: () => ({ rttMs: 1 }), mode: 'immediate' });
  const state = new FakeDeviceState(clock);
  const sched = new PingScheduler(
    { clock, pinger, sink: new RecordingSink(), state, logger: silentLogger(), stallMonitor: new FakeStallMonitor() },
    { intervalMs: 1000, timeoutMs: 500 },
  );
  addDevices({ state, sched } as Rig, [IP]);
  sched.start();
  await fake.advanceAsync(2000);
  const calm = sched.takeInterval();
  assert.equal(calm.sends, 2);
  assert.equal(calm.sendLagMaxMs, 0);
  await fake.advanceAsync(Math.max(0, sched.nextSlotMs(IP)! - clock.now() - 100));
  stall(700);
  await fake.advanceAsync(1000);
  const late = sched.takeInterval();
  assert.equal(late.sendLagMaxMs, 700);
  assert.equal(Number.isNaN(sched.takeInterval().sendLagMaxMs), true);
  await sched.stop();
});

test('devices at 1 s and at their own 3 s get 3:1 pings over a minute, each on its own phase', async () => {
  const r = rig({ intervalMs: 1000 }, { pinger: { respond: () => ({ rttMs: 1 }), record: true } });
  const [fast, slow] = ['127.0.0.1', '127.0.0.2'];
  r.state.markSeen(fast);
  r.state.markSeen(slow);
  r.sched.add(fast);
  r.sched.add(slow, { intervalMs: 3000 });
  r.sched.start();
  await r.clock.advanceAsync(60_000);
  const sendsOf = (ip: string): number[] => r.pinger.sends.filter((s) => s.ip === ip).map((s) => s.sentAtMs - T0);
  for (const [ip, intervalMs] of [
    [fast, 1000],
    [slow, 3000],
  ] as const) {
    const phase = phaseMs(ip, intervalMs);
    assert.deepEqual(
      sendsOf(ip),
      Array.from({ length: 60_000 / intervalMs }, (_, k) => phase + k * intervalMs),
      ip,
    );
    assert.equal(r.sched.intervalMsOf(ip), intervalMs);
  }
  assert.equal(sendsOf(fast).length, 3 * sendsOf(slow).length);
  const s = r.sched.stats();
  assert.equal(s.ownIntervalDevices, 1);
  assert.equal(s.expectedPingsPerSec, 1 + 1 / 3);
  assert.equal(s.missedSlotsTotal, 0);
  await r.sched.stop();
});

test('slots a stall passes over are counted per device at its own interval, and each resumes on its own phase', async () => {
  const fake = new FakeClock(T0);
  const { clock, stall } = stallableClock(fake);
  const pinger = new FakePinger({ clock, respond: () => ({ rttMs: 1 }), mode: 'immediate', record: true });
  const state = new FakeDeviceState(clock);
  const sink = new RecordingSink();
  const sched = new PingScheduler(
    { clock, pinger, sink, state, logger: silentLogger(), stallMonitor: new FakeStallMonitor() },
    { intervalMs: 1000, timeoutMs: 500, ratePerSec: 1e6, burst: 1e6, summaryIntervalMs: 60_000 },
  );
  const devices = [
    ['127.0.0.1', 1000],
    ['127.0.0.2', 3000],
    ['127.0.0.3', 7000],
  ] as const;
  for (const [ip, intervalMs] of devices) {
    state.markSeen(ip);
    sched.add(ip, { intervalMs });
  }
  sched.start();
  await fake.advanceAsync(10_000);
  const next = devices.map(([ip]) => sched.nextSlotMs(ip)!);
  const firedAt = Math.min(...next) + 20_000;
  stall(20_000);
  await fake.advanceAsync(Math.min(...next) - fake.now());
  const expected = devices.map(([ip, intervalMs], i) =>
    slotsBetween(phaseMs(ip, intervalMs), intervalMs, next[i]!, firedAt),
  );
  // The 1 s device's first slot is served 20 s late; the 20 slots after it, up to the moment it is served, are missed.
  assert.equal(expected[0], 20);
  assert.equal(sched.stats().missedSlotsTotal, expected[0]! + expected[1]! + expected[2]!);
  pinger.sends.length = 0;
  await fake.advanceAsync(30_000);
  for (const s of pinger.sends) {
    const intervalMs = devices.find(([ip]) => ip === s.ip)![1];
    assert.equal(s.sentAtMs % intervalMs, phaseMs(s.ip, intervalMs), s.ip);
  }
  await sched.stop();
  devices.forEach(([ip], i) => {
    const missed = sink.of('ping_summary', ip).reduce((n, p) => n + Number(fieldValue(p, 'missed_slots')), 0);
    assert.equal(missed, expected[i], ip);
  });
});

test('a new global interval re-phases only the devices without their own; a changed own interval re-phases that device', async () => {
  const r = rig({}, { pinger: { respond: () => ({ rttMs: 1 }), record: true } });
  const ips = Array.from({ length: 10 }, (_, i) => ipOf(i + 1));
  addDevices(r, ips);
  const own = ips.slice(0, 3);
  for (const ip of own) r.sched.setDeviceInterval(ip, 4000);
  r.sched.start();
  await r.clock.advanceAsync(5000);
  const ownSlots = own.map((ip) => r.sched.nextSlotMs(ip));
  r.sched.reconfigure({ intervalMs: 2000 });
  assert.deepEqual(
    own.map((ip) => r.sched.nextSlotMs(ip)),
    ownSlots,
  );
  for (const ip of ips.slice(3)) assert.equal((r.sched.nextSlotMs(ip)! - T0) % 2000, phaseMs(ip, 2000), ip);
  r.sched.setDeviceInterval(own[0]!, 1000);
  r.sched.add(own[1]!, { intervalMs: 1000 });
  r.sched.setDeviceInterval(own[2]!, undefined);
  const now = r.clock.now();
  for (const [ip, intervalMs] of [
    [own[0]!, 1000],
    [own[1]!, 1000],
    [own[2]!, 2000],
  ] as const) {
    const slot = r.sched.nextSlotMs(ip)!;
    assert.equal((slot - T0) % intervalMs, phaseMs(ip, intervalMs), ip);
    assert.ok(slot >= now && slot < now + intervalMs, ip);
  }
  assert.equal(r.sched.size, 10);
  assert.equal(r.sched.stats().ownIntervalDevices, 2);
  assert.equal(r.sched.stats().expectedPingsPerSec, 8 / 2 + 2);
  r.pinger.sends.length = 0;
  await r.clock.advanceAsync(4000);
  for (const [ip, intervalMs] of [
    [own[0]!, 1000],
    [own[2]!, 2000],
  ] as const)
    assert.equal(
      r.pinger.sends.filter((x) => x.ip === ip).length,
      slotsBetween(phaseMs(ip, intervalMs), intervalMs, now - 1, now + 4000),
      ip,
    );
  assert.equal(r.pinger.overlaps, 0);
  await r.sched.stop();
});

test('the rate check counts each device at its own interval', async () => {
  const { logger, lines } = captureLogger('info');
  const r = rig({ ratePerSec: 20, burst: 20 }, { logger, pinger: { respond: () => ({ rttMs: 1 }) } });
  const ips = Array.from({ length: 15 }, (_, i) => ipOf(i + 1));
  addDevices(r, ips);
  r.sched.start();
  await r.clock.advanceAsync(2000);
  assert.equal(r.sched.stats().rateLimited, false, '15 devices at 1 s fit 20/s');
  for (const ip of ips.slice(0, 5)) r.sched.setDeviceInterval(ip, 200);
  await r.clock.advanceAsync(2000);
  const s = r.sched.stats();
  assert.equal(s.expectedPingsPerSec, 10 + 25);
  assert.equal(s.rateLimited, true);
  assert.equal(s.effectiveIntervalMs, 1750);
  const warns = lines.filter((l) => l['level'] === 'warn');
  assert.equal(warns.length, 1);
  assert.equal(
    warns[0]!['msg'],
    'ping_rate_limit 20/s cannot ping 15 devices at their intervals (10 every 1000 ms, 5 at their own, 35/s in all); each device is pinged about 1.75 times less often (every 1750 ms at 1000 ms) (raise ping_rate_limit to at least 35)',
  );
  for (const ip of ips.slice(0, 5)) r.sched.setDeviceInterval(ip, 2000);
  assert.equal(r.sched.stats().rateLimited, false);
  assert.equal(
    lines.filter((l) => l['msg'] === 'ping_rate_limit now serves every device at its ping_interval').length,
    1,
  );
  await r.sched.stop();
});
