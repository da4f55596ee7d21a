/**
 * Reads the agent's line-protocol output after a run and checks every scheduled ping against
 * its slot. Used by bench/agent/main.ts; pure (no I/O) so it is tested beside it.
 *
 * Definition used by the bench ("sent within its slot"): every monitored device has slots
 * `phase + k * interval` (ms since the epoch, phase = the scheduler's `phaseMs(ip, interval)`).
 * A `ping` point's timestamp is the wall-clock time taken immediately before sendto(2)
 * (IcmpEngine `sentAtMs`; the scheduler stamps the point with it). The point is attributed to the
 * latest slot at or before its timestamp; its send lag is `timestamp - slot`. A scheduled slot in
 * the window (t0, t1] counts as served on time when its device has a non-suspended `ping` point
 * for that slot with lag <= `toleranceMs` (50 ms, the scheduler's `lateSendToleranceMs`).
 * on_time_pct = slots served on time / slots scheduled in the window.
 */
import { formatIpv4 } from '../../internal/icmp/ipv4.js';
import { phaseMs } from '../../internal/schedule/phase.js';

/** What the analyser needs to know about the run. */
export interface PingAnalysisOptions {
  /** First monitored address as an unsigned 32-bit integer; devices are `first .. first + count - 1`. */
  firstIpU32: number;
  /** Number of monitored devices. */
  count: number;
  /** `ping_interval`, ms. */
  intervalMs: number;
  /** Measurement window start (exclusive), ms since the epoch. */
  windowStartMs: number;
  /** Measurement window end (inclusive), ms since the epoch. */
  windowEndMs: number;
  /** Largest send lag that still counts as "within the slot", ms. */
  toleranceMs: number;
}

/** Figures from one run's output. */
export interface PingAnalysis {
  lines: number;
  pingPoints: number;
  summaryPoints: number;
  healthPoints: number;
  otherPoints: number;
  unparsable: number;
  /** `ping` points for addresses outside the monitored range. */
  foreignPoints: number;
  /** Slots of all devices in (t0, t1]. */
  scheduledSlots: number;
  /** Non-suspended `ping` points attributed to a slot in the window. */
  windowPoints: number;
  /** Distinct (device, slot) pairs served with lag <= tolerance. */
  onTimeSlots: number;
  /** onTimeSlots / scheduledSlots, percent. */
  onTimePct: number;
  /** Points in the window with lag > tolerance. */
  lateSends: number;
  /** A second point for a (device, slot) already served. */
  duplicates: number;
  /** Scheduled slots with no point at all. */
  missingSlots: number;
  /** Points with success=false and suspended=false in the window. */
  failures: number;
  failuresByReason: Record<string, number>;
  /** Points with suspended=true in the window. */
  suspendedPoints: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagP999Ms: number;
  lagMaxMs: number;
  rttP50Ms: number;
  rttP99Ms: number;
  rttP999Ms: number;
  rttMaxMs: number;
  /** Fewest and most window points of one device. */
  perDeviceMin: number;
  perDeviceMax: number;
  /** Devices with fewer window points than slots. */
  devicesShort: number;
  /** |gap between a device's consecutive sends - interval|: p99 and max, ms. */
  spacingDevP99Ms: number;
  spacingDevMaxMs: number;
  /** Late sends grouped into bursts (late points less than 1 s apart), largest first, at most 12. */
  lateBursts: LateBurst[];
}

/** Late sends close together in time: usually one agent stall. */
export interface LateBurst {
  /** First late send, ms after the window start. */
  atMs: number;
  /** Late send to last late send of the burst, ms. */
  spanMs: number;
  /** Late sends in the burst. */
  count: number;
  /** Largest lag in the burst, ms. */
  maxLagMs: number;
}

