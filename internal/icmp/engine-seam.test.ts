// The engine against the batched socket seam: reply validation, kernel stamps, datagram mode,
// identifier rotation, IPv6 and batching. engine.test.ts holds the behaviour that predates them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError } from '../errors/errors.js';
import type { PingOutcome } from '../model/ping.js';
import { FakeClock, flushMicrotasks } from '../testkit/fake-clock.js';
import { FakeIcmpSocket, fakeSocketSeries, type FakeIcmpSocketOptions } from '../testkit/fake-icmp.js';
import { echoIdSeq } from '../testkit/icmp-packets.js';
import { IcmpEngine, type IcmpEngineOptions } from './engine.js';
import { optionError } from '../testkit/option-error.js';

// Identifier 0x1234 (raw mode), first sequence 0xfffe (the identifier rotates after two probes),
// fixed nonce and secret; rotations draw 0x4321.
function fixedRandom(n: number): Buffer {
  if (n === 2) return Buffer.from([0x43, 0x21]);
  const b = Buffer.alloc(n);
  b.writeUInt16BE(0x1234, 0);
  b.writeUInt16BE(0xfffe, 2);
  b.writeUInt32BE(0xdeadbeef, 4);
  b.writeUInt32BE(0x01020304, 8);
  b.writeUInt32BE(0x0badf00d, 12);
  return b;
}

// The same, with the sequence starting at 0x0100 (no rotation in sight).
function calmRandom(n: number): Buffer {
  const b = fixedRandom(n);
  if (n === 16) b.writeUInt16BE(0x0100, 2);
  return b;
}

async function setup(
  socketOpts: Partial<FakeIcmpSocketOptions> = {},
  opts: Partial<IcmpEngineOptions> = {},
): Promise<{ engine: IcmpEngine; socket: FakeIcmpSocket; clock: FakeClock }> {
  const clock = new FakeClock();
  const socket = new FakeIcmpSocket({ family: opts.family ?? 'ipv4', ...socketOpts });
  const engine = new IcmpEngine({ clock, openSocket: socket.factory(), randomBytes: calmRandom, ...opts });
  await engine.start();
  return { engine, socket, clock };
}

/** Tracks a promise's settlement without awaiting it. */
function track<T>(p: Promise<T>): { value?: T; error?: unknown; settled: boolean } {
  const box: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then(
    (v) => {
      box.value = v;
      box.settled = true;
    },
    (e: unknown) => {
      box.error = e;
      box.settled = true;
    },
  );
  return box;
}

const reasonOf = (o: PingOutcome | undefined): string => (o === undefined ? 'pending' : o.ok ? 'ok' : o.reason);

