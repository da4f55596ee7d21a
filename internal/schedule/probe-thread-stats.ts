import type { IcmpEngineStats } from '../icmp/engine-options.js';
import type { IcmpPingerStats } from '../icmp/pinger.js';
import type { PingSchedulerOptions } from './options.js';
import type { PingSchedulerStats } from './stats.js';

/** The stats of a scheduler that has sent nothing yet (before the probe thread's first snapshot). */
export function zeroSchedulerStats(opts: Pick<PingSchedulerOptions, 'intervalMs'>): PingSchedulerStats {
  return {
    devicesScheduled: 0,
    intervalMs: opts.intervalMs,
    ownIntervalDevices: 0,
    expectedPingsPerSec: 0,
    effectiveIntervalMs: opts.intervalMs,
    rateLimited: false,
    pingsSentTotal: 0,
    inFlight: 0,
    repliesTotal: 0,
    failuresByReason: { timeout: 0, unreachable: 0, send_error: 0, agent_overloaded: 0, agent_error: 0, dns: 0 },
    overloadedTotal: 0,
    skippedTicksTotal: 0,
    missedSlotsTotal: 0,
    suspendedTicksTotal: 0,
    breakerTripsTotal: 0,
    sendLagP50Ms: Number.NaN,
    sendLagP99Ms: Number.NaN,
    sendLagMaxMs: Number.NaN,
    lateSendsTotal: 0,
    pointsWrittenTotal: 0,
    pointsDroppedTotal: 0,
    summariesWrittenTotal: 0,
    sinkErrorsTotal: 0,
    hungProbesTotal: 0,
    stalls: { stallsTotal: 0, stallMsTotal: 0, maxStallMs: 0, loopDelayP99Ms: Number.NaN },
    interval: { sends: 0, sendLagP99Ms: Number.NaN, sendLagMaxMs: Number.NaN },
    devicesMissed: 0,
  };
}

/**
 * `s` with the since-start counters of `ended` (the probe threads that ended before it) added, so
 * a restarted thread's totals go on from where the last one's stopped instead of starting at 0.
 * Gauges and the figures of the running interval are `s`'s own.
 */
export function withEndedThreads(ended: PingSchedulerStats | undefined, s: PingSchedulerStats): PingSchedulerStats {
  if (ended === undefined) return s;
  const failuresByReason = { ...s.failuresByReason };
  for (const [k, v] of Object.entries(ended.failuresByReason))
    failuresByReason[k as keyof typeof failuresByReason] += v;
  return {
    ...s,
    pingsSentTotal: s.pingsSentTotal + ended.pingsSentTotal,
    repliesTotal: s.repliesTotal + ended.repliesTotal,
    failuresByReason,
    overloadedTotal: s.overloadedTotal + ended.overloadedTotal,
    skippedTicksTotal: s.skippedTicksTotal + ended.skippedTicksTotal,
    missedSlotsTotal: s.missedSlotsTotal + ended.missedSlotsTotal,
    suspendedTicksTotal: s.suspendedTicksTotal + ended.suspendedTicksTotal,
    breakerTripsTotal: s.breakerTripsTotal + ended.breakerTripsTotal,
    lateSendsTotal: s.lateSendsTotal + ended.lateSendsTotal,
    pointsWrittenTotal: s.pointsWrittenTotal + ended.pointsWrittenTotal,
    pointsDroppedTotal: s.pointsDroppedTotal + ended.pointsDroppedTotal,
    summariesWrittenTotal: s.summariesWrittenTotal + ended.summariesWrittenTotal,
    sinkErrorsTotal: s.sinkErrorsTotal + ended.sinkErrorsTotal,
    hungProbesTotal: s.hungProbesTotal + ended.hungProbesTotal,
    stalls: {
      ...s.stalls,
      stallsTotal: s.stalls.stallsTotal + ended.stalls.stallsTotal,
      stallMsTotal: s.stalls.stallMsTotal + ended.stalls.stallMsTotal,
      maxStallMs: Math.max(s.stalls.maxStallMs, ended.stalls.maxStallMs),
    },
  };
}

/** Engine figures that say how things are now, not how many times something happened: never summed. */
const ENGINE_GAUGES = new Set(['socketsOpen', 'inFlight', 'queued', 'rcvbufBytes', 'maxInFlight']);

function addEngine(ended: IcmpEngineStats | undefined, now: IcmpEngineStats | undefined): IcmpEngineStats | undefined {
  if (ended === undefined) return now;
  const out = { ...(now ?? ended) } as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(ended)) {
    if (typeof v !== 'number') continue;
    if (ENGINE_GAUGES.has(k)) {
      if (now === undefined) out[k] = 0;
      continue;
    }
    out[k] = (now === undefined ? 0 : ((out[k] as number) ?? 0)) + v;
  }
  return out as unknown as IcmpEngineStats;
}

/**
 * The ICMP engine counters of a probe thread with those of the threads that ended before it
 * added, so `sent`, `replies` and the rest keep rising across a restart; gauges (sockets open,
 * in flight, queued, buffer sizes) are the running thread's alone.
 */
export function withEndedEngines(
  ended: IcmpPingerStats | undefined,
  now: IcmpPingerStats | undefined,
): IcmpPingerStats | undefined {
  if (ended === undefined) return now;
  return { ipv4: addEngine(ended.ipv4, now?.ipv4), ipv6: addEngine(ended.ipv6, now?.ipv6) };
}
