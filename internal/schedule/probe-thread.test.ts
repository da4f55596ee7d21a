import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PingOutcome } from '../model/ping.js';
import { FakeClock, flushMicrotasks } from '../testkit/fake-clock.js';
import { FakeDeviceState } from '../testkit/fake-device-state.js';
import { FakePinger, type FakeReply } from '../testkit/fake-pinger.js';
import { FakeStallMonitor } from '../testkit/fake-stall-monitor.js';
import { inProcessProbeThread } from '../testkit/in-process-probe-thread.js';
import { captureLogger, silentLogger } from '../testkit/logger.js';
import { RecordingSink } from '../testkit/recording-sink.js';
import type { Logger } from '../log/log.js';
import { PingScheduler, type PingSchedulerOptions } from './ping-scheduler.js';
import { ProbeThread } from './probe-thread.js';

const T0 = 1_700_000_040_000;
const OPTS: Partial<PingSchedulerOptions> = { intervalMs: 1000, timeoutMs: 500, ratePerSec: 1e6, burst: 1e6 };
const ipOf = (i: number): string => `127.0.${(i >> 8) & 255}.${i & 255}`;

interface Calls {
  probed: PingOutcome[];
  suspended: string[];
  removed: string[];
  rtts: number[];
}

function rig(
  extra: { respond?: (ip: string) => FakeReply; opts?: Partial<PingSchedulerOptions>; logger?: Logger } = {},
) {
  const clock = new FakeClock(T0);
  const pinger = new FakePinger({ clock, ...(extra.respond ? { respond: extra.respond } : {}) });
  const sink = new RecordingSink();
  const state = new FakeDeviceState(clock);
  const calls: Calls = { probed: [], suspended: [], removed: [], rtts: [] };
  const fake = inProcessProbeThread({ clock, pinger, stallMonitor: new FakeStallMonitor() });
  const thread = new ProbeThread(
    {
      clock,
      sink,
      state,
      logger: extra.logger ?? silentLogger(),
      spawn: fake.spawn,
      rtt: (ms) => calls.rtts.push(ms),
      observer: {
        probed: (o) => calls.probed.push(o),
        suspended: (ip) => calls.suspended.push(ip),
        removed: (ip) => calls.removed.push(ip),
      },
    },
    { ...OPTS, ...extra.opts },
    { restartDelayMs: 1000 },
  );
  const add = (ips: string[]): void => {
    for (const ip of ips) {
      state.markSeen(ip);
      thread.add(ip);
    }
  };
  return { clock, pinger, sink, state, calls, fake, thread, add };
}

test('writes the same points in the same order as the scheduler run on the main thread', async () => {
  const respond = (ip: string): FakeReply => (ip.endsWith('.3') ? { reason: 'timeout' } : { rttMs: 2 });
  const opts = { summaryIntervalMs: 5000, maxConsecutiveFails: 3, backoffMs: 4000 };
  const ips = Array.from({ length: 6 }, (_, i) => ipOf(i + 1));

  const r = rig({ respond, opts });
  r.add(ips);
  r.thread.start();
  await r.clock.advanceAsync(20_000);
  await r.thread.stop();

  const clock = new FakeClock(T0);
  const sink = new RecordingSink();
  const state = new FakeDeviceState(clock);
  const direct = new PingScheduler(
    {
      clock,
      pinger: new FakePinger({ clock, respond }),
      sink,
      state,
      logger: silentLogger(),
      stallMonitor: new FakeStallMonitor(),
    },
    { ...OPTS, ...opts },
  );
  for (const ip of ips) {
    state.markSeen(ip);
    direct.add(ip);
  }
  direct.start();
  await clock.advanceAsync(20_000);
  await direct.stop();

  assert.ok(sink.points.length > 100);
  assert.deepEqual(r.sink.points, sink.points);
  assert.ok(r.sink.points.some((p) => p.fields.suspended?.value === true));
  assert.equal(r.thread.stats().pingsSentTotal, direct.stats().pingsSentTotal);
  assert.equal(r.thread.stats().breakerTripsTotal, direct.stats().breakerTripsTotal);
});

