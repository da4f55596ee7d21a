import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NetscanError } from '../errors/errors.js';
import type { ProbeSink, ProbeSinkPinger, ProbeTarget } from '../icmp/engine-completions.js';
import type { Logger } from '../log/log.js';
import type { PingOptions, PingOutcome, Pinger } from '../model/ping.js';
import type { Point } from '../model/point.js';
import { FakeClock, flushMicrotasks } from '../testkit/fake-clock.js';
import { FakeDeviceState } from '../testkit/fake-device-state.js';
import { FakePinger, type FakePingerOptions } from '../testkit/fake-pinger.js';
import { FakeStallMonitor } from '../testkit/fake-stall-monitor.js';
import { captureLogger, silentLogger } from '../testkit/logger.js';
import { RecordingSink } from '../testkit/recording-sink.js';
import { PingScheduler, type PingSchedulerOptions } from './ping-scheduler.js';

const T0 = 1_700_000_040_000;
const IP = '127.0.0.1'; // phase 407 ms at 1 s
const fieldValue = (p: Point, name: string): unknown => p.fields[name]?.value;

/**
 * A pinger completing probes into the scheduler's sink (as the ICMP engine does), answering as a
 * {@link FakePinger}; ping() is counted so a test can tell the scheduler never used it.
 */
class SinkPinger implements Pinger, ProbeSinkPinger {
  pingCalls = 0;
  probeCalls = 0;
  /** While set, probes are held instead of answered (a hung engine). */
  hang = false;
  /** Completions of held probes, to deliver late. */
  readonly held: Array<() => void> = [];
  /** What probe() throws, when set. */
  throws: Error | undefined;
  readonly fake: FakePinger;

  constructor(fake: FakePinger) {
    this.fake = fake;
  }

  ping(ip: string, opts: PingOptions): Promise<PingOutcome> {
    this.pingCalls++;
    return this.fake.ping(ip, opts);
  }

  probe<T extends ProbeTarget>(target: T, tag: number, sink: ProbeSink<T>): void {
    this.probeCalls++;
    if (this.throws) throw this.throws;
    if (this.hang) {
      const outcome: PingOutcome = { ok: true, ip: target.ip, rttMs: 1, sentAtMs: T0 };
      this.held.push(() => sink.settled(target, tag, outcome));
      return;
    }
    this.fake.ping(target.ip, { timeoutMs: sink.timeoutMs, ...(sink.signal ? { signal: sink.signal } : {}) }).then(
      (o) => sink.settled(target, tag, o),
      (err: unknown) => sink.rejected(target, tag, err),
    );
  }
}

interface Rig {
  clock: FakeClock;
  pinger: SinkPinger;
  sink: RecordingSink;
  state: FakeDeviceState;
  stalls: FakeStallMonitor;
  sched: PingScheduler;
}

function rig(
  opts: Partial<PingSchedulerOptions> = {},
  extra: { pinger?: Partial<FakePingerOptions>; logger?: Logger } = {},
): Rig {
  const clock = new FakeClock(T0);
  const pinger = new SinkPinger(new FakePinger({ clock, ...extra.pinger }));
  const sink = new RecordingSink();
  const state = new FakeDeviceState(clock);
  const stalls = new FakeStallMonitor();
  const sched = new PingScheduler(
    { clock, pinger, sink, state, logger: extra.logger ?? silentLogger(), stallMonitor: stalls },
    { intervalMs: 1000, timeoutMs: 500, ratePerSec: 1e6, burst: 1e6, ...opts },
  );
  for (const ip of ['127.0.0.1', '127.0.0.2', '127.0.0.3']) state.markSeen(ip);
  return { clock, pinger, sink, state, stalls, sched };
}

test('with a sink pinger every probe goes through probe(), never ping(), and replies, losses and the breaker are recorded', async () => {
  const reasons: Record<string, 'timeout' | 'unreachable' | undefined> = {
    '127.0.0.2': 'timeout',
    '127.0.0.3': 'unreachable',
  };
  const r = rig(
    { maxConsecutiveFails: 2 },
    { pinger: { respond: (ip) => (reasons[ip] ? { reason: reasons[ip] } : { rttMs: 1.5 }) } },
  );
  for (const ip of Object.keys(reasons).concat(IP)) r.sched.add(ip);
  r.sched.start();
  await r.clock.advanceAsync(3000);
  const s = r.sched.stats();
  assert.equal(r.pinger.pingCalls, 0);
  assert.equal(r.pinger.probeCalls, s.pingsSentTotal);
  assert.equal(s.repliesTotal, 3);
  assert.equal(s.failuresByReason.timeout, 2);
  assert.equal(s.failuresByReason.unreachable, 2);
  assert.equal(s.inFlight, 0);
  assert.equal(r.state.isPingSuspended('127.0.0.2'), true);
  assert.equal(r.state.isPingSuspended('127.0.0.3'), true);
  assert.equal(r.state.isPingSuspended(IP), false);
  const replies = r.sink.of('ping', IP);
  assert.deepEqual(
    replies.map((p) => [p.timeMs - T0, fieldValue(p, 'success'), fieldValue(p, 'rtt_ms')]),
    [
      [407, true, 1.5],
      [1407, true, 1.5],
      [2407, true, 1.5],
    ],
  );
  await r.sched.stop();
});

