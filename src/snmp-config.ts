import type { SnmpCredential } from '../internal/snmp/credentials.js';
import type { Config } from './config/schema.js';

/**
 * The ordered credential list the enricher tries: `snmp.community` first (Go parity), then
 * `snmp.credentials` in the order written.
 */
export function snmpCredentials(snmp: NonNullable<Config['snmp']>): SnmpCredential[] {
  const out: SnmpCredential[] = [];
  if (snmp.community !== undefined && snmp.community !== '')
    out.push({ version: snmp.version, community: snmp.community, name: 'community' });
  snmp.credentials.forEach((c, i) => {
    const name = c.name ?? `credential ${i + 1}`;
    if (c.version === '3') {
      const level = c.security_level ?? (c.priv_key ? 'authPriv' : 'authNoPriv');
      out.push({
        version: '3',
        name,
        user: c.username ?? '',
        level,
        authProtocol: c.auth_protocol,
        authKey: c.auth_key ?? '',
        ...(level === 'authPriv' ? { privProtocol: c.priv_protocol, privKey: c.priv_key ?? '' } : {}),
      });
    } else {
      out.push({ version: c.version, community: c.community ?? '', name });
    }
  });
  return out;
}
