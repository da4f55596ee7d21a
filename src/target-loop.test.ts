import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, flushMicrotasks } from '../internal/testkit/fake-clock.js';
import { captureLogger, silentLogger } from '../internal/testkit/logger.js';
import { FakePinger } from '../internal/testkit/fake-pinger.js';
import { PingScheduler } from '../internal/schedule/ping-scheduler.js';
import { Reconciler } from '../internal/reconcile/reconciler.js';
import { schedulerOptions } from './config/stage-options.js';
import { RecordingSink } from '../internal/testkit/recording-sink.js';
import { DeviceStore } from '../internal/state/device-store.js';
import type { LookupAll } from '../internal/targets/target-resolver.js';
import { parseConfigText } from './config/load.js';
import { DeviceTags } from './device-tags.js';
import { TargetLoop } from './target-loop.js';

// Names resolve through a fake table; no lookup and no packet leaves the process.
const base =
  'icmp_discovery_interval: 5m\nping_interval: 5s\nping_rate_limit: 20000\nping_burst_limit: 20000\nagent_name: a1\n';

function harness(yaml: string, table: Map<string, string[]>) {
  const clock = new FakeClock();
  const { logger, lines } = captureLogger('info');
  const config = parseConfigText(base + yaml, { env: {} }).config;
  const sink = new RecordingSink();
  const tags = new DeviceTags(sink, config);
  const store = new DeviceStore({ clock, maxDevices: 100 });
  const lookups: string[] = [];
  const lookup: LookupAll = async (host, { family }) => {
    lookups.push(host);
    const a = (table.get(host) ?? [])
      .map((address) => ({ address, family: address.includes(':') ? 6 : 4 }))
      .filter((x) => family === 0 || x.family === family);
    if (a.length === 0) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return a;
  };
  const intervals = new Map<string, number>();
  const loop = new TargetLoop(config, {
    clock,
    logger,
    lookup,
    devices: store,
    owns: () => false,
    tags,
    sink: tags,
    intervals: {
      setDeviceInterval: (ip, ms) => (ms === undefined ? intervals.delete(ip) : intervals.set(ip, ms)),
    },
  });
  return { clock, config, sink, tags, store, loop, lookups, intervals, lines };
}

test('a name whose address changes mid-run keeps its name; the new address is pinged and the old one leaves', async () => {
  const table = new Map([['db.test', ['127.0.0.2']]]);
  const h = harness('target_resolve_interval: 1m\ntargets: [{host: db.test, labels: {role: db}}]\n', table);
  await h.loop.start();
  assert.deepEqual([...h.store.ips()], ['127.0.0.2']);
  assert.deepEqual(h.tags.tagsFor('127.0.0.2'), { role: 'db', name: 'db.test', agent: 'a1' });
  table.set('db.test', ['fd00:1::2']);
  await h.clock.advanceAsync(59_000);
  assert.deepEqual([...h.store.ips()], ['127.0.0.2'], 'not before target_resolve_interval');
  await h.clock.advanceAsync(1000);
  assert.deepEqual([...h.store.ips()], ['fd00:1::2']);
  assert.equal(h.store.isPinned('127.0.0.2'), false);
  assert.deepEqual(h.tags.tagsFor('fd00:1::2'), { role: 'db', name: 'db.test', agent: 'a1' });
  assert.equal(h.tags.tagsFor('127.0.0.2').name, undefined);
  await h.loop.stop();
});

test('a name that stops resolving writes a ping point with reason dns every ping_interval, tagged with its name', async () => {
  const table = new Map([['gone.test', ['127.0.0.3']]]);
  const h = harness('target_resolve_interval: 1m\ntargets: [{host: gone.test, labels: {site: lab}}]\n', table);
  await h.loop.start();
  table.delete('gone.test');
  await h.clock.advanceAsync(60_000);
  assert.deepEqual([...h.store.ips()], [], 'the address that no longer belongs to the name is not pinged');
  const before = h.sink.count('ping');
  await h.clock.advanceAsync(5000);
  await h.clock.advanceAsync(5000);
  const dns = h.sink.points.filter((p) => p.fields.reason?.value === 'dns');
  assert.equal(h.sink.count('ping') - before, 2);
  assert.equal(dns.length, h.sink.count('ping'));
  assert.deepEqual(dns[0]!.tags, { agent: 'a1', site: 'lab', name: 'gone.test' });
  assert.deepEqual(dns[0]!.fields.success, { type: 'bool', value: false });
  const failures = h.loop.figures().dnsFailures;
  assert.equal(failures, dns.length);
  assert.equal(h.loop.figures().unresolved, 1);
  table.set('gone.test', ['127.0.0.4']);
  await h.clock.advanceAsync(5000);
  assert.deepEqual(
    [...h.store.ips()],
    ['127.0.0.4'],
    'a failing name is retried every ping_interval, not only every resolve interval',
  );
  assert.equal(h.loop.figures().dnsFailures, failures);
  await h.loop.stop();
});

