import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, flushMicrotasks } from '../internal/testkit/fake-clock.js';
import { silentLogger } from '../internal/testkit/logger.js';
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
  const config = parseConfigText(base + yaml, { env: {} }).config;
  const sink = new RecordingSink();
  const tags = new DeviceTags(sink, config);
  const store = new DeviceStore({ clock, maxDevices: 100 });
  const lookups: string[] = [];
  const lookup: LookupAll = async (host) => {
    lookups.push(host);
    const a = table.get(host);
    if (!a) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  const loop = new TargetLoop(config, {
    clock,
    logger: silentLogger(),
    lookup,
    devices: store,
    owns: () => false,
    tags,
    sink: tags,
  });
  return { clock, config, sink, tags, store, loop, lookups };
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
