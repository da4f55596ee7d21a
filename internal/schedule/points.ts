/**
 * Builder for the new `ping_summary` measurement. The `ping` builders live with the others in
 * internal/writer/points.ts; this one can move there too without changing a field.
 */
import { field, type FieldValue, type Point } from '../model/point.js';
import type { PingSummary } from './summary.js';

/**
 * The `ping_summary` point: tag `ip`; integer counts `sent`, `received`, `overloaded`,
 * `suspended_ticks`; float `loss_pct` (only when something was sent) and, only when a reply
 * came back, float `rtt_min_ms`, `rtt_avg_ms`, `rtt_max_ms`, `rtt_p50_ms`, `rtt_p95_ms`,
 * `rtt_stddev_ms`, and `jitter_ms` (with two or more replies). Timestamp = window start.
 */
export function pingSummaryPoint(ip: string, s: PingSummary): Point {
  const fields: Record<string, FieldValue> = {
    sent: field.int(s.sent),
    received: field.int(s.received),
    overloaded: field.int(s.overloaded),
    suspended_ticks: field.int(s.suspendedTicks),
  };
  const put = (name: string, v: number): void => {
    if (Number.isFinite(v)) fields[name] = field.float(v);
  };
  put('loss_pct', s.lossPct);
  put('rtt_min_ms', s.rttMinMs);
  put('rtt_avg_ms', s.rttAvgMs);
  put('rtt_max_ms', s.rttMaxMs);
  put('rtt_p50_ms', s.rttP50Ms);
  put('rtt_p95_ms', s.rttP95Ms);
  put('rtt_stddev_ms', s.rttStddevMs);
  put('jitter_ms', s.jitterMs);
  return { measurement: 'ping_summary', tags: { ip }, fields, timeMs: s.windowStartMs };
}