test('through the sink, a timeout during an agent stall is agent_overloaded and never feeds the breaker', async () => {
  const r = rig(
    { maxConsecutiveFails: 3, backoffMs: 60_000, overloadThresholdMs: 200 },
    { pinger: { respond: () => ({ reason: 'timeout' }) } },
  );
  r.sched.add(IP);
  r.stalls.inject(T0 + 300, T0 + 2_950); // covers the probes at 407, 1407 and 2407
  r.sched.start();
  await r.clock.advanceAsync(3000);
  let s = r.sched.stats();
  assert.equal(s.failuresByReason.agent_overloaded, 3);
  assert.equal(s.failuresByReason.timeout, 0);
  assert.equal(r.state.failuresReported.get(IP) ?? 0, 0);
  await r.clock.advanceAsync(3000); // 3407, 4407, 5407: real timeouts, the third trips the breaker
  s = r.sched.stats();
  assert.equal(s.failuresByReason.timeout, 3);
  assert.equal(r.state.isPingSuspended(IP), true);
  assert.equal(r.pinger.pingCalls, 0);
  await r.sched.stop();
});

test('through the sink, a send that lagged its dispatch past the threshold makes a timeout agent_overloaded', async () => {
  const r = rig(
    { overloadThresholdMs: 200 },
    { pinger: { respond: () => ({ sendLagMs: 300, then: { reason: 'timeout' } }) } },
  );
  r.sched.add(IP);
  r.sched.start();
  await r.clock.advanceAsync(1300);
  const s = r.sched.stats();
  assert.equal(s.failuresByReason.agent_overloaded, 1);
  assert.equal(s.sendLagMaxMs, 300);
  assert.equal(fieldValue(r.sink.of('ping')[0]!, 'reason'), 'agent_overloaded');
  await r.sched.stop();
});

test('a probe the sink never completes is abandoned after 2 × timeout + 1 s, and its late completion is ignored', async () => {
  const r = rig();
  r.sched.add(IP);
  r.pinger.hang = true;
  r.sched.start();
  await r.clock.advanceAsync(2500); // sent at 407, held; 1407 and 2407 skipped
  r.pinger.hang = false;
  await r.clock.advanceAsync(1000); // abandoned at 3407 and probed again: a reply
  let s = r.sched.stats();
  assert.equal(s.hungProbesTotal, 1);
  assert.equal(s.failuresByReason.agent_error, 1);
  assert.equal(s.repliesTotal, 1);
  assert.equal(s.skippedTicksTotal, 2);
  // The hung probe's completion, carrying its old tag, arrives at last: nothing more is recorded.
  const points = r.sink.count('ping');
  r.pinger.held.shift()!();
  s = r.sched.stats();
  assert.equal(s.repliesTotal, 1);
  assert.equal(s.inFlight, 0);
  assert.equal(r.sink.count('ping'), points);
  assert.equal(r.state.failuresReported.get(IP) ?? 0, 0, 'an agent fault never feeds the breaker');
  await r.sched.stop();
});

test('a sink rejection is agent_error; only one that is not a socket failure is logged as a pinger fault', async () => {
  const { logger, lines } = captureLogger();
  const r = rig({}, { logger });
  const errors = [new NetscanError('ERR_ICMP_SOCKET', 'socket down'), new Error('engine bug')];
  r.pinger.probe = <T extends ProbeTarget>(target: T, tag: number, sink: ProbeSink<T>): void => {
    r.pinger.probeCalls++;
    const err = errors.shift();
    queueMicrotask(() => sink.rejected(target, tag, err));
  };
  r.sched.add(IP);
  r.sched.start();
  await r.clock.advanceAsync(2000);
  const s = r.sched.stats();
  assert.equal(s.failuresByReason.agent_error, 2);
  assert.equal(r.state.failuresReported.get(IP) ?? 0, 0);
  assert.deepEqual(
    r.sink.of('ping').map((p) => fieldValue(p, 'reason')),
    ['agent_error', 'agent_error'],
  );
  const logged = lines.filter((l) => l['msg'] === 'pinger rejected; recorded as agent_error');
  assert.equal(logged.length, 1);
  assert.match(String((logged[0]!['err'] as { message?: unknown }).message), /engine bug/);
  await r.sched.stop();
});

test('a sink pinger that throws from probe() records agent_error, later, and the schedule goes on', async () => {
  const r = rig();
  r.sched.add(IP);
  r.pinger.throws = new Error('boom');
  r.sched.start();
  await r.clock.advanceAsync(1000);
  r.pinger.throws = undefined;
  await r.clock.advanceAsync(1000);
  const s = r.sched.stats();
  assert.equal(s.failuresByReason.agent_error, 1);
  assert.equal(s.repliesTotal, 1);
  assert.equal(s.inFlight, 0);
  await r.sched.stop();
});

test('stop() aborts the probes in flight through the sink signal and does not wait for their timeout', async () => {
  const r = rig({ timeoutMs: 5000 }, { pinger: { respond: () => ({ reason: 'timeout' }) } });
  r.sched.add(IP);
  r.sched.start();
  await r.clock.advanceAsync(500); // the probe at 407 waits for its 5 s timeout
  assert.equal(r.sched.stats().inFlight, 1);
  let stopped = false;
  void r.sched.stop().then(() => (stopped = true));
  await flushMicrotasks();
  assert.equal(stopped, true, 'stopped without the clock moving');
  assert.equal(r.sched.stats().inFlight, 0);
  assert.equal(r.sink.count('ping'), 0, 'the aborted probe is discarded');
});
