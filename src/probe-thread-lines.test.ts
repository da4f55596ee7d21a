import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { PingOptions, PingOutcome, Pinger } from '../internal/model/ping.js';
import type { Point, PointSink } from '../internal/model/point.js';
import { FakeClock } from '../internal/testkit/fake-clock.js';
import { FakeDeviceState } from '../internal/testkit/fake-device-state.js';
import { FakePinger, type FakeReply } from '../internal/testkit/fake-pinger.js';
import { FakeStallMonitor } from '../internal/testkit/fake-stall-monitor.js';
import { inProcessProbeThread } from '../internal/testkit/in-process-probe-thread.js';
import { silentLogger } from '../internal/testkit/logger.js';
import { toLineProtocol } from '../internal/writer/line-protocol.js';
import { parseConfigText } from './config/load.js';
import { DeviceTags } from './device-tags.js';
import type { ProbeObserver } from '../internal/schedule/ping-scheduler.js';
import { PingScheduler, type PingSchedulerOptions } from '../internal/schedule/ping-scheduler.js';
import { ProbeThread } from '../internal/schedule/probe-thread.js';

// FakePinger answers in simulated time: the addresses below are never pinged.
const T0 = 1_700_000_040_000;
const ips = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 1}`);

/** Every probe's answer: replies, each failure reason, a rejection with a detail, stalls, send lag. */
function respond(ip: string, now: number): FakeReply {
  const n = Math.floor((now - T0) / 1000);
  switch (ip) {
    case '127.0.0.1':
      return { rttMs: 0.1 + (n % 7) / 3 };
    case '127.0.0.2':
      return { reason: 'timeout' };
    case '127.0.0.3':
      return n % 4 < 2 ? { reason: 'unreachable', afterMs: 3 } : { rttMs: 0.25 };
    case '127.0.0.4':
      return n % 3 === 0 ? { reason: 'send_error' } : { rttMs: 1e-7 };
    case '127.0.0.6':
      return n % 5 === 2 ? { reason: 'timeout' } : { rttMs: 12.5 };
    case '127.0.0.8':
      return { sendLagMs: 3.5, then: { rttMs: 0 } };
    default:
      return { rttMs: 300 };
  }
}

/** FakePinger, except that every other probe of 127.0.0.5 is rejected (agent_error with a detail). */
function pinger(clock: FakeClock): Pinger {
  const inner = new FakePinger({ clock, respond });
  let n = 0;
  return {
    ping: (ip: string, opts: PingOptions): Promise<PingOutcome> =>
      ip === '127.0.0.5' && n++ % 2 === 0
        ? Promise.reject(new Error('socket "gone",\nreopening'))
        : inner.ping(ip, opts),
  };
}

/** One ordered log of what reaches the store, the observer, the RTT histogram and the outputs (as lines). */
function recorder(clock: FakeClock) {
  const log: string[] = [];
  const state = new FakeDeviceState(clock);
  const logged = {
    get: (ip: string) => state.get(ip),
    isPingSuspended: (ip: string) => state.isPingSuspended(ip),
    recordPingSuccess: (ip: string) => {
      log.push(`ok ${ip}`);
      state.recordPingSuccess(ip);
    },
    recordPingFailure: (ip: string, maxFails: number, backoffMs: number) => {
      log.push(`fail ${ip} ${maxFails} ${backoffMs}`);
      return state.recordPingFailure(ip, maxFails, backoffMs);
    },
  };
  const observer: ProbeObserver = {
    probed: (o) => log.push(`probed ${JSON.stringify(o)}`),
    suspended: (ip) => log.push(`suspended ${ip}`),
    removed: (ip) => log.push(`removed ${ip}`),
  };
  const lines: PointSink = {
    write: (p: Point) => {
      log.push(`line ${toLineProtocol(p, { unsignedAsInteger: false })}`);
      log.push(`line ${toLineProtocol(p, { unsignedAsInteger: true })}`);
      return 0;
    },
  };
  const config = parseConfigText(
    'agent_name: edge 1\nnetworks: [{cidr: "127.0.0.0/29", labels: {site: "my lab, 2", "k=v": x}}]\n',
    { env: {} },
  ).config;
  const tags = new DeviceTags(lines, config);
  tags.setTarget('127.0.0.1', { name: 'host "one"', labels: { role: 'core' } });
  for (const ip of ips) state.markSeen(ip);
  return { log, state: logged, observer, tags };
}

/** The same devices, answers, stalls and device changes, on the main thread or in the probe thread. */
async function run(mode: 'main' | 'worker', opts: Partial<PingSchedulerOptions>): Promise<string[]> {
  const clock = new FakeClock(T0);
  const r = recorder(clock);
  const stalls = new FakeStallMonitor();
  stalls.inject(T0 + 7_000, T0 + 8_000);
  const schedOpts = {
    intervalMs: 1000,
    timeoutMs: 500,
    ratePerSec: 1e6,
    burst: 1e6,
    summaryIntervalMs: 5000,
    maxConsecutiveFails: 3,
    backoffMs: 4000,
    ...opts,
  };
  let sched: PingScheduler | ProbeThread;
  if (mode === 'main') {
    sched = new PingScheduler(
      {
        clock,
        pinger: pinger(clock),
        sink: r.tags,
        state: r.state,
        logger: silentLogger(),
        stallMonitor: stalls,
        observer: {
          ...r.observer,
          probed: (o) => {
            if (o.ok) r.log.push(`rtt ${o.rttMs}`);
            r.observer.probed(o);
          },
        },
      },
      schedOpts,
    );
  } else {
    const fake = inProcessProbeThread({ clock, pinger: pinger(clock), stallMonitor: stalls });
    sched = new ProbeThread(
      {
        clock,
        sink: r.tags,
        state: r.state,
        logger: silentLogger(),
        observer: r.observer,
        rtt: (ms) => r.log.push(`rtt ${ms}`),
        spawn: fake.spawn,
      },
      schedOpts,
    );
  }
  for (const ip of ips) sched.add(ip);
  sched.start();
  await clock.advanceAsync(5_150);
  // 127.0.0.7 answers after 300 ms: removed with its probe in flight, then back.
  sched.remove('127.0.0.7');
  sched.remove('127.0.0.3');
  await clock.advanceAsync(3_000);
  sched.add('127.0.0.7');
  await clock.advanceAsync(9_000);
  await sched.stop();
  return r.log;
}

/** What a log must hold for the comparison to mean something. */
function assertCovers(log: string[], rawPoints: boolean): void {
  const has = (re: RegExp): boolean => log.some((l) => re.test(l));
  for (const re of [
    /^ok 127\.0\.0\.3$/,
    /^fail 127\.0\.0\.2 3 4000$/,
    /^suspended 127\.0\.0\.2$/,
    /^removed 127\.0\.0\.7$/,
    /^removed 127\.0\.0\.3$/,
    /^probed .*"reason":"agent_error".*"detail":"socket \\"gone\\",\\nreopening"/,
    /^probed .*"reason":"agent_overloaded"/,
    /^probed .*"reason":"send_error"/,
    /^rtt 1e-7$/,
    /^line ping_summary,/,
  ])
    assert.ok(has(re), `${re} in the log`);
  if (!rawPoints) return assert.ok(!has(/^line ping,/));
  for (const re of [
    /^line ping,agent=edge\\ 1,ip=127\.0\.0\.1,k\\=v=x,name=host\\ "one",role=core,site=my\\ lab\\,\\ 2 rtt_ms=0\.43333333333333335,success=T,suspended=F 17000000414\d\d$/,
    /^line ping,agent=edge\\ 1,ip=127\.0\.0\.8 rtt_ms=0,success=T,suspended=F \d{13}$/,
    /^line ping,.* reason="agent_error",/,
    /^line ping,.* reason="agent_overloaded",/,
    /^line ping,.* reason="unreachable",/,
    /^line ping,.* reason="timeout",/,
    /^line ping,.* reason="send_error",/,
    /^line ping,.* reason="suspended",/,
  ])
    assert.ok(has(re), `${re} in the log`);
}

for (const opts of [{}, { failedRttZero: true }, { rawPoints: false }])
  test(`the probe thread writes the same lines and makes the same calls in the same order as the main thread ${JSON.stringify(opts)}`, async () => {
    const main = await run('main', opts);
    const worker = await run('worker', opts);
    assertCovers(main, opts.rawPoints !== false);
    assert.ok(main.length > 300);
    assert.deepEqual(worker, main);
  });
