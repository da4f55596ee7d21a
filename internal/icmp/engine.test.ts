import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hasCode, NetscanError } from '../errors/errors.js';
import type { PingOutcome } from '../model/ping.js';
import { FakeClock, flushMicrotasks } from '../testkit/fake-clock.js';
import { FakeIcmpSocket } from '../testkit/fake-icmp.js';
import { echoIdSeq } from '../testkit/icmp-packets.js';
import { captureLogger } from '../testkit/logger.js';
import { IcmpEngine, type IcmpEngineOptions } from './engine.js';

// Deterministic randomness: identifier 0x1234, first sequence 0xfffe (so the identifier rotates
// after two probes), fixed nonce and secret; rotations draw 0x4321.
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

async function setup(
  opts: Partial<IcmpEngineOptions> = {},
): Promise<{ engine: IcmpEngine; socket: FakeIcmpSocket; clock: FakeClock }> {
  const clock = new FakeClock();
  const socket = new FakeIcmpSocket();
  const engine = new IcmpEngine({ clock, openSocket: socket.factory(), randomBytes: fixedRandom, ...opts });
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

describe('IcmpEngine with a fake socket', () => {
  test('resolves a matching reply with the RTT measured on the monotonic clock', async () => {
    const { engine, socket, clock } = await setup();
    const p = engine.ping('127.0.0.5', { timeoutMs: 1000 });
    await flushMicrotasks();
    assert.equal(socket.sent.length, 1);
    assert.equal(socket.sent[0]!.ip, '127.0.0.5');
    assert.equal(socket.sent[0]!.icmp.length, 64);
    clock.advance(3.25);
    socket.reply(0);
    socket.deliver();
    const o = await p;
    assert.ok(o.ok);
    // FakeClock.monoNs() is derived from epoch milliseconds, so the difference carries float noise.
    assert.ok(Math.abs(o.rttMs - 3.25) < 1e-3, `rtt ${o.rttMs}`);
    assert.equal(o.sentAtMs, 1_700_000_000_000);
    assert.equal(engine.stats().replies, 1);
    assert.equal(engine.stats().inFlight, 0);
    await engine.stop();
  });

  test('sends requests with the engine identifier, consecutive sequence numbers and a valid checksum', async () => {
    const { engine, socket } = await setup();
    void engine.ping('127.0.0.1', { timeoutMs: 100 }).catch(() => {});
    void engine.ping('127.0.0.2', { timeoutMs: 100 }).catch(() => {});
    await flushMicrotasks();
    assert.deepEqual(echoIdSeq(socket.sent[0]!.icmp), { id: 0x1234, seq: 0xfffe });
    assert.deepEqual(echoIdSeq(socket.sent[1]!.icmp), { id: 0x1234, seq: 0xffff });
    const { internetChecksum } = await import('./packet.js');
    assert.equal(internetChecksum(socket.sent[0]!.icmp, 0, 64), 0);
    await engine.stop();
  });

  test('rotates the identifier when the sequence numbers wrap and still matches replies sent under the old one', async () => {
    const { engine, socket } = await setup();
    const first = engine.ping('127.0.0.1', { timeoutMs: 100 });
    const second = engine.ping('127.0.0.2', { timeoutMs: 100 });
    const third = engine.ping('127.0.0.3', { timeoutMs: 100 });
    await flushMicrotasks();
    assert.deepEqual(echoIdSeq(socket.sent[2]!.icmp), { id: 0x4321, seq: 0 });
    assert.equal(engine.stats().identifierRotations, 1);
    socket.reply(0);
    socket.reply(1);
    socket.reply(2);
    socket.deliver();
    assert.deepEqual(
      (await Promise.all([first, second, third])).map((o) => o.ok),
      [true, true, true],
    );
    await engine.stop();
  });

  test('ignores forged replies and resolves only on the genuine one', async () => {
    const { engine, socket, clock } = await setup();
    const p = track(engine.ping('127.0.0.5', { timeoutMs: 1000 }));
    await flushMicrotasks();
    const { id, seq } = echoIdSeq(socket.sent[0]!.icmp);
    socket.reply(0, { tweaks: { id: id ^ 1 } });
    socket.reply(0, { tweaks: { seq: (seq + 1) & 0xffff } });
    socket.reply(0, { source: '127.0.0.6' });
    socket.reply(0, { tweaks: { corruptTag: 0x80 } });
    socket.reply(0, { tweaks: { badChecksum: true } });
    socket.reply(0, { tweaks: { corruptNonce: 0x01 } });
    socket.deliver();
    await flushMicrotasks();
    assert.equal(p.settled, false);
    assert.equal(engine.stats().invalid, 5);
    assert.equal(engine.stats().foreign, 1);
    clock.advance(2);
    socket.reply(0);
    socket.deliver();
    await flushMicrotasks();
    assert.equal((p.value as PingOutcome).ok, true);
    assert.equal(engine.stats().replies, 1);
    await engine.stop();
  });

  test('times out with one timer and counts a reply after the timeout as late, not as success', async () => {
    const { engine, socket, clock } = await setup();
    const p = track(engine.ping('127.0.0.5', { timeoutMs: 500 }));
    await flushMicrotasks();
    clock.advance(499);
    await flushMicrotasks();
    assert.equal(p.settled, false);
    assert.equal(clock.pendingTimers(), 1);
    clock.advance(1);
    await flushMicrotasks();
    assert.deepEqual(p.value, { ok: false, ip: '127.0.0.5', reason: 'timeout', sentAtMs: 1_700_000_000_000 });
    socket.reply(0);
    socket.deliver();
    assert.equal(engine.stats().late, 1);
    assert.equal(engine.stats().replies, 0);
    assert.equal(engine.stats().timeouts, 1);
    await engine.stop();
  });

  test('reads replies already waiting in the socket before declaring a timeout', async () => {
    const { engine, socket, clock } = await setup();
    const p = engine.ping('127.0.0.5', { timeoutMs: 500 });
    await flushMicrotasks();
    // The reply arrived in time but the event loop was busy: it sits unread when the timer fires.
    socket.reply(0);
    clock.advance(600);
    const o = await p;
    assert.equal(o.ok, true);
    await engine.stop();
  });

  test('counts a second reply to an answered ping as a duplicate', async () => {
    const { engine, socket } = await setup();
    const p = engine.ping('127.0.0.5', { timeoutMs: 500 });
    await flushMicrotasks();
    socket.reply(0);
    socket.reply(0);
    socket.deliver();
    assert.equal((await p).ok, true);
    assert.deepEqual([engine.stats().replies, engine.stats().duplicates, engine.stats().late], [1, 1, 0]);
    await engine.stop();
  });

  test('arms one timer for many pings sharing a timeout', async () => {
    const { engine, clock } = await setup();
    const all = Array.from({ length: 100 }, (_, i) => engine.ping(`127.0.1.${i}`, { timeoutMs: 1000 }));
    await flushMicrotasks();
    assert.equal(clock.pendingTimers(), 1);
    clock.advance(1000);
    const outcomes = await Promise.all(all);
    assert.equal(outcomes.filter((o) => !o.ok && o.reason === 'timeout').length, 100);
    await engine.stop();
  });

  test('expires pings with different timeouts in deadline order', async () => {
    const { engine, clock } = await setup();
    const order: string[] = [];
    const a = engine.ping('127.0.0.1', { timeoutMs: 300 }).then(() => order.push('a'));
    const b = engine.ping('127.0.0.2', { timeoutMs: 100 }).then(() => order.push('b'));
    const c = engine.ping('127.0.0.3', { timeoutMs: 200 }).then(() => order.push('c'));
    await clock.advanceAsync(100);
    assert.deepEqual(order, ['b']);
    await clock.advanceAsync(100);
    assert.deepEqual(order, ['b', 'c']);
    await clock.advanceAsync(100);
    await Promise.all([a, b, c]);
    assert.deepEqual(order, ['b', 'c', 'a']);
    await engine.stop();
  });

  test('holds pings beyond the in-flight cap in FIFO order and sends them as slots free', async () => {
    const { engine, socket } = await setup({ maxInFlight: 2 });
    const pings = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'].map((ip) =>
      engine.ping(ip, { timeoutMs: 1000 }),
    );
    await flushMicrotasks();
    assert.deepEqual(
      socket.sent.map((s) => s.ip),
      ['127.0.0.1', '127.0.0.2'],
    );
    assert.equal(engine.stats().queued, 2);
    socket.reply(1);
    socket.deliver();
    await flushMicrotasks();
    assert.deepEqual(
      socket.sent.map((s) => s.ip),
      ['127.0.0.1', '127.0.0.2', '127.0.0.3'],
    );
    socket.reply(0);
    socket.reply(2);
    socket.deliver();
    await flushMicrotasks();
    socket.reply(3);
    socket.deliver();
    assert.deepEqual(
      (await Promise.all(pings)).map((o) => o.ok),
      [true, true, true, true],
    );
    await engine.stop();
  });

  test('maps an ICMP destination-unreachable quoting our request to reason unreachable', async () => {
    const { engine, socket } = await setup();
    const p = engine.ping('127.0.0.9', { timeoutMs: 1000 });
    await flushMicrotasks();
    socket.unreachable(0, { router: '127.0.0.254', code: 1 });
    socket.deliver();
    assert.deepEqual(await p, {
      ok: false,
      ip: '127.0.0.9',
      reason: 'unreachable',
      sentAtMs: 1_700_000_000_000,
      detail: 'host unreachable (from 127.0.0.254)',
    });
    await engine.stop();
  });

  test('matches an unreachable that quotes only 8 bytes of the request on identifier, sequence and destination', async () => {
    const { engine, socket } = await setup();
    const p = engine.ping('127.0.0.9', { timeoutMs: 1000 });
    await flushMicrotasks();
    socket.unreachable(0, { quoteBytes: 8, code: 13 });
    socket.deliver();
    const o = await p;
    assert.equal(!o.ok && o.reason, 'unreachable');
    await engine.stop();
  });

  test('ignores an unreachable whose checksum is wrong (damaged in transit)', async () => {
    const { engine, socket, clock } = await setup();
    const p = track(engine.ping('127.0.0.9', { timeoutMs: 1000 }));
    await flushMicrotasks();
    socket.unreachable(0, { corrupt: true });
    socket.deliver();
    await flushMicrotasks();
    assert.equal(p.settled, false);
    assert.equal(engine.stats().invalid, 1);
    clock.advance(1000);
    await flushMicrotasks();
    assert.equal(p.value && !p.value.ok ? p.value.reason : '', 'timeout');
    await engine.stop();
  });

  test('ignores an unreachable about a request to another destination', async () => {
    const { engine, socket } = await setup();
    const p = track(engine.ping('127.0.0.9', { timeoutMs: 1000 }));
    await flushMicrotasks();
    socket.sent[0] = { ip: '127.0.0.10', icmp: socket.sent[0]!.icmp };
    socket.unreachable(0);
    socket.deliver();
    await flushMicrotasks();
    assert.equal(p.settled, false);
    assert.equal(engine.stats().foreign, 1);
    await engine.stop();
  });

  test('classifies send errors: EPERM is send_error, ENETUNREACH is unreachable', async () => {
    const { engine, socket } = await setup();
    socket.sendError = (ip) => (ip === '127.0.0.1' ? 'EPERM' : ip === '127.0.0.2' ? 'ENETUNREACH' : undefined);
    const [a, b] = await Promise.all([
      engine.ping('127.0.0.1', { timeoutMs: 100 }),
      engine.ping('127.0.0.2', { timeoutMs: 100 }),
    ]);
    assert.deepEqual(a, {
      ok: false,
      ip: '127.0.0.1',
      reason: 'send_error',
      sentAtMs: 1_700_000_000_000,
      detail: 'sendmmsg: EPERM',
    });
    assert.deepEqual(b, {
      ok: false,
      ip: '127.0.0.2',
      reason: 'unreachable',
      sentAtMs: 1_700_000_000_000,
      detail: 'sendmmsg: ENETUNREACH',
    });
    assert.equal(engine.stats().inFlight, 0);
    await engine.stop();
  });

  test('waits for the socket to become writable after EAGAIN and keeps the send order', async () => {
    const { engine, socket } = await setup();
    let full = true;
    socket.sendError = () => (full ? 'EAGAIN' : undefined);
    const a = engine.ping('127.0.0.1', { timeoutMs: 100 });
    const b = engine.ping('127.0.0.2', { timeoutMs: 100 });
    await flushMicrotasks();
    assert.equal(socket.sent.length, 0);
    assert.equal(socket.waitingForWritable, true);
    full = false;
    socket.makeWritable();
    assert.deepEqual(
      socket.sent.map((s) => s.ip),
      ['127.0.0.1', '127.0.0.2'],
    );
    socket.reply(0);
    socket.reply(1);
    socket.deliver();
    assert.deepEqual(
      (await Promise.all([a, b])).map((o) => o.ok),
      [true, true],
    );
    await engine.stop();
  });

  test('rejects an aborted ping with the signal reason and frees its slot', async () => {
    const { engine, socket } = await setup({ maxInFlight: 1 });
    const ac = new AbortController();
    const a = engine.ping('127.0.0.1', { timeoutMs: 1000, signal: ac.signal });
    const b = engine.ping('127.0.0.2', { timeoutMs: 1000, signal: ac.signal });
    const c = engine.ping('127.0.0.3', { timeoutMs: 1000 });
    await flushMicrotasks();
    ac.abort(new Error('bye'));
    await assert.rejects(a, /bye/);
    await assert.rejects(b, /bye/);
    assert.deepEqual(
      socket.sent.map((s) => s.ip),
      ['127.0.0.1', '127.0.0.3'],
    );
    socket.reply(1);
    socket.deliver();
    assert.equal((await c).ok, true);
    assert.equal(engine.stats().aborted, 2);
    await engine.stop();
  });

  test('rejects invalid input without sending', async () => {
    const { engine, socket } = await setup();
    await assert.rejects(engine.ping('127.0.0.01', { timeoutMs: 100 }), TypeError);
    await assert.rejects(engine.ping('::1', { timeoutMs: 100 }), TypeError);
    await assert.rejects(engine.ping('127.0.0.1', { timeoutMs: 0 }), RangeError);
    assert.equal(socket.sent.length, 0);
    await engine.stop();
  });

  test('stop() rejects pending pings with ERR_ICMP_SOCKET, closes the socket and is idempotent', async () => {
    const { engine, socket } = await setup({ maxInFlight: 1 });
    const a = engine.ping('127.0.0.1', { timeoutMs: 1000 });
    const b = engine.ping('127.0.0.2', { timeoutMs: 1000 });
    await Promise.all([engine.stop(), engine.stop()]);
    await assert.rejects(a, (e) => hasCode(e, 'ERR_ICMP_SOCKET'));
    await assert.rejects(b, (e) => hasCode(e, 'ERR_ICMP_SOCKET'));
    assert.equal(socket.closed, true);
    await assert.rejects(engine.ping('127.0.0.1', { timeoutMs: 1 }), (e) => hasCode(e, 'ERR_ICMP_SOCKET'));
  });

  test('stop() before start() does nothing', async () => {
    const engine = new IcmpEngine({
      openSocket: () => {
        throw new Error('must not open');
      },
    });
    await engine.stop();
    assert.equal(engine.running, false);
  });

  test('after a stall longer than the timeout, every reply already waiting is read before any probe times out', async () => {
    const { engine, socket, clock } = await setup({ maxInFlight: 8192 });
    const n = 5000; // more than one read's worth (4096)
    const pings = Array.from({ length: n }, (_, i) => engine.ping(`127.1.${i >> 8}.${i & 255}`, { timeoutMs: 1000 }));
    await flushMicrotasks();
    clock.advance(10);
    for (let i = 0; i < n; i++) socket.reply(i); // all answered at 10 ms; the loop is stalled
    clock.advance(1000); // the timer runs before any readable event
    const outcomes = await Promise.all(pings);
    assert.equal(outcomes.filter((o) => !o.ok).length, 0);
    await engine.stop();
  });

  test('after a stall, replies waiting beyond one read are still read when read() batches do not add up to exactly 4096', async () => {
    // recvmmsg may return short (a pending ICMP error ends the vector early; malformed raw IPv4
    // datagrams are skipped), and a socket's batch need not divide 4096: the drain then reads a
    // little past 4096, which must still count as "more may wait".
    const clock = new FakeClock();
    const socket = new FakeIcmpSocket({ batchSize: 100 });
    const engine = new IcmpEngine({ clock, openSocket: socket.factory(), randomBytes: fixedRandom, maxInFlight: 8192 });
    await engine.start();
    const n = 5000;
    const pings = Array.from({ length: n }, (_, i) => engine.ping(`127.1.${i >> 8}.${i & 255}`, { timeoutMs: 1000 }));
    await flushMicrotasks();
    clock.advance(10);
    for (let i = 0; i < n; i++) socket.reply(i);
    clock.advance(1000);
    const outcomes = await Promise.all(pings);
    assert.equal(outcomes.filter((o) => !o.ok).length, 0);
    await engine.stop();
  });

  test('never reads the socket inside a read: replies that free the cap send queued probes, which do not nest a read', async () => {
    const { engine, socket, clock } = await setup({ maxInFlight: 5000 });
    const pings = Array.from({ length: 5100 }, (_, i) =>
      engine.ping(`127.2.${i >> 8}.${i & 255}`, { timeoutMs: 1000 }),
    );
    await flushMicrotasks();
    assert.equal(socket.sent.length, 5000);
    clock.advance(5);
    for (let i = 0; i < 5000; i++) socket.reply(i);
    socket.deliver(); // each reply frees a slot; 100 queued probes go out, a batch at a time
    await flushMicrotasks();
    for (let i = 5000; i < socket.sent.length; i++) socket.reply(i);
    socket.deliver();
    // A read nested inside a read would overwrite the batch being walked: replies lost or counted twice.
    assert.equal(engine.stats().duplicates, 0);
    const outcomes = await Promise.all(pings);
    assert.equal(outcomes.filter((o) => !o.ok).length, 0);
    await engine.stop();
  });

  test('a probe the socket never takes (it stays full) ends as agent_error after its timeout, and the queue moves on', async () => {
    const { engine, socket, clock } = await setup();
    socket.sendError = () => 'ENOBUFS';
    const p = track(engine.ping('127.0.0.9', { timeoutMs: 100 }));
    await flushMicrotasks();
    clock.advance(100);
    await flushMicrotasks();
    assert.equal(p.settled, true, 'settled after its timeout');
    assert.deepEqual([p.value?.ok, p.value && !p.value.ok ? p.value.reason : ''], [false, 'agent_error']);
    assert.equal(engine.stats().inFlight, 0);
    socket.sendError = () => undefined;
    const q = engine.ping('127.0.0.10', { timeoutMs: 100 });
    await flushMicrotasks();
    socket.reply(socket.sent.length - 1);
    socket.deliver();
    assert.equal((await q).ok, true);
    await engine.stop();
  });

  test('survives a socket failure: pings in flight rejected, pings refused while down, a new socket opened at once', async () => {
    const { logger, lines } = captureLogger();
    const clock = new FakeClock();
    const sockets = [new FakeIcmpSocket(), new FakeIcmpSocket()];
    let opened = 0;
    const engine = new IcmpEngine({ clock, openSocket: () => sockets[opened++]!, randomBytes: fixedRandom, logger });
    await engine.start();
    const a = engine.ping('127.0.0.1', { timeoutMs: 1000 });
    await flushMicrotasks();
    sockets[0]!.fail(new Error('EBADF'));
    await assert.rejects(a, (e) => hasCode(e, 'ERR_ICMP_SOCKET') && /EBADF/.test((e as NetscanError).message));
    assert.equal(sockets[0]!.closed, true);
    await assert.rejects(engine.ping('127.0.0.1', { timeoutMs: 1 }), /EBADF/);
    assert.equal(engine.running, true);
    clock.advance(0);
    assert.equal(opened, 2);
    const b = engine.ping('127.0.0.2', { timeoutMs: 1000 });
    await flushMicrotasks();
    assert.equal(sockets[1]!.sent.length, 1);
    sockets[1]!.reply(0);
    sockets[1]!.deliver();
    assert.equal((await b).ok, true);
    // The old socket's late callbacks reach nothing.
    sockets[0]!.fail(new Error('EBADF again'));
    assert.equal(engine.stats().socketFailures, 1);
    assert.deepEqual(
      lines.filter((l) => l.level === 'warn' || l.level === 'error').map((l) => l.msg),
      ['ICMP socket failed; pings in flight rejected, reopening the socket'],
    );
    assert.equal(lines.filter((l) => l.msg === 'ICMP socket reopened; pinging resumed').length, 1);
    await engine.stop();
  });

  test('repeated socket failures and failed reopens back off from 1 s to 30 s; stop() while down cancels the retry', async () => {
    const clock = new FakeClock();
    const socket = new FakeIcmpSocket();
    let refuse = false;
    let opens = 0;
    const engine = new IcmpEngine({
      clock,
      randomBytes: fixedRandom,
      openSocket: () => {
        opens++;
        if (refuse) throw new Error('ENOBUFS');
        socket.closed = false;
        return socket;
      },
    });
    await engine.start();
    socket.fail(new Error('first'));
    clock.advance(0);
    assert.equal(opens, 2, 'a first failure reopens at once');
    clock.advance(10_000);
    refuse = true;
    socket.fail(new Error('second, within a minute'));
    clock.advance(999);
    assert.equal(opens, 2);
    clock.advance(1);
    assert.equal(opens, 3, 'then after 1 s');
    const waits: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = opens;
      let waited = 0;
      while (opens === before) {
        clock.advance(500);
        waited += 500;
      }
      waits.push(waited);
    }
    assert.deepEqual(waits, [2000, 4000, 8000, 16_000, 30_000, 30_000]);
    await assert.rejects(engine.ping('127.0.0.1', { timeoutMs: 1 }), (e) => hasCode(e, 'ERR_ICMP_SOCKET'));
    await engine.stop();
    assert.equal(clock.pendingTimers(), 0);
    assert.equal(engine.running, false);
  });

  test('lowers the in-flight cap to what the receive buffer can hold and says why', async () => {
    const { logger, lines } = captureLogger();
    const socket = new FakeIcmpSocket(212_992 * 2);
    const engine = new IcmpEngine({
      clock: new FakeClock(),
      openSocket: socket.factory(),
      randomBytes: fixedRandom,
      logger,
      maxInFlight: 8192,
    });
    await engine.start();
    // 425,984 bytes / (968 + 56) bytes per queued reply = 416 replies.
    assert.equal(engine.stats().maxInFlight, 416);
    for (let i = 0; i < 420; i++) engine.ping(`127.0.${i >> 8}.${i & 255}`, { timeoutMs: 1000 }).catch(() => {});
    await flushMicrotasks();
    assert.equal(socket.sent.length, 416);
    assert.equal(engine.stats().queued, 4);
    assert.equal(lines.filter((l) => l.level === 'warn' && /cap lowered/.test(String(l.msg))).length, 1);
    await engine.stop();
  });

  test('start() passes the permission error of the socket factory through', async () => {
    const engine = new IcmpEngine({
      openSocket: () => {
        throw new NetscanError('ERR_ICMP_PERMISSION', 'needs CAP_NET_RAW');
      },
    });
    await assert.rejects(engine.start(), (e) => hasCode(e, 'ERR_ICMP_PERMISSION'));
    assert.equal(engine.running, false);
  });
});