describe('IcmpEngine reply validation', () => {
  test('forged and damaged replies never count as success, each in its counter, and the genuine one still does', async () => {
    const { engine, socket, clock } = await setup();
    const p = track(engine.ping('127.0.0.5', { timeoutMs: 1000 }));
    await flushMicrotasks();
    const { id } = echoIdSeq(socket.sent[0]!.icmp);
    const forgeries: Array<[string, () => void]> = [
      ['wrong identifier', () => socket.reply(0, { tweaks: { id: id ^ 1 } })],
      ['wrong nonce', () => socket.reply(0, { tweaks: { corruptNonce: 0x01 } })],
      ['flipped first padding byte', () => socket.reply(0, { tweaks: { flipPayloadByte: 16 } })],
      ['flipped last padding byte', () => socket.reply(0, { tweaks: { flipPayloadByte: 55 } })],
      ['cut to the 16-byte stamp', () => socket.reply(0, { tweaks: { truncatePayloadTo: 16 } })],
      ['cut by one byte', () => socket.reply(0, { tweaks: { truncatePayloadTo: 55 } })],
      ['cut inside the stamp', () => socket.reply(0, { tweaks: { truncatePayloadTo: 12 } })],
      ['one byte too many', () => socket.reply(0, { tweaks: { extraPayload: Buffer.from([0]) } })],
      ['wrong source', () => socket.reply(0, { source: '127.0.0.6' })],
      ['bad checksum', () => socket.reply(0, { tweaks: { badChecksum: true } })],
    ];
    for (const [name, forge] of forgeries) {
      forge();
      socket.deliver();
      await flushMicrotasks();
      assert.equal(p.settled, false, name);
    }
    const st = engine.stats();
    assert.deepEqual(
      {
        invalid: st.invalid,
        identity: st.invalidIdentity,
        payload: st.invalidPayload,
        source: st.invalidSource,
        checksum: st.invalidChecksum,
        foreign: st.foreign,
      },
      { invalid: 9, identity: 1, payload: 6, source: 1, checksum: 1, foreign: 1 },
    );
    clock.advance(1);
    socket.reply(0);
    socket.reply(0);
    socket.deliver();
    await flushMicrotasks();
    assert.equal(reasonOf(p.value), 'ok');
    clock.advance(1000);
    socket.reply(0);
    socket.deliver();
    assert.deepEqual([engine.stats().replies, engine.stats().duplicates, engine.stats().late], [1, 2, 0]);
    await engine.stop();
  });

  test('a reply after the timeout is late; a tag-valid reply from an unknown serial is invalid', async () => {
    const { engine, socket, clock } = await setup();
    const p = engine.ping('127.0.0.5', { timeoutMs: 100 });
    await flushMicrotasks();
    clock.advance(100);
    assert.equal(reasonOf(await p), 'timeout');
    socket.reply(0);
    socket.reply(0, { tweaks: { flipPayloadByte: 8 } }); // the serial: no probe ever had it
    socket.deliver();
    assert.deepEqual([engine.stats().late, engine.stats().invalidIdentity, engine.stats().replies], [1, 1, 0]);
    await engine.stop();
  });

  test('on a datagram socket the kernel checks the checksum, so the engine does not', async () => {
    const { engine, socket } = await setup({ mode: 'dgram' });
    const p = engine.ping('127.0.0.5', { timeoutMs: 1000 });
    await flushMicrotasks();
    socket.reply(0, { tweaks: { badChecksum: true } });
    socket.deliver();
    assert.equal(reasonOf(await p), 'ok');
    await engine.stop();
  });
});

