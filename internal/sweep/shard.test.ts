import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addressHash128, addressHash32, inShard, inShardIpv6, shardOf, shardOfIpv6 } from './shard.js';
import { parseIpv6 } from '../net/ipv6.js';
import { Sweeper } from './sweeper.js';
import { TargetPinger } from '../testkit/fake-icmp.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { parseIpv4 } from '../icmp/ipv4.js';

test('count shards cover every address of a /16 exactly once, in near-equal parts', () => {
  for (const count of [2, 3, 7]) {
    const preds = Array.from({ length: count }, (_, index) => inShard({ index, count }));
    const sizes = new Array<number>(count).fill(0);
    const base = parseIpv4('127.5.0.0') as number;
    for (let i = 0; i < 65536; i++) {
      const owners = preds.filter((p) => p(base + i)).length;
      assert.equal(owners, 1, `address ${i} owned by ${owners} shards`);
      sizes[shardOf(base + i, count)]!++;
    }
    for (const s of sizes)
      assert.ok(Math.abs(s - 65536 / count) < (65536 / count) * 0.05, `shard sizes ${sizes.join(',')}`);
  }
});

test('one shard is everything', () => {
  assert.equal(inShard({ index: 0, count: 1 })(12345), true);
  assert.equal(shardOf(12345, 1), 0);
});

test('two sweeps with count 2 probe and find a /24 exactly once between them', async () => {
  const clock = new FakeClock(0);
  const pinger = new TargetPinger(clock);
  for (let i = 1; i < 255; i++) pinger.targets.set(`127.6.0.${i}`, { rttMs: 1 });
  const found: string[][] = [[], []];
  for (const index of [0, 1]) {
    const sweeper = new Sweeper({
      pinger,
      clock,
      logger: undefined,
      ratePps: 100_000,
      maxInFlight: 64,
      timeoutMs: 100,
      retries: 0,
      seed: 1,
    });
    const run = sweeper.sweep({ cidrs: ['127.6.0.0/24'], accept: inShard({ index, count: 2 }) }, (h) =>
      found[index]!.push(h.ip),
    );
    await clock.advanceAsync(5_000);
    const summary = await run;
    assert.equal(summary.alive + summary.filtered, 254);
    assert.equal(summary.scanned, 254);
  }
  assert.equal(pinger.calls.length, 254, 'every address probed once in total');
  const all = [...found[0]!, ...found[1]!].sort();
  assert.equal(new Set(all).size, 254);
  assert.ok(found[0]!.length > 90 && found[1]!.length > 90, `split ${found[0]!.length}/${found[1]!.length}`);
});

test('shard hashes are pinned: ownership must not move between versions', () => {
  assert.deepEqual(
    ['127.0.0.1', '127.5.0.9'].map((ip) => addressHash32(parseIpv4(ip)!)),
    [1267594440, 1838670083],
  );
  assert.deepEqual(
    ['::1', 'fd00:1::5'].map((ip) => addressHash128(parseIpv6(ip)!)),
    [3709852057, 619708391],
  );
});

test('IPv6 shards cover every address of a /112 exactly once, in near-equal parts, from the address bytes alone', () => {
  const base = parseIpv6('fd00:1::')!;
  const bytes = new Uint8Array(16);
  for (const count of [2, 3, 7]) {
    const preds = Array.from({ length: count }, (_, index) => inShardIpv6({ index, count }));
    const sizes = new Array<number>(count).fill(0);
    for (let i = 0; i < 65536; i++) {
      bytes.set(base);
      bytes[14] = i >>> 8;
      bytes[15] = i & 0xff;
      const owners = preds.filter((p) => p(bytes)).length;
      assert.equal(owners, 1, `address ${i} owned by ${owners} shards`);
      sizes[shardOfIpv6(bytes, count)]!++;
    }
    for (const s of sizes)
      assert.ok(Math.abs(s - 65536 / count) < (65536 / count) * 0.05, `shard sizes ${sizes.join(',')}`);
  }
  // The hash reads only the 16 bytes at the offset it is given.
  const padded = new Uint8Array(20).fill(0xaa);
  padded.set(parseIpv6('fd00:1::5')!, 2);
  assert.equal(addressHash128(padded, 2), addressHash128(parseIpv6('fd00:1::5')!));
});

test('two IPv6 sweeps with count 2 probe a /120 exactly once between them', async () => {
  const clock = new FakeClock(0);
  const pinger = new TargetPinger(clock);
  const found: string[][] = [[], []];
  for (const index of [0, 1]) {
    const sweeper = new Sweeper({
      pinger,
      clock,
      logger: undefined,
      ratePps: 100_000,
      maxInFlight: 64,
      timeoutMs: 100,
      retries: 0,
      seed: 1,
    });
    const run = sweeper.sweep(
      { cidrs: ['fd00:6::/120'], acceptIpv6: inShardIpv6({ index, count: 2 }) },
      {
        unreachable: (h) => found[index]!.push(h.ip),
      },
    );
    await clock.advanceAsync(5_000);
    const summary = await run;
    assert.equal(summary.scanned, 256);
    assert.equal(found[index]!.length + summary.filtered, 256);
  }
  assert.equal(pinger.calls.length, 256);
  assert.equal(new Set([...found[0]!, ...found[1]!]).size, 256);
});
