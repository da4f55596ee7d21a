/** Semantic checks of SNMP credentials: communities (the Go netscan's rules) and SNMPv3 users. */
import { badCommunityCharPosition } from '../../internal/snmp/credentials.js';
import { line, obj, str, type Findings, type Raw } from './findings.js';

const weakCommunities = new Set(['private', 'admin', 'password', '123456', 'community']);

function checkCommunity(path: string, value: unknown, f: Findings): void {
  const s = str(value);
  if (s === undefined) return;
  const allowed = '1 to 32 characters from A-Z a-z 0-9 . _ -';
  if (s === '')
    return void f.errors.push(
      line(path, 'snmp community string cannot be empty (an unset environment variable expands to "")', '""', allowed),
    );
  if (s.length > 32)
    return void f.errors.push(
      line(path, `snmp community string too long (max 32 characters)`, `${s.length} characters`, allowed),
    );
  const bad = badCommunityCharPosition(s);
  if (bad > 0)
    return void f.errors.push(
      line(path, `snmp community string contains an invalid character at position ${bad}`, undefined, allowed),
    );
  if (weakCommunities.has(s))
    return void f.errors.push(
      line(
        path,
        'snmp community string is a common default value and should be changed for security',
        '[redacted]',
        'a community that is not a well-known default',
      ),
    );
  if (s === 'public')
    f.warnings.push(line(path, "using the default SNMP community 'public'; consider changing it for security"));
}

/** `snmp.community` and every `snmp.credentials` entry, when SNMP is enabled. */
export function checkSnmp(raw: Raw, f: Findings): void {
  const snmp = obj(raw.snmp);
  if (!snmp || snmp.enabled === false) return;
  const creds = Array.isArray(snmp.credentials) ? snmp.credentials : [];
  if (snmp.community === undefined && creds.length === 0) {
    f.errors.push(
      line(
        'snmp.community',
        'is required when SNMP is enabled',
        'nothing',
        'a community string, or snmp.credentials, or snmp.enabled: false',
      ),
    );
  }
  checkCommunity('snmp.community', snmp.community, f);
  creds.forEach((c, i) => {
    const cred = obj(c);
    if (!cred) return;
    const p = `snmp.credentials[${i}]`;
    const version = String(cred.version ?? '2c');
    if (version === '3') {
      if (!str(cred.username))
        f.errors.push(line(`${p}.username`, 'is required for SNMPv3', 'nothing', 'a USM user name'));
      const level = str(cred.security_level) ?? (cred.priv_key ? 'authPriv' : 'authNoPriv');
      if ((str(cred.auth_key) ?? '').length < 8) {
        f.errors.push(
          line(
            `${p}.auth_key`,
            `is required for ${level} and must have at least 8 characters`,
            '[redacted]',
            'a key of 8 or more characters',
          ),
        );
      }
      if (level === 'authPriv' && (str(cred.priv_key) ?? '').length < 8) {
        f.errors.push(
          line(
            `${p}.priv_key`,
            'is required for authPriv and must have at least 8 characters',
            '[redacted]',
            'a key of 8 or more characters',
          ),
        );
      }
    } else if (cred.community === undefined) {
      f.errors.push(line(`${p}.community`, `is required for SNMP v${version}`, 'nothing', 'a community string'));
    } else {
      checkCommunity(`${p}.community`, cred.community, f);
    }
  });
}
