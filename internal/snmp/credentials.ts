/**
 * SNMP credentials: the ordered list the enricher tries per device, their stable ids (what the
 * state remembers; never the secret) and their validation. Community rules and messages are the
 * Go netscan's (docs/go-parity.md, "SNMP community"); unlike Go, every problem is reported, never only the first.
 */

/** v1 or v2c: a community string. */
export interface SnmpCommunityCredential {
  /** Protocol version. */
  readonly version: '1' | '2c';
  /** Community string (a secret: never logged). */
  readonly community: string;
  /** Stable id remembered per device; default `v2c#<index>` / `v1#<index>`. */
  readonly name?: string;
}

/** Authentication digests accepted for v3 (RFC 3414 SHA-1, RFC 7860 SHA-2). MD5 is refused. */
export type SnmpAuthProtocol = 'sha' | 'sha224' | 'sha256' | 'sha384' | 'sha512';

/** Privacy ciphers accepted for v3 (RFC 3826 AES-128 CFB). DES is refused. */
export type SnmpPrivProtocol = 'aes';

/** v3 user-based security (authNoPriv or authPriv). */
export interface SnmpV3Credential {
  /** Protocol version. */
  readonly version: '3';
  /** USM user name. */
  readonly user: string;
  /** Security level. */
  readonly level: 'authNoPriv' | 'authPriv';
  /** Authentication digest. */
  readonly authProtocol: SnmpAuthProtocol;
  /** Authentication passphrase, at least 8 characters (RFC 3414 §11.2; a secret). */
  readonly authKey: string;
  /** Privacy cipher; required for authPriv. */
  readonly privProtocol?: SnmpPrivProtocol;
  /** Privacy passphrase, at least 8 characters; required for authPriv (a secret). */
  readonly privKey?: string;
  /** SNMPv3 context name (default empty). */
  readonly context?: string;
  /** Stable id remembered per device; default `v3:<user>`. */
  readonly name?: string;
}

/** One credential of the ordered list. */
export type SnmpCredential = SnmpCommunityCredential | SnmpV3Credential;

/** A credential with its stable id. */
export interface IdentifiedCredential {
  /** What the state stores as `SnmpInfo.credentialId`. */
  readonly id: string;
  /** The credential. */
  readonly credential: SnmpCredential;
}

/** The id remembered for the credential at `index`: its name, else `v3:<user>`, else `v2c#<index>`. */
export function credentialId(cred: SnmpCredential, index: number): string {
  if (cred.name !== undefined && cred.name !== '') return cred.name;
  return cred.version === '3' ? `v3:${cred.user}` : `v${cred.version}#${index}`;
}

/** Pairs every credential with its id, in order. */
export function identifyCredentials(creds: readonly SnmpCredential[]): IdentifiedCredential[] {
  return creds.map((credential, i) => ({ id: credentialId(credential, i), credential }));
}

/** Community strings Go rejects outright (docs/go-parity.md, "SNMP community checks"). */
const weakCommunities = new Set(['private', 'admin', 'password', '123456', 'community']);
const authProtocols: readonly SnmpAuthProtocol[] = ['sha', 'sha224', 'sha256', 'sha384', 'sha512'];
const privProtocols: readonly SnmpPrivProtocol[] = ['aes'];
/** RFC 3414 §11.2: passphrases shorter than 8 octets must be refused (snmpd refuses them too). */
const minKeyLength = 8;

/** Problems found in one community string, with the Go netscan's exact wording. */
export interface CommunityCheck {
  /** Error text, if the community is unusable. */
  readonly error?: string;
  /** Warning text (only for `public`). */
  readonly warning?: string;
}

/**
 * 1-based position of the first character outside Go's `[A-Za-z0-9._-]`, or 0. Messages give the
 * position, never the character or the value: they must not reveal any part of the secret.
 */
export function badCommunityCharPosition(community: string): number {
  return [...community].findIndex((c) => !/[A-Za-z0-9._-]/.test(c)) + 1;
}

/** Checks a community exactly as Go's ValidateConfig does (docs/go-parity.md), without its early return. */
export function checkCommunity(community: string): CommunityCheck {
  if (community === '') return { error: 'snmp community string cannot be empty' };
  if (community.length > 32) {
    return { error: `snmp community string too long (max 32 characters), got ${community.length} characters` };
  }
  const bad = badCommunityCharPosition(community);
  if (bad > 0) return { error: `snmp community string contains an invalid character at position ${bad}` };
  if (weakCommunities.has(community)) {
    return { error: 'snmp community string is a common default value and should be changed for security' };
  }
  if (community === 'public')
    return { warning: "WARNING: Using default SNMP community 'public' - consider changing for security" };
  return {};
}

/** Every problem in a credential list, each as `path: message`. */
export interface CredentialProblems {
  /** Fatal problems. */
  readonly errors: string[];
  /** Advice that does not stop the agent. */
  readonly warnings: string[];
}

/**
 * Validates an ordered credential list for the config loader. `path` prefixes each message
 * (`snmp.credentials[2].auth_key: ...`); ids must be unique because the state stores them.
 */
export function validateCredentials(creds: readonly SnmpCredential[], path = 'snmp.credentials'): CredentialProblems {
  const errors: string[] = [];
  const warnings: string[] = [];
  if (creds.length === 0) errors.push(`${path}: at least one credential is required`);
  const seen = new Map<string, number>();
  creds.forEach((cred, i) => {
    const at = `${path}[${i}]`;
    const id = credentialId(cred, i);
    const first = seen.get(id);
    if (first !== undefined)
      errors.push(`${at}: duplicate credential id '${id}' (same as ${path}[${first}]; set a distinct name)`);
    else seen.set(id, i);
    if (cred.version === '1' || cred.version === '2c') {
      const c = checkCommunity(cred.community);
      if (c.error !== undefined) errors.push(`${at}.community: ${c.error}`);
      if (c.warning !== undefined) warnings.push(`${at}.community: ${c.warning}`);
      return;
    }
    if (cred.version !== '3') {
      errors.push(
        `${at}.version: unknown SNMP version '${String((cred as { version: unknown }).version)}' (allowed: 1, 2c, 3)`,
      );
      return;
    }
    if (cred.user === '') errors.push(`${at}.user: SNMPv3 user name cannot be empty`);
    if (cred.user.length > 32)
      errors.push(`${at}.user: SNMPv3 user name too long (max 32 characters), got ${cred.user.length}`);
    if (cred.level !== 'authNoPriv' && cred.level !== 'authPriv') {
      errors.push(`${at}.level: must be authNoPriv or authPriv, got '${String(cred.level)}'`);
    }
    if (!authProtocols.includes(cred.authProtocol)) {
      errors.push(
        `${at}.auth_protocol: must be one of ${authProtocols.join(', ')}, got '${String(cred.authProtocol)}'`,
      );
    }
    if (cred.authKey.length < minKeyLength) {
      errors.push(`${at}.auth_key: must be at least ${minKeyLength} characters (RFC 3414), got ${cred.authKey.length}`);
    }
    if (cred.level === 'authPriv') {
      if (cred.privProtocol === undefined || !privProtocols.includes(cred.privProtocol)) {
        errors.push(
          `${at}.priv_protocol: authPriv needs one of ${privProtocols.join(', ')}, got '${String(cred.privProtocol ?? '')}'`,
        );
      }
      if ((cred.privKey ?? '').length < minKeyLength) {
        errors.push(
          `${at}.priv_key: authPriv needs a key of at least ${minKeyLength} characters, got ${(cred.privKey ?? '').length}`,
        );
      }
    }
  });
  return { errors, warnings };
}
