import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { hasCode, NetscanError } from '../errors/errors.js';
import { FakeClock } from '../testkit/fake-clock.js';
import { TargetPinger } from '../testkit/fake-icmp.js';
import { captureLogger } from '../testkit/logger.js';
import { Sweeper, type AliveHost, type SweeperOptions, type SweepSummary } from './sweeper.js';
import { optionError } from '../testkit/option-error.js';

function setup(opts: Partial<SweeperOptions> = {}): { clock: FakeClock; pinger: TargetPinger; sweeper: Sweeper } {
  const clock = new FakeClock();
  const pinger = new TargetPinger(clock);
  const sweeper = new Sweeper({
    pinger,
    clock,
    ratePps: 1000,
    maxInFlight: 64,
    timeoutMs: 100,
    retries: 0,
    seed: 1,
    ...opts,
  });
  return { clock, pinger, sweeper };
}

async function sweepToEnd(clock: FakeClock, run: Promise<SweepSummary>, maxMs = 600_000): Promise<SweepSummary> {
  let done: SweepSummary | undefined;
  let failed: unknown;
  run.then(
    (s) => {
      done = s;
    },
    (e: unknown) => {
      failed = e;
    },
  );
  for (let t = 0; t < maxMs && done === undefined && failed === undefined; t += 100) await clock.advanceAsync(100);
  if (failed !== undefined) throw failed;
  assert.ok(done, 'sweep did not finish');
  return done;
}

