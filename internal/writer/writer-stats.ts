import { writeErrorClasses, type WriteErrorClass } from './classify.js';
import { dropReasons, type DropReason, type WriterStats } from './influx-writer.js';

/** The cumulative counters of {@link WriterStats}: they only grow, unlike the gauges (queue depth, spool size). */
const counterKeys = ['pointsReceived', 'pointsWritten', 'pointsDropped', 'pointsSpooled', 'batchesOk', 'batchesFailed'] as const;

/** The gauges of {@link WriterStats}: what a writer holds right now. */
const gaugeKeys = ['spoolPoints', 'spoolBytes', 'queueDepth', 'inFlightPoints'] as const;

/** Stats of a writer that has done nothing yet. */
export function emptyWriterStats(): WriterStats {
  return {
    pointsReceived: 0, pointsWritten: 0, pointsDropped: 0,
    droppedByReason: Object.fromEntries(dropReasons.map((r) => [r, 0])) as Record<DropReason, number>,
    pointsSpooled: 0, spoolPoints: 0, spoolBytes: 0, queueDepth: 0, inFlightPoints: 0, batchesOk: 0, batchesFailed: 0,
    writeErrors: Object.fromEntries(writeErrorClasses.map((c) => [c, 0])) as Record<WriteErrorClass, number>,
    lastError: undefined, lastErrorMs: 0, lastSuccessMs: 0, state: 'idle',
  };
}

/**
 * Adds the cumulative counters of `from` to `into` and returns `into`. Gauges are left alone: a
 * closed writer's spool is replayed by its successor, which reports it.
 */
export function addWriterCounters(into: WriterStats, from: WriterStats): WriterStats {
  for (const k of counterKeys) into[k] += from[k];
  for (const r of dropReasons) into.droppedByReason[r] += from.droppedByReason[r];
  for (const c of writeErrorClasses) into.writeErrors[c] += from.writeErrors[c];
  return into;
}

/** Adds up the stats of writers running side by side (counters and gauges; the latest error; the first state that is not `writing`). */
export function sumWriterStats(list: readonly WriterStats[]): WriterStats {
  const out = emptyWriterStats();
  for (const s of list) {
    addWriterCounters(out, s);
    for (const k of gaugeKeys) out[k] += s[k];
    if (s.lastErrorMs > out.lastErrorMs) {
      out.lastErrorMs = s.lastErrorMs;
      out.lastError = s.lastError;
    }
    out.lastSuccessMs = Math.max(out.lastSuccessMs, s.lastSuccessMs);
  }
  out.state = list.find((s) => s.state !== 'writing')?.state ?? (list.length > 0 ? 'writing' : 'idle');
  return out;
}
