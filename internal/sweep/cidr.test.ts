import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  AddressSet,
  cidrSize,
  formatCidr,
  formatIpv4,
  hostCount,
  hostRange,
  isLinkLocalNetwork,
  isLoopbackNetwork,
  isMulticastNetwork,
  mergeRanges,
  parseCidr,
  parseIpv4,
  subtractRanges,
} from './cidr.js';

const ip = (s: string): number => parseIpv4(s)!;
const cidr = (s: string) => parseCidr(s, { allowBareAddress: true })!;

test('parses CIDRs strictly and clears host bits like Go net.ParseCIDR', () => {
  const table: Array<[string, string | undefined, boolean?]> = [
    ['127.0.0.0/24', '127.0.0.0/24', false],
    ['127.0.0.5/24', '127.0.0.0/24', true],
    ['0.0.0.0/0', '0.0.0.0/0', false],
    ['127.1.2.3/32', '127.1.2.3/32', false],
    ['127.0.0.0/33', undefined],
    ['127.0.0.0/-1', undefined],
    ['127.0.0.0/08', undefined],
    ['127.0.0.0/', undefined],
    ['127.0.0/24', undefined],
    ['127.0.0.0/24 ', undefined],
    ['nonsense', undefined],
    ['127.0.0.1', undefined],
  ];
  for (const [text, want, hostBits] of table) {
    const c = parseCidr(text);
    assert.equal(c && formatCidr(c), want, text);
    if (c) assert.equal(c.hostBitsSet, hostBits, text);
  }
  assert.equal(formatCidr(parseCidr('127.0.0.9', { allowBareAddress: true })!), '127.0.0.9/32');
});

test('skips network and broadcast below /31 only (Go netscan #47)', () => {
  const table: Array<[string, string, string, number]> = [
    ['127.0.0.0/30', '127.0.0.1', '127.0.0.2', 2],
    ['127.0.0.0/31', '127.0.0.0', '127.0.0.1', 2],
    ['127.0.0.7/32', '127.0.0.7', '127.0.0.7', 1],
    ['127.0.0.0/24', '127.0.0.1', '127.0.0.254', 254],
    ['127.0.0.0/25', '127.0.0.1', '127.0.0.126', 126],
    ['127.0.0.0/8', '127.0.0.1', '127.255.255.254', 16_777_214],
  ];
  for (const [text, first, last, count] of table) {
    const r = hostRange(cidr(text));
    assert.deepEqual([formatIpv4(r.first), formatIpv4(r.last), hostCount(cidr(text))], [first, last, count], text);
  }
  assert.equal(cidrSize(cidr('0.0.0.0/0')), 2 ** 32);
});

test('classifies networks by their network address as Go validateCIDR does', () => {
  assert.equal(isLoopbackNetwork(cidr('127.0.0.0/8')), true);
  assert.equal(isMulticastNetwork(cidr('224.0.0.0/4')), true);
  assert.equal(isLinkLocalNetwork(cidr('169.254.0.0/16')), true);
  assert.equal(isLoopbackNetwork(cidr('126.0.0.0/7')), false);
});

test('merges overlapping and adjacent ranges and subtracts holes', () => {
  assert.deepEqual(
    mergeRanges([
      { first: 10, last: 20 },
      { first: 0, last: 5 },
      { first: 6, last: 8 },
      { first: 15, last: 30 },
    ]),
    [
      { first: 0, last: 8 },
      { first: 10, last: 30 },
    ],
  );
  assert.deepEqual(
    subtractRanges(
      [{ first: 0, last: 100 }],
      [
        { first: 10, last: 19 },
        { first: 0, last: 0 },
        { first: 95, last: 200 },
      ],
    ),
    [
      { first: 1, last: 9 },
      { first: 20, last: 94 },
    ],
  );
  assert.deepEqual(subtractRanges([{ first: 5, last: 6 }], [{ first: 0, last: 10 }]), []);
});

test('an address set deduplicates overlapping networks and honours excludes', () => {
  const set = AddressSet.fromCidrs(
    [cidr('127.1.0.0/16'), cidr('127.1.5.0/24'), cidr('127.1.5.7')],
    [cidr('127.1.9.0/24')],
  );
  assert.equal(set.size, 65534 - 256);
  assert.equal(set.has(ip('127.1.5.7')), true);
  assert.equal(set.has(ip('127.1.9.1')), false);
  assert.equal(set.has(ip('127.1.0.0')), false);
  // The broadcast address of the /24 is a host of the enclosing /16, so it stays.
  assert.equal(set.has(ip('127.1.5.255')), true);
  const adjacent = AddressSet.fromCidrs([cidr('127.0.0.0/25'), cidr('127.0.0.128/25')]);
  assert.equal(adjacent.size, 252);
  assert.equal(adjacent.has(ip('127.0.0.127')), false);
});

test('indexes a /8 without materialising it', () => {
  const set = AddressSet.fromCidrs([cidr('127.0.0.0/8')], [cidr('127.0.0.0/24')]);
  assert.equal(set.size, 16_777_214 - 255);
  assert.equal(set.ranges.length, 1);
  assert.equal(formatIpv4(set.at(0)), '127.0.1.0');
  assert.equal(formatIpv4(set.at(set.size - 1)), '127.255.255.254');
});

test('indexes every address of a fragmented set in ascending order', () => {
  const set = AddressSet.fromCidrs(
    [cidr('127.0.0.0/28'), cidr('127.0.1.0/30'), cidr('127.0.2.9')],
    [cidr('127.0.0.4/31')],
  );
  const all = Array.from({ length: set.size }, (_, i) => formatIpv4(set.at(i)));
  assert.deepEqual(all, [
    '127.0.0.1',
    '127.0.0.2',
    '127.0.0.3',
    '127.0.0.6',
    '127.0.0.7',
    '127.0.0.8',
    '127.0.0.9',
    '127.0.0.10',
    '127.0.0.11',
    '127.0.0.12',
    '127.0.0.13',
    '127.0.0.14',
    '127.0.1.1',
    '127.0.1.2',
    '127.0.2.9',
  ]);
});