test('replays every breaker update on the store, which suspends the device as the thread did', async () => {
  const r = rig({ respond: () => ({ reason: 'unreachable' }), opts: { maxConsecutiveFails: 2, backoffMs: 10_000 } });
  r.add(['127.0.0.9']);
  r.thread.start();
  await r.clock.advanceAsync(2_100);
  assert.equal(r.state.failuresReported.get('127.0.0.9'), 2);
  assert.equal(r.state.isPingSuspended('127.0.0.9'), true);
  const calls = r.pinger.calls;
  await r.clock.advanceAsync(5_000);
  assert.equal(r.pinger.calls, calls, 'no probe while the breaker is open');
  assert.ok(r.calls.suspended.length >= 4);
  await r.thread.stop();
});

test('seeds the thread with the store breaker: a device suspended in the store is not probed', async () => {
  const r = rig({ opts: { maxConsecutiveFails: 1, backoffMs: 60_000 } });
  r.state.markSeen('127.0.0.5');
  r.state.recordPingFailure('127.0.0.5', 1, 60_000);
  r.thread.add('127.0.0.5');
  r.thread.start();
  await r.clock.advanceAsync(5_000);
  assert.equal(r.pinger.calls, 0);
  assert.equal(r.sink.of('ping', '127.0.0.5').length, 5);
  await r.thread.stop();
});

test('hands probed outcomes, RTTs and removals to the main thread, removal after the last probe', async () => {
  const r = rig();
  r.add(['127.0.0.1', '127.0.0.2']);
  r.thread.start();
  await r.clock.advanceAsync(3_000);
  r.thread.remove('127.0.0.2');
  assert.equal(r.thread.has('127.0.0.2'), false);
  assert.deepEqual([...r.thread.ips()], ['127.0.0.1']);
  await r.clock.advanceAsync(3_000);
  const last = r.calls.probed.filter((o) => o.ip === '127.0.0.2').length;
  assert.equal(last, 3);
  assert.deepEqual(r.calls.removed, ['127.0.0.2']);
  assert.equal(r.calls.probed.filter((o) => o.ip === '127.0.0.1').length, 6);
  assert.deepEqual(new Set(r.calls.rtts), new Set([1]));
  await r.thread.stop();
});

test('stats come from the thread, device counts from the proxy; takeInterval starts a new interval there too', async () => {
  const r = rig();
  r.add([ipOf(1), ipOf(2), ipOf(3)]);
  assert.equal(r.thread.stats().devicesScheduled, 3);
  assert.equal(r.thread.stats().pingsSentTotal, 0);
  r.thread.start();
  await r.clock.advanceAsync(2_000);
  const s = await r.thread.refresh();
  assert.equal(s.pingsSentTotal, 6);
  assert.equal(s.repliesTotal, 6);
  assert.equal(s.interval.sends, 6);
  assert.equal(r.thread.takeInterval().sends, 6);
  assert.equal(r.thread.stats().interval.sends, 0);
  assert.equal((await r.thread.refresh()).interval.sends, 0);
  await r.clock.advanceAsync(1_000);
  assert.equal((await r.thread.refresh()).interval.sends, 3);
  assert.equal(r.thread.nextSlotMs(ipOf(1))! > r.clock.now() - 1, true);
  assert.equal(r.thread.nextSlotMs('127.9.9.9'), undefined);
  await r.thread.stop();
});

