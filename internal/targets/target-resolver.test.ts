import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError } from '../errors/errors.js';
import { TargetResolver, type LookupAll } from './target-resolver.js';

/** A resolver over a fixed table (name -> addresses in answer order); nothing is looked up for real. */
function fakeLookup(table: Map<string, string[]>, calls: string[] = []): LookupAll {
  return async (host, { family }) => {
    calls.push(host);
    const all = (table.get(host) ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    const answers = family === 0 ? all : all.filter((a) => a.family === family);
    if (answers.length === 0) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return answers;
  };
}

test('an AAAA-only name resolves under auto and ipv6 and fails with the resolver code under ipv4', async () => {
  const table = new Map([['v6only.test', ['fd00:1:0:0::7']]]);
  for (const [family, expected] of [
    ['auto', { host: 'v6only.test', ip: 'fd00:1::7', previous: undefined }],
    ['ipv6', { host: 'v6only.test', ip: 'fd00:1::7', previous: undefined }],
    ['ipv4', { host: 'v6only.test', ip: undefined, previous: undefined, error: 'ENOTFOUND' }],
  ] as const) {
    const r = new TargetResolver({ lookup: fakeLookup(table), family });
    r.setHosts(['v6only.test']);
    assert.deepEqual(await r.resolveAll(), [expected], family);
  }
});

test('auto takes the first address the resolver returns; ipv4 and ipv6 the first of their family', async () => {
  const table = new Map([['dual.test', ['fd00:1::1', '127.0.0.5', '127.0.0.6']]]);
  const ips: Record<string, string | undefined> = {};
  for (const family of ['auto', 'ipv4', 'ipv6'] as const) {
    const r = new TargetResolver({ lookup: fakeLookup(table), family });
    r.setHosts(['dual.test']);
    ips[family] = (await r.resolveAll())[0]!.ip;
  }
  assert.deepEqual(ips, { auto: 'fd00:1::1', ipv4: '127.0.0.5', ipv6: 'fd00:1::1' });
});

test('addresses are canonicalised without a lookup', async () => {
  const calls: string[] = [];
  const r = new TargetResolver({ lookup: fakeLookup(new Map(), calls) });
  r.setHosts(['FD00:1:0::0:9', '127.0.0.1']);
  const changes = await r.resolveAll();
  assert.deepEqual(changes.map((c) => c.ip).sort(), ['127.0.0.1', 'fd00:1::9']);
  assert.deepEqual(calls, []);
});

test('only changes are reported: a new address, a lost one, a name that answers again', async () => {
  const table = new Map([['a.test', ['127.0.0.2']]]);
  const r = new TargetResolver({ lookup: fakeLookup(table) });
  r.setHosts(['a.test']);
  assert.deepEqual(await r.resolveAll(), [{ host: 'a.test', ip: '127.0.0.2', previous: undefined }]);
  assert.deepEqual(await r.resolveAll(), []);
  table.set('a.test', ['127.0.0.3']);
  assert.deepEqual(await r.resolveAll(), [{ host: 'a.test', ip: '127.0.0.3', previous: '127.0.0.2' }]);
  table.delete('a.test');
  assert.deepEqual(await r.resolveAll(), [
    { host: 'a.test', ip: undefined, previous: '127.0.0.3', error: 'ENOTFOUND' },
  ]);
  assert.deepEqual([...r.failing()], ['a.test']);
  assert.deepEqual(await r.resolveAll(), [], 'a name that keeps failing is not a change');
  table.set('a.test', ['127.0.0.3']);
  assert.deepEqual(await r.resolveAll(), [{ host: 'a.test', ip: '127.0.0.3', previous: undefined }]);
});

test('a target removed while its lookup runs is left out, and removal reports its address', async () => {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const lookup: LookupAll = async (host) => {
    if (host === 'slow.test') await gate;
    return [{ address: host === 'slow.test' ? '127.0.0.8' : '127.0.0.9', family: 4 }];
  };
  const r = new TargetResolver({ lookup });
  r.setHosts(['slow.test', 'kept.test']);
  const running = r.resolveAll();
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(r.setHosts(['kept.test']), [{ host: 'slow.test', ip: undefined }]);
  release();
  assert.deepEqual(await running, [{ host: 'kept.test', ip: '127.0.0.9', previous: undefined }]);
  assert.deepEqual(r.setHosts([]), [{ host: 'kept.test', ip: '127.0.0.9' }]);
});

test('refuses a bad family or concurrency, naming each (NaN once meant no lookups at all, 0 one at a time)', () => {
  for (const [concurrency, got] of [
    [0, '0'],
    [NaN, 'NaN'],
    [2.5, '2.5'],
  ] as const) {
    assert.throws(
      () => new TargetResolver({ lookup: fakeLookup(new Map()), family: 'ipv5' as never, concurrency }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.stage === 'targets' &&
        err.problems.join('|') ===
          `family: must be one of "auto", "ipv4", "ipv6" (got "ipv5")|concurrency: must be an integer >= 1 (got ${got})`,
    );
  }
});

test('resolving no hosts ends at once with no change', async () => {
  const r = new TargetResolver({ lookup: fakeLookup(new Map()), concurrency: 1 });
  assert.deepEqual(await r.resolveAll([]), []);
});

test('an IPv4-mapped address (::ffff:a.b.c.d), written or resolved, is pinged as the IPv4 address it carries', async () => {
  // ICMPv6 cannot reach a mapped address (the kernel answers ENETUNREACH): pinging it as given
  // reported a live IPv4 host down forever.
  const table = new Map([['mapped.test', ['::ffff:127.0.0.6']]]);
  for (const family of ['auto', 'ipv6'] as const) {
    const r = new TargetResolver({ lookup: fakeLookup(table), family });
    r.setHosts(['::ffff:127.0.0.5', '::FFFF:7f00:7', 'mapped.test']);
    const ips = (await r.resolveAll()).map((c) => c.ip).sort();
    assert.deepEqual(ips, ['127.0.0.5', '127.0.0.6', '127.0.0.7'], family);
  }
});
