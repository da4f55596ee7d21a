import type { PingFailureReason, PingOutcome } from '../model/ping.js';
import { field, type FieldValue, type Point, type PointSink } from '../model/point.js';
import { measurements } from '../model/points.js';

/**
 * One raw `ping` point as pingPoint makes it (tag `ip` only; `rtt_ms`, `success`, `suspended` and,
 * on a failure, `reason`), in numbers: what the probe thread sends instead of the point.
 */
export interface RawPing {
  readonly ip: string;
  /**
   * A small number naming `ip` while the probe thread that sent it runs (its string-table id), for
   * a sink to index a per-device cache by (checking the IP); -1 for none.
   */
  readonly ipId: number;
  /** The point's timestamp, ms since the epoch. */
  readonly timeMs: number;
  /** The probe got its reply. */
  readonly ok: boolean;
  /** Round-trip time of a reply, ms (unused on a failure). */
  readonly rttMs: number;
  /** Why the probe failed (undefined on a reply). */
  readonly reason: PingFailureReason | undefined;
  /** A failure carries `rtt_ms=0` (config `ping_failed_rtt_zero`). */
  readonly rttZero: boolean;
}

/**
 * One probe's run of calls, as one record: a breaker success, then its raw `ping` point, then its
 * probed outcome, each present or not. Read it during the call only: the decoder reuses it.
 */
export interface PingRecord extends RawPing {
  /** PingBreakerState.recordPingSuccess(ip) comes first. */
  breakerSuccess: boolean;
  /** The raw `ping` point of the RawPing fields comes next. */
  point: boolean;
  /** ProbeObserver.probed comes last, with the outcome of the RawPing fields (sentAtMs = timeMs) and `detail`. */
  probed: boolean;
  /** The failure's detail (probed outcome only). */
  detail: string | undefined;
  ip: string;
  ipId: number;
  timeMs: number;
  ok: boolean;
  rttMs: number;
  reason: PingFailureReason | undefined;
  rttZero: boolean;
}

/** The probed outcome of a Ping record. */
export function pingOutcome(r: Readonly<PingRecord>): PingOutcome {
  const { ip, timeMs: sentAtMs } = r;
  if (r.ok) return { ok: true, ip, rttMs: r.rttMs, sentAtMs };
  const reason = r.reason!;
  return r.detail === undefined
    ? { ok: false, ip, reason, sentAtMs }
    : { ok: false, ip, reason, sentAtMs, detail: r.detail };
}

/** What {@link rawPingKind} finds. */
export const RawPingKind = { None: 0, Reply: 1, Failure: 2, FailureRttZero: 3 } as const;

/**
 * Which raw `ping` point `p` is, as pingPoint builds them (bucket unset, tag `ip` only; `rtt_ms`
 * float, `success=true`, `suspended=false`; or `success=false`, `suspended=false`, a string
 * `reason` and `rtt_ms` 0 or none), or None for any other point.
 */
export function rawPingKind(p: Point): (typeof RawPingKind)[keyof typeof RawPingKind] {
  if (p.measurement !== measurements.ping || p.bucket !== undefined || p.tags.ip === undefined) return RawPingKind.None;
  for (const k in p.tags) if (k !== 'ip') return RawPingKind.None;
  const { success, suspended, rtt_ms: rtt, reason } = p.fields;
  if (success?.type !== 'bool' || suspended?.type !== 'bool' || suspended.value) return RawPingKind.None;
  let kind: (typeof RawPingKind)[keyof typeof RawPingKind];
  let count = 3;
  if (success.value) {
    if (rtt?.type !== 'float' || reason !== undefined) return RawPingKind.None;
    kind = RawPingKind.Reply;
  } else {
    if (reason?.type !== 'string') return RawPingKind.None;
    kind = RawPingKind.Failure;
    if (rtt !== undefined) {
      if (rtt.type !== 'float' || !Object.is(rtt.value, 0)) return RawPingKind.None;
      kind = RawPingKind.FailureRttZero;
      count = 4;
    }
  }
  for (const _k in p.fields) if (--count < 0) return RawPingKind.None;
  return count === 0 ? kind : RawPingKind.None;
}

/** A sink that takes a raw ping without its Point: what it writes must equal `write(rawPingPoint(r))`. */
export interface RawPingSink extends PointSink {
  /** Writes the point of `r`; returns the number of points dropped by this call. */
  writeRawPing(r: RawPing): number;
}

/** True when `sink` takes raw pings. */
export function takesRawPings(sink: PointSink): sink is RawPingSink {
  return typeof (sink as Partial<RawPingSink>).writeRawPing === 'function';
}

/** Failure field sets (they hold no number of their own), shared and frozen. */
const failures = new Map<string, Readonly<Record<string, FieldValue>>>();

function failure(reason: PingFailureReason, rttZero: boolean): Readonly<Record<string, FieldValue>> {
  const key = rttZero ? `0${reason}` : reason;
  let fields = failures.get(key);
  if (fields === undefined) {
    fields = Object.freeze({
      ...(rttZero ? { rtt_ms: field.float(0) } : {}),
      success: field.bool(false),
      suspended: field.bool(false),
      reason: field.string(reason),
    });
    failures.set(key, fields);
  }
  return fields;
}

/** The fields of `r`'s point, as pingPoint builds them. */
export function rawPingFields(r: RawPing): Readonly<Record<string, FieldValue>> {
  if (!r.ok) return failure(r.reason ?? 'agent_error', r.rttZero);
  return { rtt_ms: field.float(r.rttMs), success: field.bool(true), suspended: field.bool(false) };
}

/** `r`'s point, exactly as pingPoint builds it. */
export function rawPingPoint(r: RawPing): Point {
  return { measurement: measurements.ping, tags: { ip: r.ip }, fields: rawPingFields(r), timeMs: r.timeMs };
}
