/**
 * ICMP echo codec shared by both families, and the ICMPv4 parser (RFC 792). The engine writes
 * requests into one reusable buffer and reads replies in place from the socket's read batch, so
 * the hot path allocates nothing per packet. Messages start at the ICMP header: sockets deliver
 * no IP header (a raw IPv4 socket's is stripped by the socket layer).
 *
 * Echo payload layout written by netscan (after the 8-byte ICMP header):
 *
 *     0..7    engine nonce: 8 random bytes chosen at engine start (rejects other processes' replies)
 *     8..11   probe serial: 32-bit counter, unique per probe of this engine (rejects late/reused seqs)
 *     12..15  probe tag: keyed hash of (serial, target, id, seq) with a secret that never leaves
 *             the process (rejects forged or cross-wired replies)
 *     16..    padding: payload byte k holds k mod 256, the same in every request, so a reply's
 *             whole payload is checked against the request without keeping a copy per probe
 */

/** ICMP type: echo reply. */
export const ICMP_ECHO_REPLY = 0;
/** ICMP type: destination unreachable. */
export const ICMP_DEST_UNREACHABLE = 3;
/** ICMP type: echo request. */
export const ICMP_ECHO_REQUEST = 8;
/** ICMP type: time exceeded. */
export const ICMP_TIME_EXCEEDED = 11;
/** IP protocol number of ICMP. */
export const IPPROTO_ICMP = 1;
/** Bytes of the ICMP echo header (type, code, checksum, identifier, sequence). */
export const ECHO_HEADER_BYTES = 8;
/** Bytes of the netscan probe stamp at the start of the payload (nonce, serial, tag). */
export const PROBE_STAMP_BYTES = 16;
/** Smallest payload the engine accepts, in bytes (the stamp). */
export const MIN_PAYLOAD_BYTES = PROBE_STAMP_BYTES;
/** Largest IPv4 payload that fits a 1500-byte MTU unfragmented (1500 - 20 IP - 8 ICMP), in bytes. */
export const MAX_PAYLOAD_BYTES_V4 = 1472;

