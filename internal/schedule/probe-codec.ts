import type { PingFailureReason, PingOutcome } from '../model/ping.js';
import type { FieldValue, Point } from '../model/point.js';
import { pingOutcome, rawPingKind, RawPingKind, rawPingPoint, type PingRecord } from './raw-ping.js';

/**
 * The compact record stream the probe thread sends to the main thread: one Float64Array of
 * numbers (transferred, not copied) plus the strings the main thread has not seen yet. Strings
 * (measurements, tag and field names, IPs, reasons) are interned: the first time one is sent it
 * travels in `strings` and gets the next id; afterwards only its id travels. Records keep the
 * order in which the scheduler made the calls, so a device's `removed` always follows its last
 * `probed`, and a breaker update follows the probe that caused it.
 *
 * One probe's result usually makes three calls in a row: a breaker success (or none), its raw
 * `ping` point (pingPoint's shape), its probed outcome. The encoder joins such a run into one Ping
 * record (IP, time, RTT or reason, and flags for which of the three it stands for); the decoder
 * hands it over as one {@link PingRecord}, or as the calls it stands for, in their order.
 */

/** Record kinds (the first number of every record). */
const Op = {
  Point: 1,
  Probed: 2,
  Suspended: 3,
  Removed: 4,
  BreakerSuccess: 5,
  BreakerFailure: 6,
  Log: 7,
  Ping: 8,
} as const;

/** Flags of a Ping record. */
const PING_BREAKER_OK = 1;
const PING_POINT = 2;
const PING_PROBED = 4;
const PING_FAILED = 8;
const PING_RTT_ZERO = 16;
const PING_DETAIL = 32;

/** The string reference meaning "the next string of `strings`, not interned". */
const INLINE = -1;

/** Strings interned per thread at most; beyond this they travel inline (a bound on both tables). */
export const maxInternedStrings = 1 << 18;

/** Strings longer than this are never interned (error details, log lines). */
const MAX_INTERNED_CHARS = 64;

const FIELD_TYPES = ['float', 'int', 'uint', 'bool', 'string'] as const;
const FIELD_CODE: Record<FieldValue['type'], number> = { float: 0, int: 1, uint: 2, bool: 3, string: 4 };
const BUCKETS = [undefined, 'primary', 'health'] as const;
const REASONS: readonly PingFailureReason[] = [
  'timeout',
  'unreachable',
  'send_error',
  'agent_overloaded',
  'agent_error',
  'dns',
];
const REASON_CODE = new Map<string, number>(REASONS.map((r, i) => [r, i]));

/** One batch as posted: the numbers (its buffer is transferred) and the strings it introduces or inlines. */
export interface ResultBatch {
  /** Record numbers. */
  readonly nums: Float64Array;
  /** New interned strings and inline strings, in the order the decoder meets their references. */
  readonly strs: string[];
  /** Records in the batch. */
  readonly records: number;
}

/** What the main thread does with decoded records. */
export interface ResultHandler {
  /** One probe's run of calls; without this, the decoder makes those calls (point, probed, breakerSuccess) one by one. */
  ping?(r: Readonly<PingRecord>): void;
  /** A point the scheduler wrote. */
  point(p: Point): void;
  /** ProbeObserver.probed. */
  probed(o: PingOutcome): void;
  /** ProbeObserver.suspended. */
  suspended(ip: string): void;
  /** ProbeObserver.removed. */
  removed(ip: string): void;
  /** PingBreakerState.recordPingSuccess as the scheduler called it. */
  breakerSuccess(ip: string): void;
  /** PingBreakerState.recordPingFailure as the scheduler called it. */
  breakerFailure(ip: string, maxFails: number, backoffMs: number): void;
  /** One JSON log line of the probe thread's logger. */
  log(line: string): void;
}

