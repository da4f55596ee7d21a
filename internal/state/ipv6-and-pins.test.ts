import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/fake-clock.js';
import { DeviceStore } from './device-store.js';
import { MemoryStateFs } from './memory-state-fs.js';

const T0 = 1_700_000_000_000;
const PATH = '/state/state.json';

test('IPv6 devices round-trip through the state file beside IPv4 ones, breakers and SNMP included', async () => {
  const clock = new FakeClock(T0);
  const fs = new MemoryStateFs();
  const a = new DeviceStore({ clock, stateFile: PATH, fs });
  a.markSeen('127.0.0.1');
  a.markSeen('fd00:1::5');
  a.markSeen('::1');
  a.recordPingFailure('fd00:1::5', 1, 60_000);
  a.recordSnmpSuccess('::1', {
    sysName: 'lo6',
    sysDescr: 'd',
    sysObjectId: '',
    sysLocation: '',
    sysContact: '',
    sysUptimeS: 5,
    credentialId: 'c',
  });
  await a.snapshot();
  const b = new DeviceStore({ clock, stateFile: PATH, fs });
  await b.start();
  assert.deepEqual([...b.ips()].sort(), ['127.0.0.1', '::1', 'fd00:1::5']);
  assert.equal(b.isPingSuspended('fd00:1::5'), true);
  assert.equal(b.get('::1')!.hostname, 'lo6');
  await b.stop();
});

test('a state file holding a non-canonical IPv6 spelling drops that device and keeps the rest', async () => {
  const clock = new FakeClock(T0);
  const fs = new MemoryStateFs();
  const a = new DeviceStore({ clock, stateFile: PATH, fs });
  a.markSeen('fd00:1::5');
  a.markSeen('fd00:1::6');
  await a.snapshot();
  fs.files.set(PATH, fs.files.get(PATH)!.replace('"fd00:1::6"', '"FD00:1:0::6"'));
  const b = new DeviceStore({ clock, stateFile: PATH, fs });
  await b.start();
  assert.deepEqual([...b.ips()], ['fd00:1::5']);
  await b.stop();
});

test('a pinned device is never evicted or pruned; unpinned it ages like any other', () => {
  const clock = new FakeClock(T0);
  const store = new DeviceStore({ clock, maxDevices: 2 });
  store.pin('fd00:1::1');
  clock.advance(1000);
  store.markSeen('127.0.0.1');
  clock.advance(1000);
  assert.deepEqual(store.markSeen('127.0.0.2'), { added: true, evicted: '127.0.0.1' });
  assert.deepEqual(store.prune(500), []);
  assert.equal(store.has('fd00:1::1'), true);
  store.pin('127.0.0.9');
  assert.deepEqual([...store.ips()].sort(), ['127.0.0.9', 'fd00:1::1']);
  // Full of pinned devices: a discovered host waits rather than push a target out.
  assert.deepEqual(store.markSeen('127.0.0.3'), { added: false, evicted: undefined });
  store.unpin('fd00:1::1');
  clock.advance(10_000);
  assert.deepEqual(store.prune(5000), ['fd00:1::1']);
});
