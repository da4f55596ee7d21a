import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Point, PointSink } from '../model/point.js';
import { hasCode } from '../errors/errors.js';
import { DeviceStore } from '../state/device-store.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { FakeSnmpSession, FakeSnmpState, type FakeAgent } from '../testkit/fake-snmp.js';
import { captureLogger, silentLogger } from '../testkit/logger.js';
import type { Logger } from '../log/log.js';
import type { SnmpCredential } from './credentials.js';
import { SnmpEnricher, type SnmpDeviceState, type SnmpEnricherOptions } from './enricher.js';
import type { SnmpSession } from './session.js';

const T0 = 1_700_000_000_000;
const S = 1_000;
const v2c = (community: string): SnmpCredential => ({ version: '2c', community });
const good = v2c('good-one');

class ArraySink implements PointSink {
  readonly points: Point[] = [];
  write(p: Point): number {
    this.points.push(p);
    return 0;
  }
}

interface Rig {
  clock: FakeClock;
  session: FakeSnmpSession;
  state: FakeSnmpState;
  sink: ArraySink;
  enricher: SnmpEnricher;
}

function rig(opts: Partial<SnmpEnricherOptions> = {}, extra: { session?: SnmpSession; logger?: Logger } = {}): Rig {
  const clock = new FakeClock(T0);
  const session = new FakeSnmpSession({ clock });
  const state = new FakeSnmpState(clock);
  const sink = new ArraySink();
  const enricher = new SnmpEnricher(
    { clock, session: extra.session ?? session, state, sink, logger: extra.logger ?? silentLogger() },
    {
      credentials: [good],
      timeoutMs: 1 * S,
      deadlineMs: 2 * S,
      intervalMs: 60 * S,
      ratePerSec: 1000,
      burst: 1000,
      maxInFlight: 1000,
      ...opts,
    },
  );
  return { clock, session, state, sink, enricher };
}

const agent = (over: Partial<FakeAgent> = {}): FakeAgent => ({
  values: {
    sysName: 'sw1',
    sysDescr: 'Switch OS 1.0',
    sysObjectId: '1.3.6.1.4.1.9.1.1',
    sysUpTimeTicks: 123_456,
    sysLocation: 'rack 1',
    sysContact: 'noc',
  },
  accepts: (c) => c.version === '2c' && c.community === 'good-one',
  ...over,
});

function device(r: Rig, ip: string, a?: FakeAgent): void {
  r.state.add(ip);
  if (a !== undefined) r.session.setAgent(ip, a);
}

const callTimes = (r: Rig, ip: string): number[] => r.session.calls.filter((c) => c.ip === ip).map((c) => c.atMs - T0);

test('enriches a device right after enqueue and writes one device_info point', async () => {
  const r = rig();
  device(r, '127.0.0.2', agent());
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(10);
  assert.equal(r.sink.points.length, 1);
  const p = r.sink.points[0]!;
  assert.equal(p.measurement, 'device_info');
  assert.deepEqual(p.tags, { ip: '127.0.0.2' });
  assert.deepEqual(p.fields, {
    hostname: { type: 'string', value: 'sw1' },
    snmp_description: { type: 'string', value: 'Switch OS 1.0' },
    sys_object_id: { type: 'string', value: '1.3.6.1.4.1.9.1.1' },
    sys_location: { type: 'string', value: 'rack 1' },
    sys_contact: { type: 'string', value: 'noc' },
    sys_uptime_s: { type: 'int', value: 1234 },
  });
  assert.equal(p.timeMs, T0 + 1);
  assert.equal(r.state.get('127.0.0.2')?.snmp?.credentialId, 'v2c#0');
  const s = r.enricher.stats();
  assert.equal(s.devicesEnriched, 1);
  assert.equal(s.queriesTotal, 1);
  assert.equal(s.successesTotal, 1);
  assert.equal(s.pointsWrittenTotal, 1);
  await r.enricher.stop();
});

