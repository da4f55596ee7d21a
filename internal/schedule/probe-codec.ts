import type { PingFailureReason, PingOutcome } from '../model/ping.js';
import type { FieldValue, Point } from '../model/point.js';

/**
 * The compact record stream the probe thread sends to the main thread: one Float64Array of
 * numbers (transferred, not copied) plus the strings the main thread has not seen yet. Strings
 * (measurements, tag and field names, IPs, reasons) are interned: the first time one is sent it
 * travels in `strings` and gets the next id; afterwards only its id travels. Records keep the
 * order in which the scheduler made the calls, so a device's `removed` always follows its last
 * `probed`, and a breaker update follows the probe that caused it.
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
} as const;

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

  /** Records in the open batch. */
  get records(): number {
    return this.#records;
  }

  /** A point written by the scheduler. */
  point(p: Point): void {
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
    this.#ipRecord(Op.Suspended, ip);
  }

  /** ProbeObserver.removed. */
  removed(ip: string): void {
    this.#ipRecord(Op.Removed, ip);
  }

  /** PingBreakerState.recordPingSuccess. */
  breakerSuccess(ip: string): void {
    this.#ipRecord(Op.BreakerSuccess, ip);
  }

  /** PingBreakerState.recordPingFailure. */
  breakerFailure(ip: string, maxFails: number, backoffMs: number): void {
    this.#reserve(4);
    this.#num(Op.BreakerFailure);
    this.#str(ip);
    this.#num(maxFails);
    this.#num(backoffMs);
    this.#records++;
  }

  /** A log line. */
  log(line: string): void {
    this.#reserve(2);
    this.#num(Op.Log);
    this.#inline(line);
    this.#records++;
  }

  /** Closes the open batch and returns it (undefined when empty). */
  take(): ResultBatch | undefined {
    if (this.#records === 0) return undefined;
    const out: ResultBatch = { nums: this.#nums.slice(0, this.#n), strs: this.#strs, records: this.#records };
    this.#n = 0;
    this.#strs = [];
    this.#records = 0;
    return out;
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
        default:
          throw new Error(`probe thread batch: unknown record kind ${op} at ${i - 1}`);
      }
    }
  }
}
