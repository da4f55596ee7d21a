import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/fake-clock.js';
import { captureLogger } from '../testkit/logger.js';
import { hasCode } from '../errors/errors.js';
import type { Device, DeviceEvent, SnmpInfo } from '../model/device.js';
import { DeviceStore } from './device-store.js';

const T0 = 1_700_000_000_000;

function setup(maxDevices = 100): { clock: FakeClock; store: DeviceStore } {
  const clock = new FakeClock(T0);
  return { clock, store: new DeviceStore({ clock, maxDevices }) };
}

/** The brute-force counts the O(1) ones must always equal (Go's GetSuspendedCountAccurate). */
function accurate(store: DeviceStore, clock: FakeClock): { ping: number; snmp: number } {
  let ping = 0;
  let snmp = 0;
  for (const d of store.devices()) {
    if (clock.now() < d.ping.suspendedUntilMs) ping++;
    if (clock.now() < d.snmpBreaker.suspendedUntilMs) snmp++;
  }
  return { ping, snmp };
}

function assertCountsExact(store: DeviceStore, clock: FakeClock): void {
  const want = accurate(store, clock);
  assert.equal(store.pingSuspendedCount(), want.ping, 'ping suspended count');
  assert.equal(store.snmpSuspendedCount(), want.snmp, 'snmp suspended count');
}

const info = (sysName: string): SnmpInfo => ({
  sysName,
  sysDescr: 'descr',
  sysObjectId: '1.3.6.1.4.1.9',
  sysLocation: 'lab',
  sysContact: 'ops',
  sysUptimeS: 42,
  credentialId: 'v2c#0',
});