describe('IcmpEngine RTT from kernel stamps', () => {
  test('measures kernel receive minus kernel transmit, not the time the reply waited to be read', async () => {
    const clock = new FakeClock();
    const socket = new FakeIcmpSocket({ stampClock: clock });
    const engine = new IcmpEngine({ clock, openSocket: socket.factory(), randomBytes: calmRandom });
    await engine.start();
    const p = engine.ping('127.0.0.5', { timeoutMs: 1000 });
    await flushMicrotasks();
    clock.advance(2);
    socket.reply(0);
    clock.advance(5); // the loop was busy: read 5 ms after arrival
    socket.deliver();
    const o = await p;
    assert.ok(o.ok && Math.abs(o.rttMs - 2) < 1e-3, `rtt ${o.ok ? o.rttMs : o.reason}`);
    assert.deepEqual(
      [engine.stats().rttKernel, engine.stats().rttUserspace, engine.stats().txStampsUnpaired],
      [1, 0, 0],
    );
    await engine.stop();
  });

  test('reads the error queue again when the transmit stamp arrives behind the reply', async () => {
    const clock = new FakeClock();
    const socket = new FakeIcmpSocket({ stampClock: clock, txStamps: 'hold' });
    const engine = new IcmpEngine({ clock, openSocket: socket.factory(), randomBytes: calmRandom });
    await engine.start();
    const p = engine.ping('127.0.0.5', { timeoutMs: 1000 });
    await flushMicrotasks();
    clock.advance(3);
    socket.reply(0);
    socket.beforeRead = () => socket.releaseTxStamps();
    clock.advance(4);
    socket.deliver();
    const o = await p;
    assert.ok(o.ok && Math.abs(o.rttMs - 3) < 1e-3, `rtt ${o.ok ? o.rttMs : o.reason}`);
    assert.deepEqual([engine.stats().rttKernel, engine.stats().rttUserspace], [1, 0]);
    await engine.stop();
  });

  test('without its transmit stamp a reply is timed in user space (never half kernel, half user), and a stamp that comes later is counted unpaired', async () => {
    const clock = new FakeClock();
    const socket = new FakeIcmpSocket({ stampClock: clock, txStamps: 'hold' });
    const engine = new IcmpEngine({ clock, openSocket: socket.factory(), randomBytes: calmRandom });
    await engine.start();
    const p = engine.ping('127.0.0.5', { timeoutMs: 1000 });
    await flushMicrotasks();
    clock.advance(2);
    socket.reply(0);
    clock.advance(5);
    socket.deliver();
    const o = await p;
    // User space: clock before the flush to clock at the read = 7 ms (a kernel receive stamp
    // against a user-space send time would have said 2 ms).
    assert.ok(o.ok && Math.abs(o.rttMs - 7) < 1e-3, `rtt ${o.ok ? o.rttMs : o.reason}`);
    assert.deepEqual([engine.stats().rttKernel, engine.stats().rttUserspace], [0, 1]);
    socket.releaseTxStamps();
    socket.injectOtherError();
    socket.deliver();
    assert.deepEqual([engine.stats().txStampsUnpaired, engine.stats().errorQueueOther], [1, 1]);
    await engine.stop();
  });

  test('a reply without its receive stamp is timed in user space even though its transmit stamp came', async () => {
    const clock = new FakeClock();
    const socket = new FakeIcmpSocket({ stampClock: clock });
    const engine = new IcmpEngine({ clock, openSocket: socket.factory(), randomBytes: calmRandom });
    await engine.start();
    const p = engine.ping('127.0.0.5', { timeoutMs: 1000 });
    await flushMicrotasks();
    clock.advance(2);
    socket.reply(0, { rxStamp: false });
    clock.advance(3);
    socket.deliver();
    const o = await p;
    assert.ok(o.ok && Math.abs(o.rttMs - 5) < 1e-3, `rtt ${o.ok ? o.rttMs : o.reason}`);
    assert.deepEqual(
      [engine.stats().rttKernel, engine.stats().rttUserspace, engine.stats().txStampsUnpaired],
      [0, 1, 0],
    );
    await engine.stop();
  });

  test('a socket without kernel stamps times every reply in user space', async () => {
    const { engine, socket, clock } = await setup();
    const p = engine.ping('127.0.0.5', { timeoutMs: 1000 });
    await flushMicrotasks();
    clock.advance(1.5);
    socket.reply(0);
    socket.deliver();
    const o = await p;
    assert.ok(o.ok && Math.abs(o.rttMs - 1.5) < 1e-3);
    assert.deepEqual(
      [engine.stats().kernelStamps, engine.stats().rttKernel, engine.stats().rttUserspace],
      [false, 0, 1],
    );
    await engine.stop();
  });
});

