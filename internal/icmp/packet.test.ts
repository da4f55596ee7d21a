import assert from 'node:assert/strict';
import { test } from 'node:test';
import { echoReplyMessage, unreachable6Message, unreachableMessage } from '../testkit/icmp-packets.js';
import { formatIpv6 } from '../net/ipv6.js';
import { formatIpv4, parseIpv4 } from './ipv4.js';
import {
  EchoKind,
  icmpErrorDetail,
  internetChecksum,
  newEchoView,
  parseIcmpV4,
  probeTag,
  writeEchoRequest,
  writePadding,
} from './packet.js';
import { foldIpv6, icmp6ErrorDetail, parseIcmpV6 } from './packet6.js';

const fields = { id: 0xabcd, seq: 7, nonceHi: 1, nonceLo: 2, serial: 3, tag: 4 };

function request(type = 8, checksum = true): Buffer {
  const buf = Buffer.alloc(64);
  writePadding(buf, 56);
  writeEchoRequest(buf, fields, 56, type, checksum);
  return buf;
}

test('computes the RFC 1071 checksum of the RFC 1071 example, including an odd trailing byte', () => {
  // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2, checksum is its complement.
  assert.equal(internetChecksum(Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0, 8), ~0xddf2 & 0xffff);
  assert.equal(internetChecksum(Buffer.from([0x01]), 0, 1), ~0x0100 & 0xffff);
});

test('writes an echo request whose checksum verifies, whose stamp sits after the header and whose padding counts up', () => {
  const buf = request();
  assert.equal(buf[0], 8);
  assert.equal(internetChecksum(buf, 0, 64), 0);
  assert.deepEqual(
    [buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt32BE(16), buf.readUInt32BE(20)],
    [0xabcd, 7, 3, 4],
  );
  assert.deepEqual([buf[24], buf[25], buf[63]], [16, 17, 55]);
});

test('writes an ICMPv6 echo request with type 128 and the checksum left to the kernel', () => {
  const buf = request(128, false);
  assert.deepEqual([buf[0], buf.readUInt16BE(2), buf.readUInt32BE(16)], [128, 0, 3]);
});

test('parses an ICMPv4 echo reply and an unreachable quoting the request, at an offset in a batch', () => {
  const req = request();
  const v = newEchoView();
  const batch = Buffer.alloc(4096);
  echoReplyMessage(req).copy(batch, 2048);
  assert.equal(parseIcmpV4(batch, 2048, 64, v, true), EchoKind.Reply);
  assert.deepEqual([v.type, v.id, v.seq, v.stampOffset, v.stampBytes, v.checksumOk], [0, 0xabcd, 7, 2056, 16, true]);
  const err = unreachableMessage({ request: req, origSrc: '127.0.0.1', origDst: '127.0.0.5', code: 3 });
  assert.equal(parseIcmpV4(err, 0, err.length, v, true), EchoKind.Error);
  assert.deepEqual(
    [v.type, v.code, v.id, v.seq, formatIpv4(err.readUInt32BE(v.dstOffset)), v.stampBytes, v.checksumOk],
    [3, 3, 0xabcd, 7, '127.0.0.5', 16, true],
  );
});

test('reports a bad ICMPv4 checksum only when asked to verify it', () => {
  const reply = echoReplyMessage(request(), { badChecksum: true });
  const v = newEchoView();
  parseIcmpV4(reply, 0, reply.length, v, true);
  assert.equal(v.checksumOk, false);
  parseIcmpV4(reply, 0, reply.length, v, false);
  assert.equal(v.checksumOk, true);
});

test('rejects truncated ICMPv4 messages, other types and errors that do not quote an echo request', () => {
  const req = request();
  const v = newEchoView();
  const reply = echoReplyMessage(req);
  assert.equal(parseIcmpV4(reply, 0, 7, v, true), EchoKind.Other);
  const quotedReply = unreachableMessage({
    request: echoReplyMessage(req),
    origSrc: '127.0.0.1',
    origDst: '127.0.0.5',
  });
  assert.equal(parseIcmpV4(quotedReply, 0, quotedReply.length, v, true), EchoKind.Other);
  assert.equal(parseIcmpV4(req, 0, req.length, v, true), EchoKind.Other);
  const quotedUdp = unreachableMessage({ request: req, origSrc: '127.0.0.1', origDst: '127.0.0.5' });
  quotedUdp[8 + 9] = 17;
  assert.equal(parseIcmpV4(quotedUdp, 0, quotedUdp.length, v, false), EchoKind.Other);
});