test('takeIntervalExact closes the interval in the thread: every send falls in exactly one interval', async () => {
  const r = rig();
  r.add([ipOf(1), ipOf(2), ipOf(3)]);
  r.thread.start();
  let taken = 0;
  // Odd steps, so takes fall between the thread's 250 ms snapshots as well as on them.
  for (const step of [1_130, 170, 1_010, 90, 2_345]) {
    await r.clock.advanceAsync(step);
    taken += (await r.thread.takeIntervalExact()).sends;
  }
  // An interval counts a send once its probe completes: every reply, no probe twice.
  const s = await r.thread.refresh();
  assert.equal(s.repliesTotal > 10, true);
  assert.equal(taken, s.repliesTotal);
  assert.equal(s.interval.sends, 0);
  await r.thread.stop();
  // Stopped: answered from the last snapshot, as takeInterval.
  assert.equal((await r.thread.takeIntervalExact()).sends, 0);
});

test('reconfigure checks the options on the main thread and applies them in the thread', async () => {
  const r = rig();
  r.add([ipOf(1)]);
  r.thread.start();
  assert.throws(() => r.thread.reconfigure({ intervalMs: 0 }), /ping_interval: must be at least 1 ms \(got 0\)/);
  r.thread.reconfigure({ intervalMs: 500 });
  assert.equal(r.thread.options.intervalMs, 500);
  await r.clock.advanceAsync(1);
  const before = r.pinger.calls;
  await r.clock.advanceAsync(5_000);
  assert.equal(r.pinger.calls - before, 10);
  assert.equal((await r.thread.refresh()).intervalMs, 500);
  await r.thread.stop();
});

test('stop is idempotent, drains the open summary windows and ends the thread; safe before start', async () => {
  await new ProbeThread({
    clock: new FakeClock(T0),
    sink: new RecordingSink(),
    state: new FakeDeviceState(new FakeClock(T0)),
    logger: silentLogger(),
    spawn: () => assert.fail('never spawned'),
  }).stop();
  const r = rig({ opts: { summaryIntervalMs: 60_000 } });
  r.add([ipOf(1), ipOf(2)]);
  r.thread.start();
  await r.clock.advanceAsync(3_000);
  assert.equal(r.sink.count('ping_summary'), 0);
  const a = r.thread.stop();
  const b = r.thread.stop();
  assert.equal(a, b);
  await r.clock.advanceAsync(1);
  await a;
  assert.equal(r.sink.count('ping_summary'), 2);
  assert.equal(r.fake.threads[0]!.exited, true);
  r.thread.add(ipOf(3));
  assert.equal(r.thread.has(ipOf(3)), false);
});

test('a crashed thread is logged once, counted and restarted with every device', async () => {
  const { logger, lines } = captureLogger('info');
  const r = rig({ logger });
  r.add([ipOf(1), ipOf(2)]);
  r.thread.start();
  await r.clock.advanceAsync(2_000);
  r.fake.threads[0]!.crash(new Error('native addon fault'));
  await flushMicrotasks();
  const crashLines = lines.filter((l) => String(l.msg).startsWith('probe thread ended unexpectedly'));
  assert.equal(crashLines.length, 1);
  assert.equal(crashLines[0]!.err, 'native addon fault');
  assert.equal(crashLines[0]!.restart_in_ms, 1000);
  assert.equal(r.thread.counters().crashesTotal, 1);
  r.thread.add(ipOf(3));
  const calls = r.pinger.calls;
  await r.clock.advanceAsync(999);
  assert.equal(r.pinger.calls, calls, 'nothing probes during the restart delay');
  await r.clock.advanceAsync(2_001);
  assert.equal(r.fake.threads.length, 2);
  assert.equal(r.pinger.calls - calls, 6);
  assert.equal(r.thread.counters().spawnsTotal, 2);
  await r.thread.stop();
});

test('log lines of the thread reach the main logger, marked thread: probe', async () => {
  const { logger, lines } = captureLogger('info');
  const r = rig({ logger });
  r.add([ipOf(1)]);
  r.thread.start();
  await r.clock.advanceAsync(10);
  const started = lines.find((l) => l.msg === 'ping scheduler started');
  assert.ok(started);
  assert.equal(started.thread, 'probe');
  assert.equal(started.stage, 'schedule');
  assert.equal(started.level, 'info');
  assert.equal(started.count, 1);
  await r.thread.stop();
});