describe('devices', () => {
  test('adds a new device with the ip as hostname and first/last seen set to now', () => {
    const { store } = setup();
    assert.deepEqual(store.markSeen('127.0.0.1'), { added: true, evicted: undefined });
    assert.deepEqual(store.get('127.0.0.1'), {
      ip: '127.0.0.1',
      hostname: '127.0.0.1',
      snmp: undefined,
      firstSeenMs: T0,
      lastSeenMs: T0,
      lastSnmpMs: 0,
      ping: { consecutiveFails: 0, suspendedUntilMs: 0 },
      snmpBreaker: { consecutiveFails: 0, suspendedUntilMs: 0 },
    });
    assert.equal(store.size, 1);
    assert.equal(store.has('127.0.0.1'), true);
    assert.equal(store.has('127.0.0.2'), false);
    assert.equal(store.get('127.0.0.2'), undefined);
  });

  test('addresses from 128.0.0.0 up (negative as int32 keys) leave the index on removal and eviction', () => {
    // Key strings for the store only (TEST-NET-2, RFC 5737): nothing here sends a packet.
    const { store, clock } = setup(1);
    store.markSeen('198.51.100.10');
    store.remove('198.51.100.10');
    assert.equal(store.has('198.51.100.10'), false);
    assert.equal(store.markSeen('198.51.100.10').added, true, 'rediscovered as new');
    assert.equal(store.size, 1);
    store.markSeen('198.51.100.11'); // evicts .10 and reuses its slot
    assert.equal(store.has('198.51.100.10'), false);
    // A late failure of the evicted device's probe must not land on the device in its old slot.
    assert.equal(store.recordPingFailure('198.51.100.10', 1, 60_000), false);
    assert.equal(store.isPingSuspended('198.51.100.11'), false);
    clock.advance(10);
    assert.deepEqual(store.prune(5), ['198.51.100.11']);
    assert.equal(store.size, 0);
  });

  test('rediscovery refreshes lastSeen and keeps firstSeen', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    clock.advance(5000);
    assert.deepEqual(store.markSeen('127.0.0.1'), { added: false, evicted: undefined });
    const d = store.get('127.0.0.1')!;
    assert.equal(d.firstSeenMs, T0);
    assert.equal(d.lastSeenMs, T0 + 5000);
  });

  test('evicts the least recently seen device when full', () => {
    const { store, clock } = setup(3);
    for (const ip of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) {
      store.markSeen(ip);
      clock.advance(1000);
    }
    assert.deepEqual(store.markSeen('127.0.0.4'), { added: true, evicted: '127.0.0.1' });
    assert.deepEqual(store.markSeen('127.0.0.5'), { added: true, evicted: '127.0.0.2' });
    assert.deepEqual([...store.ips()].sort(), ['127.0.0.3', '127.0.0.4', '127.0.0.5']);
  });

  test('evicts in sighting order when the clock stands still', () => {
    const { store } = setup(2);
    store.markSeen('127.0.0.1');
    store.markSeen('127.0.0.2');
    store.touch('127.0.0.1');
    assert.equal(store.markSeen('127.0.0.3').evicted, '127.0.0.2');
  });

  test('touch, ping success and rediscovery protect a device from eviction; SNMP success does not', () => {
    const { store, clock } = setup(4);
    for (const ip of ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4']) store.markSeen(ip);
    clock.advance(1000);
    store.recordSnmpSuccess('127.0.0.1', info('a'));
    store.touch('127.0.0.2');
    store.recordPingSuccess('127.0.0.3');
    store.markSeen('127.0.0.4');
    assert.equal(store.get('127.0.0.1')!.lastSeenMs, T0, 'SNMP success does not refresh lastSeen');
    assert.equal(store.leastRecentlySeen(), '127.0.0.1');
    assert.equal(store.markSeen('127.0.0.5').evicted, '127.0.0.1');
    assert.equal(store.markSeen('127.0.0.6').evicted, '127.0.0.2');
  });

  test('touch of an unknown ip does nothing', () => {
    const { store } = setup();
    store.touch('127.0.0.9');
    store.recordPingSuccess('127.0.0.9');
    store.recordSnmpSuccess('127.0.0.9', info('x'));
    assert.equal(store.size, 0);
  });

  test('reads are copies: changing one changes nothing in the store', () => {
    const { store } = setup();
    store.markSeen('127.0.0.1');
    store.recordSnmpSuccess('127.0.0.1', info('sw1'));
    store.recordPingFailure('127.0.0.1', 5, 60_000);
    assert.throws(() => {
      (store.get('127.0.0.1')!.snmpBreaker as { consecutiveFails: number }).consecutiveFails = 1;
    }, TypeError);
    const d = store.get('127.0.0.1')! as { -readonly [K in keyof Device]: Device[K] };
    d.hostname = 'evil';
    d.lastSeenMs = 0;
    (d.ping as { consecutiveFails: number }).consecutiveFails = 99;
    assert.throws(() => {
      (d.snmp as { sysName: string }).sysName = 'evil';
    }, TypeError);
    const again = store.get('127.0.0.1')!;
    assert.equal(again.hostname, 'sw1');
    assert.equal(again.lastSeenMs, T0);
    assert.equal(again.ping.consecutiveFails, 1);
    assert.equal(again.snmp!.sysName, 'sw1');
  });

  test('SNMP success stores a copy of the answer and uses sysName as hostname, else the ip', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    clock.advance(7);
    const answer = { ...info('core-sw') };
    store.recordSnmpSuccess('127.0.0.1', answer);
    (answer as { sysName: string }).sysName = 'changed later';
    let d = store.get('127.0.0.1')!;
    assert.equal(d.hostname, 'core-sw');
    assert.equal(d.snmp!.sysName, 'core-sw');
    assert.equal(d.lastSnmpMs, T0 + 7);
    store.recordSnmpSuccess('127.0.0.1', info(''));
    d = store.get('127.0.0.1')!;
    assert.equal(d.hostname, '127.0.0.1');
  });

  test('remove deletes a device and reports whether it existed', () => {
    const { store } = setup();
    store.markSeen('127.0.0.1');
    assert.equal(store.remove('127.0.0.1'), true);
    assert.equal(store.remove('127.0.0.1'), false);
    assert.equal(store.size, 0);
    assert.equal(store.leastRecentlySeen(), undefined);
  });

  test('prune removes devices not seen for the given age, oldest first', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    clock.advance(1000);
    store.markSeen('127.0.0.2');
    clock.advance(1000);
    store.markSeen('127.0.0.3');
    store.touch('127.0.0.1');
    clock.advance(500);
    // cutoff = now - 1000 = T0 + 1500: .2 (T0+1000) is stale; .1 was touched at T0+2000.
    assert.deepEqual(store.prune(1000), ['127.0.0.2']);
    assert.deepEqual(store.prune(0), ['127.0.0.3', '127.0.0.1']);
    assert.equal(store.size, 0);
  });

  test('prune stays exact after the wall clock steps back', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    clock.advance(10_000);
    store.markSeen('127.0.0.2');
    clock.advance(-9_000); // NTP step: T0 + 1000
    store.markSeen('127.0.0.3'); // sighted last, but with the smallest lastSeen but one
    clock.advance(5_000); // T0 + 6000
    assert.deepEqual(store.prune(4_500).sort(), ['127.0.0.1', '127.0.0.3']);
    assert.deepEqual([...store.ips()], ['127.0.0.2']);
  });

  test('rejects a capacity below one', () => {
    const clock = new FakeClock(T0);
    assert.throws(
      () => new DeviceStore({ clock, maxDevices: 0 }),
      (err) => hasCode(err, 'ERR_CONFIG'),
    );
  });

  test('refuses every bad option at once, each named with its value and what is allowed', () => {
    const clock = new FakeClock(T0);
    assert.throws(
      () =>
        new DeviceStore({ clock, maxDevices: 0, pruneAfterMs: 0, snapshotIntervalMs: -1, snapshotChunkDevices: 0.5 }),
      (err) =>
        hasCode(err, 'ERR_CONFIG') &&
        err.stage === 'state' &&
        err.message ===
          [
            'maxDevices: must be an integer >= 1 (got 0)',
            'pruneAfterMs: must be a finite number greater than 0 (got 0)',
            'snapshotIntervalMs: must be a finite number >= 0 (got -1)',
            'snapshotChunkDevices: must be an integer >= 1 (got 0.5)',
          ].join('\n'),
    );
  });
});

