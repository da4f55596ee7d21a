import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, test } from 'node:test';
import { hasCode, NetscanError } from '../errors/errors.js';
import type { PingOutcome } from '../model/ping.js';
import { FakeClock, flushMicrotasks } from '../testkit/fake-clock.js';
import { FakeIcmpSocket } from '../testkit/fake-icmp.js';
import { captureLogger } from '../testkit/logger.js';
import { hasProbeSink, type ProbeSink } from './engine-completions.js';
import { IcmpEngine, type IcmpEngineOptions } from './engine.js';
import { IcmpPinger } from './pinger.js';

function fixedRandom(n: number): Buffer {
  const b = Buffer.alloc(n);
  if (n >= 16) {
    b.writeUInt16BE(0x1234, 0);
    b.writeUInt16BE(0x0100, 2);
    b.writeUInt32BE(0xdeadbeef, 4);
    b.writeUInt32BE(0x01020304, 8);
    b.writeUInt32BE(0x0badf00d, 12);
  }
  return b;
}

/** A device entry as the scheduler keeps one. */
interface Device {
  readonly ip: string;
  readonly name: string;
}

type Completion =
  | { kind: 'settled'; name: string; tag: number; outcome: PingOutcome }
  | { kind: 'rejected'; name: string; tag: number; err: unknown };

