/**
 * IPv6 address text (RFC 4291 section 2.2) to 16 bytes and back, in the canonical form of
 * RFC 5952: lower case, no leading zeros, the longest run of two or more zero groups shown as
 * `::` (the first such run on a tie), and IPv4-mapped addresses with a dotted tail. Tags, line
 * protocol and logs carry this form, so one host always has one spelling.
 */
import { formatIpv4, parseIpv4 } from '../icmp/ipv4.js';

/** Address family of a text address. */
export type IpFamily = 'ipv4' | 'ipv6';

/**
 * Parses IPv6 text into 16 bytes, strictly: hex groups of 1-4 digits, at most one `::`, an
 * optional dotted IPv4 tail in the last 32 bits, no zone index (`%eth0`), no brackets.
 * Returns undefined when the text is not an IPv6 address.
 */
export function parseIpv6(text: string, out: Uint8Array = new Uint8Array(16)): Uint8Array | undefined {
  if (text.length < 2 || text.length > 45) return undefined;
  return writeIpv6(text, text.length, out, 0) ? out : undefined;
}

const groups = new Uint16Array(8);

/**
 * Writes the 16 bytes of the IPv6 address `text[0..end)` (the syntax {@link parseIpv6} takes)
 * into `out[offset..offset+16)` without allocating (but for a dotted IPv4 tail); returns false,
 * leaving `out` untouched, when it is not one. `end` lets a caller stop before a zone (`%eth0`).
 */
export function writeIpv6(text: string, end: number, out: Uint8Array, offset: number): boolean {
  let k = 0;
  let ng = 0;
  let gap = -1;
  if (end >= 2 && text.charCodeAt(0) === 58 && text.charCodeAt(1) === 58) {
    gap = 0;
    k = 2;
  } else if (end === 0 || text.charCodeAt(0) === 58) {
    return false;
  }
  while (k < end) {
    const start = k;
    let value = 0;
    let digits = 0;
    for (; k < end; k++) {
      const h = hexDigit(text.charCodeAt(k));
      if (h < 0) break;
      value = value * 16 + h;
      digits++;
    }
    if (k < end && text.charCodeAt(k) === 46 /* . */) {
      // Dotted IPv4 tail: only as the last 32 bits.
      if (ng > 6) return false;
      const v4 = parseIpv4(text.slice(start, end));
      if (v4 === undefined) return false;
      groups[ng++] = v4 >>> 16;
      groups[ng++] = v4 & 0xffff;
      break;
    }
    if (digits === 0 || digits > 4 || ng === 8) return false;
    groups[ng++] = value;
    if (k === end) break;
    if (text.charCodeAt(k) !== 58 /* : */) return false;
    k++;
    if (k < end && text.charCodeAt(k) === 58) {
      if (gap >= 0) return false;
      gap = ng;
      k++;
    } else if (k === end) {
      return false;
    }
  }
  if (gap < 0 ? ng !== 8 : ng > 7) return false;
  out.fill(0, offset, offset + 16);
  const head = gap < 0 ? ng : gap;
  for (let g = 0; g < head; g++) {
    out[offset + 2 * g] = groups[g]! >>> 8;
    out[offset + 2 * g + 1] = groups[g]! & 0xff;
  }
  const tail = ng - head;
  for (let t = 0; t < tail; t++) {
    const g = 8 - tail + t;
    out[offset + 2 * g] = groups[head + t]! >>> 8;
    out[offset + 2 * g + 1] = groups[head + t]! & 0xff;
  }
  return true;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** The unsigned big-endian 32-bit word of address bytes at `offset` (network byte order). */
export function wordAt(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset]! << 24) | (bytes[offset + 1]! << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!) >>> 0;
}

/** Formats 16 bytes (from `offset`) as canonical IPv6 text (RFC 5952). */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  const g = new Array<number>(8);
  for (let k = 0; k < 8; k++) g[k] = (bytes[offset + 2 * k]! << 8) | bytes[offset + 2 * k + 1]!;
  // RFC 5952 section 5: IPv4-mapped addresses keep the dotted tail.
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIpv4(wordAt(bytes, offset + 12))}`;
  }
  let bestAt = -1;
  let bestLen = 1;
  for (let k = 0; k < 8;) {
    if (g[k] !== 0) {
      k++;
      continue;
    }
    let e = k;
    while (e < 8 && g[e] === 0) e++;
    if (e - k > bestLen) {
      bestAt = k;
      bestLen = e - k;
    }
    k = e;
  }
  const hex = (from: number, to: number): string =>
    g
      .slice(from, to)
      .map((v) => v.toString(16))
      .join(':');
  if (bestAt < 0) return hex(0, 8);
  return `${hex(0, bestAt)}::${hex(bestAt + bestLen, 8)}`;
}

/** Family of a text address, or undefined when it is neither dotted IPv4 nor IPv6. */
export function ipFamily(text: string): IpFamily | undefined {
  if (parseIpv4(text) !== undefined) return 'ipv4';
  if (parseIpv6(text) !== undefined) return 'ipv6';
  return undefined;
}

/** The canonical text of an address (dotted quad, or RFC 5952 IPv6), or undefined when not an address. */
export function canonicalIp(text: string): string | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) return formatIpv4(v4);
  const v6 = parseIpv6(text);
  return v6 === undefined ? undefined : formatIpv6(v6);
}

/**
 * The address a host is pinged at: {@link canonicalIp}, except that an IPv4-mapped IPv6 address
 * (`::ffff:a.b.c.d`, RFC 4291 section 2.5.5.2) is the IPv4 address it carries. ICMPv6 cannot reach
 * a mapped address (the kernel answers ENETUNREACH), and the IPv4 host it names is one device.
 */
export function hostIp(text: string): string | undefined {
  const ip = canonicalIp(text);
  return ip !== undefined && ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/**
 * Writes `text` as address bytes into `out` at `offset` (4 bytes for IPv4, 16 for IPv6); returns
 * the family, or undefined when `text` is not an address.
 */
export function ipBytes(text: string, out: Uint8Array, offset = 0): IpFamily | undefined {
  const v4 = parseIpv4(text);
  if (v4 !== undefined) {
    out[offset] = v4 >>> 24;
    out[offset + 1] = (v4 >>> 16) & 0xff;
    out[offset + 2] = (v4 >>> 8) & 0xff;
    out[offset + 3] = v4 & 0xff;
    return 'ipv4';
  }
  const v6 = parseIpv6(text);
  if (v6 === undefined) return undefined;
  out.set(v6, offset);
  return 'ipv6';
}