describe('circuit breakers', () => {
  test('the ping breaker trips at maxFails, suspends for the backoff and clears on success', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    assert.equal(store.recordPingFailure('127.0.0.1', 3, 60_000), false);
    assert.equal(store.recordPingFailure('127.0.0.1', 3, 60_000), false);
    assert.equal(store.get('127.0.0.1')!.ping.consecutiveFails, 2);
    assert.equal(store.recordPingFailure('127.0.0.1', 3, 60_000), true);
    assert.deepEqual(store.get('127.0.0.1')!.ping, { consecutiveFails: 0, suspendedUntilMs: T0 + 60_000 });
    assert.equal(store.isPingSuspended('127.0.0.1'), true);
    assert.equal(store.pingSuspendedCount(), 1);
    clock.advance(59_999);
    assert.equal(store.isPingSuspended('127.0.0.1'), true);
    clock.advance(1);
    assert.equal(store.isPingSuspended('127.0.0.1'), false, 'active only while now < suspendedUntil');
    assert.equal(store.pingSuspendedCount(), 0);
    store.recordPingFailure('127.0.0.1', 3, 60_000);
    store.recordPingSuccess('127.0.0.1');
    assert.deepEqual(store.get('127.0.0.1')!.ping, { consecutiveFails: 0, suspendedUntilMs: 0 });
  });

  test('a ping failure does not refresh lastSeen', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    clock.advance(1000);
    store.recordPingFailure('127.0.0.1', 5, 60_000);
    assert.equal(store.get('127.0.0.1')!.lastSeenMs, T0);
  });

  test('the SNMP breaker is independent of the ping breaker', () => {
    const { store } = setup();
    store.markSeen('127.0.0.1');
    assert.equal(store.recordSnmpFailure('127.0.0.1', 1, 3_600_000), true);
    assert.equal(store.isSnmpSuspended('127.0.0.1'), true);
    assert.equal(store.isPingSuspended('127.0.0.1'), false);
    assert.equal(store.snmpSuspendedCount(), 1);
    assert.equal(store.pingSuspendedCount(), 0);
    store.recordPingSuccess('127.0.0.1');
    assert.equal(store.snmpSuspendedCount(), 1);
    store.recordSnmpSuccess('127.0.0.1', info('x'));
    assert.equal(store.snmpSuspendedCount(), 0);
  });

  test('reports for unknown devices are ignored', () => {
    const { store } = setup();
    assert.equal(store.recordPingFailure('127.0.0.1', 1, 60_000), false);
    assert.equal(store.recordSnmpFailure('127.0.0.1', 1, 60_000), false);
    assert.equal(store.isPingSuspended('127.0.0.1'), false);
    assert.equal(store.isSnmpSuspended('127.0.0.1'), false);
    assert.equal(store.pingSuspendedCount(), 0);
  });

  test('a trip with zero backoff returns true but suspends nothing', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    assert.equal(store.recordPingFailure('127.0.0.1', 1, 0), true);
    assert.equal(store.isPingSuspended('127.0.0.1'), false);
    assertCountsExact(store, clock);
  });

  test('suspended counts follow the wall clock stepping back', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    store.recordPingFailure('127.0.0.1', 1, 10_000);
    clock.advance(20_000);
    assert.equal(store.pingSuspendedCount(), 0);
    clock.advance(-15_000); // back to T0 + 5000: the suspension is active again by its end time
    assert.equal(store.isPingSuspended('127.0.0.1'), true);
    assertCountsExact(store, clock);
    assert.equal(store.pingSuspendedCount(), 1);
  });
});

