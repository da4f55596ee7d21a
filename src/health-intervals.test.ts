import assert from 'node:assert/strict';
import { test } from 'node:test';
import { zeroIcmpEngineStats } from '../internal/icmp/engine-options.js';
import type { PingSchedulerStats } from '../internal/schedule/ping-scheduler.js';
import type { WriterStats } from '../internal/writer/influx-writer.js';
import { captureLogger } from '../internal/testkit/logger.js';
import { HealthIntervals } from './health-intervals.js';
import { buildHealthDocument, type AgentFigures } from './telemetry.js';

const T0 = 1_700_000_000_000;

interface Fake {
  nowMs: number;
  missed: number;
  late: number;
  dropped: number;
  overloaded: number;
  lagMaxMs: number;
  devicesMissed: number;
  outputOk?: boolean;
  rateLimited?: boolean;
}

/** Agent figures with only the counters the interval logic reads set; the rest is zero or empty. */
function figures(x: Fake): AgentFigures {
  const scheduler = {
    devicesScheduled: 62,
    intervalMs: 1000,
    effectiveIntervalMs: 1000,
    rateLimited: x.rateLimited ?? false,
    pingsSentTotal: 0,
    inFlight: 0,
    repliesTotal: 0,
    failuresByReason: {},
    overloadedTotal: x.overloaded,
    skippedTicksTotal: 0,
    missedSlotsTotal: x.missed,
    lateSendsTotal: x.late,
    sendLagP99Ms: 0,
    sendLagMaxMs: 0,
    sendLagP50Ms: 0,
    devicesMissed: x.devicesMissed,
    interval: { sends: 1, sendLagP99Ms: x.lagMaxMs, sendLagMaxMs: x.lagMaxMs },
  } as unknown as PingSchedulerStats;
  const writer = {
    state: x.outputOk === false ? 'spooling' : 'writing',
    pointsDropped: x.dropped,
  } as unknown as WriterStats;
  return {
    version: '0.0.0',
    nowMs: x.nowMs,
    uptimeMs: x.nowMs - T0,
    ready: { ready: true },
    deviceCount: 62,
    maxDevices: 100,
    pingSuspended: 0,
    snmpSuspended: 0,
    removals: { evicted: 0, pruned: 0, notAdded: 0 },
    scheduler,
    reconciler: { monitored: 62, unmonitored: 0 } as AgentFigures['reconciler'],
    writer,
    outputOk: x.outputOk ?? true,
    outputHealthy: true,
    icmp: zeroIcmpEngineStats('ipv4'),
    icmpModeSetting: 'auto',
    icmpSockets: [],
    snmp: undefined,
    persistence: {} as AgentFigures['persistence'],
    eventLoopDelayP99Ms: 1,
    tasks: 1,
    memoryMb: 1,
    rssMb: 1,
    sweep: { running: false, progress: undefined, total: 0, errors: 0, skipped: 0, nextMs: 0, last: undefined },
    shard: { index: 0, count: 1 },
    reloads: { applied: 0, failed: 0, lastOk: true },
  };
}

const calm = (nowMs: number, over: Partial<Fake> = {}): Fake => ({
  nowMs,
  missed: 0,
  late: 0,
  dropped: 0,
  overloaded: 0,
  lagMaxMs: 0,
  devicesMissed: 0,
  ...over,
});

function rig(): { intervals: HealthIntervals; lines: Array<Record<string, unknown>>; resets: () => number } {
  const { logger, lines } = captureLogger('info');
  let resets = 0;
  const intervals = new HealthIntervals({ logger, resetMissedDevices: () => void resets++ });
  return { intervals, lines, resets: () => resets };
}

