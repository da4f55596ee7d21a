import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SlotPacer, type PacedDevice, type SlotPacerOptions } from './slot-pacer.js';
import { limitedErrorLog } from '../log/log-limiter.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { silentLogger } from '../testkit/logger.js';

interface Dev extends PacedDevice {
  removed: boolean;
}

const opts: SlotPacerOptions = {
  intervalMs: 10_000,
  ratePerSec: 1_000,
  burst: 10,
  maxDispatchPerTick: 100,
  clockJumpThresholdMs: 1_000,
};

/** A pacer whose serve() does what the scheduler does: a paced device is sent, otherwise it takes a token first. */
function rig(o: SlotPacerOptions = opts): {
  pacer: SlotPacer<Dev>;
  clock: FakeClock;
  served: Array<[string, number, number]>;
} {
  const clock = new FakeClock(0);
  const log = silentLogger();
  const served: Array<[string, number, number]> = [];
  const pacer: SlotPacer<Dev> = new SlotPacer<Dev>(
    {
      clock,
      log,
      errors: limitedErrorLog(log, () => clock.now(), 60_000),
      serve: (e, now) => {
        if (e.paced) e.paced = false;
        else if (!pacer.takeToken(e, now)) return;
        served.push([e.ip, e.slotMs, now]);
        pacer.reschedule(e, e.slotMs, now);
      },
      load: () => ({ devices: 2, ownInterval: 0, perSec: 2000 / o.intervalMs }),
      onClockJump: () => undefined,
    },
    o,
  );
  return { pacer, clock, served };
}

const dev = (ip: string, phase: number): Dev => ({
  ip,
  phase,
  slotMs: phase,
  paced: false,
  removed: false,
  dueMs: 0,
  seq: 0,
  heapIndex: -1,
});

test('devices are served at their slots, every interval, under one timer', () => {
  const { pacer, clock, served } = rig();
  pacer.add(dev('127.0.0.2', 300));
  pacer.add(dev('127.0.0.3', 100));
  pacer.start();
  assert.equal(clock.pendingTimers(), 1);
  clock.advance(20_300);
  assert.deepEqual(served, [
    ['127.0.0.3', 100, 100],
    ['127.0.0.2', 300, 300],
    ['127.0.0.3', 10_100, 10_100],
    ['127.0.0.2', 10_300, 10_300],
    ['127.0.0.3', 20_100, 20_100],
    ['127.0.0.2', 20_300, 20_300],
  ]);
  assert.equal(pacer.missedSlotsTotal, 0);
});

test('a device without a token waits at its token time for the same slot; a wait past its next slot counts as missed', () => {
  const { pacer, clock, served } = rig({ ...opts, intervalMs: 1_000, ratePerSec: 0.5, burst: 1 });
  pacer.add(dev('127.0.0.2', 100));
  pacer.add(dev('127.0.0.3', 100));
  pacer.start();
  clock.advance(2_100);
  // One token at start, the next 2 s later: the second device sends at 2100 for its slot at 100.
  assert.deepEqual(served, [
    ['127.0.0.2', 100, 100],
    ['127.0.0.3', 100, 2_100],
  ]);
  assert.equal(pacer.missedSlotsTotal, 2, 'the slots at 1100 and 2100 passed while it waited');
});

test('removing a waiting device hands its token back', () => {
  const { pacer, clock, served } = rig({ ...opts, ratePerSec: 0.5, burst: 1 });
  const waiting = dev('127.0.0.3', 100);
  pacer.add(dev('127.0.0.2', 100));
  pacer.add(waiting);
  pacer.start();
  clock.advance(100);
  assert.equal(waiting.paced, true);
  pacer.remove(waiting);
  assert.equal(waiting.paced, false);
  pacer.add(dev('127.0.0.4', 2_100));
  clock.advance(2_000);
  assert.deepEqual(served, [
    ['127.0.0.2', 100, 100],
    ['127.0.0.4', 2_100, 2_100],
  ]);
});
