import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { IpIndex, ipv4Key as parseIpv4 } from './ip-index.js';

const dotted = (v: number): string => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;

// mulberry32: the seed makes every failure replayable.
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

describe('parseIpv4', () => {
  test('parses canonical dotted quads to their 32-bit value', () => {
    const cases: Array<[string, number]> = [
      ['0.0.0.0', 0],
      ['127.0.0.1', 0x7f000001],
      ['1.2.3.4', 0x01020304],
      ['255.255.255.255', 0xffffffff],
      ['128.0.0.0', 0x80000000],
      ['100.64.10.200', 0x64400ac8],
    ];
    for (const [s, want] of cases) assert.equal(parseIpv4(s), want, s);
  });

  test('returns -1 for everything that is not the one canonical spelling', () => {
    const bad = [
      '',
      '1.2.3',
      '1.2.3.4.5',
      '256.0.0.1',
      '1.2.3.256',
      '1000.2.3.4',
      '01.2.3.4',
      '1.2.3.04',
      '1.2.3.00',
      '00.0.0.0',
      '1..3.4',
      '.1.2.3',
      '1.2.3.',
      ' 1.2.3.4',
      '1.2.3.4 ',
      '+1.2.3.4',
      '1.2.3.-4',
      '::1',
      '::ffff:1.2.3.4',
      'a.b.c.d',
      '1.2.3.4x',
      '١.2.3.4',
      '1.2.3.4/32',
      'host-1',
      '0x7f.0.0.1',
      '1.2.3.4.',
    ];
    for (const s of bad) assert.equal(parseIpv4(s), -1, JSON.stringify(s));
  });

  test('round-trips every value it produces', () => {
    const r = prng(7);
    for (let i = 0; i < 10_000; i++) {
      const v = Math.floor(r() * 2 ** 32);
      assert.equal(parseIpv4(dotted(v)), v);
    }
  });
});

describe('IpIndex', () => {
  test('agrees with a Map through random inserts, deletes and lookups, with colliding and wrapping probe runs', () => {
    const index = new IpIndex(32); // 64 table positions
    const size = index.tableSize;
    assert.equal(size, 64);
    // Keys whose probes start in the last four positions (runs wrap to position 0) or in position 7.
    const clustered: number[] = [];
    for (let v = 0x7f000000; clustered.length < 24; v++) {
      const h = index.home(v);
      if (h >= size - 4 || h === 7) clustered.push(v);
    }
    const keys = [...clustered.map(dotted), 'host-a', '::1', '127.0.0.01', '1.2.3.4', '0.0.0.0', '255.255.255.255'];
    const model = new Map<string, number>();
    const r = prng(2026);
    let nextSlot = 0;
    for (let step = 0; step < 20_000; step++) {
      const ip = keys[Math.floor(r() * keys.length)]!;
      const key = parseIpv4(ip);
      if (model.has(ip)) {
        index.delete(ip, key);
        model.delete(ip);
      } else if (model.size < 32) {
        index.insert(ip, key, nextSlot);
        model.set(ip, nextSlot++);
      }
      for (const k of keys) assert.equal(index.find(k, parseIpv4(k)), model.get(k) ?? -1, `step ${step}: ${k}`);
    }
  });

  test('a full churn leaves no residue: after deleting everything every lookup misses at once', () => {
    const index = new IpIndex(16);
    const ips = Array.from({ length: 16 }, (_, i) => dotted(0x7f000000 + i * 4099));
    for (let round = 0; round < 50; round++) {
      ips.forEach((ip, i) => index.insert(ip, parseIpv4(ip), i));
      for (const ip of ips) index.delete(ip, parseIpv4(ip));
    }
    for (const ip of ips) assert.equal(index.find(ip, parseIpv4(ip)), -1);
    // Same keys again, different slots: no stale slot may answer.
    ips.forEach((ip, i) => index.insert(ip, parseIpv4(ip), 100 + i));
    ips.forEach((ip, i) => assert.equal(index.find(ip, parseIpv4(ip)), 100 + i));
  });

  test('resize keeps every key, IPv4 or not, and keeps the load at or below one half', () => {
    const index = new IpIndex(8);
    const ips = [...Array.from({ length: 8 }, (_, i) => dotted(0xc6336400 + i)), 'name'];
    ips.forEach((ip, i) => index.insert(ip, parseIpv4(ip), i));
    index.resize(1000);
    assert.equal(index.tableSize, 2048);
    ips.forEach((ip, i) => assert.equal(index.find(ip, parseIpv4(ip)), i));
    assert.equal(index.find('1.1.1.1', parseIpv4('1.1.1.1')), -1);
  });
});
