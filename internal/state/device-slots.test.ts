import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SnmpInfo } from '../model/device.js';
import { DeviceSlots } from './device-slots.js';
import { Breaker } from './suspensions.js';

function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const add = (slots: DeviceSlots, ip: string, ms = 0): number => slots.add(ip, slots.keyOf(ip), ms, ms);
const find = (slots: DeviceSlots, ip: string): number => slots.find(ip, slots.keyOf(ip));

test('iterators are live exactly like Map iterators, including removal of the device an iterator stands on', () => {
  const r = prng(99);
  const pool = [...Array.from({ length: 20 }, (_, i) => `127.0.0.${i}`), '::1', 'host-a'];
  for (let run = 0; run < 200; run++) {
    const slots = new DeviceSlots(12);
    const model = new Map<string, true>();
    const open: Array<{ ours: Iterator<string>; theirs: Iterator<string> }> = [];
    for (let step = 0; step < 120; step++) {
      const k = r();
      const ip = pool[Math.floor(r() * pool.length)]!;
      if (k < 0.45) {
        if (!model.has(ip) && model.size < 12) {
          add(slots, ip);
          model.set(ip, true);
        }
      } else if (k < 0.75) {
        if (model.delete(ip)) slots.remove(find(slots, ip));
      } else if (k < 0.82) {
        open.push({ ours: slots.iterate((s) => slots.ip(s)), theirs: model.keys() });
      } else if (open.length > 0) {
        const it = open[Math.floor(r() * open.length)]!;
        const want = it.theirs.next();
        assert.deepEqual(it.ours.next(), want, `run ${run} step ${step}`);
        if (want.done) open.splice(open.indexOf(it), 1);
      }
    }
    for (const it of open)
      assert.deepEqual(
        [...{ [Symbol.iterator]: () => it.ours }],
        [...{ [Symbol.iterator]: () => it.theirs }],
        `run ${run} drain`,
      );
  }
});

test('finished and abandoned-by-break iterators stop being tracked', () => {
  const slots = new DeviceSlots(4);
  add(slots, '127.0.0.1');
  add(slots, '127.0.0.2');
  assert.deepEqual([...slots.iterate((s) => slots.ip(s))], ['127.0.0.1', '127.0.0.2']);
  for (const ip of slots.iterate((s) => slots.ip(s))) if (ip === '127.0.0.1') break;
  const open = slots.iterate((s) => s);
  open.next();
  assert.equal(slots.openIterators, 1);
  open.return?.();
  assert.equal(slots.openIterators, 0);
  assert.deepEqual(open.next(), { done: true, value: undefined }, 'a finished iterator stays finished');
});

test('storage grows by doubling up to maxSlots, and a full store reuses the slot it just freed', () => {
  const slots = new DeviceSlots(100);
  assert.equal(slots.capacity, 64);
  for (let i = 0; i < 100; i++) assert.equal(add(slots, `127.0.1.${i}`, i), i);
  assert.equal(slots.capacity, 100);
  for (let i = 0; i < 100; i++) assert.equal(find(slots, `127.0.1.${i}`), i, 'the index survived growth');
  const victim = slots.oldest;
  slots.remove(victim);
  assert.equal(add(slots, '127.0.2.1'), victim);
  assert.equal(slots.capacity, 100);
  assert.throws(() => add(slots, '127.0.2.2'), RangeError);
});

test('a reused slot starts empty: no SNMP data, no breakers, hostname is the ip', () => {
  const slots = new DeviceSlots(1);
  const s = add(slots, '127.0.0.1', 5);
  const info = { sysName: 'sw' } as SnmpInfo;
  slots.setSnmp(s, 'sw', info, 7);
  slots.setPingBreaker(s, new Breaker(2, 0));
  slots.setSnmpBreaker(s, new Breaker(1, 0));
  assert.equal(slots.hostname(s), 'sw');
  assert.equal(slots.snmp(s), info);
  assert.equal(slots.lastSnmpMs(s), 7);
  slots.remove(s);
  const t = add(slots, '127.0.0.2', 9);
  assert.equal(t, s);
  assert.equal(slots.ip(t), '127.0.0.2');
  assert.equal(slots.hostname(t), '127.0.0.2');
  assert.equal(slots.snmp(t), undefined);
  assert.equal(slots.lastSnmpMs(t), 0);
  assert.equal(slots.pingBreaker(t), undefined);
  assert.equal(slots.snmpBreaker(t), undefined);
  assert.equal(slots.firstSeenMs(t), 9);
  assert.equal(slots.lastSeenMs(t), 9);
  assert.equal(find(slots, '127.0.0.1'), -1);
});

test('the sighting order is a list: moveToNewest and remove keep both ends right', () => {
  const slots = new DeviceSlots(8);
  const order = (): string[] => {
    const out: string[] = [];
    for (let s = slots.oldest; s >= 0; s = slots.newer(s)) out.push(slots.ip(s));
    const back: string[] = [];
    for (let s = slots.newest; s >= 0; s = slots.older(s)) back.push(slots.ip(s));
    assert.deepEqual(back.reverse(), out, 'both directions agree');
    return out;
  };
  for (const ip of ['a', 'b', 'c', 'd']) add(slots, ip);
  slots.moveToNewest(find(slots, 'a'));
  slots.moveToNewest(find(slots, 'c'));
  slots.moveToNewest(find(slots, 'c'));
  assert.deepEqual(order(), ['b', 'd', 'a', 'c']);
  slots.remove(find(slots, 'b'));
  slots.remove(find(slots, 'c'));
  assert.deepEqual(order(), ['d', 'a']);
  slots.relinkLru([find(slots, 'a'), find(slots, 'd')]);
  assert.deepEqual(order(), ['a', 'd']);
});
