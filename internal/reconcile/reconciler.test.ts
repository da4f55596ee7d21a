import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ConfigError } from '../errors/errors.js';
import type { DeviceEvent } from '../model/device.js';
import { DeviceStore } from '../state/device-store.js';
import { PingScheduler, type PingBreakerState } from '../schedule/ping-scheduler.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { FakeDeviceState } from '../testkit/fake-device-state.js';
import { FakePinger } from '../testkit/fake-pinger.js';
import { FakeStallMonitor } from '../testkit/fake-stall-monitor.js';
import { RecordingSink } from '../testkit/recording-sink.js';
import { captureLogger, silentLogger } from '../testkit/logger.js';
import type { Logger } from '../log/log.js';
import { Reconciler, type DeviceSource, type MonitorTarget, type ReconcilerOptions } from './reconciler.js';

const T0 = 1_700_000_040_000;
const ipOf = (i: number): string => `127.0.1.${i}`;

function rig(
  opts: Partial<ReconcilerOptions> = {},
  logger: Logger = silentLogger(),
  capacity = Number.POSITIVE_INFINITY,
) {
  const clock = new FakeClock(T0);
  const state = new FakeDeviceState(clock, capacity);
  // Odd devices are dead; the 1.5 s timeout over a 1 s interval keeps probes in flight across churn.
  const pinger = new FakePinger({
    clock,
    respond: (ip) => (Number(ip.split('.')[3]) % 2 === 1 ? { reason: 'timeout' } : { rttMs: 3 }),
  });
  const sink = new RecordingSink({ keep: (p) => p.fields['suspended']?.value === true });
  const sched = new PingScheduler(
    { clock, pinger, sink, state, logger: silentLogger(), stallMonitor: new FakeStallMonitor() },
    { intervalMs: 1000, timeoutMs: 1500, ratePerSec: 1e6, burst: 1e6, maxConsecutiveFails: 3, backoffMs: 4000 },
  );
  const rec = new Reconciler(
    { source: state, target: sched, clock, logger },
    { warnDebounceMs: 1000, resyncIntervalMs: 0, ...opts },
  );
  return { clock, state, pinger, sink, sched, rec };
}

type Rig = ReturnType<typeof rig>;

/** Every device in the state is monitored or waiting, never both; nothing else is monitored; the cap holds. */
function assertInvariants(r: Rig, cap: number, where: string): void {
  const stateIps = new Set(r.state.ips());
  const waiting = r.rec.unmonitored();
  const monitored = [...r.sched.ips()];
  assert.equal(new Set(monitored).size, monitored.length, `${where}: a device has two schedules`);
  assert.equal(monitored.length, r.sched.size, `${where}: size disagrees with the schedules`);
  for (const ip of monitored) assert.ok(stateIps.has(ip), `${where}: ${ip} monitored but not in the state`);
  for (const ip of waiting) assert.ok(stateIps.has(ip) && !r.sched.has(ip), `${where}: ${ip} waiting wrongly`);
  for (const ip of stateIps)
    assert.ok(
      r.sched.has(ip) !== waiting.includes(ip),
      `${where}: ${ip} has ${r.sched.has(ip) ? 'a schedule and a waiting place' : 'no schedule'}`,
    );
  assert.ok(r.sched.size <= cap, `${where}: over the cap`);
  if (waiting.length > 0) assert.equal(r.sched.size, cap, `${where}: devices wait while there is room`);
  assert.equal(r.pinger.overlaps, 0, `${where}: two probes in flight for one device`);
}

const op = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('discover' as const), i: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('remove' as const), i: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('prune' as const), ms: fc.integer({ min: 0, max: 5000 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 2500 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('resync' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('cap' as const), n: fc.integer({ min: 1, max: 14 }) }) },
);

