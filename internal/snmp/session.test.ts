import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Snmpd, silentUdpPort } from '../testkit/snmpd.js';
import { SnmpSim } from '../testkit/snmp-sim.js';
import type { SnmpCredential, SnmpV3Credential } from './credentials.js';
import { NetSnmpSession, scrubSecrets, type SnmpGetResult } from './session.js';
import { systemOidList, toSnmpInfo } from './system-info.js';

// Real Debian snmpd on a loopback port; run-tests.mjs runs this file inside a private namespace.
let snmpd: Snmpd;
const session = new NetSnmpSession();
const sha256Priv: SnmpV3Credential = {
  version: '3',
  user: 'ops256',
  level: 'authPriv',
  authProtocol: 'sha256',
  authKey: 'auth-pass-256',
  privProtocol: 'aes',
  privKey: 'priv-pass-256',
};
const shaAuth: SnmpV3Credential = {
  version: '3',
  user: 'opssha',
  level: 'authNoPriv',
  authProtocol: 'sha',
  authKey: 'auth-pass-sha',
};

before(async () => {
  snmpd = await Snmpd.start({
    community: 'n3tscan-ro',
    users: [
      { user: 'ops256', authProtocol: 'SHA-256', authKey: 'auth-pass-256', privKey: 'priv-pass-256' },
      { user: 'opssha', authProtocol: 'SHA', authKey: 'auth-pass-sha' },
    ],
    sysName: 'core-sw1',
    sysLocation: 'lab rack 4',
    sysContact: 'noc@example.invalid',
    sysObjectId: '1.3.6.1.4.1.8072.3.2.10',
    sysDescr: 'Linux test 6.1',
  });
});

after(async () => {
  await snmpd?.stop();
});

function get(
  credential: SnmpCredential,
  opts: { port?: number; timeoutMs?: number; signal?: AbortSignal; ip?: string } = {},
): Promise<SnmpGetResult> {
  return session.get({
    ip: opts.ip ?? '127.0.0.1',
    port: opts.port ?? snmpd.port,
    credential,
    oids: systemOidList,
    timeoutMs: opts.timeoutMs ?? 1_000,
    retries: 0,
    signal: opts.signal ?? new AbortController().signal,
  });
}

function info(r: SnmpGetResult, id = 'x') {
  assert.ok(r.ok, `expected an answer, got ${JSON.stringify(r)}`);
  return toSnmpInfo(r.values, id);
}

test('reads the six system objects in one v2c GET', async () => {
  const i = info(await get({ version: '2c', community: 'n3tscan-ro' }), 'v2c#0');
  assert.equal(i.sysName, 'core-sw1');
  assert.equal(i.sysDescr, 'Linux test 6.1');
  assert.equal(i.sysObjectId, '1.3.6.1.4.1.8072.3.2.10');
  assert.equal(i.sysLocation, 'lab rack 4');
  assert.equal(i.sysContact, 'noc@example.invalid');
  assert.equal(typeof i.sysUptimeS, 'number');
  assert.equal(i.credentialId, 'v2c#0');
});

test('reads over v1 too', async () => {
  assert.equal(info(await get({ version: '1', community: 'n3tscan-ro' })).sysName, 'core-sw1');
});

test('a wrong community gets no answer at all and is classified as a timeout', async () => {
  const r = await get({ version: '2c', community: 'not-the-one' }, { timeoutMs: 250 });
  assert.deepEqual(r.ok ? 'answered' : r.failure, 'timeout');
});

test('reads over v3 authPriv with SHA-256 and AES-128', async () => {
  assert.equal(info(await get(sha256Priv)).sysName, 'core-sw1');
});

test('reads over v3 authNoPriv with SHA-1', async () => {
  assert.equal(info(await get(shaAuth)).sysName, 'core-sw1');
});

test('a wrong v3 auth key is refused at once as an auth failure', async () => {
  const r = await get({ ...sha256Priv, authKey: 'wrong-auth-key' }, { timeoutMs: 5_000 });
  assert.ok(!r.ok);
  assert.equal(r.failure, 'auth');
  assert.match(r.detail, /Wrong Digest/);
});

test('an unknown v3 user is refused as an auth failure', async () => {
  const r = await get({ ...shaAuth, user: 'nobody' }, { timeoutMs: 5_000 });
  assert.ok(!r.ok);
  assert.equal(r.failure, 'auth');
  assert.match(r.detail, /Unknown User Name/);
});

test('a v3 user asking below its required security level is refused as an auth failure', async () => {
  const r = await get(
    { version: '3', user: 'ops256', level: 'authNoPriv', authProtocol: 'sha256', authKey: 'auth-pass-256' },
    { timeoutMs: 5_000 },
  );
  assert.ok(!r.ok);
  assert.equal(r.failure, 'auth');
});

test('a wrong v3 privacy key is silently dropped by snmpd, so it times out', async () => {
  const r = await get({ ...sha256Priv, privKey: 'wrong-priv-key' }, { timeoutMs: 250 });
  assert.ok(!r.ok);
  assert.equal(r.failure, 'timeout');
});