test('healthy only when the last interval and the running one missed nothing, lagged nothing and dropped nothing', () => {
  const { intervals } = rig();
  intervals.begin(figures(calm(T0)));
  const doc = (f: Fake): ReturnType<typeof buildHealthDocument> =>
    buildHealthDocument(figures(f), intervals.reasons(figures(f), 1000));
  assert.deepEqual([doc(calm(T0 + 5000)).status, doc(calm(T0 + 5000)).reasons], ['healthy', []]);

  const missed = calm(T0 + 6000, { missed: 180, late: 62, lagMaxMs: 3100, dropped: 7, overloaded: 4 });
  assert.equal(doc(missed).status, 'degraded');
  assert.deepEqual(doc(missed).reasons, [
    '180 ping slots missed in the last 6 s (the agent did not probe on time)',
    'send lag reached 3100 ms in the last 6 s, over send_lag_degraded_threshold 1000 ms',
    '7 points dropped in the last 6 s',
    '4 probes agent_overloaded in the last 6 s',
  ]);

  // The interval that saw the gap is closed: it still counts during the next one...
  intervals.close(figures({ ...missed, nowMs: T0 + 10_000 }));
  const after = calm(T0 + 12_000, { missed: 180, late: 62, dropped: 7, overloaded: 4 });
  assert.equal(doc(after).status, 'degraded');
  assert.match(String((doc(after).reasons as string[])[0]), /^180 ping slots missed in the last 12 s/);
  // ...and is forgotten once a whole clean interval follows.
  intervals.close(figures({ ...after, nowMs: T0 + 20_000 }));
  assert.deepEqual(
    [doc({ ...after, nowMs: T0 + 21_000 }).status, doc({ ...after, nowMs: T0 + 21_000 }).reasons],
    ['healthy', []],
  );
});

test('a send lag at or under send_lag_degraded_threshold is not a reason; the output and the rate limit still are', () => {
  const { intervals } = rig();
  intervals.begin(figures(calm(T0)));
  const f = figures(calm(T0 + 1000, { lagMaxMs: 1000, outputOk: false, rateLimited: true }));
  const doc = buildHealthDocument(f, intervals.reasons(f, 1000));
  assert.deepEqual(doc.reasons, [
    'output is not writing (spooling)',
    'ping_rate_limit cannot ping 62 devices every ping_interval',
  ]);
  assert.equal(doc.status, 'degraded');
});

test('an episode of missed slots is warned once with its size and closed by a clean interval', () => {
  const { intervals, lines, resets } = rig();
  intervals.begin(figures(calm(T0)));
  intervals.close(figures(calm(T0 + 10_000)));
  assert.equal(resets(), 1);
  intervals.close(figures(calm(T0 + 20_000, { missed: 100, devicesMissed: 40, lagMaxMs: 2500 })));
  intervals.close(figures(calm(T0 + 30_000, { missed: 250, devicesMissed: 55, lagMaxMs: 900 })));
  const warns = lines.filter((l) => l['level'] === 'warn');
  assert.equal(warns.length, 1);
  assert.deepEqual([warns[0]!['missed_slots'], warns[0]!['devices'], warns[0]!['max_send_lag_ms']], [100, 40, 2500]);
  assert.equal(resets(), 1, 'devices are counted across the whole episode');
  intervals.close(figures(calm(T0 + 40_000, { missed: 250, devicesMissed: 55 })));
  const over = lines.filter((l) => String(l['msg']).startsWith('missed ping slots over'));
  assert.equal(over.length, 1);
  assert.deepEqual(
    [over[0]!['missed_slots'], over[0]!['devices'], over[0]!['max_send_lag_ms'], over[0]!['duration_ms']],
    [250, 55, 2500, 30_000],
  );
  assert.equal(resets(), 2);
  intervals.close(figures(calm(T0 + 50_000, { missed: 251, devicesMissed: 1, lagMaxMs: 1200 })));
  assert.equal(lines.filter((l) => l['level'] === 'warn').length, 2, 'a new episode warns again');
});

test('close reports the interval deltas and the interval send lag', () => {
  const { intervals } = rig();
  intervals.begin(figures(calm(T0, { missed: 5, late: 2, dropped: 1 })));
  const i = intervals.close(figures(calm(T0 + 10_000, { missed: 9, late: 12, dropped: 1, lagMaxMs: 70 })));
  assert.deepEqual(i, {
    durationMs: 10_000,
    missedSlots: 4,
    lateSends: 10,
    pointsDropped: 0,
    overloaded: 0,
    sendLagP99Ms: 70,
    sendLagMaxMs: 70,
  });
});
