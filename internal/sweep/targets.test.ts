import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatIpv4 } from './cidr.js';
import { formatIpv6BigInt } from './cidr6.js';
import { buildSweepSpace, parseTarget, type AddressSpec, type ParseTargetOptions } from './targets.js';

function show(text: string, opts: ParseTargetOptions = { names: true }): string {
  const p = parseTarget(text, opts);
  if (!p.ok) return `error: ${p.error}`;
  const t = p.target;
  if (t.family === 'name') return `name ${t.text}`;
  if (t.family === 'ipv4') return `ipv4 ${formatIpv4(t.range.first)}-${formatIpv4(t.range.last)}`;
  return `ipv6 ${formatIpv6BigInt(t.range.first)}-${formatIpv6BigInt(t.range.last)}`;
}

describe('sweep targets', () => {
  test('reads CIDRs, prefixes, addresses, ranges and names, each into its addresses', () => {
    const table: Array<[string, string]> = [
      ['127.0.0.0/24', 'ipv4 127.0.0.1-127.0.0.254'],
      ['127.0.0.8/31', 'ipv4 127.0.0.8-127.0.0.9'],
      ['127.0.0.9', 'ipv4 127.0.0.9-127.0.0.9'],
      ['127.0.0.250-127.0.1.3', 'ipv4 127.0.0.250-127.0.1.3'],
      ['fd00:1::/112', 'ipv6 fd00:1::-fd00:1::ffff'],
      ['fd00:1::/128', 'ipv6 fd00:1::-fd00:1::'],
      ['FD00:0:0::1', 'ipv6 fd00::1-fd00::1'],
      ['fd00::1-fd00::1:0', 'ipv6 fd00::1-fd00::1:0'],
      ['::1', 'ipv6 ::1-::1'],
      ['localhost', 'name localhost'],
      ['my-host.example.', 'name my-host.example.'],
      ['host-1-2', 'name host-1-2'],
    ];
    for (const [text, want] of table) assert.equal(show(text), want, text);
  });

  test('refuses what it cannot sweep with one exact line each', () => {
    const table: Array<[string, string]> = [
      [
        'fd00:1::/64',
        'IPv6 prefix fd00:1::/64 is too large to sweep (2^64 addresses; the limit is /112, 65536 addresses): list the hosts to probe as targets instead',
      ],
      [
        'fd00::/111',
        'IPv6 prefix fd00::/111 is too large to sweep (2^17 addresses; the limit is /112, 65536 addresses): list the hosts to probe as targets instead',
      ],
      [
        'fd00::-fd00::1:0',
        'IPv6 range fd00::-fd00::1:0 is too large to sweep (65537 addresses; the limit is 65536): list the hosts to probe as targets instead',
      ],
      ['127.0.0.0/33', 'invalid CIDR notation: 127.0.0.0/33'],
      ['fd00::/129', 'invalid CIDR notation: fd00::/129'],
      ['host/24', 'invalid CIDR notation: host/24'],
      ['127.0.0.9-127.0.0.1', 'invalid range 127.0.0.9-127.0.0.1: 127.0.0.9 comes after 127.0.0.1'],
      ['fd00::9-fd00::1', 'invalid range fd00::9-fd00::1: fd00::9 comes after fd00::1'],
      ['127.0.0.1-::1', 'invalid range 127.0.0.1-::1: mixes IPv4 and IPv6'],
      ['::1-127.0.0.1', 'invalid range ::1-127.0.0.1: mixes IPv4 and IPv6'],
      ['127.0.0.1-x', 'invalid range 127.0.0.1-x: "x" is not an IPv4 address'],
      ['127.0.0.300', 'invalid address: 127.0.0.300'],
      ['fd00::1::2', 'invalid address: fd00::1::2'],
      ['-host', 'invalid target: -host (expected an address, a CIDR, a range first-last or a host name)'],
      ['bad_host!', 'invalid target: bad_host! (expected an address, a CIDR, a range first-last or a host name)'],
    ];
    for (const [text, want] of table) assert.equal(show(text), `error: ${want}`, text);
    assert.equal(show('localhost', {}), 'error: invalid CIDR notation: localhost');
  });

  test('exclusions cover IPv4 network and broadcast addresses and may be IPv6 prefixes of any size', () => {
    assert.equal(show('127.0.0.0/30', { exclude: true }), 'ipv4 127.0.0.0-127.0.0.3');
    assert.equal(show('fd00::/64', { exclude: true }), 'ipv6 fd00::-fd00::ffff:ffff:ffff:ffff');
  });

  test('builds one space per family, deduplicated and minus the exclusions', () => {
    const specs = (texts: string[], exclude = false): AddressSpec[] =>
      texts
        .map((t) => parseTarget(t, { exclude }))
        .map((p) => {
          assert.ok(p.ok && p.target.family !== 'name');
          return p.target as AddressSpec;
        });
    const space = buildSweepSpace(
      specs(['127.0.0.0/29', '127.0.0.4-127.0.0.9', 'fd00::/120', 'fd00::80-fd00::1:0', '::1']),
      specs(['127.0.0.2', 'fd00::/121'], true),
    );
    assert.equal(space.ipv4.size, 8);
    assert.equal(space.ipv6.size, 1 + (0x10000 - 0x80 + 1));
    assert.equal(space.size, space.ipv4.size + space.ipv6.size);
  });
});

test('an IPv4-mapped address is swept as the IPv4 host it carries; a mapped prefix is refused naming the IPv4 network', () => {
  // ICMPv6 cannot reach ::ffff:a.b.c.d (the kernel answers ENETUNREACH): swept as IPv6 it would read as down.
  assert.equal(show('::ffff:127.0.0.9'), 'ipv4 127.0.0.9-127.0.0.9');
  assert.equal(show('::FFFF:7f00:a'), 'ipv4 127.0.0.10-127.0.0.10');
  assert.equal(
    show('::ffff:127.0.0.0/120'),
    'error: ::ffff:127.0.0.0/120 is an IPv4-mapped IPv6 prefix, which ICMPv6 cannot reach: write it as the IPv4 network 127.0.0.0/24',
  );
  // Outside ::ffff:0:0/96 nothing changes.
  assert.equal(show('::fffe:127.0.0.9'), 'ipv6 ::fffe:7f00:9-::fffe:7f00:9');
});