test('an empty sysName leaves the hostname as the IP', async () => {
  const r = rig();
  device(r, '127.0.0.3', agent({ values: { sysName: '\0\0\0', sysDescr: 'x' } }));
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.3');
  await r.clock.advanceAsync(10);
  assert.deepEqual(r.sink.points[0]?.fields['hostname'], { type: 'string', value: '127.0.0.3' });
  assert.equal(r.state.get('127.0.0.3')?.hostname, '127.0.0.3');
  await r.enricher.stop();
});

test('re-enriches every interval, timed from the previous start', async () => {
  const r = rig({ intervalMs: 60 * S });
  device(r, '127.0.0.2', agent({ latencyMs: 300 }));
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(200 * S);
  assert.deepEqual(callTimes(r, '127.0.0.2'), [0, 60 * S, 120 * S, 180 * S]);
  await r.enricher.stop();
});

test('tries credentials in order and remembers the one that answered', async () => {
  const v3: SnmpCredential = {
    version: '3',
    user: 'ops',
    level: 'authNoPriv',
    authProtocol: 'sha256',
    authKey: 'secret-secret',
  };
  const r = rig({ credentials: [v3, v2c('wrong-one'), good], timeoutMs: 1 * S, deadlineMs: 5 * S });
  device(r, '127.0.0.2', agent());
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(5 * S);
  const used = r.session.calls.map((c) => (c.credential.version === '3' ? 'v3' : c.credential.community));
  assert.deepEqual(used, ['v3', 'wrong-one', 'good-one']);
  assert.equal(r.state.get('127.0.0.2')?.snmp?.credentialId, 'v2c#2');
  await r.clock.advanceAsync(60 * S);
  assert.deepEqual(
    r.session.calls.slice(3).map((c) => (c.credential.version === '3' ? 'v3' : c.credential.community)),
    ['good-one'],
  );
  await r.enricher.stop();
});

test('a credential remembered in the state before a restart is tried first', async () => {
  const r = rig({ credentials: [v2c('wrong-one'), good] });
  r.state.add('127.0.0.2', {
    snmp: {
      sysName: 'sw1',
      sysDescr: '',
      sysObjectId: '',
      sysLocation: '',
      sysContact: '',
      sysUptimeS: 10,
      credentialId: 'v2c#1',
    },
    lastSnmpMs: T0 - 50 * S,
  });
  r.session.setAgent('127.0.0.2', agent());
  await r.enricher.start();
  r.enricher.track('127.0.0.2');
  await r.clock.advanceAsync(9 * S);
  assert.equal(r.session.callCount, 0, 'restored devices wait for last success + interval');
  await r.clock.advanceAsync(2 * S);
  assert.deepEqual(
    r.session.calls.map((c) => [c.atMs - T0, c.credential.version === '3' ? '' : c.credential.community]),
    [[10 * S, 'good-one']],
  );
  await r.enricher.stop();
});

test('a remembered credential that stops answering is forgotten, so a rotated community is found next round', async () => {
  // One silent credential uses the whole deadline (timeout 5 s x 2 tries = 10 s deadline).
  const r = rig({ credentials: [v2c('old-comm'), v2c('new-comm')], timeoutMs: 5 * S, retries: 1, deadlineMs: 10 * S });
  let accepted = 'old-comm';
  device(r, '127.0.0.2', agent({ accepts: (c) => c.version === '2c' && c.community === accepted }));
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(1 * S);
  assert.equal(r.sink.points.length, 1);
  accepted = 'new-comm';
  await r.clock.advanceAsync(3 * 60 * S);
  const after = r.session.calls.slice(1).map((c) => (c.credential.version === '3' ? '' : c.credential.community));
  assert.deepEqual(
    after.slice(0, 2),
    ['old-comm', 'new-comm'],
    'the round after the failure starts with the other credential',
  );
  assert.equal(r.sink.points.length, 3, 'enriched again with the new community, then every interval');
  assert.equal(r.state.get('127.0.0.2')?.snmp?.credentialId, 'v2c#1');
  await r.enricher.stop();
});