describe('IcmpEngine in datagram mode', () => {
  test('sends with the identifier the socket owns and resolves the replies the kernel filtered by it', async () => {
    const { engine, socket } = await setup({ mode: 'dgram', identifier: 0x7777 });
    assert.equal(engine.identifier, 0x7777);
    const p = engine.ping('127.0.0.5', { timeoutMs: 1000 });
    await flushMicrotasks();
    assert.equal(echoIdSeq(socket.sent[0]!.icmp).id, 0x7777);
    socket.reply(0);
    socket.deliver();
    assert.equal(reasonOf(await p), 'ok');
    assert.equal(engine.stats().mode, 'dgram');
    await engine.stop();
  });

  test('an ICMP error from the error queue makes the matching probe unreachable; one about another destination or with another tag is foreign', async () => {
    const { engine, socket } = await setup({ mode: 'dgram' });
    const a = engine.ping('127.0.0.9', { timeoutMs: 1000 });
    const b = track(engine.ping('127.0.0.10', { timeoutMs: 1000 }));
    await flushMicrotasks();
    socket.unreachable(0, { router: '127.0.0.254', code: 1 });
    socket.sent[1] = { ip: '127.0.0.11', icmp: socket.sent[1]!.icmp };
    socket.unreachable(1);
    const forgedTag = Buffer.from(socket.sent[1]!.icmp);
    forgedTag[23] = forgedTag[23]! ^ 0x01;
    socket.sent[1] = { ip: '127.0.0.10', icmp: forgedTag };
    socket.unreachable(1);
    socket.deliver();
    assert.deepEqual(await a, {
      ok: false,
      ip: '127.0.0.9',
      reason: 'unreachable',
      sentAtMs: 1_700_000_000_000,
      detail: 'host unreachable (from 127.0.0.254)',
    });
    await flushMicrotasks();
    assert.equal(b.settled, false);
    assert.equal(engine.stats().foreign, 2);
    await engine.stop();
  });

  test('rotating the identifier opens a new socket and keeps the old one open until its probes end', async () => {
    const clock = new FakeClock();
    const { factory, sockets } = fakeSocketSeries({ mode: 'dgram', identifier: 0x5000 });
    const engine = new IcmpEngine({ clock, openSocket: factory, randomBytes: fixedRandom });
    await engine.start();
    const first = engine.ping('127.0.0.1', { timeoutMs: 100 });
    const second = engine.ping('127.0.0.2', { timeoutMs: 100 });
    await flushMicrotasks();
    const third = engine.ping('127.0.0.3', { timeoutMs: 100 });
    await flushMicrotasks();
    assert.equal(sockets.length, 2);
    assert.deepEqual(
      sockets.map((s) => s.sent.length),
      [2, 1],
    );
    assert.deepEqual(echoIdSeq(sockets[1]!.sent[0]!.icmp), { id: 0x5001, seq: 0 });
    assert.deepEqual(
      [engine.identifier, engine.stats().identifierRotations, engine.stats().socketsOpen],
      [0x5001, 1, 2],
    );
    assert.equal(sockets[0]!.closed, false);
    sockets[0]!.reply(0);
    sockets[0]!.deliver();
    await flushMicrotasks();
    assert.equal(sockets[0]!.closed, false, 'one probe still in flight on the old socket');
    sockets[1]!.reply(0);
    sockets[1]!.deliver();
    clock.advance(100); // the old socket's last probe times out
    await flushMicrotasks();
    assert.deepEqual([reasonOf(await first), reasonOf(await second), reasonOf(await third)], ['ok', 'timeout', 'ok']);
    assert.deepEqual([sockets[0]!.closed, sockets[1]!.closed, engine.stats().socketsOpen], [true, false, 1]);
    assert.deepEqual(sockets[1]!.openedWith, sockets[0]!.openedWith, 'the new socket has the same settings');
    await engine.stop();
    assert.equal(sockets[1]!.closed, true);
  });

  test('a reply that reaches the old socket after the rotation still resolves its probe', async () => {
    const clock = new FakeClock();
    const { factory, sockets } = fakeSocketSeries({ mode: 'dgram' });
    const engine = new IcmpEngine({ clock, openSocket: factory, randomBytes: fixedRandom });
    await engine.start();
    const pings = ['127.0.0.1', '127.0.0.2', '127.0.0.3'].map((ip) => engine.ping(ip, { timeoutMs: 100 }));
    await flushMicrotasks();
    assert.equal(sockets.length, 2, 'rotated while the burst was queued');
    sockets[0]!.reply(0);
    sockets[0]!.reply(1);
    sockets[0]!.deliver();
    sockets[1]!.reply(0);
    sockets[1]!.deliver();
    assert.deepEqual((await Promise.all(pings)).map(reasonOf), ['ok', 'ok', 'ok']);
    await flushMicrotasks();
    assert.equal(sockets[0]!.closed, true);
    await engine.stop();
  });
});

