import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../clock/clock.js';
import type { Point, PointSink } from '../model/point.js';
import { FakeSnmpState } from '../testkit/fake-snmp.js';
import { silentLogger } from '../testkit/logger.js';
import { Snmpd, silentUdpPort } from '../testkit/snmpd.js';
import type { SnmpCredential, SnmpV3Credential } from './credentials.js';
import { SnmpEnricher, type SnmpEnricherOptions } from './enricher.js';
import { NetSnmpSession, type SnmpGetRequest, type SnmpGetResult, type SnmpSession } from './session.js';

// The enricher over the real net-snmp session against a real snmpd, on the real clock (net-snmp's
// own timers are real). Waits poll for a state change; nothing asserts a duration.
let snmpd: Snmpd;
const ops: SnmpV3Credential = {
  version: '3',
  user: 'ops256',
  level: 'authPriv',
  authProtocol: 'sha256',
  authKey: 'auth-pass-256',
  privProtocol: 'aes',
  privKey: 'priv-pass-256',
  name: 'ops',
};

before(async () => {
  snmpd = await Snmpd.start({
    community: 'n3tscan-ro',
    users: [{ user: 'ops256', authProtocol: 'SHA-256', authKey: 'auth-pass-256', privKey: 'priv-pass-256' }],
    sysName: 'edge-rtr',
    sysDescrBytes: Buffer.concat([Buffer.from('EdgeOS 2.0'), Buffer.alloc(16)]),
  });
});

after(async () => {
  await snmpd?.stop();
});

class ArraySink implements PointSink {
  readonly points: Point[] = [];
  write(p: Point): number {
    this.points.push(p);
    return 0;
  }
}

/** Records which credential each GET used, then forwards to the real session. */
class SpySession implements SnmpSession {
  readonly used: string[] = [];
  readonly #inner = new NetSnmpSession();
  get(req: SnmpGetRequest): Promise<SnmpGetResult> {
    const c = req.credential;
    this.used.push(c.version === '3' ? `v3:${c.user}:${c.authKey}` : `v${c.version}:${c.community}`);
    return this.#inner.get(req);
  }
}

async function until(cond: () => boolean, what: string): Promise<void> {
  const end = systemClock.now() + 10_000;
  while (!cond()) {
    if (systemClock.now() > end) throw new Error(`timed out waiting for ${what}`);
    await systemClock.sleep(10);
  }
}

function make(credentials: SnmpCredential[], opts: Partial<SnmpEnricherOptions> = {}) {
  const state = new FakeSnmpState(systemClock);
  const sink = new ArraySink();
  const session = new SpySession();
  const enricher = new SnmpEnricher(
    { clock: systemClock, session, state, sink, logger: silentLogger() },
    {
      credentials,
      port: snmpd.port,
      timeoutMs: 200,
      deadlineMs: 3_000,
      intervalMs: 3_600_000,
      ratePerSec: 100,
      burst: 100,
      ...opts,
    },
  );
  return { state, sink, session, enricher };
}

test('falls back through a wrong community and a wrong v3 key to the right v3 user, then remembers it', async () => {
  const wrongKey: SnmpV3Credential = { ...ops, authKey: 'not-the-auth-key', name: 'ops-old-key' };
  const r = make([{ version: '2c', community: 'wrong-one' }, wrongKey, ops]);
  r.state.add('127.0.0.1');
  await r.enricher.start();
  try {
    r.enricher.enqueue('127.0.0.1');
    await until(() => r.sink.points.length === 1, 'the first device_info point');
    assert.deepEqual(r.session.used, ['v2c:wrong-one', 'v3:ops256:not-the-auth-key', 'v3:ops256:auth-pass-256']);
    const info = r.state.get('127.0.0.1')?.snmp;
    assert.equal(info?.credentialId, 'ops');
    assert.equal(info?.sysName, 'edge-rtr');
    assert.equal(info?.sysDescr, 'EdgeOS 2.0', 'NUL padding trimmed instead of failing the device as Go did');
    assert.deepEqual(r.sink.points[0]?.fields['hostname'], { type: 'string', value: 'edge-rtr' });
    r.enricher.enqueue('127.0.0.1');
    await until(() => r.sink.points.length === 2, 'the second device_info point');
    assert.deepEqual(r.session.used.slice(3), ['v3:ops256:auth-pass-256']);
    const s = r.enricher.stats();
    assert.equal(s.successesTotal, 2);
    assert.equal(s.attemptsTotal, 4);
    assert.equal(s.devicesEnriched, 1);
  } finally {
    await r.enricher.stop();
  }
});

test('a wrong community alone is a counted timeout failure and writes nothing', async () => {
  const r = make([{ version: '2c', community: 'wrong-one' }]);
  r.state.add('127.0.0.1');
  await r.enricher.start();
  try {
    r.enricher.enqueue('127.0.0.1');
    await until(() => r.enricher.stats().failuresByClass.timeout === 1, 'the timeout');
    assert.equal(r.state.failures.get('127.0.0.1'), 1);
    assert.equal(r.sink.points.length, 0);
  } finally {
    await r.enricher.stop();
  }
});

test('a wrong v3 key is a counted auth failure', async () => {
  const r = make([{ ...ops, authKey: 'not-the-auth-key' }]);
  r.state.add('127.0.0.1');
  await r.enricher.start();
  try {
    r.enricher.enqueue('127.0.0.1');
    await until(() => r.enricher.stats().failuresByClass.auth === 1, 'the auth failure');
  } finally {
    await r.enricher.stop();
  }
});

test('a dead port trips the breaker after snmp_max_consecutive_fails', async () => {
  const dead = await silentUdpPort();
  const r = make([{ version: '2c', community: 'n3tscan-ro' }], {
    port: dead.port,
    timeoutMs: 100,
    deadlineMs: 150,
    intervalMs: 50,
    maxConsecutiveFails: 3,
    backoffMs: 3_600_000,
  });
  r.state.add('127.0.0.1');
  await r.enricher.start();
  try {
    r.enricher.enqueue('127.0.0.1');
    await until(() => r.enricher.stats().breakerTripsTotal === 1, 'the breaker');
    const s = r.enricher.stats();
    assert.equal(s.failuresByClass.timeout, 3);
    assert.equal(s.devicesSuspended, 1);
    assert.equal(r.state.isSnmpSuspended('127.0.0.1'), true);
  } finally {
    await r.enricher.stop();
    await dead.close();
  }
});