test('a dead agent costs one deadline, whatever the credential count and retries', async () => {
  const r = rig({
    credentials: [v2c('a-one'), v2c('b-one'), v2c('c-one')],
    timeoutMs: 1 * S,
    retries: 2,
    deadlineMs: 2 * S,
  });
  device(r, '127.0.0.9');
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.9');
  await r.clock.advanceAsync(2 * S - 1);
  assert.equal(r.enricher.stats().inFlight, 1);
  await r.clock.advanceAsync(1);
  const s = r.enricher.stats();
  assert.equal(s.inFlight, 0);
  assert.equal(s.failuresByClass.timeout, 1);
  assert.equal(s.attemptsTotal, 1, 'the first credential used the whole deadline');
  assert.equal(r.state.failures.get('127.0.0.9'), 1);
  assert.equal(r.sink.points.length, 0, 'no point without an answer (Go parity)');
  await r.enricher.stop();
});

test('credentials the deadline cut off go first in the next round', async () => {
  const r = rig({
    credentials: [v2c('a-one'), v2c('b-one'), good],
    timeoutMs: 1 * S,
    deadlineMs: 1500,
    intervalMs: 60 * S,
  });
  device(r, '127.0.0.2', agent());
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(130 * S);
  const rounds = r.session.calls.map(
    (c) => `${(c.atMs - T0) / S}:${c.credential.version === '3' ? '' : c.credential.community}`,
  );
  // Round 1: a times out at 1 s, b is cut at 1.5 s. Round 2 starts with b, then good-one answers.
  assert.deepEqual(rounds.slice(0, 4), ['0:a-one', '1:b-one', '60:b-one', '61:good-one']);
  assert.equal(r.state.get('127.0.0.2')?.snmp?.credentialId, 'v2c#2');
  assert.equal(rounds[4], '120:good-one');
  await r.enricher.stop();
});

test('an answer of any kind is reported over silence: a refused v3 user counts as auth', async () => {
  const v3: SnmpCredential = {
    version: '3',
    user: 'ops',
    level: 'authNoPriv',
    authProtocol: 'sha',
    authKey: 'secret-secret',
  };
  const r = rig({ credentials: [v2c('wrong-one'), v3], deadlineMs: 5 * S });
  device(r, '127.0.0.2', agent({ accepts: () => false }));
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(5 * S);
  assert.deepEqual(r.enricher.stats().failuresByClass, { timeout: 0, auth: 1, no_such: 0, other: 0 });
  await r.enricher.stop();
});

test('an agent with none of the system objects is a no_such failure', async () => {
  const r = rig();
  device(r, '127.0.0.2', agent({ values: {} }));
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(10);
  assert.equal(r.enricher.stats().failuresByClass.no_such, 1);
  assert.equal(r.sink.points.length, 0);
  await r.enricher.stop();
});

test('a failing session is counted as other and the device keeps its schedule', async () => {
  const clock = new FakeClock(T0);
  const happy = new FakeSnmpSession({ clock });
  const failing: SnmpSession = {
    ...happy,
    get: () => Promise.resolve({ ok: false, failure: 'other', detail: 'send EPERM' }),
  };
  const state = new FakeSnmpState(clock);
  state.add('127.0.0.2');
  const e = new SnmpEnricher(
    { clock, session: failing, state, sink: new ArraySink(), logger: silentLogger() },
    { credentials: [good], intervalMs: 60 * S },
  );
  await e.start();
  e.enqueue('127.0.0.2');
  await clock.advanceAsync(61 * S);
  assert.equal(e.stats().failuresByClass.other, 2);
  await e.stop();
});