// Regression specs for Go's counter bugs (docs/go-parity.md): every scenario asserts reported == brute force.
describe('Go StateManager counter bugs', () => {
  test('bug A: re-tripping an already suspended device counts it once (ping and SNMP)', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    for (let i = 0; i < 5; i++) {
      assert.equal(store.recordPingFailure('127.0.0.1', 1, 300_000), true);
      assert.equal(store.recordSnmpFailure('127.0.0.1', 1, 300_000), true);
      clock.advance(1000);
      assert.equal(store.pingSuspendedCount(), 1);
      assert.equal(store.snmpSuspendedCount(), 1);
    }
    assertCountsExact(store, clock);
  });

  test('bug A: many devices tripping repeatedly count once each', () => {
    const { store, clock } = setup();
    for (let i = 1; i <= 10; i++) store.markSeen(`127.0.0.${i}`);
    for (let round = 0; round < 3; round++) {
      for (let i = 1; i <= 5; i++) store.recordPingFailure(`127.0.0.${i}`, 2, 300_000);
      for (let i = 1; i <= 5; i++) store.recordPingFailure(`127.0.0.${i}`, 2, 300_000);
    }
    assert.equal(store.pingSuspendedCount(), 5);
    assertCountsExact(store, clock);
  });

  test('bug B: a suspension that expires naturally leaves the count without any success', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    store.recordPingFailure('127.0.0.1', 1, 60_000);
    store.recordSnmpFailure('127.0.0.1', 1, 60_000);
    assert.equal(store.pingSuspendedCount(), 1);
    clock.advance(60_000);
    assert.equal(store.pingSuspendedCount(), 0);
    assert.equal(store.snmpSuspendedCount(), 0);
    assertCountsExact(store, clock);
  });

  test('bug C: rediscovering a device whose suspension expired unread does not leak the count', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    store.recordPingFailure('127.0.0.1', 1, 60_000);
    clock.advance(120_000);
    store.markSeen('127.0.0.1'); // Go: Add() overwrote the stale timestamp, leaking +1 forever
    assertCountsExact(store, clock);
    assert.equal(store.pingSuspendedCount(), 0);
    store.recordPingFailure('127.0.0.1', 1, 60_000);
    assert.equal(store.pingSuspendedCount(), 1);
  });

  test('bug D: pruning a device with an expired, unread suspension leaves the count exact', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1'); // expired suspension, unread
    store.markSeen('127.0.0.2'); // active suspension
    store.markSeen('127.0.0.3'); // no suspension
    store.recordPingFailure('127.0.0.1', 1, 1_000);
    store.recordSnmpFailure('127.0.0.1', 1, 1_000);
    clock.advance(10_000);
    store.recordPingFailure('127.0.0.2', 1, 3_600_000);
    store.recordSnmpFailure('127.0.0.2', 1, 3_600_000);
    clock.advance(10_000);
    assert.deepEqual(store.prune(5_000).sort(), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
    assert.equal(store.pingSuspendedCount(), 0);
    assert.equal(store.snmpSuspendedCount(), 0);
    assertCountsExact(store, clock);
  });

  test('R1: evicting a device whose suspension expired unread keeps the count exact', () => {
    const { store, clock } = setup(2);
    store.markSeen('127.0.0.1');
    store.markSeen('127.0.0.2');
    store.recordPingFailure('127.0.0.1', 1, 1_000);
    store.recordSnmpFailure('127.0.0.1', 1, 1_000);
    clock.advance(5_000);
    assert.equal(store.markSeen('127.0.0.3').evicted, '127.0.0.1');
    assertCountsExact(store, clock);
    store.recordPingFailure('127.0.0.2', 1, 60_000);
    assert.equal(store.markSeen('127.0.0.4').evicted, '127.0.0.2', 'evicting an actively suspended device');
    assert.equal(store.pingSuspendedCount(), 0);
    assertCountsExact(store, clock);
  });

  test('R2: re-tripping after expiry with no read in between counts the device once', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    store.recordPingFailure('127.0.0.1', 2, 1_000);
    store.recordPingFailure('127.0.0.1', 2, 1_000);
    store.recordSnmpFailure('127.0.0.1', 1, 1_000);
    clock.advance(2_000);
    store.recordPingFailure('127.0.0.1', 2, 1_000);
    assert.equal(store.recordPingFailure('127.0.0.1', 2, 1_000), true);
    assert.equal(store.recordSnmpFailure('127.0.0.1', 1, 1_000), true);
    assert.equal(store.pingSuspendedCount(), 1);
    assert.equal(store.snmpSuspendedCount(), 1);
    clock.advance(1_000);
    assert.equal(store.pingSuspendedCount(), 0, 'the first suspension left no residue');
    assert.equal(store.snmpSuspendedCount(), 0);
  });

  test('R3: data updates never disturb the eviction order', () => {
    const { store, clock } = setup(50);
    const ips = Array.from({ length: 50 }, (_, i) => `127.0.1.${i}`);
    for (const ip of ips) {
      store.markSeen(ip);
      clock.advance(10);
    }
    // Go's Add() upsert copied a caller's struct (heapIndex 0) over the device, corrupting the heap.
    // Here every kind of update touches data only; the order must stay exactly sighting order.
    const order = [...ips];
    const sight = (ip: string): void => {
      order.splice(order.indexOf(ip), 1);
      order.push(ip);
    };
    for (let i = 0; i < 200; i++) {
      const ip = ips[(i * 7) % 50]!;
      clock.advance(1);
      switch (i % 5) {
        case 0:
          store.recordSnmpSuccess(ip, info(`h${i}`));
          break;
        case 1:
          store.recordPingFailure(ip, 2, 1000);
          break;
        case 2:
          store.recordSnmpFailure(ip, 1, 1000);
          break;
        case 3:
          store.markSeen(ip);
          sight(ip);
          break;
        case 4:
          store.recordPingSuccess(ip);
          sight(ip);
          break;
      }
    }
    const evicted: string[] = [];
    for (let i = 0; i < 50; i++) evicted.push(store.markSeen(`127.0.2.${i}`).evicted!);
    assert.deepEqual(evicted, order);
  });

  test('cleanup then success decrements once (Go double-decrement guard)', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    store.recordPingFailure('127.0.0.1', 1, 1_000);
    clock.advance(1_000);
    assert.equal(store.pingSuspendedCount(), 0);
    store.recordPingSuccess('127.0.0.1');
    assert.equal(store.pingSuspendedCount(), 0);
    assertCountsExact(store, clock);
  });

  test('success before the expiry is noticed decrements once', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    store.markSeen('127.0.0.2');
    store.recordPingFailure('127.0.0.1', 1, 1_000);
    store.recordPingFailure('127.0.0.2', 1, 60_000);
    clock.advance(1_000);
    store.recordPingSuccess('127.0.0.1');
    assert.equal(store.pingSuspendedCount(), 1);
    assertCountsExact(store, clock);
  });

  test('a success during an active suspension ends it at once', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    store.recordPingFailure('127.0.0.1', 1, 60_000);
    clock.advance(10);
    store.recordPingSuccess('127.0.0.1');
    assert.equal(store.isPingSuspended('127.0.0.1'), false);
    assert.equal(store.pingSuspendedCount(), 0);
    clock.advance(60_000);
    assert.equal(store.pingSuspendedCount(), 0);
  });

  test('50 suspensions minus 30 recoveries leave 20', () => {
    const { store, clock } = setup();
    for (let i = 0; i < 50; i++) {
      store.markSeen(`127.0.0.${i}`);
      store.recordPingFailure(`127.0.0.${i}`, 1, 60_000);
    }
    for (let i = 0; i < 30; i++) store.recordPingSuccess(`127.0.0.${i}`);
    assert.equal(store.pingSuspendedCount(), 20);
    assertCountsExact(store, clock);
  });
});