test('reload adds and removes targets without touching the ones that stay', async () => {
  const table = new Map([
    ['a.test', ['127.0.0.10']],
    ['b.test', ['127.0.0.11']],
  ]);
  const h = harness('targets: [a.test]\n', table);
  await h.loop.start();
  const first = h.store.get('127.0.0.10')!.firstSeenMs;
  h.clock.advance(1000);
  const next = parseConfigText(base + 'targets: [a.test, b.test]\n', { env: {} }).config;
  await h.loop.reconfigure(next);
  assert.deepEqual([...h.store.ips()].sort(), ['127.0.0.10', '127.0.0.11']);
  assert.equal(h.store.get('127.0.0.10')!.firstSeenMs, first);
  await h.loop.reconfigure(parseConfigText(base + 'targets: [b.test]\n', { env: {} }).config);
  assert.deepEqual([...h.store.ips()], ['127.0.0.11']);
  await h.loop.stop();
  await flushMicrotasks();
  assert.equal(h.clock.pendingTimers(), 0);
});

test('two names on one address: when the first goes, the address stays pinged under the second', async () => {
  const table = new Map([
    ['a.test', ['127.0.0.20']],
    ['b.test', ['127.0.0.20']],
  ]);
  const h = harness('targets: [a.test, {host: b.test, labels: {role: b}, ping_interval: 10s}]\n', table);
  await h.loop.start();
  assert.equal(h.tags.tagsFor('127.0.0.20').name, 'a.test');
  const first = h.store.get('127.0.0.20')!.firstSeenMs;
  h.clock.advance(1000);
  await h.loop.reconfigure(
    parseConfigText(base + 'targets: [{host: b.test, labels: {role: b}, ping_interval: 10s}]\n', { env: {} }).config,
  );
  assert.deepEqual([...h.store.ips()], ['127.0.0.20']);
  assert.equal(h.store.isPinned('127.0.0.20'), true);
  assert.equal(h.store.get('127.0.0.20')!.firstSeenMs, first, 'the device stays, with its state');
  assert.deepEqual(h.tags.tagsFor('127.0.0.20'), { role: 'b', name: 'b.test', agent: 'a1' });
  assert.equal(h.intervals.get('127.0.0.20'), 10_000);
  assert.equal(h.loop.figures().resolved, 1);
  await h.loop.stop();
});

test('with shards, each name belongs to exactly one agent', () => {
  const names = Array.from({ length: 50 }, (_, i) => `host${i}.test`);
  const owned = [0, 1, 2].map((index) => {
    const h = harness(`shard: {index: ${index}, count: 3}\ntargets: [${names.join(', ')}]\n`, new Map());
    return h.loop.figures().configured;
  });
  assert.equal(
    owned.reduce((a, b) => a + b, 0),
    50,
  );
  assert.ok(
    owned.every((n) => n > 0),
    String(owned),
  );
});

test('a name that resolves into an exclude entry is counted and not pinged, logged once, and pinged again once it resolves outside', async () => {
  const table = new Map([['moved.test', ['127.0.9.5']]]);
  const h = harness(
    'exclude: ["127.0.9.0/24"]\ntarget_resolve_interval: 1m\ntargets: [{host: moved.test, ping_interval: 2s}]\n',
    table,
  );
  const warns = (): Array<Record<string, unknown>> => h.lines.filter((l) => l['level'] === 'warn');
  await h.loop.start();
  assert.deepEqual([...h.store.ips()], []);
  assert.deepEqual(
    {
      excluded: h.loop.figures().excluded,
      resolved: h.loop.figures().resolved,
      unresolved: h.loop.figures().unresolved,
    },
    { excluded: 1, resolved: 0, unresolved: 0 },
  );
  await h.clock.advanceAsync(180_000);
  assert.equal(h.loop.figures().cycles, 4);
  assert.deepEqual([...h.store.ips()], []);
  assert.equal(h.sink.count('ping'), 0, 'an excluded target writes no point');
  assert.deepEqual(
    warns().map((l) => [l['name'], l['ip'], l['exclude'], l['msg']]),
    [
      [
        'moved.test',
        '127.0.9.5',
        '127.0.9.0/24',
        'target moved.test resolves to 127.0.9.5, inside exclude[0] (127.0.9.0/24): it is not pinged while it resolves there (remove the exclude entry or the target)',
      ],
    ],
    'one line for the episode, not one per cycle',
  );
  table.set('moved.test', ['127.0.0.7']);
  await h.clock.advanceAsync(60_000);
  assert.deepEqual([...h.store.ips()], ['127.0.0.7']);
  assert.equal(h.intervals.get('127.0.0.7'), 2000);
  assert.equal(h.loop.figures().excluded, 0);
  assert.equal(h.loop.figures().resolved, 1);
  assert.equal(
    h.lines.filter((l) => l['msg'] === 'target resolves outside the exclusions again; pinging it').length,
    1,
  );
  table.set('moved.test', ['127.0.9.6']);
  await h.clock.advanceAsync(60_000);
  assert.deepEqual([...h.store.ips()], [], 'back inside: the address is released');
  assert.equal(h.intervals.has('127.0.0.7'), false);
  assert.equal(h.loop.figures().excluded, 1);
  assert.equal(warns().length, 2, 'a new episode is logged again');
  await h.loop.stop();
});

