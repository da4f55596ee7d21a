import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCommunity, credentialId, validateCredentials, type SnmpCredential } from './credentials.js';

test('community checks use the Go netscan wording without ever quoting the community', () => {
  const table: Array<[string, ReturnType<typeof checkCommunity>]> = [
    ['n3tscan-ro', {}],
    ['', { error: 'snmp community string cannot be empty' }],
    ['a'.repeat(33), { error: 'snmp community string too long (max 32 characters), got 33 characters' }],
    ['pa$$word', { error: 'snmp community string contains an invalid character at position 3' }],
    ['private', { error: 'snmp community string is a common default value and should be changed for security' }],
    ['123456', { error: 'snmp community string is a common default value and should be changed for security' }],
    ['public', { warning: "WARNING: Using default SNMP community 'public' - consider changing for security" }],
  ];
  for (const [community, expected] of table) assert.deepEqual(checkCommunity(community), expected, community);
});

test('ids name the credential without its secret', () => {
  assert.equal(credentialId({ version: '2c', community: 'secret' }, 3), 'v2c#3');
  assert.equal(credentialId({ version: '1', community: 'secret' }, 0), 'v1#0');
  assert.equal(
    credentialId({ version: '3', user: 'ops', level: 'authNoPriv', authProtocol: 'sha', authKey: 'k'.repeat(8) }, 1),
    'v3:ops',
  );
  assert.equal(credentialId({ version: '2c', community: 'secret', name: 'campus' }, 0), 'campus');
});

test('validation reports every problem of every credential, and public only as a warning', () => {
  const creds = [
    { version: '2c', community: 'public' },
    { version: '2c', community: 'admin' },
    {
      version: '3',
      user: '',
      level: 'authPriv',
      authProtocol: 'md5',
      authKey: 'short',
      privProtocol: 'des',
      privKey: '',
    },
    { version: '3', user: 'ops', level: 'authNoPriv', authProtocol: 'sha256', authKey: 'long-enough' },
    { version: '3', user: 'ops', level: 'authNoPriv', authProtocol: 'sha', authKey: 'long-enough' },
  ] as SnmpCredential[];
  assert.deepEqual(validateCredentials(creds), {
    errors: [
      'snmp.credentials[1].community: snmp community string is a common default value and should be changed for security',
      'snmp.credentials[2].user: SNMPv3 user name cannot be empty',
      "snmp.credentials[2].auth_protocol: must be one of sha, sha224, sha256, sha384, sha512, got 'md5'",
      'snmp.credentials[2].auth_key: must be at least 8 characters (RFC 3414), got 5',
      "snmp.credentials[2].priv_protocol: authPriv needs one of aes, got 'des'",
      'snmp.credentials[2].priv_key: authPriv needs a key of at least 8 characters, got 0',
      "snmp.credentials[4]: duplicate credential id 'v3:ops' (same as snmp.credentials[3]; set a distinct name)",
    ],
    warnings: [
      "snmp.credentials[0].community: WARNING: Using default SNMP community 'public' - consider changing for security",
    ],
  });
  assert.deepEqual(validateCredentials([]).errors, ['snmp.credentials: at least one credential is required']);
});