test('the breaker opens after snmp_max_consecutive_fails and skips the device until the backoff ends', async () => {
  const { logger, lines } = captureLogger('warn');
  const r = rig({ maxConsecutiveFails: 3, intervalMs: 60 * S, backoffMs: 600 * S, deadlineMs: 2 * S }, { logger });
  device(r, '127.0.0.9');
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.9');
  await r.clock.advanceAsync(200 * S);
  assert.deepEqual(callTimes(r, '127.0.0.9'), [0, 60 * S, 120 * S]);
  const s = r.enricher.stats();
  assert.equal(s.breakerTripsTotal, 1);
  assert.equal(s.devicesSuspended, 1);
  assert.equal(lines.filter((l) => /circuit breaker tripped/.test(String(l['msg']))).length, 1);
  // Tripped when the third query ended (121 s): suspended until 721 s.
  await r.clock.advanceAsync(520 * S);
  assert.equal(callTimes(r, '127.0.0.9').length, 3);
  await r.clock.advanceAsync(2 * S);
  assert.deepEqual(callTimes(r, '127.0.0.9'), [0, 60 * S, 120 * S, 721 * S]);
  await r.enricher.stop();
});

test('a device suspended by the state is skipped without a query and counted', async () => {
  const r = rig({ intervalMs: 60 * S, maxConsecutiveFails: 1, backoffMs: 300 * S });
  device(r, '127.0.0.9');
  r.state.recordSnmpFailure('127.0.0.9', 1, 100 * S);
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.9');
  await r.clock.advanceAsync(99 * S);
  assert.equal(r.session.callCount, 0);
  assert.equal(r.enricher.stats().suspendedSkipsTotal, 1);
  await r.clock.advanceAsync(1 * S);
  assert.equal(r.session.callCount, 1);
  await r.enricher.stop();
});

test('sysUpTime going backwards re-enriches early, before the next interval', async () => {
  const r = rig({ intervalMs: 3600 * S, rebootRecheckMs: 60 * S });
  const a = agent();
  device(r, '127.0.0.2', a);
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(3600 * S - 1);
  a.values.sysUpTimeTicks = 500; // the agent restarted: 5 s of uptime
  await r.clock.advanceAsync(2 * S);
  assert.equal(r.enricher.stats().rebootsDetectedTotal, 1);
  await r.clock.advanceAsync(60 * S);
  assert.deepEqual(callTimes(r, '127.0.0.2'), [0, 3600 * S, 3660 * S + 1]);
  a.values.sysUpTimeTicks = 6_600;
  await r.clock.advanceAsync(3600 * S);
  assert.deepEqual(callTimes(r, '127.0.0.2'), [0, 3600 * S, 3660 * S + 1, 7260 * S + 1]);
  assert.equal(r.enricher.stats().rebootsDetectedTotal, 1);
  assert.equal(r.sink.points.length, 4);
  await r.enricher.stop();
});

test('a reboot is also detected against the uptime restored from a snapshot', async () => {
  const r = rig();
  r.state.add('127.0.0.2', {
    snmp: {
      sysName: 'sw1',
      sysDescr: '',
      sysObjectId: '',
      sysLocation: '',
      sysContact: '',
      sysUptimeS: 999_999,
      credentialId: 'v2c#0',
    },
    lastSnmpMs: T0 - 3600 * S,
  });
  r.session.setAgent('127.0.0.2', agent());
  await r.enricher.start();
  r.enricher.track('127.0.0.2');
  await r.clock.advanceAsync(10);
  assert.equal(r.enricher.stats().rebootsDetectedTotal, 1);
  await r.enricher.stop();
});