describe('IcmpEngine for IPv6', () => {
  test('pings an IPv6 target with ICMPv6 echo and reports the canonical address', async () => {
    const { engine, socket } = await setup({ family: 'ipv6' }, { family: 'ipv6' });
    const p = engine.ping('FD00:1:0:0::5', { timeoutMs: 1000 });
    await flushMicrotasks();
    assert.deepEqual([socket.sent[0]!.ip, socket.sent[0]!.icmp[0]], ['fd00:1::5', 128]);
    socket.reply(0, { source: 'fd00:1::6' });
    socket.reply(0, { tweaks: { flipPayloadByte: 30 } });
    socket.reply(0);
    socket.deliver();
    const o = await p;
    assert.deepEqual([o.ok, o.ip], [true, 'fd00:1::5']);
    assert.deepEqual(
      [engine.stats().invalidSource, engine.stats().invalidPayload, engine.stats().family],
      [1, 1, 'ipv6'],
    );
    await assert.rejects(engine.ping('127.0.0.1', { timeoutMs: 100 }), TypeError);
    await engine.stop();
  });

  test('maps ICMPv6 unreachable, packet too big and time exceeded quoting our request to unreachable', async () => {
    const { engine, socket } = await setup({ family: 'ipv6' }, { family: 'ipv6' });
    const pings = ['fd00:1::1', 'fd00:1::2', 'fd00:1::3'].map((ip) => engine.ping(ip, { timeoutMs: 1000 }));
    await flushMicrotasks();
    socket.unreachable(0, { router: 'fd00:1::fe', type: 1, code: 3 });
    socket.unreachable(1, { router: 'fd00:1::fe', type: 2, code: 0 });
    socket.unreachable(2, { router: 'fd00:1::fe', type: 3, code: 0, quoteBytes: 8 });
    socket.deliver();
    const details = (await Promise.all(pings)).map((o) => (o.ok ? 'ok' : `${o.reason}: ${o.detail}`));
    assert.deepEqual(details, [
      'unreachable: address unreachable (from fd00:1::fe)',
      'unreachable: packet too big (from fd00:1::fe)',
      'unreachable: hop limit exceeded in transit (from fd00:1::fe)',
    ]);
    await engine.stop();
  });

  test('datagram IPv6: errors from the error queue, identifier from the socket', async () => {
    const { engine, socket } = await setup({ family: 'ipv6', mode: 'dgram', identifier: 0x0606 }, { family: 'ipv6' });
    const p = engine.ping('::1', { timeoutMs: 1000 });
    await flushMicrotasks();
    assert.equal(echoIdSeq(socket.sent[0]!.icmp).id, 0x0606);
    socket.unreachable(0, { router: 'fd00:1::fe', type: 1, code: 0 });
    socket.deliver();
    const o = await p;
    assert.equal(o.ok ? '' : o.detail, 'no route to destination (from fd00:1::fe)');
    await engine.stop();
  });
});

