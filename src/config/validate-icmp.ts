/** Semantic checks of the ICMP socket options: source addresses, interface and TOS byte. */
import { parseIpv4 } from '../../internal/icmp/ipv4.js';
import { parseIpv6 } from '../../internal/net/ipv6.js';
import { line, num, str, type Findings, type Raw } from './findings.js';

/** Linux IFNAMSIZ (16) less the terminating NUL. */
const MAX_INTERFACE_NAME = 15;

/** `icmp_source_ipv4`, `icmp_source_ipv6`, `icmp_interface` and `icmp_tos`. */
export function checkIcmp(raw: Raw, f: Findings): void {
  const v4 = str(raw.icmp_source_ipv4);
  if (v4 !== undefined && v4 !== '') {
    const allowed = 'an IPv4 address of this host, or "" for the routing table\'s choice';
    const n = parseIpv4(v4);
    if (n === undefined) f.errors.push(line('icmp_source_ipv4', 'is not an IPv4 address', JSON.stringify(v4), allowed));
    else if (n === 0 || n >= 0xe0000000)
      f.errors.push(line('icmp_source_ipv4', 'must be a unicast address', JSON.stringify(v4), allowed));
  }
  const v6 = str(raw.icmp_source_ipv6);
  if (v6 !== undefined && v6 !== '') {
    const allowed = 'an IPv6 address of this host, or "" for the routing table\'s choice';
    const b = parseIpv6(v6);
    if (b === undefined) f.errors.push(line('icmp_source_ipv6', 'is not an IPv6 address', JSON.stringify(v6), allowed));
    else if (b[0] === 0xff || b.every((x) => x === 0))
      f.errors.push(line('icmp_source_ipv6', 'must be a unicast address', JSON.stringify(v6), allowed));
  }
  const dev = str(raw.icmp_interface);
  // The kernel's dev_valid_name(): at most 15 bytes, not "." or "..", no '/', ':' or whitespace.
  if (
    dev !== undefined &&
    dev !== '' &&
    (Buffer.byteLength(dev) > MAX_INTERFACE_NAME || dev === '.' || dev === '..' || /[/:\s]/.test(dev))
  ) {
    f.errors.push(
      line(
        'icmp_interface',
        'is not a valid interface name',
        JSON.stringify(dev),
        `a name of 1 to ${MAX_INTERFACE_NAME} bytes without "/", ":" or spaces, such as "eth0", or ""`,
      ),
    );
  }
  const tos = num(raw.icmp_tos);
  // RFC 3168: the low two bits of the TOS byte are ECN, which a sender does not set for a non-ECN-capable probe.
  if (tos !== undefined && Number.isInteger(tos) && tos >= 0 && tos <= 255 && (tos & 3) !== 0) {
    f.warnings.push(
      line(
        'icmp_tos',
        `sets the ECN bits (${tos & 3}); a DSCP goes in the upper six bits (DSCP x 4, e.g. 184 for EF)`,
        String(tos),
      ),
    );
  }
}