/** A sink recording every completion, and how many microtask batches brought them. */
function recordingSink(
  opts: { timeoutMs?: number; signal?: AbortSignal; onSettled?: (d: Device) => void } = {},
): ProbeSink<Device> & { got: Completion[] } {
  const got: Completion[] = [];
  return {
    got,
    timeoutMs: opts.timeoutMs ?? 1000,
    signal: opts.signal,
    settled(d, tag, outcome) {
      got.push({ kind: 'settled', name: d.name, tag, outcome });
      opts.onSettled?.(d);
    },
    rejected(d, tag, err) {
      got.push({ kind: 'rejected', name: d.name, tag, err });
    },
  };
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

const dev = (ip: string, name = ip): Device => ({ ip, name });

describe('IcmpEngine.probe into a sink', () => {
  test('hands a matching reply to the sink with the target and tag, after the read, never inside it', async () => {
    const { engine, socket, clock } = await setup();
    const sink = recordingSink();
    const a = dev('127.0.0.5', 'a');
    engine.probe(a, 41, sink);
    assert.equal(sink.got.length, 0);
    await flushMicrotasks();
    assert.equal(socket.sent.length, 1);
    clock.advance(2.5);
    socket.reply(0, { source: '127.0.0.9' }); // a forged source never counts
    socket.reply(0);
    socket.deliver();
    assert.equal(sink.got.length, 0, 'delivered after the read, not inside it');
    await flushMicrotasks();
    assert.equal(sink.got.length, 1);
    const c = sink.got[0]!;
    assert.ok(c.kind === 'settled' && c.outcome.ok);
    assert.equal(c.name, 'a');
    assert.equal(c.tag, 41);
    assert.equal(c.outcome.ip, '127.0.0.5');
    assert.ok(Math.abs(c.outcome.rttMs - 2.5) < 1e-3, `rtt ${c.outcome.rttMs}`);
    assert.equal(c.outcome.sentAtMs, 1_700_000_000_000);
    const st = engine.stats();
    assert.equal(st.replies, 1);
    assert.equal(st.invalidSource, 1);
    assert.equal(st.inFlight, 0);
    await engine.stop();
  });

  test('matches each reply to its own probe by sequence, in one batch for one read', async () => {
    const { engine, socket } = await setup();
    // How many completions had arrived when the first microtask after each completion ran.
    const marks: number[] = [];
    const sink = recordingSink({ onSettled: () => queueMicrotask(() => marks.push(sink.got.length)) });
    for (let i = 1; i <= 5; i++) engine.probe(dev(`127.0.0.${i}`, `d${i}`), i, sink);
    await flushMicrotasks();
    for (const i of [4, 2, 0, 3, 1]) socket.reply(i);
    socket.deliver();
    await flushMicrotasks();
    assert.deepEqual(
      sink.got.map((c) => [c.name, c.tag, c.kind === 'settled' && c.outcome.ip]),
      [
        ['d5', 5, '127.0.0.5'],
        ['d3', 3, '127.0.0.3'],
        ['d1', 1, '127.0.0.1'],
        ['d4', 4, '127.0.0.4'],
        ['d2', 2, '127.0.0.2'],
      ],
    );
    assert.equal(marks[0], 5, 'the five completions of one read came in one batch');
    await engine.stop();
  });

  test('times out with the sink timeout; a reply after it is late and never reaches the sink', async () => {
    const { engine, socket, clock } = await setup();
    const sink = recordingSink({ timeoutMs: 200 });
    engine.probe(dev('127.0.0.1'), 7, sink);
    await flushMicrotasks();
    clock.advance(199);
    await flushMicrotasks();
    assert.equal(sink.got.length, 0);
    clock.advance(1);
    await flushMicrotasks();
    assert.deepEqual(sink.got, [
      {
        kind: 'settled',
        name: '127.0.0.1',
        tag: 7,
        outcome: { ok: false, ip: '127.0.0.1', reason: 'timeout', sentAtMs: 1_700_000_000_000 },
      },
    ]);
    socket.reply(0);
    socket.deliver();
    await flushMicrotasks();
    assert.equal(sink.got.length, 1);
    assert.equal(engine.stats().timeouts, 1);
    assert.equal(engine.stats().late, 1);
    await engine.stop();
  });

  test('classifies send errors as ping() does: EPERM is send_error, ENETUNREACH is unreachable', async () => {
    const { engine, socket } = await setup();
    socket.sendError = (ip) => (ip === '127.0.0.1' ? 'EPERM' : ip === '127.0.0.2' ? 'ENETUNREACH' : undefined);
    const sink = recordingSink();
    engine.probe(dev('127.0.0.1'), 1, sink);
    engine.probe(dev('127.0.0.2'), 2, sink);
    await flushMicrotasks();
    assert.deepEqual(
      sink.got.map(
        (c) => c.kind === 'settled' && [c.tag, c.outcome.ok || c.outcome.reason, c.outcome.ok || c.outcome.detail],
      ),
      [
        [1, 'send_error', 'sendmmsg: EPERM'],
        [2, 'unreachable', 'sendmmsg: ENETUNREACH'],
      ],
    );
    assert.equal(engine.stats().sendErrors, 1);
    assert.equal(engine.stats().inFlight, 0);
    await engine.stop();
  });

  test('aborting the sink signal rejects its probes with the reason, frees their slots, and leaves other probes alone', async () => {
    const { engine, socket } = await setup({ maxInFlight: 2 });
    const ac = new AbortController();
    const aborted = recordingSink({ signal: ac.signal });
    const other = recordingSink({ signal: new AbortController().signal });
    engine.probe(dev('127.0.0.1'), 1, aborted);
    engine.probe(dev('127.0.0.2'), 2, other);
    engine.probe(dev('127.0.0.3'), 3, aborted); // queued behind the cap
    engine.probe(dev('127.0.0.4'), 4, other); // queued behind the cap
    await flushMicrotasks();
    ac.abort(new Error('bye'));
    await flushMicrotasks();
    assert.deepEqual(
      aborted.got.map((c) => [c.tag, c.kind === 'rejected' && String(c.err)]),
      [
        [1, 'Error: bye'],
        [3, 'Error: bye'],
      ],
    );
    assert.deepEqual(
      socket.sent.map((s) => s.ip),
      ['127.0.0.1', '127.0.0.2', '127.0.0.4'],
    );
    socket.reply(1);
    socket.reply(2);
    socket.deliver();
    await flushMicrotasks();
    assert.deepEqual(
      other.got.map((c) => [c.tag, c.kind === 'settled' && c.outcome.ok]),
      [
        [2, true],
        [4, true],
      ],
    );
    assert.equal(engine.stats().aborted, 2);
    assert.equal(engine.stats().inFlight, 0);
    // A probe with an already aborted signal is rejected, never sent.
    engine.probe(dev('127.0.0.5'), 5, aborted);
    await flushMicrotasks();
    assert.equal(aborted.got.at(-1)?.tag, 5);
    assert.equal(socket.sent.length, 3);
    await engine.stop();
  });

  test('removes the abort listener with the last probe of a signal, and adds one again for the next', async () => {
    const { engine, socket } = await setup();
    const ac = new AbortController();
    const sink = recordingSink({ signal: ac.signal });
    engine.probe(dev('127.0.0.1'), 1, sink);
    engine.probe(dev('127.0.0.2'), 2, sink);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    await flushMicrotasks();
    socket.reply(0);
    socket.reply(1);
    socket.deliver();
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    engine.probe(dev('127.0.0.3'), 3, sink);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 1);
    ac.abort(new Error('stop'));
    await flushMicrotasks();
    assert.deepEqual(
      sink.got.map((c) => [c.tag, c.kind]),
      [
        [1, 'settled'],
        [2, 'settled'],
        [3, 'rejected'],
      ],
    );
    await engine.stop();
  });

  test('stop() fails probes in flight and queued with ERR_ICMP_SOCKET; a probe of a stopped engine fails the same, never inside probe()', async () => {
    const { engine, socket } = await setup({ maxInFlight: 1 });
    const sink = recordingSink();
    engine.probe(dev('127.0.0.1'), 1, sink);
    engine.probe(dev('127.0.0.2'), 2, sink);
    await engine.stop();
    await flushMicrotasks();
    assert.deepEqual(
      sink.got.map((c) => [c.tag, c.kind === 'rejected' && hasCode(c.err, 'ERR_ICMP_SOCKET')]),
      [
        [1, true],
        [2, true],
      ],
    );
    assert.equal(socket.closed, true);
    engine.probe(dev('127.0.0.3'), 3, sink);
    assert.equal(sink.got.length, 2);
    await flushMicrotasks();
    assert.ok(sink.got[2]!.kind === 'rejected' && hasCode(sink.got[2]!.err, 'ERR_ICMP_SOCKET'));
  });

  test('refuses invalid input as ping() does, through the sink and without sending', async () => {
    const { engine, socket } = await setup();
    const sink = recordingSink();
    engine.probe(dev('127.0.0.01'), 1, sink);
    engine.probe(dev('::1'), 2, sink);
    engine.probe(dev('127.0.0.1'), 3, recordingSink({ timeoutMs: 0 }));
    engine.probe(dev('127.0.0.1'), 4, { ...sink, timeoutMs: Number.NaN });
    await flushMicrotasks();
    assert.deepEqual(
      sink.got.map((c) => [c.tag, c.kind === 'rejected' && (c.err as Error).constructor.name]),
      [
        [1, 'TypeError'],
        [2, 'TypeError'],
        [4, 'RangeError'],
      ],
    );
    assert.equal(socket.sent.length, 0);
    await engine.stop();
  });

  test('a sink that throws is logged and the rest of the batch is still delivered', async () => {
    const { logger, lines } = captureLogger();
    const { engine, socket } = await setup({ logger });
    const got: number[] = [];
    const sink: ProbeSink<Device> = {
      timeoutMs: 1000,
      signal: undefined,
      settled: (_d, tag) => {
        got.push(tag);
        if (tag === 1) throw new Error('sink bug');
      },
      rejected: () => undefined,
    };
    engine.probe(dev('127.0.0.1'), 1, sink);
    engine.probe(dev('127.0.0.2'), 2, sink);
    await flushMicrotasks();
    socket.reply(0);
    socket.reply(1);
    socket.deliver();
    await flushMicrotasks();
    assert.deepEqual(got, [1, 2]);
    const errors = lines.filter((l) => l['msg'] === 'a probe sink threw; the result may be lost');
    assert.equal(errors.length, 1);
    assert.equal(errors[0]!['ip'], '127.0.0.1');
    await engine.stop();
  });

  test('a probe made from the sink is sent in the next burst and completed in a later batch', async () => {
    const { engine, socket } = await setup();
    const sink: ProbeSink<Device> & { got: Completion[] } = recordingSink({
      onSettled: (d) => {
        if (d.name === 'first') engine.probe(dev('127.0.0.2', 'second'), 2, sink);
      },
    });
    engine.probe(dev('127.0.0.1', 'first'), 1, sink);
    await flushMicrotasks();
    socket.reply(0);
    socket.deliver();
    await flushMicrotasks();
    assert.deepEqual(
      socket.sent.map((s) => s.ip),
      ['127.0.0.1', '127.0.0.2'],
    );
    socket.reply(1);
    socket.deliver();
    await flushMicrotasks();
    assert.deepEqual(
      sink.got.map((c) => [c.name, c.kind === 'settled' && c.outcome.ok]),
      [
        ['first', true],
        ['second', true],
      ],
    );
    await engine.stop();
  });
});