test('2,000 devices at 500/s take N / rate even when 80% of the agents are dead', async () => {
  const N = 2_000;
  const rate = 500;
  const r = rig({
    ratePerSec: rate,
    burst: 1,
    deadlineMs: 1 * S,
    timeoutMs: 1 * S,
    maxInFlight: 1_000,
    intervalMs: 3600 * S,
  });
  for (let i = 0; i < N; i++) {
    const ip = `127.1.${i >> 8}.${i & 255}`;
    device(r, ip, i % 5 === 0 ? agent({ latencyMs: 5 }) : undefined);
  }
  await r.enricher.start();
  for (let i = 0; i < N; i++) r.enricher.enqueue(`127.1.${i >> 8}.${i & 255}`);
  let doneMs = 0;
  for (let t = 0; t < 30 * S; t += 100) {
    await r.clock.advanceAsync(100);
    const s = r.enricher.stats();
    if (s.successesTotal + s.failuresByClass.timeout === N) {
      doneMs = t + 100;
      break;
    }
  }
  const lastStart = Math.max(...r.session.calls.map((c) => c.atMs - T0));
  const expectLast = ((N - 1) / rate) * S;
  assert.ok(Math.abs(lastStart - expectLast) <= 2, `last query started at ${lastStart} ms, expected ${expectLast}`);
  assert.ok(doneMs > 0 && doneMs <= (N / rate) * S + 1 * S + 100, `finished at ${doneMs} ms`);
  assert.ok(r.session.maxInFlight <= 1_000);
  assert.equal(r.enricher.stats().successesTotal, N / 5);
  await r.enricher.stop();
});

test('the in-flight cap bounds concurrency and, when agents are dead, the rate (cap / deadline)', async () => {
  const r = rig({ ratePerSec: 1_000, burst: 1_000, deadlineMs: 1 * S, timeoutMs: 1 * S, maxInFlight: 10 });
  for (let i = 0; i < 100; i++) device(r, `127.2.0.${i}`);
  await r.enricher.start();
  for (let i = 0; i < 100; i++) r.enricher.enqueue(`127.2.0.${i}`);
  await r.clock.advanceAsync(9_999);
  assert.equal(r.enricher.stats().failuresByClass.timeout, 90);
  assert.equal(r.session.maxInFlight, 10);
  await r.clock.advanceAsync(1);
  assert.equal(r.enricher.stats().failuresByClass.timeout, 100);
  await r.enricher.stop();
});

test('warns at start when max_in_flight cannot sustain the rate while agents time out', async () => {
  const { logger, lines } = captureLogger('warn');
  const r = rig({ ratePerSec: 500, timeoutMs: 2 * S, deadlineMs: 3 * S, maxInFlight: 50 }, { logger });
  await r.enricher.start();
  const w = lines.find((l) => /too small for snmp_rate_limit/.test(String(l['msg'])));
  assert.equal(w?.['dead_agent_rate'], 25);
  await r.enricher.stop();
  const quiet = captureLogger('warn');
  const d = rig(
    { ratePerSec: 10, timeoutMs: 5 * S, deadlineMs: 10 * S, maxInFlight: 50, credentials: [good] },
    { logger: quiet.logger },
  );
  await d.enricher.start();
  assert.deepEqual(quiet.lines, [], 'the defaults (10/s, 5 s timeout, one credential, 50 in flight) are consistent');
  await d.enricher.stop();
});

test('a device removed during its query writes nothing and is forgotten', async () => {
  const r = rig();
  device(r, '127.0.0.2', agent({ latencyMs: 500 }));
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(100);
  r.enricher.onDeviceEvent({ type: 'removed', ip: '127.0.0.2', cause: 'pruned' });
  await r.clock.advanceAsync(120 * S);
  assert.equal(r.sink.points.length, 0);
  assert.equal(r.session.callCount, 1);
  assert.equal(r.enricher.stats().devicesTracked, 0);
  await r.enricher.stop();
});

test('a device that left the state without an event stops being polled', async () => {
  const r = rig({ intervalMs: 60 * S });
  device(r, '127.0.0.2', agent());
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(10);
  r.state.remove('127.0.0.2');
  await r.clock.advanceAsync(200 * S);
  assert.equal(r.session.callCount, 1);
  assert.equal(r.enricher.stats().devicesTracked, 0);
  await r.enricher.stop();
});