/** Internet checksum (RFC 1071) over `length` bytes of `buf` from `offset`. */
export function internetChecksum(buf: Uint8Array, offset: number, length: number): number {
  let sum = 0;
  const end = offset + length - 1;
  let i = offset;
  for (; i < end; i += 2) sum += (buf[i]! << 8) | buf[i + 1]!;
  if (i === end) sum += buf[i]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** Keyed 32-bit mix of a probe's identity (murmur3 finaliser steps); not cryptographic, only unguessable off-path. */
export function probeTag(secret: number, serial: number, ip: number, idSeq: number): number {
  let h = Math.imul(secret ^ serial, 0x9e3779b1);
  h ^= h >>> 15;
  h = Math.imul(h ^ ip, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h ^ idSeq, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fields of one echo request. */
export interface EchoRequestFields {
  /** ICMP identifier (16 bits). */
  id: number;
  /** ICMP sequence number (16 bits). */
  seq: number;
  /** High 32 bits of the engine nonce. */
  nonceHi: number;
  /** Low 32 bits of the engine nonce. */
  nonceLo: number;
  /** Probe serial (32 bits). */
  serial: number;
  /** Probe tag (32 bits). */
  tag: number;
}

/** Writes the padding (payload byte k = k mod 256 from the end of the stamp) once into a request buffer. */
export function writePadding(buf: Buffer, payloadBytes: number): void {
  for (let k = PROBE_STAMP_BYTES; k < payloadBytes; k++) buf[ECHO_HEADER_BYTES + k] = k & 0xff;
}

/**
 * Writes an echo request header and stamp at the start of `buf`, whose padding {@link writePadding}
 * already wrote; returns the ICMP message length in bytes. `type` is 8 (ICMPv4) or 128 (ICMPv6);
 * with `checksum` false the checksum is left 0 for the kernel (ICMPv6, RFC 4443 section 2.3).
 */
export function writeEchoRequest(
  buf: Buffer,
  f: EchoRequestFields,
  payloadBytes: number,
  type = ICMP_ECHO_REQUEST,
  checksum = true,
): number {
  const length = ECHO_HEADER_BYTES + payloadBytes;
  buf[0] = type;
  buf[1] = 0;
  buf.writeUInt16BE(0, 2);
  buf.writeUInt16BE(f.id, 4);
  buf.writeUInt16BE(f.seq, 6);
  buf.writeUInt32BE(f.nonceHi, 8);
  buf.writeUInt32BE(f.nonceLo, 12);
  buf.writeUInt32BE(f.serial, 16);
  buf.writeUInt32BE(f.tag, 20);
  if (checksum) buf.writeUInt16BE(internetChecksum(buf, 0, length), 2);
  return length;
}

/** What a message is, as far as the engine cares. */
export const enum EchoKind {
  /** Not ours to look at: other types, truncated, errors about non-echo traffic. */
  Other = 0,
  /** An echo reply. */
  Reply = 1,
  /** An ICMP error quoting an echo request. */
  Error = 2,
}

/** What a parser found in one message; reused between calls to avoid allocation. */
export interface EchoView {
  /** {@link EchoKind} of the message. */
  kind: EchoKind;
  /** ICMP type of the outer message. */
  type: number;
  /** ICMP code of the outer message. */
  code: number;
  /** Echo identifier: of the reply, or of the original request quoted by an error. */
  id: number;
  /** Echo sequence: of the reply, or of the original request quoted by an error. */
  seq: number;
  /** Errors: offset in the buffer of the quoted request's destination address (4 or 16 bytes). */
  dstOffset: number;
  /** Offset in the buffer of the probe stamp (reply payload, or quoted request payload). */
  stampOffset: number;
  /** Bytes of the stamp present (0..16); errors may quote fewer than 16 bytes. */
  stampBytes: number;
  /** True when the outer checksum verifies, or was not checked (the kernel verified it). */
  checksumOk: boolean;
}

/** Returns a fresh view to pass to the parsers. */
export function newEchoView(): EchoView {
  return {
    kind: EchoKind.Other,
    type: -1,
    code: 0,
    id: 0,
    seq: 0,
    dstOffset: 0,
    stampOffset: 0,
    stampBytes: 0,
    checksumOk: false,
  };
}

/**
 * Parses the ICMPv4 message at `buf[offset .. offset + length)`: echo replies, and
 * destination-unreachable / time-exceeded errors quoting an IPv4 header and an echo request.
 * Verifies the checksum when `verifyChecksum` (raw sockets; a datagram socket's kernel already did).
 */
export function parseIcmpV4(
  buf: Buffer,
  offset: number,
  length: number,
  out: EchoView,
  verifyChecksum: boolean,
): EchoKind {
  out.kind = EchoKind.Other;
  if (length < ECHO_HEADER_BYTES) return EchoKind.Other;
  const type = buf[offset]!;
  out.type = type;
  out.code = buf[offset + 1]!;
  if (type === ICMP_ECHO_REPLY) {
    out.id = buf.readUInt16BE(offset + 4);
    out.seq = buf.readUInt16BE(offset + 6);
    out.dstOffset = 0;
    out.stampOffset = offset + ECHO_HEADER_BYTES;
    out.stampBytes = Math.min(PROBE_STAMP_BYTES, length - ECHO_HEADER_BYTES);
    out.checksumOk = !verifyChecksum || internetChecksum(buf, offset, length) === 0;
    return (out.kind = EchoKind.Reply);
  }
  if (type !== ICMP_DEST_UNREACHABLE && type !== ICMP_TIME_EXCEEDED) return EchoKind.Other;
  // RFC 792: the error quotes the original IP header plus at least 64 bits of its data.
  const inner = offset + ECHO_HEADER_BYTES;
  const end = offset + length;
  if (end < inner + 20 || buf[inner]! >> 4 !== 4 || buf[inner + 9] !== IPPROTO_ICMP) return EchoKind.Other;
  const innerIhl = (buf[inner]! & 0x0f) * 4;
  const innerIcmp = inner + innerIhl;
  if (innerIhl < 20 || end < innerIcmp + ECHO_HEADER_BYTES || buf[innerIcmp] !== ICMP_ECHO_REQUEST)
    return EchoKind.Other;
  out.id = buf.readUInt16BE(innerIcmp + 4);
  out.seq = buf.readUInt16BE(innerIcmp + 6);
  out.dstOffset = inner + 16;
  out.stampOffset = innerIcmp + ECHO_HEADER_BYTES;
  out.stampBytes = Math.max(0, Math.min(PROBE_STAMP_BYTES, end - out.stampOffset));
  out.checksumOk = !verifyChecksum || internetChecksum(buf, offset, length) === 0;
  return (out.kind = EchoKind.Error);
}

/** Human-readable name of an ICMPv4 error, for the `detail` of an unreachable outcome. */
export function icmpErrorDetail(type: number, code: number): string {
  if (type === ICMP_TIME_EXCEEDED) return code === 0 ? 'ttl exceeded in transit' : 'fragment reassembly time exceeded';
  const names: Record<number, string> = {
    0: 'network unreachable',
    1: 'host unreachable',
    2: 'protocol unreachable',
    3: 'port unreachable',
    4: 'fragmentation needed',
    5: 'source route failed',
    6: 'destination network unknown',
    7: 'destination host unknown',
    9: 'network administratively prohibited',
    10: 'host administratively prohibited',
    11: 'network unreachable for tos',
    12: 'host unreachable for tos',
    13: 'communication administratively prohibited',
  };
  return names[code] ?? `destination unreachable (code ${code})`;
}