test('reload applies a changed exclude list to the targets already resolved', async () => {
  const table = new Map([
    ['a.test', ['127.0.0.20']],
    ['b.test', ['127.0.0.21']],
  ]);
  const h = harness('targets: [a.test, b.test]\n', table);
  await h.loop.start();
  assert.deepEqual([...h.store.ips()].sort(), ['127.0.0.20', '127.0.0.21']);
  const reload = (yaml: string) =>
    h.loop.reconfigure(parseConfigText(base + yaml + 'targets: [a.test, b.test]\n', { env: {} }).config);
  await reload('exclude: ["127.0.0.20"]\n');
  assert.deepEqual([...h.store.ips()], ['127.0.0.21']);
  assert.equal(h.loop.figures().excluded, 1);
  assert.equal(h.tags.tagsFor('127.0.0.20').name, undefined);
  await reload('');
  assert.deepEqual([...h.store.ips()].sort(), ['127.0.0.20', '127.0.0.21']);
  assert.equal(h.loop.figures().excluded, 0);
  assert.equal(h.tags.tagsFor('127.0.0.20').name, 'a.test');
  await h.loop.stop();
});

test("a target's own ping_interval follows its address and reloads, and is cleared when the target goes", async () => {
  const table = new Map([
    ['a.test', ['127.0.0.30']],
    ['b.test', ['127.0.0.31']],
  ]);
  const h = harness('targets: [{host: a.test, ping_interval: 1s}, b.test]\n', table);
  await h.loop.start();
  assert.deepEqual([...h.intervals], [['127.0.0.30', 1000]]);
  const reload = (yaml: string) => h.loop.reconfigure(parseConfigText(base + yaml, { env: {} }).config);
  await reload('targets: [{host: a.test, ping_interval: 3s}, {host: b.test, ping_interval: 10s}]\n');
  assert.deepEqual([...h.intervals].sort(), [
    ['127.0.0.30', 3000],
    ['127.0.0.31', 10_000],
  ]);
  await reload('targets: [a.test]\n');
  assert.deepEqual([...h.intervals], []);
  assert.deepEqual([...h.store.ips()], ['127.0.0.30']);
  await h.loop.stop();
});

test('wired to the scheduler: a target swept too is pinged at its own ping_interval, and at ping_interval again once it is no target', async () => {
  const clock = new FakeClock();
  const logger = silentLogger();
  const yaml = (targets: string): string => base + `networks: ["127.0.0.40/30"]\ntargets: ${targets}\n`;
  const config = parseConfigText(yaml('[{host: "127.0.0.40", ping_interval: 1s}, "127.0.0.50"]'), { env: {} }).config;
  const store = new DeviceStore({ clock, maxDevices: 100 });
  const tags = new DeviceTags(new RecordingSink(), config);
  const pinger = new FakePinger({ clock, respond: () => ({ rttMs: 1 }), record: true });
  const scheduler = new PingScheduler({ clock, pinger, sink: tags, state: store, logger }, schedulerOptions(config));
  const reconciler = new Reconciler({ source: store, target: scheduler, clock, logger });
  store.markSeen('127.0.0.40'); // found by a sweep before the target loop starts
  const loop = new TargetLoop(config, {
    clock,
    logger,
    lookup: () => Promise.reject(new Error('no lookup for addresses')),
    devices: store,
    owns: (ip) => ip === '127.0.0.40',
    tags,
    sink: tags,
    intervals: scheduler,
  });
  scheduler.start();
  reconciler.start();
  await loop.start();
  const sendsIn = async (ms: number): Promise<Map<string, number>> => {
    pinger.sends.length = 0;
    await clock.advanceAsync(ms);
    const n = new Map<string, number>();
    for (const s of pinger.sends) n.set(s.ip, (n.get(s.ip) ?? 0) + 1);
    return n;
  };
  await clock.advanceAsync(5000);
  assert.deepEqual([...(await sendsIn(60_000))].sort(), [
    ['127.0.0.40', 60],
    ['127.0.0.50', 12],
  ]);
  assert.equal(scheduler.stats().expectedPingsPerSec, 1 + 1 / 5);
  await loop.reconfigure(parseConfigText(yaml('["127.0.0.50"]'), { env: {} }).config);
  assert.equal(scheduler.has('127.0.0.40'), true, 'the swept device stays');
  await clock.advanceAsync(5000);
  assert.deepEqual([...(await sendsIn(60_000))].sort(), [
    ['127.0.0.40', 12],
    ['127.0.0.50', 12],
  ]);
  await loop.stop();
  await reconciler.stop();
  await scheduler.stop();
});