/** A growable Float64Array. */
class Samples {
  #a: Float64Array;
  #n = 0;
  constructor(capacity: number) {
    this.#a = new Float64Array(Math.max(16, capacity));
  }
  add(v: number): void {
    if (this.#n === this.#a.length) {
      const b = new Float64Array(this.#a.length * 2);
      b.set(this.#a);
      this.#a = b;
    }
    this.#a[this.#n++] = v;
  }
  /** Sorted copy of the samples. */
  sorted(): Float64Array {
    return this.#a.slice(0, this.#n).sort();
  }
}

/** The q-quantile (nearest rank) of sorted samples; NaN when empty. */
export function quantileOf(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[i]!;
}

/** Feed every output line with add(), then read result(). */
export class PingLineAnalyser {
  readonly #o: PingAnalysisOptions;
  readonly #phase: Float64Array;
  readonly #lastSlot: Float64Array;
  readonly #lastTs: Float64Array;
  readonly #perDevice: Uint32Array;
  readonly #lags: Samples;
  readonly #rtts: Samples;
  readonly #spacing: Samples;
  readonly #late: Array<{ ts: number; lag: number }> = [];
  #r = {
    lines: 0,
    pingPoints: 0,
    summaryPoints: 0,
    healthPoints: 0,
    otherPoints: 0,
    unparsable: 0,
    foreignPoints: 0,
    windowPoints: 0,
    onTimeSlots: 0,
    lateSends: 0,
    duplicates: 0,
    servedSlots: 0,
    failures: 0,
    suspendedPoints: 0,
  };
  readonly #reasons: Record<string, number> = {};

  constructor(opts: PingAnalysisOptions) {
    this.#o = opts;
    const n = opts.count;
    this.#phase = new Float64Array(n);
    for (let i = 0; i < n; i++) this.#phase[i] = phaseMs(formatIpv4(opts.firstIpU32 + i), opts.intervalMs);
    this.#lastSlot = new Float64Array(n).fill(Number.NEGATIVE_INFINITY);
    this.#lastTs = new Float64Array(n).fill(Number.NaN);
    this.#perDevice = new Uint32Array(n);
    const expected = Math.ceil((n * (opts.windowEndMs - opts.windowStartMs)) / opts.intervalMs) + n;
    this.#lags = new Samples(expected);
    this.#rtts = new Samples(expected);
    this.#spacing = new Samples(expected);
  }

  /** One line of line protocol (`measurement,tags fields timestamp_ms`). */
  add(line: string): void {
    if (line.length === 0) return;
    const r = this.#r;
    r.lines++;
    if (!line.startsWith('ping,')) {
      if (line.startsWith('ping_summary,')) r.summaryPoints++;
      else if (line.startsWith('health_metrics')) r.healthPoints++;
      else r.otherPoints++;
      return;
    }
    r.pingPoints++;
    const sp1 = line.indexOf(' ');
    const sp2 = line.lastIndexOf(' ');
    const ipAt = line.indexOf('ip=');
    if (sp1 < 0 || sp2 <= sp1 || ipAt < 0 || ipAt > sp1) {
      r.unparsable++;
      return;
    }
    let ipEnd = line.indexOf(',', ipAt);
    if (ipEnd < 0 || ipEnd > sp1) ipEnd = sp1;
    const idx = ipIndex(line, ipAt + 3, ipEnd) - this.#o.firstIpU32;
    const ts = Number(line.slice(sp2 + 1));
    if (!Number.isFinite(ts)) {
      r.unparsable++;
      return;
    }
    if (!(idx >= 0 && idx < this.#o.count)) {
      r.foreignPoints++;
      return;
    }
    const fields = line.slice(sp1 + 1, sp2);
    const suspended = fields.includes('suspended=T') || fields.includes('suspended=true');
    const success = fields.includes('success=T') || fields.includes('success=true');
    const { intervalMs, windowStartMs, windowEndMs, toleranceMs } = this.#o;
    const phase = this.#phase[idx]!;
    const lag = (((ts - phase) % intervalMs) + intervalMs) % intervalMs;
    const slot = ts - lag;
    if (slot <= windowStartMs || slot > windowEndMs) return;
    if (suspended) {
      r.suspendedPoints++;
      return;
    }
    r.windowPoints++;
    this.#perDevice[idx]!++;
    this.#lags.add(lag);
    const prevTs = this.#lastTs[idx]!;
    if (!Number.isNaN(prevTs)) this.#spacing.add(Math.abs(Math.abs(ts - prevTs) - intervalMs));
    this.#lastTs[idx] = ts;
    if (this.#lastSlot[idx] === slot) {
      r.duplicates++;
    } else {
      this.#lastSlot[idx] = slot;
      r.servedSlots++;
      if (lag <= toleranceMs) r.onTimeSlots++;
    }
    if (lag > toleranceMs) {
      r.lateSends++;
      this.#late.push({ ts, lag });
    }
    if (success) {
      const m = /(?:^|,)rtt_ms=([0-9.eE+-]+)/.exec(fields);
      if (m) this.#rtts.add(Number(m[1]));
    } else {
      r.failures++;
      const m = /(?:^|,)reason="([^"]*)"/.exec(fields);
      const reason = m?.[1] ?? 'unknown';
      this.#reasons[reason] = (this.#reasons[reason] ?? 0) + 1;
    }
  }

