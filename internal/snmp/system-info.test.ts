import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fakeValues } from '../testkit/fake-snmp.js';
import type { SnmpValue } from './session.js';
import { allMissing, sanitizeSnmpString, systemOidList, toSnmpInfo } from './system-info.js';

test('requests the six system objects by numeric OID, without a leading dot', () => {
  assert.deepEqual(systemOidList, [
    '1.3.6.1.2.1.1.1.0',
    '1.3.6.1.2.1.1.2.0',
    '1.3.6.1.2.1.1.3.0',
    '1.3.6.1.2.1.1.4.0',
    '1.3.6.1.2.1.1.5.0',
    '1.3.6.1.2.1.1.6.0',
  ]);
});

const cases: Array<[string, Buffer | string, string]> = [
  ['plain text is kept', Buffer.from('core-sw1'), 'core-sw1'],
  ['trailing NUL padding is trimmed (Go rejected the whole answer)', Buffer.from('Cisco IOS\0\0\0\0'), 'Cisco IOS'],
  ['embedded NULs and other controls are removed', Buffer.from('Dev\0ice\x07Name\x1b'), 'DeviceName'],
  ['tab, CR and LF runs become one space', Buffer.from('Linux 6.1\r\n#1 SMP\tx86_64'), 'Linux 6.1 #1 SMP x86_64'],
  ['bytes that are not UTF-8 become U+FFFD', Buffer.from([0x41, 0xc3, 0x28, 0x42, 0xff]), 'A\uFFFD(B\uFFFD'],
  ['valid UTF-8 survives', Buffer.from('Zürich – Rack 7', 'utf8'), 'Zürich – Rack 7'],
  ['C1 controls and DEL are removed', 'a\u0085b\u007fc', 'abc'],
  ['surrounding whitespace is trimmed', Buffer.from('  spaced  \0'), 'spaced'],
  ['all NULs is empty', Buffer.alloc(8), ''],
];

for (const [name, input, expected] of cases) {
  test(`sanitising: ${name}`, () => {
    assert.equal(sanitizeSnmpString(input), expected);
  });
}

test('a 64 KiB value is capped at 1024 UTF-8 bytes without splitting a character', () => {
  const out = sanitizeSnmpString(Buffer.from('é'.repeat(32 * 1024), 'utf8'));
  assert.ok(Buffer.byteLength(out) <= 1024);
  assert.ok(Buffer.byteLength(out) >= 1020);
  assert.match(out, /^é+\.\.\.$/);
  assert.equal(sanitizeSnmpString(Buffer.alloc(64 * 1024, 0x41), 100), 'A'.repeat(97) + '...');
});

test('builds the info from the values in request order, with uptime in whole seconds', () => {
  const info = toSnmpInfo(
    fakeValues({
      sysDescr: Buffer.from('Linux\0'),
      sysObjectId: '1.3.6.1.4.1.8072.3.2.10',
      sysUpTimeTicks: 360_099,
      sysContact: 'noc',
      sysName: 'sw1',
      sysLocation: 'rack 1',
    }),
    'v3:ops',
  );
  assert.deepEqual(info, {
    sysName: 'sw1',
    sysDescr: 'Linux',
    sysObjectId: '1.3.6.1.4.1.8072.3.2.10',
    sysLocation: 'rack 1',
    sysContact: 'noc',
    sysUptimeS: 3600,
    credentialId: 'v3:ops',
  });
});

test('missing objects become empty strings and an undefined uptime', () => {
  const values = fakeValues({ sysDescr: 'only this' });
  assert.equal(allMissing(values), false);
  assert.deepEqual(toSnmpInfo(values, 'v2c#0'), {
    sysName: '',
    sysDescr: 'only this',
    sysObjectId: '',
    sysLocation: '',
    sysContact: '',
    sysUptimeS: undefined,
    credentialId: 'v2c#0',
  });
  assert.equal(allMissing(fakeValues({})), true);
});

test('values of an unexpected type are rendered as text, never thrown on', () => {
  const odd: SnmpValue[] = [
    { type: 'number', value: 42 },
    { type: 'octets', value: Buffer.from('not an oid') },
    { type: 'octets', value: Buffer.from('x') },
    { type: 'other', value: '127.0.0.1' },
    { type: 'oid', value: '1.2.3' },
    { type: 'missing' },
  ];
  assert.deepEqual(toSnmpInfo(odd, 'id'), {
    sysName: '1.2.3',
    sysDescr: '42',
    sysObjectId: 'not an oid',
    sysLocation: '',
    sysContact: '127.0.0.1',
    sysUptimeS: undefined,
    credentialId: 'id',
  });
});