describe('events', () => {
  function recorder(store: DeviceStore): DeviceEvent[] {
    const events: DeviceEvent[] = [];
    store.subscribe((e) => events.push(e));
    return events;
  }

  test('emits added, and removed with the cause: evicted, pruned, removed', () => {
    const { store, clock } = setup(2);
    const events = recorder(store);
    store.markSeen('127.0.0.1');
    store.markSeen('127.0.0.2');
    store.markSeen('127.0.0.1'); // known: no event
    clock.advance(10);
    store.markSeen('127.0.0.3'); // evicts .2, the least recently seen
    store.remove('127.0.0.1');
    clock.advance(10);
    store.prune(5);
    assert.deepEqual(events, [
      { type: 'added', ip: '127.0.0.1' },
      { type: 'added', ip: '127.0.0.2' },
      { type: 'removed', ip: '127.0.0.2', cause: 'evicted' },
      { type: 'added', ip: '127.0.0.3' },
      { type: 'removed', ip: '127.0.0.1', cause: 'removed' },
      { type: 'removed', ip: '127.0.0.3', cause: 'pruned' },
    ]);
  });

  test('emits suspended with the kind and end time, and resumed on success', () => {
    const { store } = setup();
    store.markSeen('127.0.0.1');
    const events = recorder(store);
    store.recordPingFailure('127.0.0.1', 1, 1000);
    store.recordSnmpFailure('127.0.0.1', 1, 2000);
    store.recordPingFailure('127.0.0.1', 1, 3000); // re-trip extends: suspended again, no resumed
    store.recordPingSuccess('127.0.0.1');
    store.recordPingSuccess('127.0.0.1'); // nothing left to resume
    store.recordSnmpSuccess('127.0.0.1', info('x'));
    assert.deepEqual(events, [
      { type: 'suspended', ip: '127.0.0.1', kind: 'ping', untilMs: T0 + 1000 },
      { type: 'suspended', ip: '127.0.0.1', kind: 'snmp', untilMs: T0 + 2000 },
      { type: 'suspended', ip: '127.0.0.1', kind: 'ping', untilMs: T0 + 3000 },
      { type: 'resumed', ip: '127.0.0.1', kind: 'ping' },
      { type: 'resumed', ip: '127.0.0.1', kind: 'snmp' },
    ]);
  });

  test('a natural expiry emits resumed exactly at the end time while started', async () => {
    const { store, clock } = setup();
    await store.start();
    store.markSeen('127.0.0.1');
    store.markSeen('127.0.0.2');
    const events = recorder(store);
    store.recordPingFailure('127.0.0.1', 1, 5_000);
    store.recordSnmpFailure('127.0.0.2', 1, 2_000);
    clock.advance(1_999);
    assert.equal(events.filter((e) => e.type === 'resumed').length, 0);
    clock.advance(1);
    assert.deepEqual(events.at(-1), { type: 'resumed', ip: '127.0.0.2', kind: 'snmp' });
    clock.advance(3_000);
    assert.deepEqual(events.at(-1), { type: 'resumed', ip: '127.0.0.1', kind: 'ping' });
    assert.equal(events.length, 4);
    await store.stop();
  });

  test('a natural expiry emits resumed at the next count read when not started', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    const events = recorder(store);
    store.recordPingFailure('127.0.0.1', 1, 1_000);
    clock.advance(5_000);
    assert.equal(events.length, 1);
    assert.equal(store.pingSuspendedCount(), 0);
    assert.deepEqual(events.at(-1), { type: 'resumed', ip: '127.0.0.1', kind: 'ping' });
  });

  test('a re-trip after an unread expiry emits resumed before the new suspended', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    const events = recorder(store);
    store.recordPingFailure('127.0.0.1', 1, 1_000);
    clock.advance(2_000);
    store.recordPingFailure('127.0.0.1', 1, 1_000);
    assert.deepEqual(
      events.map((e) => e.type),
      ['suspended', 'resumed', 'suspended'],
    );
  });

  test('a removed suspended device gets removed but no resumed', () => {
    const { store, clock } = setup();
    store.markSeen('127.0.0.1');
    store.recordPingFailure('127.0.0.1', 1, 60_000);
    const events = recorder(store);
    store.remove('127.0.0.1');
    clock.advance(120_000);
    store.pingSuspendedCount();
    assert.deepEqual(events, [{ type: 'removed', ip: '127.0.0.1', cause: 'removed' }]);
  });

  test('listeners run after the operation and may call back into the store', () => {
    const { store } = setup(1);
    store.markSeen('127.0.0.1');
    const seen: string[] = [];
    store.subscribe((e) => {
      seen.push(`${e.type} ${e.ip} size=${store.size} has=${store.has(e.ip)}`);
      if (e.type === 'removed') store.markSeen('127.0.0.9'); // re-entrant: evicts .2
    });
    store.markSeen('127.0.0.2');
    // The listener's own markSeen evicts .2 before .2's 'added' is delivered; its events follow in order.
    assert.deepEqual(seen, [
      'removed 127.0.0.1 size=1 has=false',
      'added 127.0.0.2 size=1 has=false',
      'removed 127.0.0.2 size=1 has=false',
      'added 127.0.0.9 size=1 has=true',
    ]);
    assert.equal(store.size, 1);
  });

  test('a throwing listener is logged and the others still receive the event', () => {
    const clock = new FakeClock(T0);
    const { logger, lines } = captureLogger();
    const store = new DeviceStore({ clock, logger });
    const got: string[] = [];
    store.subscribe(() => {
      throw new Error('boom');
    });
    store.subscribe((e) => got.push(e.ip));
    store.markSeen('127.0.0.1');
    assert.deepEqual(got, ['127.0.0.1']);
    assert.equal(store.size, 1);
    const err = lines.find((l) => l['msg'] === 'device event listener threw; continuing');
    assert.ok(err);
    assert.equal(err['level'], 'error');
    assert.equal(err['stage'], 'state');
  });

  test('unsubscribe stops delivery and is idempotent', () => {
    const { store } = setup();
    const events: DeviceEvent[] = [];
    const off = store.subscribe((e) => events.push(e));
    store.markSeen('127.0.0.1');
    off();
    off();
    store.markSeen('127.0.0.2');
    assert.equal(events.length, 1);
  });
});

