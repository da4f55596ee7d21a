import type { PingSchedulerStats } from './stats.js';

/** The cumulative counters of a scheduler: what a restarted probe thread must not lose. */
export interface CarriedCounters {
  /** Every `...Total` counter of the scheduler's stats. */
  totals: Record<string, number>;
  /** failuresByReason. */
  failures: Record<string, number>;
  /** stalls.stallsTotal and stalls.stallMsTotal. */
  stallsTotal: number;
  stallMsTotal: number;
}

/** Nothing carried yet. */
export function noCarry(): CarriedCounters {
  return { totals: {}, failures: {}, stallsTotal: 0, stallMsTotal: 0 };
}

/** `carry` plus the counters of `s` (a thread's last snapshot, folded in when that thread ends). */
export function foldCounters(carry: CarriedCounters, s: PingSchedulerStats): CarriedCounters {
  const totals = { ...carry.totals };
  for (const [k, v] of Object.entries(s))
    if (k.endsWith('Total') && typeof v === 'number') totals[k] = (totals[k] ?? 0) + v;
  const failures = { ...carry.failures };
  for (const [k, v] of Object.entries(s.failuresByReason)) failures[k] = (failures[k] ?? 0) + v;
  return {
    totals,
    failures,
    stallsTotal: carry.stallsTotal + s.stalls.stallsTotal,
    stallMsTotal: carry.stallMsTotal + s.stalls.stallMsTotal,
  };
}

/**
 * `s` (the running thread's snapshot) with the counters of the threads before it added, so every
 * counter keeps rising across a restart, and `missedWhileDown` slots (passed while no thread ran)
 * added to missedSlotsTotal.
 */
export function withCarry(s: PingSchedulerStats, carry: CarriedCounters, missedWhileDown: number): PingSchedulerStats {
  const out = { ...s } as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(carry.totals)) out[k] = ((out[k] as number | undefined) ?? 0) + v;
  out.missedSlotsTotal = (out.missedSlotsTotal as number) + missedWhileDown;
  const failures = { ...s.failuresByReason } as Record<string, number>;
  for (const [k, v] of Object.entries(carry.failures)) failures[k] = (failures[k] ?? 0) + v;
  out.failuresByReason = failures;
  out.stalls = {
    ...s.stalls,
    stallsTotal: s.stalls.stallsTotal + carry.stallsTotal,
    stallMsTotal: s.stalls.stallMsTotal + carry.stallMsTotal,
  };
  return out as unknown as PingSchedulerStats;
}
