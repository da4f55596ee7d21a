/**
 * Builders for ICMP messages and the IP headers they travel in (IPv4 and IPv6), for the fake ICMP
 * socket, the forged-reply tests and the delayed echo responder.
 */
import { formatIpv4, parseIpv4 } from '../icmp/ipv4.js';
import { ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, IPPROTO_ICMP, internetChecksum } from '../icmp/packet.js';
import {
  ICMP6_DEST_UNREACHABLE,
  ICMP6_ECHO_REPLY,
  ICMP6_ECHO_REQUEST,
  IPPROTO_ICMPV6,
  IPV6_HEADER_BYTES,
} from '../icmp/packet6.js';
import { parseIpv6 } from '../net/ipv6.js';

function ipU32(ip: string): number {
  const v = parseIpv4(ip);
  if (v === undefined) throw new TypeError(`not an IPv4 address: ${ip}`);
  return v;
}

/** Wraps an ICMP message in a 20-byte IPv4 header (checksum filled in). */
export function ipv4Datagram(opts: { src: string; dst: string; icmp: Buffer; ttl?: number; id?: number }): Buffer {
  const out = Buffer.alloc(20 + opts.icmp.length);
  out[0] = 0x45;
  out.writeUInt16BE(out.length, 2);
  out.writeUInt16BE(opts.id ?? 0, 4);
  out[8] = opts.ttl ?? 64;
  out[9] = IPPROTO_ICMP;
  out.writeUInt32BE(ipU32(opts.src), 12);
  out.writeUInt32BE(ipU32(opts.dst), 16);
  out.writeUInt16BE(internetChecksum(out, 0, 20), 10);
  opts.icmp.copy(out, 20);
  return out;
}

/** Changes to apply when turning a request into a reply (to forge wrong ones). */
export interface ReplyTweaks {
  /** Overrides the identifier. */
  id?: number;
  /** Overrides the sequence number. */
  seq?: number;
  /** XORs this value into the first payload byte (breaks the nonce). */
  corruptNonce?: number;
  /** XORs this value into the last stamp byte (breaks the tag). */
  corruptTag?: number;
  /** Leaves the checksum wrong. */
  badChecksum?: boolean;
  /** XORs 0x01 into the payload byte at this offset (0 = first stamp byte; 16 = first padding byte). */
  flipPayloadByte?: number;
  /** Keeps only this many payload bytes (cut short, as a broken or hostile responder may). */
  truncatePayloadTo?: number;
  /** Appends these bytes to the payload. */
  extraPayload?: Buffer;
}

/** An ICMP echo reply message (no IP header) answering the ICMP echo request `request`. */
export function echoReplyMessage(request: Buffer, tweaks: ReplyTweaks = {}): Buffer {
  let reply = Buffer.from(request);
  const v6 = request[0] === ICMP6_ECHO_REQUEST;
  if (tweaks.truncatePayloadTo !== undefined) reply = reply.subarray(0, 8 + tweaks.truncatePayloadTo);
  if (tweaks.extraPayload !== undefined) reply = Buffer.concat([reply, tweaks.extraPayload]);
  reply[0] = v6 ? ICMP6_ECHO_REPLY : ICMP_ECHO_REPLY;
  reply[1] = 0;
  if (tweaks.flipPayloadByte !== undefined)
    reply[8 + tweaks.flipPayloadByte] = reply[8 + tweaks.flipPayloadByte]! ^ 0x01;
  if (tweaks.id !== undefined) reply.writeUInt16BE(tweaks.id, 4);
  if (tweaks.seq !== undefined) reply.writeUInt16BE(tweaks.seq, 6);
  if (tweaks.corruptNonce !== undefined && reply.length > 8) reply[8] = reply[8]! ^ tweaks.corruptNonce;
  if (tweaks.corruptTag !== undefined && reply.length > 23) reply[23] = reply[23]! ^ tweaks.corruptTag;
  reply.writeUInt16BE(0, 2);
  // ICMPv6 checksums cover a pseudo-header; the kernel computes and verifies them, so the fake leaves 0.
  const sum = v6 ? 0 : internetChecksum(reply, 0, reply.length);
  reply.writeUInt16BE(tweaks.badChecksum ? sum ^ 0x5a5a : sum, 2);
  return reply;
}

/** A 40-byte IPv6 header (next header ICMPv6) followed by `icmp`. */
export function ipv6Datagram(opts: { src: string; dst: string; icmp: Buffer; hopLimit?: number }): Buffer {
  const out = Buffer.alloc(IPV6_HEADER_BYTES + opts.icmp.length);
  out[0] = 0x60;
  out.writeUInt16BE(opts.icmp.length, 4);
  out[6] = IPPROTO_ICMPV6;
  out[7] = opts.hopLimit ?? 64;
  out.set(ipv6Bytes(opts.src), 8);
  out.set(ipv6Bytes(opts.dst), 24);
  opts.icmp.copy(out, IPV6_HEADER_BYTES);
  return out;
}

/** The 16 bytes of an IPv6 address; throws on anything else. */
export function ipv6Bytes(ip: string): Uint8Array {
  const b = parseIpv6(ip);
  if (b === undefined) throw new TypeError(`not an IPv6 address: ${ip}`);
  return b;
}

/**
 * An ICMPv6 error message (destination unreachable by default; RFC 4443) quoting the IPv6 header of
 * the original request (from `origSrc` to `origDst`) and `quoteBytes` of its ICMPv6 message.
 */
export function unreachable6Message(opts: {
  request: Buffer;
  origSrc: string;
  origDst: string;
  type?: number;
  code?: number;
  quoteBytes?: number;
}): Buffer {
  const quoted = ipv6Datagram({ src: opts.origSrc, dst: opts.origDst, icmp: opts.request }).subarray(
    0,
    IPV6_HEADER_BYTES + (opts.quoteBytes ?? opts.request.length),
  );
  const msg = Buffer.alloc(8 + quoted.length);
  msg[0] = opts.type ?? ICMP6_DEST_UNREACHABLE;
  msg[1] = opts.code ?? 3;
  quoted.copy(msg, 8);
  return msg;
}

/**
 * An ICMP destination-unreachable message (no outer IP header) quoting the IP header of the
 * original request (from `origSrc` to `origDst`) and `quoteBytes` of its ICMP message.
 */
export function unreachableMessage(opts: {
  request: Buffer;
  origSrc: string;
  origDst: string;
  code?: number;
  quoteBytes?: number;
}): Buffer {
  const quoted = ipv4Datagram({ src: opts.origSrc, dst: opts.origDst, icmp: opts.request }).subarray(
    0,
    20 + (opts.quoteBytes ?? opts.request.length),
  );
  const msg = Buffer.alloc(8 + quoted.length);
  msg[0] = ICMP_DEST_UNREACHABLE;
  msg[1] = opts.code ?? 1;
  quoted.copy(msg, 8);
  msg.writeUInt16BE(internetChecksum(msg, 0, msg.length), 2);
  return msg;
}

/** Reads identifier and sequence of an ICMP echo message (no IP header). */
export function echoIdSeq(icmp: Buffer): { id: number; seq: number } {
  return { id: icmp.readUInt16BE(4), seq: icmp.readUInt16BE(6) };
}

/** Source and destination of an IPv4 datagram, dotted. */
export function datagramAddresses(datagram: Buffer): { src: string; dst: string } {
  return { src: formatIpv4(datagram.readUInt32BE(12)), dst: formatIpv4(datagram.readUInt32BE(16)) };
}