test('churn never leaves a device with zero or two schedules (property, probes in flight, evictions, cap changes)', async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 20, maxLength: 80 }), async (ops) => {
      let cap = 5;
      const r = rig({ maxMonitored: cap }, silentLogger(), 12);
      r.sched.start();
      r.rec.start();
      for (const [k, o] of ops.entries()) {
        switch (o.kind) {
          case 'discover':
            r.state.markSeen(ipOf(o.i));
            break;
          case 'remove':
            r.state.remove(ipOf(o.i));
            break;
          case 'prune':
            r.state.prune(o.ms);
            break;
          case 'advance':
            await r.clock.advanceAsync(o.ms);
            break;
          case 'resync':
            r.rec.resync();
            break;
          case 'cap':
            cap = o.n;
            r.rec.reconfigure({ maxMonitored: cap });
            break;
        }
        assertInvariants(r, cap, `after op ${k} ${JSON.stringify(o)}`);
      }
      await r.clock.advanceAsync(3000);
      assertInvariants(r, cap, 'at the end');
      // Every monitored device has a slot served (a probe, or a suspended point) in any 2.6 s: no zombies.
      // (A probe in flight for its 1.5 s timeout skips at most one 1 s slot.)
      const served = (ip: string): number => r.pinger.callsTo(ip) + r.sink.of('ping', ip).length;
      const before = new Map([...r.sched.ips()].map((ip) => [ip, served(ip)]));
      await r.clock.advanceAsync(2600);
      for (const [ip, n] of before) assert.ok(served(ip) > n, `${ip} was not served`);
      await r.rec.stop();
      await r.sched.stop();
    }),
    { numRuns: 100, seed: 20261123 },
  );
});

test('max_concurrent_pingers: one warning naming how many are left unmonitored; they start as places free up', async () => {
  const { logger, lines } = captureLogger('info');
  const r = rig({ maxMonitored: 5 }, logger);
  r.sched.start();
  r.rec.start();
  for (let i = 1; i <= 12; i++) r.state.markSeen(ipOf(i));
  assert.equal(r.sched.size, 5);
  assert.equal(r.rec.stats().unmonitored, 7);
  await r.clock.advanceAsync(5000); // the debounce passes; later reconcile activity adds no line
  for (let i = 13; i <= 14; i++) r.state.markSeen(ipOf(i));
  await r.clock.advanceAsync(5000);
  const warns = lines.filter((l) => l['level'] === 'warn');
  assert.equal(warns.length, 1);
  assert.equal(
    warns[0]!['msg'],
    'max_concurrent_pingers (5) reached: 7 devices are not monitored; they start as others leave (raise max_concurrent_pingers to monitor all)',
  );
  assert.equal(warns[0]!['count'], 7);
  assert.equal(r.rec.stats().unmonitored, 9);

  r.state.remove(ipOf(1));
  r.state.remove(ipOf(2));
  assert.deepEqual([...r.sched.ips()].sort(), [3, 4, 5, 6, 7].map(ipOf).sort()); // the oldest waiting start first
  for (let i = 3; i <= 11; i++) r.state.remove(ipOf(i));
  assert.equal(r.rec.stats().unmonitored, 0);
  assert.deepEqual([...r.sched.ips()].sort(), [12, 13, 14].map(ipOf).sort());
  assert.equal(lines.filter((l) => l['msg'] === 'every device is monitored again').length, 1);

  for (let i = 20; i <= 23; i++) r.state.markSeen(ipOf(i)); // over the cap again: a new episode, a new warning
  await r.clock.advanceAsync(1000);
  assert.equal(lines.filter((l) => l['level'] === 'warn').length, 2);
  assert.equal(lines.filter((l) => l['level'] === 'warn')[1]!['count'], 2);
  await r.rec.stop();
  await r.sched.stop();
});

test('lowering the cap stops the newest schedules; raising it starts the waiting devices', async () => {
  const r = rig({ maxMonitored: 10 });
  r.sched.start();
  r.rec.start();
  for (let i = 1; i <= 8; i++) r.state.markSeen(ipOf(i));
  r.rec.reconfigure({ maxMonitored: 3 });
  assert.deepEqual([...r.sched.ips()], [1, 2, 3].map(ipOf));
  assert.deepEqual(r.rec.unmonitored(), [4, 5, 6, 7, 8].map(ipOf));
  r.rec.reconfigure({ maxMonitored: 6 });
  assert.deepEqual([...r.sched.ips()], [1, 2, 3, 4, 5, 6].map(ipOf));
  assert.equal(r.rec.stats().maxMonitored, 6);
  await r.rec.stop();
  await r.sched.stop();
});

