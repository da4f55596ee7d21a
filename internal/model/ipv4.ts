/**
 * IPv4 address helpers shared by the ICMP engine, the sweep's CIDR module and the device index.
 * Addresses are unsigned 32-bit integers in host order (127.0.0.1 = 0x7f000001).
 */

/**
 * Parses a dotted-quad IPv4 address strictly (four decimal octets 0-255, no leading zeros,
 * no whitespace) and returns it as an unsigned 32-bit integer, or undefined when invalid.
 * Only the canonical spelling is accepted, so every value has exactly one string.
 */
export function parseIpv4(text: string): number | undefined {
  const len = text.length;
  if (len < 7 || len > 15) return undefined;
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < len; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || dots === 3) return undefined;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      // A leading zero would be read as octal by inet_aton(3); reject it rather than guess.
      if (digits === 1 && octet === 0) return undefined;
      octet = octet * 10 + (c - 48);
      if (octet > 255) return undefined;
      digits++;
    } else {
      return undefined;
    }
  }
  if (digits === 0 || dots !== 3) return undefined;
  return value * 256 + octet;
}

/** Formats an unsigned 32-bit address as a dotted quad. */
export function formatIpv4(value: number): string {
  return `${(value >>> 24) & 255}.${(value >>> 16) & 255}.${(value >>> 8) & 255}.${value & 255}`;
}