  /** The figures; call once after the last line. */
  result(): PingAnalysis {
    const { count, intervalMs, windowStartMs, windowEndMs } = this.#o;
    let scheduled = 0;
    let perMin = Number.POSITIVE_INFINITY;
    let perMax = 0;
    let short = 0;
    for (let i = 0; i < count; i++) {
      const phase = this.#phase[i]!;
      const slots = Math.floor((windowEndMs - phase) / intervalMs) - Math.floor((windowStartMs - phase) / intervalMs);
      scheduled += slots;
      const got = this.#perDevice[i]!;
      perMin = Math.min(perMin, got);
      perMax = Math.max(perMax, got);
      if (got < slots) short++;
    }
    const lags = this.#lags.sorted();
    const rtts = this.#rtts.sorted();
    const spacing = this.#spacing.sorted();
    const r = this.#r;
    return {
      lines: r.lines,
      pingPoints: r.pingPoints,
      summaryPoints: r.summaryPoints,
      healthPoints: r.healthPoints,
      otherPoints: r.otherPoints,
      unparsable: r.unparsable,
      foreignPoints: r.foreignPoints,
      scheduledSlots: scheduled,
      windowPoints: r.windowPoints,
      onTimeSlots: r.onTimeSlots,
      onTimePct: scheduled > 0 ? (100 * r.onTimeSlots) / scheduled : Number.NaN,
      lateSends: r.lateSends,
      duplicates: r.duplicates,
      missingSlots: Math.max(0, scheduled - r.servedSlots),
      failures: r.failures,
      failuresByReason: { ...this.#reasons },
      suspendedPoints: r.suspendedPoints,
      lagP50Ms: quantileOf(lags, 0.5),
      lagP99Ms: quantileOf(lags, 0.99),
      lagP999Ms: quantileOf(lags, 0.999),
      lagMaxMs: quantileOf(lags, 1),
      rttP50Ms: quantileOf(rtts, 0.5),
      rttP99Ms: quantileOf(rtts, 0.99),
      rttP999Ms: quantileOf(rtts, 0.999),
      rttMaxMs: quantileOf(rtts, 1),
      perDeviceMin: count > 0 ? perMin : 0,
      perDeviceMax: perMax,
      devicesShort: short,
      spacingDevP99Ms: quantileOf(spacing, 0.99),
      spacingDevMaxMs: quantileOf(spacing, 1),
      lateBursts: this.#bursts(),
    };
  }

  #bursts(): LateBurst[] {
    const late = [...this.#late].sort((a, b) => a.ts - b.ts);
    const out: LateBurst[] = [];
    let cur: { first: number; last: number; count: number; max: number } | undefined;
    const close = (): void => {
      if (cur)
        out.push({
          atMs: cur.first - this.#o.windowStartMs,
          spanMs: cur.last - cur.first,
          count: cur.count,
          maxLagMs: cur.max,
        });
    };
    for (const { ts, lag } of late) {
      if (cur && ts - cur.last < 1000) {
        cur.last = ts;
        cur.count++;
        cur.max = Math.max(cur.max, lag);
      } else {
        close();
        cur = { first: ts, last: ts, count: 1, max: lag };
      }
    }
    close();
    return out.sort((a, b) => b.count - a.count).slice(0, 12);
  }
}

/** Parses the dotted quad in `s[from, to)` without allocating; NaN when malformed. */
function ipIndex(s: string, from: number, to: number): number {
  let value = 0;
  let octet = 0;
  let dots = 0;
  let digits = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0) return Number.NaN;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
      dots++;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      digits++;
    } else {
      return Number.NaN;
    }
  }
  if (dots !== 3 || digits === 0 || octet > 255) return Number.NaN;
  return value * 256 + octet;
}