test('own intervals reach the thread, survive a restart and count in the expected load', async () => {
  const r = rig();
  const fast = ipOf(1);
  const slow = ipOf(2);
  r.add([fast]);
  r.state.markSeen(slow);
  r.thread.add(slow, { intervalMs: 3_000 });
  const before = r.thread.stats();
  assert.equal(before.ownIntervalDevices, 1);
  assert.equal(before.expectedPingsPerSec, 1 + 1 / 3);
  r.thread.start();
  await r.clock.advanceAsync(1);
  const pinged = (ip: string): number => r.calls.probed.filter((o) => o.ip === ip).length;
  await r.clock.advanceAsync(6_000);
  assert.equal(pinged(fast), 6);
  assert.equal(pinged(slow), 2);
  assert.equal(r.thread.nextSlotMs(slow)! - r.clock.now() <= 3_000, true);
  r.fake.threads[0]!.crash(new Error('native addon fault'));
  await flushMicrotasks();
  await r.clock.advanceAsync(1_000);
  const [f0, s0] = [pinged(fast), pinged(slow)];
  await r.clock.advanceAsync(6_000);
  assert.equal(pinged(fast) - f0, 6);
  assert.equal(pinged(slow) - s0, 2, 'the restarted thread keeps the own interval');
  r.thread.setDeviceInterval(slow, undefined);
  assert.equal(r.thread.stats().expectedPingsPerSec, 2);
  await r.clock.advanceAsync(3_001);
  const s1 = pinged(slow);
  await r.clock.advanceAsync(3_000);
  assert.equal(pinged(slow) - s1, 3, 'back on the global interval');
  await r.thread.stop();
});

test('a thread that keeps crashing after it started waits longer each time; a long run starts the count afresh', async () => {
  const { logger, lines } = captureLogger('info');
  const r = rig({ logger });
  r.add([ipOf(1)]);
  r.thread.start();
  const crashAfter = async (ms: number): Promise<number> => {
    const probed = r.calls.probed.length;
    await r.clock.advanceAsync(ms);
    assert.ok(r.calls.probed.length > probed, 'the thread was up and probing');
    r.fake.threads.at(-1)!.crash(new Error('fault at the first probe'));
    await flushMicrotasks();
    const line = lines.filter((l) => String(l.msg).startsWith('probe thread ended unexpectedly')).at(-1)!;
    const delay = line.restart_in_ms as number;
    await r.clock.advanceAsync(delay);
    return delay;
  };
  const delays: number[] = [];
  for (let i = 0; i < 4; i++) delays.push(await crashAfter(1_500));
  assert.deepEqual(delays, [1000, 2000, 4000, 8000]);
  assert.equal(r.fake.threads.length, 5);
  assert.equal(await crashAfter(60_000), 1000, 'a thread that ran a minute is not part of a crash loop');
  await r.thread.stop();
});

test('an observer call that throws loses that call only: the rest of its batch and later batches arrive intact', async () => {
  const run = async (throwOnce: boolean): Promise<RecordingSink> => {
    const clock = new FakeClock(T0);
    const pinger = new FakePinger({ clock });
    const sink = new RecordingSink();
    const state = new FakeDeviceState(clock);
    // One batch a second: the first probes of both devices travel together.
    const host = { flushEveryMs: 1000, statsEveryMs: 60_000 };
    const fake = inProcessProbeThread({ clock, pinger, stallMonitor: new FakeStallMonitor(), host });
    let thrown = !throwOnce;
    const thread = new ProbeThread(
      {
        clock,
        sink,
        state,
        logger: silentLogger(),
        spawn: fake.spawn,
        observer: {
          probed: () => {
            if (thrown) return;
            thrown = true;
            throw new Error('observer fault');
          },
          suspended: () => undefined,
          removed: () => undefined,
        },
      },
      OPTS,
    );
    for (const ip of [ipOf(1), ipOf(2)]) {
      state.markSeen(ip);
      thread.add(ip);
    }
    thread.start();
    await clock.advanceAsync(6_000);
    await thread.stop();
    assert.equal(thrown, true);
    return sink;
  };
  const clean = await run(false);
  const faulty = await run(true);
  assert.ok(clean.of('ping', ipOf(2)).length >= 5);
  assert.deepEqual(faulty.points, clean.points);
});

