import type { SnmpInfo } from '../model/device.js';
import { sanitizeString } from '../model/points.js';
import type { SnmpValue } from './session.js';

/**
 * The system group (RFC 3418) in one GET, numeric OIDs (Debian ships no MIB files), and the
 * conversion of what came back into a sanitised {@link SnmpInfo}.
 */

/** Numeric OIDs of the six system-group scalars, in the order they are requested. */
export const systemOids = {
  sysDescr: '1.3.6.1.2.1.1.1.0',
  sysObjectId: '1.3.6.1.2.1.1.2.0',
  sysUpTime: '1.3.6.1.2.1.1.3.0',
  sysContact: '1.3.6.1.2.1.1.4.0',
  sysName: '1.3.6.1.2.1.1.5.0',
  sysLocation: '1.3.6.1.2.1.1.6.0',
} as const;

/** The request's OID list (one GET PDU: Telegraf issue #3784 shows the cost of one per field). */
export const systemOidList: readonly string[] = Object.values(systemOids);

/** Longest string kept from an agent, in UTF-8 bytes (Go parity: 1024). */
export const defaultMaxStringBytes = 1024;

/**
 * Makes an agent's OctetString safe: trailing NUL padding dropped (Go rejected such agents
 * outright, docs/go-parity.md), bytes that are not UTF-8 replaced by U+FFFD, control characters
 * removed (tab/CR/LF runs become one space), whitespace trimmed, and the result cut to
 * `maxBytes` UTF-8 bytes at a character boundary, ending in `...` when cut.
 */
export function sanitizeSnmpString(raw: Buffer | string, maxBytes = defaultMaxStringBytes): string {
  let text: string;
  if (typeof raw === 'string') {
    text = raw;
  } else {
    let end = raw.length;
    while (end > 0 && raw[end - 1] === 0) end--;
    // TextDecoder without `fatal` substitutes U+FFFD for every malformed sequence (WHATWG Encoding).
    text = utf8.decode(raw.subarray(0, end));
  }
  return sanitizeString(text, maxBytes);
}

const utf8 = new TextDecoder('utf-8', { fatal: false, ignoreBOM: false });

function text(v: SnmpValue | undefined, maxBytes: number): string {
  if (v === undefined) return '';
  switch (v.type) {
    case 'octets':
      return sanitizeSnmpString(v.value, maxBytes);
    case 'oid':
    case 'other':
      return sanitizeSnmpString(v.value, maxBytes);
    case 'number':
      return String(v.value);
    case 'missing':
      return '';
  }
}

/** True when the GET answered but not one of the requested objects exists. */
export function allMissing(values: readonly SnmpValue[]): boolean {
  return values.every((v) => v.type === 'missing');
}

/**
 * Builds the stored info from values returned in {@link systemOidList} order. Missing objects
 * become empty strings (an empty sysName leaves the hostname as the IP) or an undefined uptime.
 */
export function toSnmpInfo(
  values: readonly SnmpValue[],
  credentialId: string,
  maxBytes = defaultMaxStringBytes,
): SnmpInfo {
  const at = (oid: string): SnmpValue | undefined => values[systemOidList.indexOf(oid)];
  const up = at(systemOids.sysUpTime);
  const oid = at(systemOids.sysObjectId);
  return {
    sysName: text(at(systemOids.sysName), maxBytes),
    sysDescr: text(at(systemOids.sysDescr), maxBytes),
    sysObjectId: oid?.type === 'oid' && /^\d+(\.\d+)*$/.test(oid.value) ? oid.value : text(oid, maxBytes),
    sysLocation: text(at(systemOids.sysLocation), maxBytes),
    sysContact: text(at(systemOids.sysContact), maxBytes),
    // TimeTicks are hundredths of a second (RFC 2578 §7.1.8).
    sysUptimeS: up?.type === 'number' && up.value >= 0 ? Math.floor(up.value / 100) : undefined,
    credentialId,
  };
}