test('enqueue during a query runs the device again as soon as it ends, without overlap', async () => {
  const r = rig({ intervalMs: 60 * S });
  device(r, '127.0.0.2', agent({ latencyMs: 500 }));
  await r.enricher.start();
  r.enricher.onDeviceEvent({ type: 'added', ip: '127.0.0.2' });
  await r.clock.advanceAsync(100);
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(2 * S);
  assert.deepEqual(callTimes(r, '127.0.0.2'), [0, 500]);
  assert.equal(r.session.maxInFlight, 1);
  await r.enricher.stop();
});

test('devices queued before start are served once started', async () => {
  const r = rig();
  device(r, '127.0.0.2', agent());
  r.enricher.enqueue('127.0.0.2');
  await r.clock.advanceAsync(10);
  assert.equal(r.session.callCount, 0);
  await r.enricher.start();
  await r.clock.advanceAsync(10);
  assert.equal(r.sink.points.length, 1);
  await r.enricher.stop();
});

test('stop aborts queries in flight, discards their results, and is idempotent and safe before start', async () => {
  const idle = rig();
  device(idle, '127.0.0.2', agent());
  await idle.enricher.stop();
  await idle.enricher.start();
  idle.enricher.enqueue('127.0.0.2');
  await idle.clock.advanceAsync(10 * S);
  assert.equal(idle.session.callCount, 0, 'a stopped enricher does not start again');
  const r = rig({ deadlineMs: 60 * S, timeoutMs: 60 * S });
  device(r, '127.0.0.9');
  await r.enricher.start();
  r.enricher.enqueue('127.0.0.9');
  await r.clock.advanceAsync(10);
  assert.equal(r.session.inFlight, 1);
  const [a, b] = [r.enricher.stop(), r.enricher.stop()];
  await Promise.all([a, b]);
  assert.equal(r.session.inFlight, 0);
  assert.equal(r.state.failures.get('127.0.0.9'), undefined, 'an aborted query is not a device failure');
  assert.equal(r.clock.pendingTimers(), 0);
  r.enricher.enqueue('127.0.0.9');
  await r.clock.advanceAsync(100 * S);
  assert.equal(r.session.callCount, 1);
});

test('start reports every bad option at once as a ConfigError', async () => {
  const r = rig({
    credentials: [v2c('public'), v2c('bad community!')],
    ratePerSec: 0,
    maxInFlight: 1.5,
    port: 70_000,
    retries: 11,
  });
  await assert.rejects(r.enricher.start(), (err: unknown) => {
    assert.ok(hasCode(err, 'ERR_CONFIG'));
    assert.deepEqual((err as unknown as { problems: string[] }).problems, [
      'snmp.credentials[1].community: snmp community string contains an invalid character at position 4',
      'snmp_rate_limit: must be a finite number greater than 0 (got 0)',
      'snmp.max_in_flight: must be an integer >= 1 (got 1.5)',
      'snmp.port: must be an integer from 1 to 65535 (got 70000)',
      'snmp.retries: must be an integer from 0 to 10 (got 11)',
    ]);
    return true;
  });
});

test('the real DeviceStore satisfies SnmpDeviceState and takes the result', async () => {
  const clock = new FakeClock(T0);
  const store = new DeviceStore({ clock });
  const state: SnmpDeviceState = store;
  const session = new FakeSnmpSession({ clock });
  session.setAgent('127.0.0.2', agent());
  const e = new SnmpEnricher(
    { clock, session, state, sink: new ArraySink(), logger: silentLogger() },
    { credentials: [good] },
  );
  e.follow(store);
  await e.start();
  store.markSeen('127.0.0.2');
  await clock.advanceAsync(10);
  assert.equal(store.get('127.0.0.2')?.hostname, 'sw1');
  assert.equal(store.get('127.0.0.2')?.snmp?.sysUptimeS, 1234);
  await e.stop();
});
