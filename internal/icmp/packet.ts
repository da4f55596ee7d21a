/**
 * ICMPv4 echo codec (RFC 792). The engine writes requests into one reusable buffer and reads
 * replies in place, so the hot path allocates nothing per packet.
 *
 * Echo payload layout written by netscan (after the 8-byte ICMP header):
 *
 *     0..7    engine nonce: 8 random bytes chosen at engine start (rejects other processes' replies)
 *     8..11   probe serial: 32-bit counter, unique per probe of this engine (rejects late/reused seqs)
 *     12..15  probe tag: keyed hash of (serial, target, id, seq) with a secret that never leaves
 *             the process (rejects forged or cross-wired replies)
 *     16..    zero padding up to the configured payload size
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

/**
 * Writes an echo request (header, stamp, zero padding, checksum) at the start of `buf`, which must
 * already be zero beyond the stamp; returns the ICMP message length in bytes.
 */
export function writeEchoRequest(buf: Buffer, f: EchoRequestFields, payloadBytes: number): number {
  const length = ECHO_HEADER_BYTES + payloadBytes;
  buf[0] = ICMP_ECHO_REQUEST;
  buf[1] = 0;
  buf.writeUInt16BE(0, 2);
  buf.writeUInt16BE(f.id, 4);
  buf.writeUInt16BE(f.seq, 6);
  buf.writeUInt32BE(f.nonceHi, 8);
  buf.writeUInt32BE(f.nonceLo, 12);
  buf.writeUInt32BE(f.serial, 16);
  buf.writeUInt32BE(f.tag, 20);
  buf.writeUInt16BE(internetChecksum(buf, 0, length), 2);
  return length;
}

/** What {@link parseIcmpV4} found in one datagram; reused between calls to avoid allocation. */
export interface IcmpV4View {
  /** ICMP type of the outer message. */
  type: number;
  /** ICMP code of the outer message. */
  code: number;
  /** Echo identifier: of the reply, or of the original request embedded in an error. */
  id: number;
  /** Echo sequence: of the reply, or of the original request embedded in an error. */
  seq: number;
  /** Destination of the original request embedded in an error (u32); 0 for replies. */
  originalDst: number;
  /** Offset in the buffer of the probe stamp (reply payload, or embedded request payload). */
  stampOffset: number;
  /** Bytes of the stamp present (0..16); errors may quote fewer than 16 bytes. */
  stampBytes: number;
  /** True when the outer ICMP checksum verifies. */
  checksumOk: boolean;
}

/** Returns a fresh view to pass to {@link parseIcmpV4}. */
export function newIcmpV4View(): IcmpV4View {
  return { type: -1, code: 0, id: 0, seq: 0, originalDst: 0, stampOffset: 0, stampBytes: 0, checksumOk: false };
}

/**
 * Parses an IPv4 datagram as read from a raw ICMP socket (IP header included). Returns true and
 * fills `out` for echo replies and for destination-unreachable / time-exceeded errors that quote
 * an echo request; returns false for anything else (truncated, other types, non-echo errors).
 */
export function parseIcmpV4(buf: Buffer, length: number, out: IcmpV4View): boolean {
  if (length < 20 || buf[0]! >> 4 !== 4 || buf[9] !== IPPROTO_ICMP) return false;
  const ihl = (buf[0]! & 0x0f) * 4;
  if (ihl < 20 || length < ihl + ECHO_HEADER_BYTES) return false;
  const type = buf[ihl]!;
  out.type = type;
  out.code = buf[ihl + 1]!;
  if (type === ICMP_ECHO_REPLY) {
    out.id = buf.readUInt16BE(ihl + 4);
    out.seq = buf.readUInt16BE(ihl + 6);
    out.originalDst = 0;
    out.stampOffset = ihl + ECHO_HEADER_BYTES;
    out.stampBytes = Math.max(0, Math.min(PROBE_STAMP_BYTES, length - out.stampOffset));
    out.checksumOk = internetChecksum(buf, ihl, length - ihl) === 0;
    return true;
  }
  if (type !== ICMP_DEST_UNREACHABLE && type !== ICMP_TIME_EXCEEDED) return false;
  // RFC 792: the error quotes the original IP header plus at least 64 bits of its data.
  const inner = ihl + ECHO_HEADER_BYTES;
  if (length < inner + 20 || buf[inner]! >> 4 !== 4 || buf[inner + 9] !== IPPROTO_ICMP) return false;
  const innerIhl = (buf[inner]! & 0x0f) * 4;
  const innerIcmp = inner + innerIhl;
  if (innerIhl < 20 || length < innerIcmp + ECHO_HEADER_BYTES || buf[innerIcmp] !== ICMP_ECHO_REQUEST) return false;
  out.id = buf.readUInt16BE(innerIcmp + 4);
  out.seq = buf.readUInt16BE(innerIcmp + 6);
  out.originalDst = buf.readUInt32BE(inner + 16);
  out.stampOffset = innerIcmp + ECHO_HEADER_BYTES;
  out.stampBytes = Math.max(0, Math.min(PROBE_STAMP_BYTES, length - out.stampOffset));
  out.checksumOk = internetChecksum(buf, ihl, length - ihl) === 0;
  return true;
}

/** Human-readable name of an ICMP error, for the `detail` of an unreachable outcome. */
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