/** Builds batches in the probe thread. */
export class ResultEncoder {
  #nums = new Float64Array(4096);
  #n = 0;
  #strs: string[] = [];
  #records = 0;
  readonly #ids = new Map<string, number>();
  /** The open Ping record: its flags (0 when none is open) and content. */
  #pFlags = 0;
  #pIp = '';
  #pTime = 0;
  #pValue = 0;
  #pDetail: string | undefined;

  /** Records in the open batch. */
  get records(): number {
    return this.#pFlags === 0 ? this.#records : this.#records + 1;
  }

  /** A point written by the scheduler. */
  point(p: Point): void {
    if (this.#rawPing(p)) return;
    this.#closePing();
    const tags = Object.keys(p.tags);
    const fields = Object.keys(p.fields);
    this.#reserve(6 + 2 * tags.length + 3 * fields.length);
    this.#num(Op.Point);
    this.#str(p.measurement);
    this.#num(p.bucket === undefined ? 0 : p.bucket === 'primary' ? 1 : 2);
    this.#num(p.timeMs);
    this.#num(tags.length);
    for (const k of tags) {
      this.#str(k);
      this.#str(p.tags[k]!);
    }
    this.#num(fields.length);
    for (const k of fields) {
      const f = p.fields[k]!;
      this.#str(k);
      this.#num(FIELD_CODE[f.type]);
      if (f.type === 'string') this.#str(f.value);
      else this.#num(f.type === 'bool' ? (f.value ? 1 : 0) : f.value);
    }
    this.#records++;
  }

  /** ProbeObserver.probed. */
  probed(o: PingOutcome): void {
    if (this.#pFlags !== 0 && (this.#pFlags & PING_PROBED) === 0 && this.#pIp === o.ip) {
      const code = o.ok ? -1 : REASON_CODE.get(o.reason);
      if (code !== undefined && this.#joins(o, code)) {
        this.#pFlags |= PING_PROBED;
        if (!o.ok && o.detail !== undefined) {
          this.#pFlags |= PING_DETAIL;
          this.#pDetail = o.detail;
        }
        this.#closePing();
        return;
      }
    }
    this.#closePing();
    this.#reserve(6);
    this.#num(Op.Probed);
    this.#str(o.ip);
    this.#num(o.sentAtMs);
    if (o.ok) {
      this.#num(-1);
      this.#num(o.rttMs);
    } else {
      const code = REASON_CODE.get(o.reason);
      this.#num(code ?? REASONS.indexOf('agent_error'));
      this.#num(o.detail === undefined ? 0 : 1);
      if (o.detail !== undefined) this.#inline(o.detail);
    }
    this.#records++;
  }

  /** ProbeObserver.suspended. */
  suspended(ip: string): void {
    this.#closePing();
    this.#ipRecord(Op.Suspended, ip);
  }

  /** ProbeObserver.removed. */
  removed(ip: string): void {
    this.#closePing();
    this.#ipRecord(Op.Removed, ip);
  }

  /** PingBreakerState.recordPingSuccess: opens a Ping record, which the probe's point and outcome may join. */
  breakerSuccess(ip: string): void {
    this.#closePing();
    this.#pFlags = PING_BREAKER_OK;
    this.#pIp = ip;
    this.#pTime = 0;
    this.#pValue = 0;
  }

  /** PingBreakerState.recordPingFailure. */
  breakerFailure(ip: string, maxFails: number, backoffMs: number): void {
    this.#closePing();
    this.#reserve(4);
    this.#num(Op.BreakerFailure);
    this.#str(ip);
    this.#num(maxFails);
    this.#num(backoffMs);
    this.#records++;
  }

  /** A log line. */
  log(line: string): void {
    this.#closePing();
    this.#reserve(2);
    this.#num(Op.Log);
    this.#inline(line);
    this.#records++;
  }

  /** Closes the open batch and returns it (undefined when empty). */
  take(): ResultBatch | undefined {
    this.#closePing();
    if (this.#records === 0) return undefined;
    const out: ResultBatch = { nums: this.#nums.slice(0, this.#n), strs: this.#strs, records: this.#records };
    this.#n = 0;
    this.#strs = [];
    this.#records = 0;
    return out;
  }

  /**
   * A raw `ping` point (pingPoint's shape: bucket unset, tag `ip` only, and the fields of a reply or
   * of a failure with a known reason) joins the open Ping record or opens one; true when it did.
   */
  #rawPing(p: Point): boolean {
    const kind = rawPingKind(p);
    if (kind === RawPingKind.None) return false;
    const ip = p.tags.ip!;
    let flags = PING_POINT;
    let value: number;
    if (kind === RawPingKind.Reply) {
      value = (p.fields.rtt_ms as { value: number }).value;
    } else {
      const code = REASON_CODE.get((p.fields.reason as { value: string }).value);
      if (code === undefined) return false;
      flags |= kind === RawPingKind.FailureRttZero ? PING_FAILED | PING_RTT_ZERO : PING_FAILED;
      value = code;
    }
    if (this.#pFlags === 0 || (this.#pFlags & (PING_POINT | PING_PROBED)) !== 0 || this.#pIp !== ip) {
      this.#closePing();
      this.#pFlags = 0;
      this.#pIp = ip;
    }
    this.#pFlags |= flags;
    this.#pTime = p.timeMs;
    this.#pValue = value;
    return true;
  }

  /** True when outcome `o` (reason `code`, -1 for a reply) can close the open Ping record as its probed. */
  #joins(o: PingOutcome, code: number): boolean {
    if ((this.#pFlags & PING_POINT) === 0) {
      // No point (raw points off): the outcome brings time and value.
      if (!o.ok) this.#pFlags |= PING_FAILED;
      this.#pTime = o.sentAtMs;
      this.#pValue = o.ok ? o.rttMs : code;
      return true;
    }
    if (o.ok === ((this.#pFlags & PING_FAILED) !== 0) || !Object.is(this.#pTime, o.sentAtMs)) return false;
    return o.ok ? Object.is(this.#pValue, o.rttMs) : this.#pValue === code;
  }

  #closePing(): void {
    const flags = this.#pFlags;
    if (flags === 0) return;
    this.#pFlags = 0;
    this.#reserve(6);
    this.#num(Op.Ping);
    this.#num(flags);
    this.#str(this.#pIp);
    this.#num(this.#pTime);
    this.#num(this.#pValue);
    if ((flags & PING_DETAIL) !== 0) this.#inline(this.#pDetail!);
    this.#pDetail = undefined;
    this.#records++;
  }

  #ipRecord(op: number, ip: string): void {
    this.#reserve(2);
    this.#num(op);
    this.#str(ip);
    this.#records++;
  }

  #reserve(count: number): void {
    if (this.#n + count <= this.#nums.length) return;
    const next = new Float64Array(Math.max(this.#nums.length * 2, this.#n + count));
    next.set(this.#nums.subarray(0, this.#n));
    this.#nums = next;
  }

  #num(v: number): void {
    this.#nums[this.#n++] = v;
  }

  #str(s: string): void {
    let id = this.#ids.get(s);
    if (id === undefined) {
      if (s.length > MAX_INTERNED_CHARS || this.#ids.size >= maxInternedStrings) {
        this.#inline(s);
        return;
      }
      id = this.#ids.size;
      this.#ids.set(s, id);
      this.#strs.push(s);
      this.#nums[this.#n++] = -2 - id;
      return;
    }
    this.#num(id);
  }

  #inline(s: string): void {
    this.#strs.push(s);
    this.#num(INLINE);
  }
}

/**
 * Reads batches on the main thread, with the string table that mirrors the encoder's. A string
 * reference is an id (>= 0), INLINE (-1: the next string), or -2 - id (a new id: the next string,
 * which joins the table).
 */
export class ResultDecoder {
  readonly #table: string[] = [];
  readonly #ping: PingRecord = {
    breakerSuccess: false,
    point: false,
    probed: false,
    detail: undefined,
    ip: '',
    ipId: -1,
    timeMs: 0,
    ok: true,
    rttMs: 0,
    reason: undefined,
    rttZero: false,
  };

  /** Calls `h` for every record of `b`, in order. */
  decode(b: ResultBatch, h: ResultHandler): void {
    const nums = b.nums;
    const strs = b.strs;
    let i = 0;
    let si = 0;
    const str = (): string => {
      const ref = nums[i++]!;
      if (ref >= 0) return this.#table[ref]!;
      const s = strs[si++]!;
      if (ref !== INLINE) this.#table[-2 - ref] = s;
      return s;
    };
    while (i < nums.length) {
      const op = nums[i++]!;
      switch (op) {
        case Op.Point: {
          const measurement = str();
          const bucket = BUCKETS[nums[i++]!];
          const timeMs = nums[i++]!;
          const tags: Record<string, string> = {};
          for (let n = nums[i++]!; n > 0; n--) {
            const k = str();
            tags[k] = str();
          }
          const fields: Record<string, FieldValue> = {};
          for (let n = nums[i++]!; n > 0; n--) {
            const k = str();
            const type = FIELD_TYPES[nums[i++]!]!;
            if (type === 'string') fields[k] = { type, value: str() };
            else if (type === 'bool') fields[k] = { type, value: nums[i++] === 1 };
            else fields[k] = { type, value: nums[i++]! };
          }
          h.point(
            bucket === undefined
              ? { measurement, tags, fields, timeMs }
              : { measurement, tags, fields, timeMs, bucket },
          );
          break;
        }
        case Op.Probed: {
          const ip = str();
          const sentAtMs = nums[i++]!;
          const code = nums[i++]!;
          if (code < 0) {
            h.probed({ ok: true, ip, sentAtMs, rttMs: nums[i++]! });
          } else {
            const reason = REASONS[code]!;
            const hasDetail = nums[i++] === 1;
            h.probed(
              hasDetail ? { ok: false, ip, reason, sentAtMs, detail: str() } : { ok: false, ip, reason, sentAtMs },
            );
          }
          break;
        }
        case Op.Suspended:
          h.suspended(str());
          break;
        case Op.Removed:
          h.removed(str());
          break;
        case Op.BreakerSuccess:
          h.breakerSuccess(str());
          break;
        case Op.BreakerFailure: {
          const ip = str();
          const maxFails = nums[i++]!;
          h.breakerFailure(ip, maxFails, nums[i++]!);
          break;
        }
        case Op.Log:
          h.log(str());
          break;
        case Op.Ping: {
          const flags = nums[i++]!;
          const r = this.#ping;
          const ref = nums[i]!;
          r.ip = str();
          r.ipId = ref >= 0 ? ref : ref === INLINE ? -1 : -2 - ref;
          r.timeMs = nums[i++]!;
          const value = nums[i++]!;
          r.breakerSuccess = (flags & PING_BREAKER_OK) !== 0;
          r.point = (flags & PING_POINT) !== 0;
          r.probed = (flags & PING_PROBED) !== 0;
          r.ok = (flags & PING_FAILED) === 0;
          r.rttMs = r.ok ? value : Number.NaN;
          r.reason = r.ok ? undefined : REASONS[value]!;
          r.rttZero = (flags & PING_RTT_ZERO) !== 0;
          r.detail = (flags & PING_DETAIL) !== 0 ? str() : undefined;
          if (h.ping !== undefined) h.ping(r);
          else expandPing(r, h);
          break;
        }
        default:
          throw new Error(`probe thread batch: unknown record kind ${op} at ${i - 1}`);
      }
    }
  }
}

/** The calls a Ping record stands for, in their order. */
function expandPing(r: PingRecord, h: ResultHandler): void {
  if (r.breakerSuccess) h.breakerSuccess(r.ip);
  if (r.point) h.point(rawPingPoint(r));
  if (r.probed) h.probed(pingOutcome(r));
}
