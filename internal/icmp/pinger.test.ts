import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, hasCode, NetscanError } from '../errors/errors.js';
import { FakeClock, flushMicrotasks } from '../testkit/fake-clock.js';
import { FakeIcmpSocket, fakeSocketSeries } from '../testkit/fake-icmp.js';
import type { IcmpSocketFactory, OpenIcmpSocketOptions } from './icmp-socket.js';
import { IcmpPinger } from './pinger.js';

function randomBytes(n: number): Buffer {
  const b = Buffer.alloc(n, 7);
  if (n === 16) b.writeUInt16BE(0x0100, 2);
  return b;
}

/** One fake socket per family; `refuseV6` makes IPv6 opens fail with ERR_ICMP_PERMISSION. */
function sockets(): {
  factory: IcmpSocketFactory;
  opened: OpenIcmpSocketOptions[];
  v4: FakeIcmpSocket;
  v6: FakeIcmpSocket;
  refuseV6: { on: boolean };
} {
  const v4 = new FakeIcmpSocket({ family: 'ipv4' });
  const v6 = new FakeIcmpSocket({ family: 'ipv6' });
  const opened: OpenIcmpSocketOptions[] = [];
  const refuseV6 = { on: false };
  const factory: IcmpSocketFactory = (o) => {
    if (o.family === 'ipv6' && refuseV6.on) throw new NetscanError('ERR_ICMP_PERMISSION', 'no IPv6 for you');
    opened.push(o);
    return o.family === 'ipv4' ? v4 : v6;
  };
  return { factory, opened, v4, v6, refuseV6 };
}

test('pings both families through one object, opening the IPv6 socket on the first IPv6 target, with per-family source addresses', async () => {
  const s = sockets();
  const pinger = new IcmpPinger({
    clock: new FakeClock(),
    engine: { openSocket: s.factory, randomBytes, ttl: 9 },
    sourceIpv4: '127.0.0.1',
    sourceIpv6: '::1',
  });
  await pinger.start();
  assert.deepEqual(
    s.opened.map((o) => o.family),
    ['ipv4'],
  );
  const a = pinger.ping('127.0.0.5', { timeoutMs: 1000 });
  const b = pinger.ping('0:0:0:0:0:0:0:1', { timeoutMs: 1000 });
  await flushMicrotasks();
  assert.deepEqual(
    s.opened.map((o) => [o.family, o.sourceAddress, o.ttl]),
    [
      ['ipv4', '127.0.0.1', 9],
      ['ipv6', '::1', 9],
    ],
  );
  s.v4.reply(0);
  s.v4.deliver();
  s.v6.reply(0);
  s.v6.deliver();
  const [oa, ob] = await Promise.all([a, b]);
  assert.deepEqual([oa.ok, oa.ip, ob.ok, ob.ip], [true, '127.0.0.5', true, '::1']);
  assert.deepEqual([pinger.stats().ipv4?.replies, pinger.stats().ipv6?.replies], [1, 1]);
  await pinger.stop();
  assert.deepEqual([s.v4.closed, s.v6.closed], [true, true]);
});

test('text that is no address (a name, an IPv4 address with leading zeros) is refused without opening anything', async () => {
  const s = sockets();
  const pinger = new IcmpPinger({ clock: new FakeClock(), engine: { openSocket: s.factory, randomBytes } });
  await pinger.start();
  await assert.rejects(pinger.ping('example.com', { timeoutMs: 100 }), TypeError);
  await assert.rejects(pinger.ping('127.0.0.05', { timeoutMs: 100 }), TypeError);
  assert.deepEqual(
    s.opened.map((o) => o.family),
    ['ipv4'],
  );
  await pinger.stop();
});

test('when IPv6 cannot start, IPv6 pings reject with its error, IPv4 goes on, and IPv6 is retried after the retry delay', async () => {
  const s = sockets();
  const clock = new FakeClock();
  s.refuseV6.on = true;
  const pinger = new IcmpPinger({ clock, engine: { openSocket: s.factory, randomBytes }, ipv6RetryMs: 30_000 });
  await pinger.start();
  await assert.rejects(pinger.ping('fd00:1::5', { timeoutMs: 100 }), (e) => hasCode(e, 'ERR_ICMP_PERMISSION'));
  s.refuseV6.on = false;
  await assert.rejects(
    pinger.ping('fd00:1::5', { timeoutMs: 100 }),
    (e) => hasCode(e, 'ERR_ICMP_PERMISSION'),
    'not retried yet',
  );
  const v4 = pinger.ping('127.0.0.5', { timeoutMs: 1000 });
  await flushMicrotasks();
  s.v4.reply(0);
  s.v4.deliver();
  assert.equal((await v4).ok, true);
  clock.advance(30_000);
  const v6 = pinger.ping('fd00:1::5', { timeoutMs: 1000 });
  await flushMicrotasks();
  s.v6.reply(0);
  s.v6.deliver();
  assert.equal((await v6).ok, true);
  await pinger.stop();
});

test('stop() is idempotent, safe before start(), and pings after it are refused with ERR_ICMP_SOCKET', async () => {
  const s = sockets();
  const pinger = new IcmpPinger({ clock: new FakeClock(), engine: { openSocket: s.factory, randomBytes } });
  await pinger.stop();
  await pinger.start();
  const pending = pinger.ping('127.0.0.5', { timeoutMs: 1000 });
  await Promise.all([pinger.stop(), pinger.stop()]);
  await assert.rejects(pending, (e) => hasCode(e, 'ERR_ICMP_SOCKET'));
  await assert.rejects(pinger.ping('127.0.0.5', { timeoutMs: 1 }), (e) => hasCode(e, 'ERR_ICMP_SOCKET'));
  assert.equal(pinger.running, false);
});

test('two start() calls made together open one IPv4 socket, and stop() closes every socket opened', async () => {
  const series = fakeSocketSeries();
  const pinger = new IcmpPinger({ clock: new FakeClock(), engine: { openSocket: series.factory, randomBytes } });
  await Promise.all([pinger.start(), pinger.start()]);
  await pinger.stop();
  assert.equal(series.sockets.length, 1, `opened ${series.sockets.length} IPv4 sockets`);
  assert.deepEqual(
    series.sockets.map((s) => s.closed),
    [true],
  );
});

test('stop() called while start() is still in progress leaves the pinger stopped and its socket closed', async () => {
  const series = fakeSocketSeries();
  const pinger = new IcmpPinger({ clock: new FakeClock(), engine: { openSocket: series.factory, randomBytes } });
  const started = pinger.start();
  const stopped = pinger.stop();
  await Promise.allSettled([started, stopped]);
  assert.equal(pinger.running, false);
  assert.deepEqual(
    series.sockets.map((s) => s.closed),
    [true],
  );
});

test('start refuses a bad retry delay and a bad engine option, naming each, and opens nothing', async () => {
  const s = sockets();
  const retry = new IcmpPinger({
    clock: new FakeClock(),
    engine: { openSocket: s.factory, randomBytes },
    ipv6RetryMs: -1,
  });
  await assert.rejects(
    retry.start(),
    (err: unknown) =>
      err instanceof ConfigError && err.message === 'ipv6RetryMs: must be a finite number >= 0 (got -1)',
  );
  const engine = new IcmpPinger({ clock: new FakeClock(), engine: { openSocket: s.factory, randomBytes, ttl: 0 } });
  await assert.rejects(
    engine.start(),
    (err: unknown) => err instanceof ConfigError && err.message === 'ttl: must be an integer from 1 to 255 (got 0)',
  );
  assert.deepEqual(s.opened, []);
  assert.equal(engine.running, false);
});
