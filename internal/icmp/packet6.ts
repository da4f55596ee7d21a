/**
 * ICMPv6 echo parser (RFC 4443). Requests use the shared layout of packet.ts with type 128 and a
 * zero checksum: on raw and datagram ICMPv6 sockets the kernel computes it over the IPv6
 * pseudo-header and verifies it on receipt (RFC 3542 section 3.1), so the engine never does.
 */
import { ECHO_HEADER_BYTES, EchoKind, PROBE_STAMP_BYTES, type EchoView } from './packet.js';

/** ICMPv6 type: destination unreachable. */
export const ICMP6_DEST_UNREACHABLE = 1;
/** ICMPv6 type: packet too big. */
export const ICMP6_PACKET_TOO_BIG = 2;
/** ICMPv6 type: time exceeded. */
export const ICMP6_TIME_EXCEEDED = 3;
/** ICMPv6 type: echo request. */
export const ICMP6_ECHO_REQUEST = 128;
/** ICMPv6 type: echo reply. */
export const ICMP6_ECHO_REPLY = 129;
/** IPv6 next-header value of ICMPv6. */
export const IPPROTO_ICMPV6 = 58;
/** Bytes of the fixed IPv6 header. */
export const IPV6_HEADER_BYTES = 40;
/** Largest IPv6 payload that fits a 1500-byte MTU (1500 - 40 IPv6 - 8 ICMPv6), in bytes. */
export const MAX_PAYLOAD_BYTES_V6 = 1452;

/**
 * Parses the ICMPv6 message at `buf[offset .. offset + length)`: echo replies, and
 * destination-unreachable / packet-too-big / time-exceeded errors quoting the 40-byte IPv6 header
 * and an echo request (an error quoting extension headers is not ours to judge: Other).
 */
export function parseIcmpV6(buf: Buffer, offset: number, length: number, out: EchoView): EchoKind {
  out.kind = EchoKind.Other;
  if (length < ECHO_HEADER_BYTES) return EchoKind.Other;
  const type = buf[offset]!;
  out.type = type;
  out.code = buf[offset + 1]!;
  out.checksumOk = true;
  if (type === ICMP6_ECHO_REPLY) {
    out.id = buf.readUInt16BE(offset + 4);
    out.seq = buf.readUInt16BE(offset + 6);
    out.dstOffset = 0;
    out.stampOffset = offset + ECHO_HEADER_BYTES;
    out.stampBytes = Math.min(PROBE_STAMP_BYTES, length - ECHO_HEADER_BYTES);
    return (out.kind = EchoKind.Reply);
  }
  if (type !== ICMP6_DEST_UNREACHABLE && type !== ICMP6_PACKET_TOO_BIG && type !== ICMP6_TIME_EXCEEDED)
    return EchoKind.Other;
  // RFC 4443 section 3: the error quotes as much of the invoking packet as fits the minimum MTU.
  const inner = offset + ECHO_HEADER_BYTES;
  const end = offset + length;
  const innerIcmp = inner + IPV6_HEADER_BYTES;
  if (end < innerIcmp + ECHO_HEADER_BYTES || buf[inner]! >> 4 !== 6 || buf[inner + 6] !== IPPROTO_ICMPV6)
    return EchoKind.Other;
  if (buf[innerIcmp] !== ICMP6_ECHO_REQUEST) return EchoKind.Other;
  out.id = buf.readUInt16BE(innerIcmp + 4);
  out.seq = buf.readUInt16BE(innerIcmp + 6);
  out.dstOffset = inner + 24;
  out.stampOffset = innerIcmp + ECHO_HEADER_BYTES;
  out.stampBytes = Math.max(0, Math.min(PROBE_STAMP_BYTES, end - out.stampOffset));
  return (out.kind = EchoKind.Error);
}

/** Human-readable name of an ICMPv6 error, for the `detail` of an unreachable outcome. */
export function icmp6ErrorDetail(type: number, code: number): string {
  if (type === ICMP6_PACKET_TOO_BIG) return 'packet too big';
  if (type === ICMP6_TIME_EXCEEDED)
    return code === 0 ? 'hop limit exceeded in transit' : 'fragment reassembly time exceeded';
  const names: Record<number, string> = {
    0: 'no route to destination',
    1: 'communication administratively prohibited',
    2: 'beyond scope of source address',
    3: 'address unreachable',
    4: 'port unreachable',
    5: 'source address failed ingress/egress policy',
    6: 'reject route to destination',
  };
  return names[code] ?? `destination unreachable (code ${code})`;
}

/** Folds the 16 bytes of an IPv6 address (as four big-endian 32-bit words) into the 32-bit key the probe tag mixes in. */
export function foldIpv6(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0 ^ 0x2545f491, 0xcc9e2d51);
  h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ w1;
  h = Math.imul((h << 13) | (h >>> 19), 0xcc9e2d51) ^ w2;
  h = Math.imul((h << 15) | (h >>> 17), 0x1b873593) ^ w3;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}