test('two names on one address that a reload excludes: both count as excluded, and the second is pinged once the first went and the exclusion ends', async () => {
  const table = new Map([
    ['a.test', ['127.0.0.30']],
    ['b.test', ['127.0.0.30']],
  ]);
  const h = harness('targets: [a.test, b.test]\n', table);
  await h.loop.start();
  const reload = (yaml: string) => h.loop.reconfigure(parseConfigText(base + yaml, { env: {} }).config);
  await reload('exclude: ["127.0.0.30"]\ntargets: [a.test, b.test]\n');
  assert.deepEqual([...h.store.ips()], []);
  assert.equal(h.loop.figures().excluded, 2, 'both names resolve into the exclusion');
  await reload('exclude: ["127.0.0.30"]\ntargets: [b.test]\n');
  assert.equal(h.loop.figures().excluded, 1);
  // The exclusion ends: b.test resolves there, unchanged, so no resolution would report it again.
  await reload('targets: [b.test]\n');
  assert.deepEqual([...h.store.ips()], ['127.0.0.30']);
  assert.equal(h.store.isPinned('127.0.0.30'), true);
  assert.equal(h.tags.tagsFor('127.0.0.30').name, 'b.test');
  assert.deepEqual(
    { resolved: h.loop.figures().resolved, excluded: h.loop.figures().excluded },
    { resolved: 1, excluded: 0 },
  );
  await h.loop.stop();
});

test('a reload that changes ip_family keeps the targets whose address stays, with their state, and moves the others', async () => {
  const table = new Map([
    ['v4.test', ['127.0.0.40']],
    ['dual.test', ['fd00:1::41', '127.0.0.41']],
  ]);
  const h = harness('targets: [v4.test, dual.test, "127.0.0.42"]\n', table);
  await h.loop.start();
  assert.deepEqual([...h.store.ips()].sort(), ['127.0.0.40', '127.0.0.42', 'fd00:1::41']);
  h.store.recordSnmpSuccess('127.0.0.40', {
    sysName: 'sw1',
    sysDescr: '',
    sysObjectId: '',
    sysLocation: '',
    sysContact: '',
    sysUptimeS: 1,
    credentialId: 'c',
  });
  const removed: string[] = [];
  h.store.subscribe((e) => {
    if (e.type === 'removed') removed.push(e.ip);
  });
  h.clock.advance(1000);
  await h.loop.reconfigure(
    parseConfigText(base + 'ip_family: ipv4\ntargets: [v4.test, dual.test, "127.0.0.42"]\n', { env: {} }).config,
  );
  assert.deepEqual([...h.store.ips()].sort(), ['127.0.0.40', '127.0.0.41', '127.0.0.42']);
  assert.deepEqual(removed, ['fd00:1::41'], 'only the address that moved left; the others never stopped');
  assert.equal(h.store.get('127.0.0.40')!.snmp?.sysName, 'sw1', 'the device kept its state');
  assert.equal(h.tags.tagsFor('127.0.0.41').name, 'dual.test');
  await h.loop.stop();
});

test('figures count names: two names pinged on one address are both resolved, so the counts add up to configured', async () => {
  const table = new Map([
    ['a.test', ['127.0.0.50']],
    ['b.test', ['127.0.0.50']],
    ['c.test', ['127.0.0.51']],
  ]);
  const h = harness('exclude: ["127.0.0.51"]\ntargets: [a.test, b.test, c.test, gone.test]\n', table);
  await h.loop.start();
  const f = h.loop.figures();
  assert.deepEqual(
    { configured: f.configured, resolved: f.resolved, unresolved: f.unresolved, excluded: f.excluded },
    { configured: 4, resolved: 2, unresolved: 1, excluded: 1 },
  );
  await h.loop.stop();
});