test('a device removed as the thread crashed is still reported removed, once', async () => {
  const r = rig();
  r.add([ipOf(1), ipOf(2), ipOf(3)]);
  r.thread.start();
  await r.clock.advanceAsync(2_000);
  r.thread.remove(ipOf(3));
  await r.clock.advanceAsync(100);
  assert.deepEqual(r.calls.removed, [ipOf(3)]);
  // The thread dies before it reads the removal: its `removed` never comes back.
  r.thread.remove(ipOf(2));
  r.fake.threads[0]!.crash(new Error('native addon fault'));
  await flushMicrotasks();
  assert.deepEqual(r.calls.removed, [ipOf(3), ipOf(2)]);
  await r.clock.advanceAsync(3_000);
  assert.equal(r.fake.threads.length, 2);
  assert.deepEqual(r.calls.removed, [ipOf(3), ipOf(2)]);
  await r.thread.stop();
});

test('an own interval is checked on the main thread, as the scheduler checks it; the devices after it are scheduled', async () => {
  const r = rig();
  r.thread.start();
  r.state.markSeen(ipOf(1));
  r.state.markSeen(ipOf(2));
  assert.throws(
    () => r.thread.setDeviceInterval(ipOf(1), 0),
    /ping_interval of 127\.0\.0\.1: must be at least 1 ms \(got 0\)/,
  );
  assert.throws(() => r.thread.add(ipOf(1), { intervalMs: Number.NaN }), /must be at least 1 ms \(got NaN\)/);
  r.thread.add(ipOf(2));
  await r.clock.advanceAsync(3_000);
  assert.equal(r.calls.probed.filter((o) => o.ip === ipOf(2)).length, 3);
  assert.equal(r.thread.stats().ownIntervalDevices, 0);
  await r.thread.stop();
});

test('the since-start counters go on across a restart: a new thread does not take them back to 0', async () => {
  const r = rig({ respond: (ip) => (ip === ipOf(2) ? { reason: 'timeout' } : { rttMs: 1 }) });
  r.add([ipOf(1), ipOf(2)]);
  r.thread.start();
  await r.clock.advanceAsync(3_000);
  const before = await r.thread.refresh();
  const callsAtCrash = r.pinger.calls;
  assert.equal(before.pingsSentTotal, callsAtCrash);
  assert.ok(before.repliesTotal >= 2 && before.failuresByReason.timeout >= 2);
  r.fake.threads[0]!.crash(new Error('native addon fault'));
  await flushMicrotasks();
  assert.equal(r.thread.stats().pingsSentTotal, before.pingsSentTotal, 'nothing lost while the thread is down');
  await r.clock.advanceAsync(1_000);
  await r.clock.advanceAsync(2_000);
  const after = await r.thread.refresh();
  assert.equal(r.fake.threads.length, 2);
  assert.ok(r.pinger.calls - callsAtCrash >= 4);
  assert.equal(after.pingsSentTotal, before.pingsSentTotal + (r.pinger.calls - callsAtCrash));
  assert.ok(after.repliesTotal >= before.repliesTotal + 2);
  assert.ok(after.failuresByReason.timeout >= before.failuresByReason.timeout + 1);
  assert.ok(after.pointsWrittenTotal >= before.pointsWrittenTotal + 3);
  await r.thread.stop();
});