describe('lifecycle', () => {
  test('the prune timer removes devices not seen for prune_after, every prune_interval', async () => {
    const clock = new FakeClock(T0);
    const { logger, lines } = captureLogger();
    const store = new DeviceStore({ clock, logger, pruneAfterMs: 24 * 3_600_000, pruneIntervalMs: 3_600_000 });
    await store.start();
    store.markSeen('127.0.0.1');
    store.markSeen('127.0.0.2');
    clock.advance(3_600_000);
    store.touch('127.0.0.2');
    clock.advance(23 * 3_600_000);
    assert.equal(store.size, 2, 'exactly 24 h old is not older than 24 h');
    clock.advance(3_600_000);
    assert.deepEqual([...store.ips()], ['127.0.0.2']);
    assert.ok(lines.some((l) => l['msg'] === 'pruned stale devices' && l['count'] === 1));
    clock.advance(3_600_000);
    assert.equal(store.size, 0);
    await store.stop();
    store.markSeen('127.0.0.3');
    clock.advance(100 * 3_600_000);
    assert.equal(store.size, 1, 'no pruning after stop');
  });

  test('stop is idempotent, safe before start, and a stopped store refuses to start', async () => {
    const { store } = setup();
    await Promise.all([store.stop(), store.stop()]);
    await assert.rejects(store.start(), (err) => hasCode(err, 'ERR_STATE'));
  });

  test('start is idempotent and stop cancels every timer', async () => {
    const { store, clock } = setup();
    await Promise.all([store.start(), store.start()]);
    store.markSeen('127.0.0.1');
    store.recordPingFailure('127.0.0.1', 1, 60_000);
    assert.ok(clock.pendingTimers() >= 2);
    await store.stop();
    assert.equal(clock.pendingTimers(), 0);
  });
});

