import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatIpv6 } from '../net/ipv6.js';
import {
  Ipv6AddressSet,
  bigIntToIpv6,
  formatIpv6BigInt,
  ipv6CidrRange,
  ipv6ToBigInt,
  mergeIpv6Ranges,
  parseIpv6BigInt,
  parseIpv6Cidr,
  subtractIpv6Ranges,
} from './cidr6.js';

const v = (text: string): bigint => parseIpv6BigInt(text)!;

describe('IPv6 prefixes and ranges', () => {
  test('converts between 16 bytes and a 128-bit integer both ways', () => {
    const x = v('fd00:1::ffff:1');
    assert.equal(x, 0xfd0000010000000000000000ffff0001n);
    assert.equal(ipv6ToBigInt(bigIntToIpv6(x)), x);
    assert.equal(formatIpv6BigInt(x), 'fd00:1::ffff:1');
    assert.equal(formatIpv6BigInt((1n << 128n) - 1n), 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff');
    assert.equal(formatIpv6BigInt(0n), '::');
  });

  test('parses prefixes strictly and clears host bits', () => {
    const table: Array<[string, { network: string; prefix: number } | undefined]> = [
      ['fd00:1::/112', { network: 'fd00:1::', prefix: 112 }],
      ['fd00:1::5:7/112', { network: 'fd00:1::5:0', prefix: 112 }],
      ['::1/128', { network: '::1', prefix: 128 }],
      ['FD00::/0', { network: '::', prefix: 0 }],
      ['fd00::/129', undefined],
      ['fd00::/012', undefined],
      ['fd00::/', undefined],
      ['fd00::1%lo/128', undefined],
      ['127.0.0.1/32', undefined],
    ];
    for (const [text, want] of table) {
      const c = parseIpv6Cidr(text);
      assert.deepEqual(c && { network: formatIpv6BigInt(c.network), prefix: c.prefix }, want, text);
    }
    assert.equal(parseIpv6Cidr('::1'), undefined);
    assert.deepEqual(parseIpv6Cidr('::1', { allowBareAddress: true }), { network: 1n, prefix: 128 });
  });

  test('a prefix covers every address, with no broadcast to skip', () => {
    const r = ipv6CidrRange(parseIpv6Cidr('fd00:1::/126')!);
    assert.deepEqual([formatIpv6BigInt(r.first), formatIpv6BigInt(r.last)], ['fd00:1::', 'fd00:1::3']);
  });

  test('merges overlapping and adjacent ranges and subtracts holes', () => {
    const r = (a: string, b: string) => ({ first: v(a), last: v(b) });
    const show = (rs: Array<{ first: bigint; last: bigint }>) =>
      rs.map((x) => `${formatIpv6BigInt(x.first)}-${formatIpv6BigInt(x.last)}`);
    assert.deepEqual(
      show(
        mergeIpv6Ranges([
          r('fd00::10', 'fd00::20'),
          r('fd00::1', 'fd00::f'),
          r('fd00::18', 'fd00::30'),
          r('fd00::40', 'fd00::41'),
        ]),
      ),
      ['fd00::1-fd00::30', 'fd00::40-fd00::41'],
    );
    assert.deepEqual(
      show(
        subtractIpv6Ranges(
          [r('fd00::1', 'fd00::ff')],
          [r('fd00::10', 'fd00::1f'), r('fd00::f0', 'fd00::1:0'), r('::', 'fd00::1')],
        ),
      ),
      ['fd00::2-fd00::f', 'fd00::20-fd00::ef'],
    );
  });

  test('enumerates every address exactly once, carrying across 16-bit boundaries', () => {
    const set = new Ipv6AddressSet([
      { first: v('fd00::1:fff0'), last: v('fd00::2:f') },
      { first: v('fd00:ffff:ffff:ffff:ffff:ffff:ffff:fffe'), last: v('fd01::1') },
      { first: v('fd00::1:fff8'), last: v('fd00::1:fffa') },
    ]);
    assert.equal(set.size, 32 + 4);
    const out = new Uint8Array(16);
    const all = Array.from({ length: set.size }, (_, i) => formatIpv6(set.bytesAt(i, out)));
    assert.equal(new Set(all).size, set.size);
    assert.deepEqual(all.slice(14, 18), ['fd00::1:fffe', 'fd00::1:ffff', 'fd00::2:0', 'fd00::2:1']);
    assert.deepEqual(all.slice(-4), [
      'fd00:ffff:ffff:ffff:ffff:ffff:ffff:fffe',
      'fd00:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
      'fd01::',
      'fd01::1',
    ]);
    for (const ip of all) assert.ok(set.has(v(ip)), ip);
    assert.ok(!set.has(v('fd00::1:ffef')) && !set.has(v('fd01::2')));
  });
});
