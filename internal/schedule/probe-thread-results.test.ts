import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/fake-clock.js';
import { FakeDeviceState } from '../testkit/fake-device-state.js';
import { FakePinger } from '../testkit/fake-pinger.js';
import { FakeStallMonitor } from '../testkit/fake-stall-monitor.js';
import { inProcessProbeThread } from '../testkit/in-process-probe-thread.js';
import { silentLogger } from '../testkit/logger.js';
import { ProbeThread } from './probe-thread.js';

// FakePinger answers in simulated time: the address below is never pinged.
const T0 = 1_700_000_040_000;

test('a device that answered after failures, removed and added again before that answer reached the store, starts clear', async () => {
  const clock = new FakeClock(T0);
  let calls = 0;
  // fail, fail, reply, then failures only.
  const fake = new FakePinger({ clock, respond: () => (++calls === 3 ? { rttMs: 1 } : { reason: 'unreachable' }) });
  const state = new FakeDeviceState(clock);
  const thread = new ProbeThread(
    {
      clock,
      sink: { write: () => 0 },
      state,
      logger: silentLogger(),
      spawn: inProcessProbeThread({ clock, pinger: fake, stallMonitor: new FakeStallMonitor() }).spawn,
    },
    { intervalMs: 1000, timeoutMs: 500, ratePerSec: 1e6, burst: 1e6, maxConsecutiveFails: 3, backoffMs: 60_000 },
  );
  const ip = '127.0.0.9';
  state.markSeen(ip);
  thread.add(ip);
  thread.start();
  while (calls < 2) await clock.advanceAsync(50);
  await clock.advanceAsync(100);
  assert.equal(state.get(ip)!.ping.consecutiveFails, 2);
  // Just after the reply: its success is still in the thread, so the store counts 2 failures.
  await clock.advanceAsync(thread.nextSlotMs(ip)! + 3 - clock.now());
  assert.equal(calls, 3);
  assert.equal(state.get(ip)!.ping.consecutiveFails, 2);
  thread.remove(ip);
  thread.add(ip);
  await clock.advanceAsync(2_100);
  assert.equal(calls, 5);
  assert.equal(state.isPingSuspended(ip), false, 'two failures after the reply do not trip a breaker of 3');
  assert.equal(state.get(ip)!.ping.consecutiveFails, 2);
  await clock.advanceAsync(1_000);
  assert.equal(calls, 6);
  assert.equal(state.isPingSuspended(ip), true);
  await clock.advanceAsync(5_000);
  assert.equal(calls, 6, 'suspended in the thread too');
  await thread.stop();
});
