import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProbeRoster } from './probe-thread-roster.js';

test('the roster counts the load at the global interval asked, own intervals apart, and down time as missed slots', () => {
  const r = new ProbeRoster();
  assert.equal(r.add('127.0.0.1'), true);
  assert.equal(r.add('127.0.0.1'), false);
  r.add('127.0.0.2');
  assert.equal(r.setOwnInterval('127.0.0.2', 4000), true);
  assert.equal(r.setOwnInterval('127.0.0.2', 4000), false);
  assert.deepEqual(r.expectedLoad(1000), { own: 1, perSec: 1.25 });
  assert.deepEqual(r.expectedLoad(500), { own: 1, perSec: 2.25 }, 'a new global interval is not served from the cache');
  r.setOwnInterval('127.0.0.9', 2000); // kept for an address not scheduled now
  assert.deepEqual(r.expectedLoad(500), { own: 1, perSec: 2.25 });
  assert.equal(r.nextSlotMs('127.0.0.9', 500, 10_000), undefined);
  r.down(10_000);
  r.down(11_000); // the same episode
  assert.equal(r.downForMs(12_000), 2000);
  assert.equal(r.missedWhileDown(12_000, 1000), 2, '1.25 slots/s for 2 s');
  r.up(14_000, 1000);
  assert.equal(r.downForMs(15_000), undefined);
  assert.equal(r.missedWhileDown(20_000, 1000), 5);
  assert.equal(r.remove('127.0.0.1'), true);
  assert.deepEqual(r.expectedLoad(1000), { own: 1, perSec: 0.25 });
});