describe('IcmpPinger.probe', () => {
  test('routes each family to its engine and refuses what is not an address, through the sink', async () => {
    const v4 = new FakeIcmpSocket({ family: 'ipv4' });
    const v6 = new FakeIcmpSocket({ family: 'ipv6' });
    const pinger = new IcmpPinger({
      clock: new FakeClock(),
      engine: { openSocket: (o) => (o.family === 'ipv4' ? v4 : v6), randomBytes: fixedRandom },
    });
    assert.ok(hasProbeSink(pinger));
    const sink = recordingSink();
    pinger.probe(dev('127.0.0.1'), 0, sink);
    await flushMicrotasks();
    assert.ok(sink.got[0]?.kind === 'rejected' && hasCode(sink.got[0].err, 'ERR_ICMP_SOCKET'), 'not started');
    await pinger.start();
    pinger.probe(dev('127.0.0.1', 'a'), 1, sink);
    pinger.probe(dev('0:0:0:0:0:0:0:1', 'b'), 2, sink);
    pinger.probe(dev('not-an-ip', 'c'), 3, sink);
    await flushMicrotasks();
    await flushMicrotasks();
    assert.deepEqual(
      v4.sent.map((s) => s.ip),
      ['127.0.0.1'],
    );
    assert.deepEqual(
      v6.sent.map((s) => s.ip),
      ['::1'],
    );
    v4.reply(0);
    v4.deliver();
    v6.reply(0);
    v6.deliver();
    await flushMicrotasks();
    assert.deepEqual(
      sink.got.slice(1).map((c) => [c.name, c.tag, c.kind === 'settled' ? c.outcome.ip : (c.err as Error).name]),
      [
        ['c', 3, 'TypeError'],
        ['a', 1, '127.0.0.1'],
        ['b', 2, '::1'],
      ],
    );
    await pinger.stop();
  });

  test('a sink that throws on a probe the pinger itself refuses is logged as the engine logs it, never thrown', async () => {
    const { logger, lines } = captureLogger();
    const v4 = new FakeIcmpSocket({ family: 'ipv4' });
    const pinger = new IcmpPinger({
      clock: new FakeClock(),
      logger,
      engine: {
        openSocket: (o) => {
          if (o.family === 'ipv6') throw new NetscanError('ERR_ICMP_PERMISSION', 'no IPv6 for you');
          return v4;
        },
        randomBytes: fixedRandom,
      },
    });
    const tags: number[] = [];
    const sink: ProbeSink<Device> = {
      timeoutMs: 1000,
      signal: undefined,
      settled: () => undefined,
      rejected: (_d, tag) => {
        tags.push(tag);
        throw new Error('sink bug');
      },
    };
    pinger.probe(dev('127.0.0.1'), 1, sink); // not running
    await pinger.start();
    pinger.probe(dev('not-an-ip'), 2, sink);
    pinger.probe(dev('::1'), 3, sink); // its engine cannot start
    await flushMicrotasks();
    await flushMicrotasks();
    assert.deepEqual(
      tags.sort((a, b) => a - b),
      [1, 2, 3],
    );
    const errors = lines.filter((l) => l['msg'] === 'a probe sink threw; the result may be lost');
    assert.deepEqual(
      errors.map((l) => l['ip']),
      ['127.0.0.1', 'not-an-ip', '::1'],
    );
    await pinger.stop();
  });

  test('an IPv6 engine that cannot start fails IPv6 probes with its error and leaves IPv4 alone', async () => {
    const v4 = new FakeIcmpSocket({ family: 'ipv4' });
    const pinger = new IcmpPinger({
      clock: new FakeClock(),
      engine: {
        openSocket: (o) => {
          if (o.family === 'ipv6') throw new NetscanError('ERR_ICMP_PERMISSION', 'no IPv6 for you');
          return v4;
        },
        randomBytes: fixedRandom,
      },
    });
    await pinger.start();
    const sink = recordingSink();
    pinger.probe(dev('::1', 'v6'), 1, sink);
    pinger.probe(dev('127.0.0.1', 'v4'), 2, sink);
    await flushMicrotasks();
    await flushMicrotasks();
    v4.reply(0);
    v4.deliver();
    await flushMicrotasks();
    const byName = new Map(sink.got.map((c) => [c.name, c]));
    const v6 = byName.get('v6');
    assert.ok(v6?.kind === 'rejected' && hasCode(v6.err, 'ERR_ICMP_PERMISSION'));
    const ok = byName.get('v4');
    assert.ok(ok?.kind === 'settled' && ok.outcome.ok);
    await pinger.stop();
  });
});