describe('IcmpEngine batching and socket settings', () => {
  test('sends a burst in full batches and one flush for the rest', async () => {
    const { engine, socket } = await setup({ batchSize: 64 });
    for (let i = 0; i < 100; i++) engine.ping(`127.0.2.${i}`, { timeoutMs: 1000 }).catch(() => {});
    assert.deepEqual([socket.sent.length, socket.flushes], [64, 1], 'a full batch leaves at once');
    await flushMicrotasks();
    assert.deepEqual([socket.sent.length, socket.flushes], [100, 2]);
    assert.deepEqual(
      socket.sent.map((s) => s.ip),
      Array.from({ length: 100 }, (_, i) => `127.0.2.${i}`),
    );
    await engine.stop();
  });

  test('a datagram the kernel refuses mid-batch fails alone; the rest go out in order', async () => {
    const { engine, socket } = await setup();
    socket.sendError = (ip) => (ip === '127.0.0.2' ? 'EPERM' : ip === '127.0.0.3' ? 'EHOSTUNREACH' : undefined);
    const pings = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'].map((ip) =>
      track(engine.ping(ip, { timeoutMs: 1000 })),
    );
    await flushMicrotasks();
    assert.deepEqual(
      socket.sent.map((s) => s.ip),
      ['127.0.0.1', '127.0.0.4'],
    );
    assert.deepEqual(
      pings.map((p) => reasonOf(p.value)),
      ['pending', 'send_error', 'unreachable', 'pending'],
    );
    assert.deepEqual(
      [engine.stats().sent, engine.stats().sendErrors, engine.stats().unreachable, engine.stats().inFlight],
      [2, 1, 1, 2],
    );
    await engine.stop();
  });

  test('a partial flush that hits EAGAIN keeps the rest queued in order until the socket is writable', async () => {
    const { engine, socket } = await setup();
    let budget = 2;
    socket.sendError = () => (budget-- > 0 ? undefined : 'EAGAIN');
    const pings = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'].map((ip) =>
      engine.ping(ip, { timeoutMs: 1000 }),
    );
    await flushMicrotasks();
    assert.deepEqual([socket.sent.length, socket.queued, socket.waitingForWritable], [2, 2, true]);
    const late = engine.ping('127.0.0.5', { timeoutMs: 1000 });
    await flushMicrotasks();
    assert.equal(socket.sent.length, 2, 'nothing overtakes the held datagrams');
    socket.sendError = () => undefined;
    socket.makeWritable();
    assert.deepEqual(
      socket.sent.map((s) => s.ip),
      ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'],
    );
    for (let i = 0; i < 5; i++) socket.reply(i);
    socket.deliver();
    assert.deepEqual((await Promise.all([...pings, late])).map(reasonOf), ['ok', 'ok', 'ok', 'ok', 'ok']);
    await engine.stop();
  });

  test('passes the probe settings to the socket factory and checks the payload size per family', async () => {
    const { socket, engine } = await setup(
      {},
      { tos: 0xb8, ttl: 7, sourceAddress: '127.0.0.1', interfaceName: 'lo', payloadBytes: 1472, mode: 'dgram' },
    );
    assert.deepEqual(socket.openedWith, {
      family: 'ipv4',
      mode: 'dgram',
      rcvbufBytes: 8 * 1024 * 1024,
      tos: 0xb8,
      ttl: 7,
      sourceAddress: '127.0.0.1',
      interfaceName: 'lo',
    });
    await engine.stop();
    const sizes: Array<[IcmpEngineOptions['family'], number, boolean]> = [
      ['ipv4', 1473, false],
      ['ipv6', 1452, true],
      ['ipv6', 1453, false],
      ['ipv4', 15, false],
    ];
    for (const [family, payloadBytes, ok] of sizes) {
      const e = new IcmpEngine({
        family,
        payloadBytes,
        clock: new FakeClock(),
        openSocket: new FakeIcmpSocket({ family }).factory(),
        randomBytes: calmRandom,
      });
      if (ok) await e.start();
      else await assert.rejects(e.start(), ConfigError, `${family} ${payloadBytes}`);
      await e.stop();
    }
  });

  test('refuses bad options at start, naming every one with its value and what is allowed', async () => {
    const socket = new FakeIcmpSocket({ family: 'ipv6' });
    const e = new IcmpEngine({
      family: 'ipv6',
      maxInFlight: 0,
      payloadBytes: 1453,
      ttl: 256,
      clock: new FakeClock(),
      openSocket: socket.factory(),
      randomBytes: calmRandom,
    });
    await assert.rejects(
      e.start(),
      optionError('icmp', [
        'ttl: must be an integer from 1 to 255 (got 256)',
        'maxInFlight: must be an integer from 1 to 60000 (got 0)',
        'payloadBytes: must be an integer from 16 to 1452 for ipv6 (got 1453)',
      ]),
    );
    assert.equal(socket.openedWith, undefined, 'no socket opened');
    assert.equal(e.running, false);
  });

  test('refuses a socket of the wrong family from the factory', async () => {
    const socket = new FakeIcmpSocket({ family: 'ipv4' });
    const engine = new IcmpEngine({
      family: 'ipv6',
      clock: new FakeClock(),
      openSocket: socket.factory(),
      randomBytes: calmRandom,
    });
    await assert.rejects(engine.start(), /opened an ipv4 socket for an ipv6 engine/);
    assert.equal(socket.closed, true);
  });
});