test('round-trips an ICMPv6 echo: the reply parses with the request identity and stamp', () => {
  const req = request(128, false);
  const v = newEchoView();
  const reply = echoReplyMessage(req);
  assert.equal(reply[0], 129);
  assert.equal(parseIcmpV6(reply, 0, reply.length, v), EchoKind.Reply);
  assert.deepEqual([v.id, v.seq, v.stampOffset, v.stampBytes, v.checksumOk], [0xabcd, 7, 8, 16, true]);
  assert.deepEqual(reply.subarray(8), req.subarray(8));
});

test('parses ICMPv6 errors quoting the 40-byte IPv6 header and the echo request: unreachable, packet too big, time exceeded', () => {
  const req = request(128, false);
  const v = newEchoView();
  for (const [type, code, name] of [
    [1, 3, 'address unreachable'],
    [2, 0, 'packet too big'],
    [3, 0, 'hop limit exceeded in transit'],
  ] as const) {
    const err = unreachable6Message({ request: req, origSrc: 'fd00:1::1', origDst: 'fd00:1::5', type, code });
    assert.equal(parseIcmpV6(err, 0, err.length, v), EchoKind.Error, name);
    assert.deepEqual(
      [v.type, v.code, v.id, v.seq, formatIpv6(err, v.dstOffset), v.stampBytes],
      [type, code, 0xabcd, 7, 'fd00:1::5', 16],
    );
    assert.equal(icmp6ErrorDetail(type, code), name);
  }
  const short = unreachable6Message({ request: req, origSrc: 'fd00:1::1', origDst: 'fd00:1::5', quoteBytes: 8 });
  assert.equal(parseIcmpV6(short, 0, short.length, v), EchoKind.Error);
  assert.equal(v.stampBytes, 0);
});

test('rejects ICMPv6 messages that are not echo replies or errors about an echo request', () => {
  const req = request(128, false);
  const v = newEchoView();
  assert.equal(parseIcmpV6(req, 0, req.length, v), EchoKind.Other, 'our own request looped back');
  const aboutReply = unreachable6Message({
    request: echoReplyMessage(req),
    origSrc: 'fd00:1::1',
    origDst: 'fd00:1::5',
  });
  assert.equal(parseIcmpV6(aboutReply, 0, aboutReply.length, v), EchoKind.Other);
  const extHeader = unreachable6Message({ request: req, origSrc: 'fd00:1::1', origDst: 'fd00:1::5' });
  extHeader[8 + 6] = 0; // a hop-by-hop header before the ICMPv6 message
  assert.equal(parseIcmpV6(extHeader, 0, extHeader.length, v), EchoKind.Other);
  const cut = unreachable6Message({ request: req, origSrc: 'fd00:1::1', origDst: 'fd00:1::5' });
  assert.equal(parseIcmpV6(cut, 0, 8 + 40 + 7, v), EchoKind.Other);
});

test('the probe tag depends on every input, and the IPv6 fold on every address word', () => {
  const base = probeTag(1, 2, 3, 4);
  assert.notEqual(probeTag(9, 2, 3, 4), base);
  assert.notEqual(probeTag(1, 9, 3, 4), base);
  assert.notEqual(probeTag(1, 2, 9, 4), base);
  assert.notEqual(probeTag(1, 2, 3, 9), base);
  const fold = foldIpv6(1, 2, 3, 4);
  assert.notEqual(foldIpv6(0, 2, 3, 4), fold);
  assert.notEqual(foldIpv6(1, 0, 3, 4), fold);
  assert.notEqual(foldIpv6(1, 2, 0, 4), fold);
  assert.notEqual(foldIpv6(1, 2, 3, 0), fold);
  assert.notEqual(foldIpv6(2, 1, 3, 4), fold, 'word order matters');
});

test('parses IPv4 addresses strictly', () => {
  const table: Array<[string, number | undefined]> = [
    ['127.0.0.1', 0x7f000001],
    ['0.0.0.0', 0],
    ['255.255.255.255', 0xffffffff],
    ['127.0.0.01', undefined],
    ['127.0.0', undefined],
    ['127.0.0.256', undefined],
    [' 127.0.0.1', undefined],
    ['127..0.1', undefined],
    ['1.2.3.4.5', undefined],
    ['::1', undefined],
    ['', undefined],
  ];
  for (const [text, want] of table) assert.equal(parseIpv4(text), want, text);
  assert.equal(formatIpv4(0xffffffff), '255.255.255.255');
});

test('names ICMP errors for the outcome detail', () => {
  assert.equal(icmpErrorDetail(3, 1), 'host unreachable');
  assert.equal(icmpErrorDetail(3, 13), 'communication administratively prohibited');
  assert.equal(icmpErrorDetail(11, 0), 'ttl exceeded in transit');
  assert.equal(icmpErrorDetail(3, 99), 'destination unreachable (code 99)');
  assert.equal(icmp6ErrorDetail(1, 1), 'communication administratively prohibited');
  assert.equal(icmp6ErrorDetail(1, 42), 'destination unreachable (code 42)');
});