test('a port where nothing answers times out', async () => {
  const dead = await silentUdpPort();
  const r = await get({ version: '2c', community: 'n3tscan-ro' }, { port: dead.port, timeoutMs: 250 });
  await dead.close();
  assert.ok(!r.ok);
  assert.equal(r.failure, 'timeout');
});

test('aborting the signal ends a silent query at once as a timeout', async () => {
  const ac = new AbortController();
  const pending = get({ version: '2c', community: 'not-the-one' }, { timeoutMs: 60_000, signal: ac.signal });
  ac.abort();
  const r = await pending;
  assert.ok(!r.ok);
  assert.equal(r.failure, 'timeout');
  assert.match(r.detail, /deadline/);
});

test(
  'answers for every 127.x address when bound inside the test namespace',
  { skip: process.env.NETSCAN_TEST_NETNS !== '1' && 'needs the private namespace of run-tests.mjs' },
  async () => {
    assert.equal(info(await get({ version: '2c', community: 'n3tscan-ro' }, { ip: '127.3.2.1' })).sysName, 'core-sw1');
  },
);

test('NUL-padded and non-UTF-8 sysDescr from snmpd is cleaned, not rejected', async () => {
  const bytes = Buffer.concat([
    Buffer.from('RouterOS\tv7 '),
    Buffer.from([0xff, 0xfe]),
    Buffer.from('x'),
    Buffer.alloc(24),
  ]);
  const padded = await Snmpd.start({ sysDescrBytes: bytes });
  try {
    const r = await session.get({
      ip: '127.0.0.1',
      port: padded.port,
      credential: { version: '2c', community: padded.community },
      oids: systemOidList,
      timeoutMs: 1_000,
      retries: 0,
      signal: new AbortController().signal,
    });
    assert.ok(r.ok);
    const raw = r.values[0];
    assert.ok(raw?.type === 'octets' && raw.value.equals(bytes), 'snmpd really sends the NUL padding');
    assert.equal(toSnmpInfo(r.values, 'x').sysDescr, 'RouterOS v7 \uFFFD\uFFFDx');
  } finally {
    await padded.stop();
  }
});

test('an oversized sysDescr served by snmpd (pass script, 4 KiB) is capped at 1024 bytes', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'netscan-pass-'));
  const script = join(dir, 'sysdescr.sh');
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      'if [ "$1" = "-g" ] && [ "$2" = ".1.3.6.1.2.1.1.1.0" ]; then',
      '  echo .1.3.6.1.2.1.1.1.0; echo string; head -c 65536 /dev/zero | tr "\\000" D; echo',
      'fi',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const big = await Snmpd.start({ extraConfig: [`pass -p 10 .1.3.6.1.2.1.1.1 /bin/sh ${script}`] });
  try {
    const r = await session.get({
      ip: '127.0.0.1',
      port: big.port,
      credential: { version: '2c', community: big.community },
      oids: systemOidList,
      timeoutMs: 1_000,
      retries: 0,
      signal: new AbortController().signal,
    });
    assert.ok(r.ok, JSON.stringify(r));
    const raw = r.values[0];
    assert.ok(
      raw?.type === 'octets' && raw.value.length > 1024,
      `snmpd served ${raw?.type === 'octets' ? raw.value.length : raw?.type} bytes`,
    );
    const descr = toSnmpInfo(r.values, 'x').sysDescr;
    assert.equal(Buffer.byteLength(descr), 1024);
    assert.match(descr, /^D+\.\.\.$/);
  } finally {
    await big.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a 65,000-byte sysDescr (the most one UDP datagram can carry) is received and capped', async () => {
  // snmpd's config and pass buffers stop near 4 KiB; net-snmp's own agent sends any size.
  const sim = await SnmpSim.start({
    values: { sysDescr: Buffer.alloc(65_000, 0x45), sysName: Buffer.from('sim\0\0\0\0') },
  });
  try {
    const r = await session.get({
      ip: '127.0.0.1',
      port: sim.port,
      credential: { version: '2c', community: sim.community },
      oids: systemOidList,
      timeoutMs: 2_000,
      retries: 0,
      signal: new AbortController().signal,
    });
    assert.ok(r.ok, JSON.stringify(r));
    assert.equal(r.values[0]?.type === 'octets' ? r.values[0].value.length : 0, 65_000);
    const i = toSnmpInfo(r.values, 'x');
    assert.equal(Buffer.byteLength(i.sysDescr), 1024);
    assert.equal(i.sysName, 'sim');
  } finally {
    await sim.stop();
  }
});

test('failure details never carry a community or a v3 key', () => {
  const msg = "Community 'S3cret' in request does not match community 'TheirS3cret' in response";
  assert.equal(
    scrubSecrets(msg, { version: '2c', community: 'S3cret' }),
    "Community '[redacted]' in request does not match community '[redacted]' in response",
  );
  assert.equal(
    scrubSecrets('bad key auth-pass-256 / priv-pass-256', {
      version: '3',
      user: 'u',
      level: 'authPriv',
      authProtocol: 'sha256',
      authKey: 'auth-pass-256',
      privProtocol: 'aes',
      privKey: 'priv-pass-256',
    }),
    'bad key [redacted] / [redacted]',
  );
  assert.equal(scrubSecrets('Request timed out', { version: '2c', community: 'public' }), 'Request timed out');
});
