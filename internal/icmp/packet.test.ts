import assert from 'node:assert/strict';
import { test } from 'node:test';
import { echoReplyMessage, ipv4Datagram, unreachableMessage } from '../testkit/icmp-packets.js';
import { formatIpv4, parseIpv4 } from './ipv4.js';
import { icmpErrorDetail, internetChecksum, newIcmpV4View, parseIcmpV4, probeTag, writeEchoRequest } from './packet.js';

const fields = { id: 0xabcd, seq: 7, nonceHi: 1, nonceLo: 2, serial: 3, tag: 4 };

test('computes the RFC 1071 checksum of the RFC 1071 example, including an odd trailing byte', () => {
  // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2, checksum is its complement.
  assert.equal(internetChecksum(Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), 0, 8), ~0xddf2 & 0xffff);
  assert.equal(internetChecksum(Buffer.from([0x01]), 0, 1), ~0x0100 & 0xffff);
});

test('writes an echo request whose checksum verifies and whose stamp sits after the header', () => {
  const buf = Buffer.alloc(64);
  assert.equal(writeEchoRequest(buf, fields, 56), 64);
  assert.equal(buf[0], 8);
  assert.equal(internetChecksum(buf, 0, 64), 0);
  assert.deepEqual([buf.readUInt16BE(4), buf.readUInt16BE(6), buf.readUInt32BE(16), buf.readUInt32BE(20)], [0xabcd, 7, 3, 4]);
});

test('parses an echo reply and an unreachable quoting the request', () => {
  const req = Buffer.alloc(64);
  writeEchoRequest(req, fields, 56);
  const v = newIcmpV4View();
  const reply = ipv4Datagram({ src: '127.0.0.5', dst: '127.0.0.1', icmp: echoReplyMessage(req) });
  assert.equal(parseIcmpV4(reply, reply.length, v), true);
  assert.deepEqual([v.type, v.id, v.seq, v.stampOffset, v.stampBytes, v.checksumOk], [0, 0xabcd, 7, 28, 16, true]);
  const err = ipv4Datagram({ src: '127.0.0.254', dst: '127.0.0.1', icmp: unreachableMessage({ request: req, origSrc: '127.0.0.1', origDst: '127.0.0.5', code: 3 }) });
  assert.equal(parseIcmpV4(err, err.length, v), true);
  assert.deepEqual([v.type, v.code, v.id, v.seq, formatIpv4(v.originalDst), v.stampBytes], [3, 3, 0xabcd, 7, '127.0.0.5', 16]);
});

test('rejects truncated datagrams, non-ICMP protocols and errors that do not quote an echo request', () => {
  const req = Buffer.alloc(64);
  writeEchoRequest(req, fields, 56);
  const v = newIcmpV4View();
  const reply = ipv4Datagram({ src: '127.0.0.5', dst: '127.0.0.1', icmp: echoReplyMessage(req) });
  assert.equal(parseIcmpV4(reply, 27, v), false);
  const udp = Buffer.from(reply);
  udp[9] = 17;
  assert.equal(parseIcmpV4(udp, udp.length, v), false);
  const quotedReply = ipv4Datagram({ src: '127.0.0.254', dst: '127.0.0.1', icmp: unreachableMessage({ request: echoReplyMessage(req), origSrc: '127.0.0.1', origDst: '127.0.0.5' }) });
  assert.equal(parseIcmpV4(quotedReply, quotedReply.length, v), false);
});

test('the probe tag depends on every input', () => {
  const base = probeTag(1, 2, 3, 4);
  assert.notEqual(probeTag(9, 2, 3, 4), base);
  assert.notEqual(probeTag(1, 9, 3, 4), base);
  assert.notEqual(probeTag(1, 2, 9, 4), base);
  assert.notEqual(probeTag(1, 2, 3, 9), base);
});

test('parses IPv4 addresses strictly', () => {
  const table: Array<[string, number | undefined]> = [
    ['127.0.0.1', 0x7f000001], ['0.0.0.0', 0], ['255.255.255.255', 0xffffffff],
    ['127.0.0.01', undefined], ['127.0.0', undefined], ['127.0.0.256', undefined], [' 127.0.0.1', undefined],
    ['127..0.1', undefined], ['1.2.3.4.5', undefined], ['::1', undefined], ['', undefined],
  ];
  for (const [text, want] of table) assert.equal(parseIpv4(text), want, text);
  assert.equal(formatIpv4(0xffffffff), '255.255.255.255');
});

test('names ICMP errors for the outcome detail', () => {
  assert.equal(icmpErrorDetail(3, 1), 'host unreachable');
  assert.equal(icmpErrorDetail(3, 13), 'communication administratively prohibited');
  assert.equal(icmpErrorDetail(11, 0), 'ttl exceeded in transit');
  assert.equal(icmpErrorDetail(3, 99), 'destination unreachable (code 99)');
});