test('a device removed and added again before its last breaker update reached the store keeps the breaker of the thread', async () => {
  const r = rig({ respond: () => ({ reason: 'unreachable' }), opts: { maxConsecutiveFails: 3, backoffMs: 60_000 } });
  const ip = ipOf(9);
  r.add([ip]);
  r.thread.start();
  await r.clock.advanceAsync(1_000);
  const next = r.thread.nextSlotMs(ip)!;
  // Just after the second failure: its record is still in the thread, so the store counts 1.
  await r.clock.advanceAsync(next + 5 - r.clock.now());
  assert.equal(r.pinger.calls, 2);
  assert.equal(r.state.get(ip)!.ping.consecutiveFails, 1);
  r.thread.remove(ip);
  r.thread.add(ip);
  await r.clock.advanceAsync(10_000);
  assert.equal(r.pinger.calls, 3, 'the third failure trips the breaker, as on the main thread');
  assert.equal(r.state.get(ip)!.ping.consecutiveFails, 0, 'no failure counted past the trip');
  assert.equal(r.state.isPingSuspended(ip), true);
  await r.thread.stop();
});

test('while no thread runs, /health hears why, the passed slots count as missed and no counter goes backwards', async () => {
  const r = rig();
  r.add([ipOf(1), ipOf(2)]);
  r.thread.start();
  await r.clock.advanceAsync(3_000);
  const before = await r.thread.refresh();
  assert.equal(before.pingsSentTotal, 6);
  assert.deepEqual(r.thread.downReasons(), []);
  r.fake.threads[0]!.crash(new Error('native addon fault'));
  await flushMicrotasks();
  await r.clock.advanceAsync(500);
  assert.match(r.thread.downReasons()[0]!, /probe thread is down for \d+ s after 1 crash/);
  const down = r.thread.stats();
  assert.equal(down.pingsSentTotal, 6, 'the dead thread’s sends stay counted');
  assert.equal(down.missedSlotsTotal, 1, 'two devices at 1 s, half a second down');
  await r.clock.advanceAsync(600);
  assert.deepEqual(r.thread.downReasons(), [], 'the restarted thread answered');
  const after = await r.thread.refresh();
  assert.equal(after.missedSlotsTotal >= 2, true);
  assert.equal(after.pingsSentTotal >= 6, true);
  await r.clock.advanceAsync(2_000);
  assert.equal((await r.thread.refresh()).pingsSentTotal > after.pingsSentTotal, true);
  await r.thread.stop();
});

test('a device removed with a probe in flight that then fails, and added again before that failure reached the store, keeps the failure', async () => {
  let n = 0;
  // A reply, then a failure that comes back 100 ms after the send, then failures at once.
  const respond = (): FakeReply =>
    ++n === 1 ? { rttMs: 1 } : n === 2 ? { reason: 'unreachable', afterMs: 100 } : { reason: 'unreachable' };
  const r = rig({ respond, opts: { maxConsecutiveFails: 3, backoffMs: 60_000 } });
  const ip = ipOf(9);
  r.add([ip]);
  r.thread.start();
  await r.clock.advanceAsync(1_000);
  assert.equal(r.pinger.calls, 1);
  const next = r.thread.nextSlotMs(ip)!;
  await r.clock.advanceAsync(next + 5 - r.clock.now());
  assert.equal(r.pinger.calls, 2, 'the second probe is in flight');
  r.thread.remove(ip);
  await r.clock.advanceAsync(next + 100 - r.clock.now());
  assert.equal(r.state.get(ip)!.ping.consecutiveFails, 0, 'its failure is still in the thread');
  r.thread.add(ip);
  await r.clock.advanceAsync(10_000);
  assert.equal(r.state.isPingSuspended(ip), true, 'the store tripped at the third failure in a row');
  assert.equal(r.pinger.calls, 4, 'and so did the thread: no probe after the trip');
  assert.equal(r.state.get(ip)!.ping.consecutiveFails, 0, 'no failure counted past the trip');
  await r.thread.stop();
});
