import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../testkit/fake-clock.js';
import { DeviceStore } from './device-store.js';
import { MemoryStateFs } from './memory-state-fs.js';

// State fixtures only: these addresses are stored, never pinged.
const T0 = 1_700_000_000_000;
const PATH = '/state/state.json';

test('devices the store lets go are counted by cause: evicted, pruned, and discovered hosts a full store of targets turned away', () => {
  const clock = new FakeClock(T0);
  const store = new DeviceStore({ clock, maxDevices: 2, pruneAfterMs: 60_000 });
  assert.deepEqual(store.removalStats(), { evicted: 0, pruned: 0, notAdded: 0 });
  store.markSeen('127.0.0.1');
  clock.advance(1000);
  store.markSeen('127.0.0.2');
  clock.advance(1000);
  assert.deepEqual(store.markSeen('127.0.0.3'), { added: true, evicted: '127.0.0.1' });
  store.remove('127.0.0.2'); // a removal asked for (a target that left) is no loss
  store.markSeen('127.0.0.4');
  store.pin('127.0.0.3');
  store.pin('127.0.0.4');
  // Full of targets: the discovered host waits, and that is counted, not said to be known.
  assert.deepEqual(store.markSeen('127.0.0.5'), { added: false, evicted: undefined });
  assert.equal(store.has('127.0.0.5'), false);
  store.unpin('127.0.0.3');
  clock.advance(120_000);
  assert.deepEqual(store.prune(60_000), ['127.0.0.3']);
  assert.deepEqual(store.removalStats(), { evicted: 1, pruned: 1, notAdded: 1 });
});

test('the restore outcome is kept for /health: devices restored, dropped over capacity, entries skipped, and why a file was unusable', async () => {
  const clock = new FakeClock(T0);
  const fs = new MemoryStateFs();
  const entry = (ip: string, seen: number): string =>
    JSON.stringify({ ip, hostname: ip, first_seen_ms: seen, last_seen_ms: seen });
  const devices = [entry('127.0.0.1', T0 - 3), entry('127.0.0.2', T0 - 2), entry('127.0.0.3', T0 - 1), '{"ip":7}'];
  fs.files.set(
    PATH,
    `{"format":"netscan-state","version":1,"saved_at_ms":${T0},"devices":[${devices.join(',')}],"count":4}`,
  );
  const store = new DeviceStore({ clock, fs, stateFile: PATH, maxDevices: 2, snapshotIntervalMs: 0 });
  await store.start();
  const s = store.persistenceStats();
  assert.deepEqual(
    { restored: s.restored, restoreDropped: s.restoreDropped, restoreSkipped: s.restoreSkipped, p: s.restoreProblem },
    { restored: 2, restoreDropped: 1, restoreSkipped: 1, p: null },
  );
  await store.stop();

  for (const [text, problem] of [
    [undefined, 'missing'],
    ['{"format":"netscan-state","version":1,"saved_at_ms":1,"devi', 'truncated'],
    ['{"format":"netscan-state","version":9,"saved_at_ms":1,"devices":[],"count":0}', 'unsupported_version'],
  ] as const) {
    const fs2 = new MemoryStateFs();
    if (text !== undefined) fs2.files.set(PATH, text);
    const st = new DeviceStore({ clock, fs: fs2, stateFile: PATH, snapshotIntervalMs: 0 });
    await st.start();
    const p = st.persistenceStats();
    assert.deepEqual([p.restored, p.restoreDropped, p.restoreSkipped, p.restoreProblem], [0, 0, 0, problem], problem);
    await st.stop();
  }
});