describe('Sweeper', () => {
  test('reports exactly the hosts that answer and counts every address once', async () => {
    const { clock, pinger, sweeper } = setup();
    for (const h of [1, 7, 100, 254]) pinger.targets.set(`127.0.0.${h}`, { rttMs: 2 });
    pinger.targets.set('127.0.0.8', { reason: 'unreachable', afterMs: 1 });
    const alive: AliveHost[] = [];
    const s = await sweepToEnd(
      clock,
      sweeper.sweep({ cidrs: ['127.0.0.0/24'] }, (h) => alive.push(h)),
    );
    assert.deepEqual(alive.map((h) => h.ip).sort(), ['127.0.0.1', '127.0.0.100', '127.0.0.254', '127.0.0.7']);
    assert.equal(alive[0]!.rttMs, 2);
    assert.deepEqual(
      [s.total, s.scanned, s.alive, s.probesSent, s.aborted, s.skipped],
      [254, 254, 4, 254, false, false],
    );
    assert.equal(new Set(pinger.calls).size, 254);
    assert.ok(!pinger.calls.includes('127.0.0.0') && !pinger.calls.includes('127.0.0.255'));
  });

  test('probes overlapping networks once, skips excludes, and mixes networks in one random order', async () => {
    const { clock, pinger, sweeper } = setup();
    const s = await sweepToEnd(
      clock,
      sweeper.sweep({
        cidrs: ['127.0.1.0/24', '127.0.2.0/24', '127.0.1.128/25', '127.0.1.5'],
        exclude: ['127.0.2.0/25'],
      }),
    );
    assert.equal(s.total, 254 + 127);
    assert.equal(pinger.calls.length, 254 + 127);
    assert.equal(new Set(pinger.calls).size, pinger.calls.length);
    assert.ok(pinger.calls.every((ip) => ip.startsWith('127.0.1.') || Number(ip.split('.')[3]) >= 128));
    const firstFifty = pinger.calls.slice(0, 50);
    assert.ok(firstFifty.some((ip) => ip.startsWith('127.0.1.')) && firstFifty.some((ip) => ip.startsWith('127.0.2.')));
  });

  test('paces probes at the configured rate', async () => {
    const { clock, pinger, sweeper } = setup({ ratePps: 100, timeoutMs: 10 });
    const run = sweeper.sweep({ cidrs: ['127.0.0.0/24'] });
    await clock.advanceAsync(1000);
    // One second at 100 pps, plus the bucket's initial burst of one batch.
    assert.ok(pinger.calls.length >= 100 && pinger.calls.length <= 101, `sent ${pinger.calls.length}`);
    const s = await sweepToEnd(clock, run);
    assert.ok(s.elapsedMs >= 2530 && s.elapsedMs <= 2600, `elapsed ${s.elapsedMs}`);
    assert.ok(Math.abs(s.ratePps - (254 * 1000) / s.elapsedMs) < 1e-9);
  });

  test('never has more probes outstanding than its in-flight cap', async () => {
    const { clock, pinger, sweeper } = setup({ maxInFlight: 10, ratePps: 100_000, timeoutMs: 50 });
    await sweepToEnd(clock, sweeper.sweep({ cidrs: ['127.0.0.0/24'] }));
    assert.equal(pinger.maxInFlight, 10);
  });

  test('retries silent hosts but not unreachable ones, and paces the retries', async () => {
    const { clock, pinger, sweeper } = setup({ retries: 2 });
    pinger.targets.set('127.0.0.1', (attempt) => (attempt === 2 ? { rttMs: 1 } : { reason: 'timeout', afterMs: 100 }));
    pinger.targets.set('127.0.0.2', { reason: 'unreachable', afterMs: 1 });
    const alive: string[] = [];
    const s = await sweepToEnd(
      clock,
      sweeper.sweep({ cidrs: ['127.0.0.0/30'] }, (h) => alive.push(h.ip)),
    );
    assert.deepEqual(alive, ['127.0.0.1']);
    assert.deepEqual(pinger.calls.filter((ip) => ip === '127.0.0.1').length, 3);
    assert.deepEqual(pinger.calls.filter((ip) => ip === '127.0.0.2').length, 1);
    assert.equal(s.probesSent, 4);
  });

  test('does not retry when retries is 0', async () => {
    const { clock, pinger, sweeper } = setup({ retries: 0 });
    pinger.targets.set('127.0.0.1', (attempt) => (attempt === 1 ? { rttMs: 1 } : { reason: 'timeout' }));
    const s = await sweepToEnd(clock, sweeper.sweep({ cidrs: ['127.0.0.1'] }));
    assert.deepEqual([s.alive, s.probesSent], [0, 1]);
  });

  test('a sweep requested while one runs is skipped and counted, never run in parallel', async () => {
    const { clock, sweeper } = setup({ ratePps: 100 });
    const first = sweeper.sweep({ cidrs: ['127.0.0.0/24'] });
    assert.equal(sweeper.running, true);
    const second = await sweeper.sweep({ cidrs: ['127.0.0.0/24'] });
    assert.equal(second.skipped, true);
    assert.equal(sweeper.skippedSweeps, 1);
    const s = await sweepToEnd(clock, first);
    assert.equal(s.scanned, 254);
    assert.equal(sweeper.running, false);
  });

  test('stop() aborts the running sweep promptly and later sweeps do nothing', async () => {
    const { clock, pinger, sweeper } = setup({ ratePps: 100, timeoutMs: 60_000 });
    const run = sweeper.sweep({ cidrs: ['127.0.0.0/16'] });
    await clock.advanceAsync(500);
    assert.ok(pinger.inFlight > 0);
    await Promise.all([sweeper.stop(), sweeper.stop()]);
    const s = await run;
    assert.equal(s.aborted, true);
    assert.ok(s.scanned < s.total);
    assert.equal(pinger.inFlight, 0);
    assert.equal(clock.pendingTimers(), 0);
    assert.equal((await sweeper.sweep({ cidrs: ['127.0.0.1'] })).aborted, true);
    await sweeper.start();
    const again = await sweepToEnd(clock, sweeper.sweep({ cidrs: ['127.0.0.1'] }));
    assert.equal(again.scanned, 1);
  });

  test("the caller's signal aborts the sweep", async () => {
    const { clock, sweeper } = setup({ ratePps: 10 });
    const ac = new AbortController();
    const run = sweeper.sweep({ cidrs: ['127.0.0.0/24'] }, undefined, ac.signal);
    await clock.advanceAsync(1000);
    ac.abort();
    const s = await run;
    assert.equal(s.aborted, true);
    assert.ok(s.scanned <= 12, `scanned ${s.scanned}`);
  });

  test('rejects unparsable networks with ERR_CONFIG naming them', async () => {
    const { sweeper } = setup();
    await assert.rejects(
      sweeper.sweep({ cidrs: ['127.0.0.0/24', '127.0.0.0/33', 'x'] }),
      (e) => hasCode(e, 'ERR_CONFIG') && e.message === 'invalid CIDR notation: 127.0.0.0/33, x',
    );
    await assert.rejects(
      new Sweeper({ pinger: new TargetPinger(new FakeClock()), ratePps: 0 }).sweep({ cidrs: ['127.0.0.1'] }),
      (e) => hasCode(e, 'ERR_CONFIG') && e.message === 'ratePps: must be a finite number greater than 0 (got 0)',
    );
  });

  test('refuses every bad option at once, each named with its value and what is allowed', async () => {
    const sweeper = new Sweeper({
      pinger: new TargetPinger(new FakeClock()),
      ratePps: 0,
      maxInFlight: 0.5,
      timeoutMs: NaN,
      retries: -1,
      count: 0,
      periodMs: -5,
    });
    await assert.rejects(
      sweeper.sweep({ cidrs: ['127.0.0.1'] }),
      optionError('sweep', [
        'ratePps: must be a finite number greater than 0 (got 0)',
        'maxInFlight: must be an integer >= 1 (got 0.5)',
        'timeoutMs: must be a finite number greater than 0 (got NaN)',
        'retries: must be an integer >= 0 (got -1)',
        'count: must be an integer >= 1 (got 0)',
        'periodMs: must be a finite number >= 0 (got -5)',
      ]),
    );
  });

  test('fails the sweep with the engine error when the engine breaks', async () => {
    const { clock, pinger, sweeper } = setup();
    let n = 0;
    const original = pinger.ping.bind(pinger);
    pinger.ping = (ip, opts) =>
      ++n === 10 ? Promise.reject(new NetscanError('ERR_ICMP_SOCKET', 'socket died')) : original(ip, opts);
    await assert.rejects(sweepToEnd(clock, sweeper.sweep({ cidrs: ['127.0.0.0/24'] })), (e) =>
      hasCode(e, 'ERR_ICMP_SOCKET'),
    );
    assert.equal(sweeper.running, false);
  });

  test('a throwing alive callback is logged and the sweep goes on', async () => {
    const { logger, lines } = captureLogger();
    const { clock, pinger, sweeper } = setup({ logger });
    pinger.targets.set('127.0.0.1', { rttMs: 1 });
    pinger.targets.set('127.0.0.2', { rttMs: 1 });
    const s = await sweepToEnd(
      clock,
      sweeper.sweep({ cidrs: ['127.0.0.0/30'] }, () => {
        throw new Error('boom');
      }),
    );
    assert.equal(s.alive, 2);
    assert.equal(lines.filter((l) => l.msg === 'sweep listener threw; sweep continues').length, 2);
  });

  test('reports progress while running', async () => {
    const { clock, sweeper } = setup({ ratePps: 100, timeoutMs: 10 });
    assert.equal(sweeper.progress(), undefined);
    const run = sweeper.sweep({ cidrs: ['127.0.0.0/24'] });
    await clock.advanceAsync(1000);
    const p = sweeper.progress()!;
    assert.equal(p.total, 254);
    assert.ok(p.scanned >= 95 && p.scanned <= 101, `scanned ${p.scanned}`);
    await sweepToEnd(clock, run);
  });

  test('sweeps IPv6 prefixes and ranges: every address exactly once, in canonical text, excludes honoured', async () => {
    const { clock, pinger, sweeper } = setup({ ratePps: 100_000, maxInFlight: 256, timeoutMs: 10 });
    pinger.targets.set('fd00:1::2a', { rttMs: 1 });
    const alive: string[] = [];
    const s = await sweepToEnd(
      clock,
      sweeper.sweep(
        {
          cidrs: ['fd00:1::/112', 'FD00:1:0::FFF0-fd00:1::1:f', 'fd00:2::1'],
          exclude: ['fd00:1::/120', 'fd00:1::1:8'],
        },
        (h) => alive.push(h.ip),
      ),
    );
    const expected = 65536 - 256 + 15 + 1;
    assert.deepEqual([s.total, s.scanned, s.probesSent], [expected, expected, expected]);
    assert.equal(pinger.calls.length, expected);
    assert.equal(new Set(pinger.calls).size, expected);
    assert.deepEqual(alive, [], 'fd00:1::2a is excluded');
    assert.ok(
      pinger.calls.includes('fd00:1::ffff') &&
        pinger.calls.includes('fd00:1::1:0') &&
        pinger.calls.includes('fd00:2::1'),
    );
    assert.ok(
      !pinger.calls.includes('fd00:1::ff') &&
        !pinger.calls.includes('fd00:1::1:8') &&
        !pinger.calls.includes('fd00:1::1:10'),
    );
    assert.ok(
      pinger.calls.every((ip) => ip === ip.toLowerCase() && !/(^|:)0[0-9a-f]/.test(ip)),
      'RFC 5952 text',
    );
  });

  test('mixes IPv4 and IPv6 addresses in one random order, the same for the same seed', async () => {
    const order = async (seed: number): Promise<string[]> => {
      const { clock, pinger, sweeper } = setup({ seed, ratePps: 100_000, timeoutMs: 10 });
      await sweepToEnd(clock, sweeper.sweep({ cidrs: ['127.0.0.0/24', 'fd00::/120'] }));
      return pinger.calls;
    };
    const a = await order(7);
    assert.equal(a.length, 254 + 256);
    const firstFifty = a.slice(0, 50);
    assert.ok(firstFifty.some((ip) => ip.includes(':')) && firstFifty.some((ip) => ip.includes('.')));
    const ipv6Seen = a.filter((ip) => ip.includes(':'));
    assert.notDeepEqual(ipv6Seen, [...ipv6Seen].sort(), 'not sequential');
    assert.deepEqual(await order(7), a);
    assert.notDeepEqual(await order(8), a);
  });

  test('refuses an IPv6 prefix too large to sweep, naming it and the way out', async () => {
    const { sweeper } = setup();
    await assert.rejects(
      sweeper.sweep({ cidrs: ['fd00::/64', 'x'] }),
      (e) =>
        hasCode(e, 'ERR_CONFIG') &&
        e.message ===
          'invalid CIDR notation: x; IPv6 prefix fd00::/64 is too large to sweep (2^64 addresses; the limit is /112, 65536 addresses): list the hosts to probe as targets instead',
    );
  });

  test('reports each silent address once as unreachable with the reason of its last probe', async () => {
    const { clock, pinger, sweeper } = setup({ retries: 1 });
    pinger.targets.set('127.0.0.1', { rttMs: 1 });
    pinger.targets.set('127.0.0.2', { reason: 'unreachable', afterMs: 1 });
    const unreachable: string[] = [];
    const probes: string[] = [];
    await sweepToEnd(
      clock,
      sweeper.sweep(
        { cidrs: ['127.0.0.0/30', '::1'] },
        {
          unreachable: (h) => unreachable.push(`${h.ip} ${h.reason}`),
          probe: (o, seq) => probes.push(`${o.ip}#${seq} ${o.ok ? 'ok' : o.reason}`),
        },
      ),
    );
    assert.deepEqual(unreachable.sort(), ['127.0.0.2 unreachable', '::1 timeout']);
    assert.deepEqual(probes.sort(), ['127.0.0.1#0 ok', '127.0.0.2#0 unreachable', '::1#0 timeout', '::1#1 timeout']);
  });

  test('count mode sends exactly count requests per address, a period apart, answered or not', async () => {
    const { clock, pinger, sweeper } = setup({ count: 3, periodMs: 1000, retries: 5, timeoutMs: 100 });
    pinger.targets.set('127.0.0.1', (attempt) => (attempt === 1 ? { reason: 'timeout' } : { rttMs: 2 }));
    const sends: Record<string, number[]> = {};
    const alive: string[] = [];
    const unreachable: string[] = [];
    const s = await sweepToEnd(
      clock,
      sweeper.sweep(
        { cidrs: ['127.0.0.1', '127.0.0.2'] },
        {
          alive: (h) => alive.push(h.ip),
          unreachable: (h) => unreachable.push(h.ip),
          probe: (o) => (sends[o.ip] ??= []).push(o.sentAtMs),
        },
      ),
    );
    assert.equal(s.probesSent, 6);
    assert.deepEqual([alive, unreachable], [['127.0.0.1'], ['127.0.0.2']]);
    for (const times of Object.values(sends)) {
      assert.equal(times.length, 3);
      assert.deepEqual([times[1]! - times[0]!, times[2]! - times[1]!], [1000, 1000]);
    }
  });
});