test('refuses bad options at start and on reconfigure, naming each; a refused reconfigure keeps the old cap', async () => {
  const bad = rig({ maxMonitored: 0, warnDebounceMs: -1 });
  assert.throws(
    () => bad.rec.start(),
    (err: unknown) =>
      err instanceof ConfigError &&
      err.stage === 'reconcile' &&
      err.problems.join('|') ===
        'maxMonitored: must be an integer >= 1 (got 0)|warnDebounceMs: must be a finite number >= 0 (got -1)',
  );
  const r = rig({ maxMonitored: 5 });
  r.sched.start();
  r.rec.start();
  assert.throws(
    () => r.rec.reconfigure({ maxMonitored: 2.5 }),
    (err: unknown) =>
      err instanceof ConfigError && err.problems.join('|') === 'maxMonitored: must be an integer >= 1 (got 2.5)',
  );
  assert.equal(r.rec.stats().maxMonitored, 5);
  await r.rec.stop();
  await r.sched.stop();
});

/** A DeviceSource test double whose contents can change without events (a restore) and whose snapshot can fail. */
class ManualSource implements DeviceSource {
  readonly set = new Set<string>();
  failNext = false;
  #listeners = new Set<(e: DeviceEvent) => void>();
  subscribe(l: (e: DeviceEvent) => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }
  ips(): IterableIterator<string> {
    if (this.failNext) {
      this.failNext = false;
      throw new Error('snapshot unreadable');
    }
    return this.set.values();
  }
  has(ip: string): boolean {
    return this.set.has(ip);
  }
  add(ip: string, emit = true): void {
    this.set.add(ip);
    if (emit) for (const l of this.#listeners) l({ type: 'added', ip });
  }
}

/** A MonitorTarget that records calls and can be told to throw. */
class SetTarget implements MonitorTarget {
  readonly set = new Set<string>();
  throwOnAdd = 0;
  add(ip: string): void {
    if (this.throwOnAdd > 0) {
      this.throwOnAdd--;
      throw new Error('scheduler bug');
    }
    this.set.add(ip);
  }
  remove(ip: string): void {
    this.set.delete(ip);
  }
  has(ip: string): boolean {
    return this.set.has(ip);
  }
  get size(): number {
    return this.set.size;
  }
  ips(): IterableIterator<string> {
    return this.set.values();
  }
}

test('a failed prepare leaves what runs untouched', () => {
  const { logger, lines } = captureLogger('info');
  const source = new ManualSource();
  const target = new SetTarget();
  const rec = new Reconciler({ source, target, clock: new FakeClock(T0), logger }, { resyncIntervalMs: 0 });
  ['127.0.2.1', '127.0.2.2'].forEach((ip) => source.add(ip, false));
  rec.start();
  assert.deepEqual([...target.set], ['127.0.2.1', '127.0.2.2']);
  source.set.clear();
  source.failNext = true;
  const r = rec.resync();
  assert.equal(r.ok, false);
  assert.deepEqual([...target.set], ['127.0.2.1', '127.0.2.2']);
  assert.equal(rec.stats().resyncFailuresTotal, 1);
  assert.equal(
    lines.filter((l) => l['msg'] === 'reconcile prepare failed; running schedules left unchanged').length,
    1,
  );
  assert.deepEqual(rec.resync(), { added: 0, removed: 2, unmonitored: 0, ok: true });
  assert.equal(target.size, 0);
});

test('a start with room for every restored device monitors them all in state order; past the cap the rest wait in order', async () => {
  const clock = new FakeClock(T0);
  for (const cap of [6, 4]) {
    const source = new ManualSource();
    for (let i = 1; i <= 6; i++) source.add(ipOf(i), false);
    const target = new SetTarget();
    target.set.add(ipOf(9)); // left from before: stopped first, so its place counts
    const rec = new Reconciler(
      { source, target, clock, logger: silentLogger() },
      { maxMonitored: cap, resyncIntervalMs: 0 },
    );
    rec.start();
    const all = [1, 2, 3, 4, 5, 6].map(ipOf);
    assert.deepEqual([...target.set], all.slice(0, cap), `cap ${cap}`);
    assert.deepEqual(rec.unmonitored(), all.slice(cap), `cap ${cap}`);
    assert.deepEqual(
      { monitored: rec.stats().monitored, unmonitored: rec.stats().unmonitored },
      { monitored: cap, unmonitored: 6 - cap },
    );
    await rec.stop();
  }
});

test('the periodic resync repairs schedules out of step with the state (a restore without events) and says so', async () => {
  const { logger, lines } = captureLogger('info');
  const clock = new FakeClock(T0);
  const source = new ManualSource();
  const target = new SetTarget();
  const rec = new Reconciler({ source, target, clock, logger }, { resyncIntervalMs: 60_000 });
  rec.start();
  source.add('127.0.2.1');
  source.add('127.0.2.2', false); // restored behind the reconciler's back
  target.set.add('127.0.2.9'); // a schedule nobody asked for
  await clock.advanceAsync(59_999);
  assert.deepEqual([...target.set].sort(), ['127.0.2.1', '127.0.2.9']);
  await clock.advanceAsync(1);
  assert.deepEqual([...target.set].sort(), ['127.0.2.1', '127.0.2.2']);
  assert.equal(rec.stats().driftRepairedTotal, 2);
  assert.equal(
    lines.filter((l) => l['msg'] === 'reconcile resync repaired schedules out of step with the state').length,
    1,
  );
  await clock.advanceAsync(60_000); // in step now: nothing to repair, nothing logged
  assert.equal(rec.stats().driftRepairedTotal, 2);
  await rec.stop();
});

test('a failing schedule start never escapes into the state manager and is repaired by a resync', async () => {
  const source = new ManualSource();
  const target = new SetTarget();
  const rec = new Reconciler(
    { source, target, clock: new FakeClock(T0), logger: silentLogger() },
    { resyncIntervalMs: 0 },
  );
  rec.start();
  target.throwOnAdd = 1;
  assert.doesNotThrow(() => source.add('127.0.2.1'));
  assert.equal(target.has('127.0.2.1'), false);
  await Promise.resolve();
  assert.equal(target.has('127.0.2.1'), true);
});

test('the real DeviceStore and PingScheduler fit the narrow interfaces, and drive each other', async () => {
  const clock = new FakeClock(T0);
  const store = new DeviceStore({ clock, maxDevices: 3 });
  const source: DeviceSource = store;
  const breaker: PingBreakerState = store;
  const pinger = new FakePinger({ clock, respond: () => ({ rttMs: 1 }) });
  const sched = new PingScheduler(
    {
      clock,
      pinger,
      sink: new RecordingSink(),
      state: breaker,
      logger: silentLogger(),
      stallMonitor: new FakeStallMonitor(),
    },
    { intervalMs: 1000, ratePerSec: 1e6, burst: 1e6 },
  );
  const target: MonitorTarget = sched;
  const rec = new Reconciler(
    { source, target, clock, logger: silentLogger() },
    { maxMonitored: 10, resyncIntervalMs: 0 },
  );
  sched.start();
  rec.start();
  for (let i = 1; i <= 4; i++) store.markSeen(ipOf(i)); // the 4th evicts the 1st
  assert.deepEqual([...sched.ips()].sort(), [2, 3, 4].map(ipOf).sort());
  await clock.advanceAsync(2000);
  assert.equal(pinger.callsTo(ipOf(1)), 0);
  for (let i = 2; i <= 4; i++) assert.equal(pinger.callsTo(ipOf(i)), 2);
  await rec.stop();
  await sched.stop();
});