describe('keys', () => {
  test('any string is a device key, as with a Map: IPv6, names and non-canonical IPv4 spellings are distinct devices', () => {
    const { store, clock } = setup(4);
    const keys = ['127.0.0.1', '127.0.0.01', '::1', 'host-a'];
    for (const ip of keys) {
      assert.deepEqual(store.markSeen(ip), { added: true, evicted: undefined });
      clock.advance(10);
    }
    assert.equal(store.size, 4);
    for (const ip of keys) assert.equal(store.get(ip)?.ip, ip);
    assert.deepEqual([...store.ips()], keys, 'insertion order');
    store.touch('127.0.0.1');
    assert.deepEqual(store.markSeen('127.0.0.2'), { added: true, evicted: '127.0.0.01' });
    assert.deepEqual(store.markSeen('127.0.0.3'), { added: true, evicted: '::1' });
    assert.equal(store.remove('host-a'), true);
    assert.equal(store.has('host-a'), false);
    assert.deepEqual([...store.ips()], ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
  });

  test('ips() and devices() are live: devices added meanwhile are included, removed ones skipped', () => {
    const { store } = setup(3);
    for (const ip of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) store.markSeen(ip);
    const it = store.ips();
    assert.equal(it.next().value, '127.0.0.1');
    store.remove('127.0.0.1'); // the device the iterator stands on
    store.remove('127.0.0.3'); // one it has not reached
    store.markSeen('127.0.0.4');
    store.markSeen('127.0.0.5');
    assert.equal(store.markSeen('127.0.0.6').evicted, '127.0.0.2', 'one the iterator has not reached either');
    assert.deepEqual([...{ [Symbol.iterator]: () => it }], ['127.0.0.4', '127.0.0.5', '127.0.0.6']);
    assert.deepEqual(
      [...store.devices()].map((d) => d.ip),
      ['127.0.0.4', '127.0.0.5', '127.0.0.6'],
    );
  });
});
