import { escape } from '@influxdata/influxdb-client';
import type { Point } from '../model/point.js';
import { attachedTags, encodeTags, renderedLineOf, type LineProtocolOptions } from './line-protocol.js';

// The same renderings as toLineProtocol (line-protocol.ts), written as bytes: line-bytes.test.ts
// holds the two to identical output for arbitrary points.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const NEWLINE = /[\r\n]/g;
const CACHE_LIMIT = 10_000;
const keyCache = new Map<string, string>();
const measurementCache = new Map<string, string>();

function renderedKey(s: string): string {
  let v = keyCache.get(s);
  if (v === undefined) {
    v = escape.tag(s.replace(CONTROL, '_'));
    if (keyCache.size < CACHE_LIMIT) keyCache.set(s, v);
  }
  return v;
}

function renderedMeasurement(s: string): string {
  let v = measurementCache.get(s);
  if (v === undefined) {
    v = escape.measurement(s.replace(CONTROL, '_'));
    if (measurementCache.size < CACHE_LIMIT) measurementCache.set(s, v);
  }
  return v;
}

function sortedKeys(o: object): string[] {
  const keys = Object.keys(o);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) return keys.sort();
  }
  return keys;
}

const SPACE = 0x20;
const COMMA = 0x2c;
const EQUALS = 0x3d;
const LF = 0x0a;
const ZERO = 0x30;

/** First buffer size; later batches start at the size the previous one reached. */
const MIN_BYTES = 4096;

/**
 * Newline-separated lines of line protocol built as UTF-8 bytes in one growing Buffer, for one
 * batch: a point is rendered straight into it (the same text as toLineProtocol, without a string
 * per line that a join later copies again), and the batch body is one decode of the bytes.
 * Bytes once written never change (growing copies them into a new Buffer), so a caller may keep
 * a view of a line (the write-ahead log does) after more lines were added.
 */
export class LineBytes {
  #buf: Buffer;
  #end = 0;
  /** Lines held. */
  #count = 0;
  /** Byte offset of the first line held (lines before it were shed). */
  #first = 0;
  /** UTF-16 code units of the lines held, each line's length + 1. */
  #units = 0;
  #lastStart = 0;
  #lastEnd = 0;
  /** UTF-16 code units of the line being written. */
  #lineUnits = 0;

  /** @param sizeHintBytes the bytes the batch is expected to reach (grows past it as needed) */
  constructor(sizeHintBytes = MIN_BYTES) {
    this.#buf = Buffer.allocUnsafeSlow(Math.max(MIN_BYTES, sizeHintBytes));
  }

  /** Lines held. */
  get count(): number {
    return this.#count;
  }

  /** Bytes of the lines held, newlines included. */
  get byteLength(): number {
    return this.#end - this.#first;
  }

  /** The Buffer the last line was written to (a later line may be in a newer one). */
  get lastBuffer(): Buffer {
    return this.#buf;
  }

  /** Byte offset of the last line in {@link lastBuffer}. */
  get lastStart(): number {
    return this.#lastStart;
  }

  /** Byte offset just past the last line (before its newline) in {@link lastBuffer}. */
  get lastEnd(): number {
    return this.#lastEnd;
  }

  /** Appends one line of text (it holds no newline); returns its length in UTF-16 code units. */
  appendLine(line: string): number {
    const start = this.#end;
    this.#lineUnits = 0;
    this.#put(line);
    this.#close(start);
    return line.length;
  }

  /**
   * Appends the line of `point`, exactly as toLineProtocol renders it; returns its length in
   * UTF-16 code units, or -1 (nothing appended) when toLineProtocol would return undefined.
   */
  appendPoint(point: Point, opts: LineProtocolOptions): number {
    const rendered = renderedLineOf(point);
    if (rendered !== undefined) return this.appendLine(rendered);
    if (point.measurement === '' || !Number.isFinite(point.timeMs)) return -1;
    const start = this.#end;
    this.#lineUnits = 0;
    this.#put(renderedMeasurement(point.measurement));
    this.#put(attachedTags(point.tags) ?? encodeTags(point.tags));
    this.#byte(SPACE);
    const fields = point.fields;
    let written = 0;
    for (const key of sortedKeys(fields)) {
      const f = fields[key]!;
      let v: string;
      let suffix = 0;
      switch (f.type) {
        case 'float':
          if (!Number.isFinite(f.value)) continue;
          if (written++ > 0) this.#byte(COMMA);
          this.#put(renderedKey(key));
          this.#byte(EQUALS);
          this.#float(f.value);
          continue;
        case 'int':
          if (!Number.isSafeInteger(f.value)) continue;
          v = String(f.value);
          suffix = 0x69; // i
          break;
        case 'uint':
          if (!Number.isSafeInteger(f.value) || f.value < 0) continue;
          v = String(f.value);
          suffix = opts.unsignedAsInteger ? 0x69 : 0x75; // i, u
          break;
        case 'bool':
          v = f.value ? 'T' : 'F';
          break;
        case 'string':
          v = escape.quoted(f.value.replace(NEWLINE, ' '));
          break;
      }
      if (written++ > 0) this.#byte(COMMA);
      this.#put(renderedKey(key));
      this.#byte(EQUALS);
      this.#put(v);
      if (suffix !== 0) this.#byte(suffix);
    }
    if (written === 0) {
      this.#end = start;
      return -1;
    }
    this.#byte(SPACE);
    this.#time(Math.trunc(point.timeMs));
    this.#close(start);
    return this.#lineUnits;
  }

  /** Removes up to `n` of the oldest lines; returns the UTF-16 code units they took (length + 1 each). */
  shed(n: number): number {
    const k = Math.min(n, this.#count);
    if (k <= 0) return 0;
    // Rare (the queue is full): the lines are found by their newlines, none being inside a line.
    const buf = this.#buf;
    const from = this.#first;
    let to = from;
    for (let i = 0; i < k; i++) to = buf.indexOf(LF, to) + 1;
    let units = 0;
    for (let i = from; i < to; i++) {
      const b = buf[i]!;
      // One unit per character (not a continuation byte), two for one of four bytes (a surrogate pair).
      if ((b & 0xc0) !== 0x80) units += b >= 0xf0 ? 2 : 1;
    }
    this.#first = to;
    this.#count -= k;
    this.#units -= units;
    return units;
  }

  /** The lines held, newline-separated (no trailing newline), as UTF-8 bytes: a view, not a copy. */
  bytes(): Buffer {
    if (this.#count === 0) return this.#buf.subarray(0, 0);
    return this.#buf.subarray(this.#first, this.#end - 1);
  }

  /** The lines held, newline-separated (no trailing newline): a batch body. */
  text(): string {
    return this.bytes().toString('utf8');
  }

  /** `text().length`, without decoding: the UTF-16 code units of the lines held and the newlines between them. */
  get units(): number {
    return this.#count === 0 ? 0 : this.#units - 1;
  }

  /** Ends the line started at byte `start`. */
  #close(start: number): void {
    this.#lastStart = start;
    this.#lastEnd = this.#end;
    this.#count++;
    this.#units += this.#lineUnits + 1;
    this.#reserve(1);
    this.#buf[this.#end++] = LF;
  }

  /** Integer milliseconds as text, the seconds rendered once per second (as timestampText). */
  #time(ms: number): void {
    const second = Math.floor(ms / 1000);
    const rest = ms - second * 1000;
    if (!(second >= 1 && rest >= 0 && rest < 1000 && Number.isSafeInteger(ms))) {
      this.#put(String(ms));
      return;
    }
    if (second !== lastSecond) {
      lastSecond = second;
      lastSecondText = String(second);
    }
    this.#put(lastSecondText);
    this.#reserve(3);
    const buf = this.#buf;
    const h = Math.floor(rest / 100);
    const t = Math.floor(rest / 10) - h * 10;
    buf[this.#end] = ZERO + h;
    buf[this.#end + 1] = ZERO + t;
    buf[this.#end + 2] = ZERO + (rest - h * 100 - t * 10);
    this.#end += 3;
    this.#lineUnits += 3;
  }

  /**
   * `String(x)` for a finite `x`. An RTT is a whole number of nanoseconds over 1e6: such a value
   * has six decimals at most and is written from its integer digits, which is String's answer
   * (below 1e9 no shorter decimal falls within half a unit of the last place); anything else
   * the slow way.
   */
  #float(x: number): void {
    const micro = Math.round(x * 1e6);
    if (!(x > 0 && x < 1e9 && micro / 1e6 === x)) {
      this.#put(String(x));
      return;
    }
    const int = Math.floor(micro / 1e6);
    let frac = micro - int * 1e6;
    this.#put(String(int));
    if (frac === 0) return;
    let digits = 6;
    while (frac % 10 === 0) {
      frac /= 10;
      digits--;
    }
    this.#reserve(digits + 1);
    const buf = this.#buf;
    const dot = this.#end;
    buf[dot] = 0x2e; // .
    for (let i = digits; i >= 1; i--) {
      const q = Math.floor(frac / 10);
      buf[dot + i] = ZERO + (frac - q * 10);
      frac = q;
    }
    this.#end = dot + digits + 1;
    this.#lineUnits += digits + 1;
  }

  #byte(c: number): void {
    this.#reserve(1);
    this.#buf[this.#end++] = c;
    this.#lineUnits++;
  }

  /** Writes `s` as UTF-8: byte by byte while it is ASCII (the common case), the rest through Buffer.write. */
  #put(s: string): void {
    const n = s.length;
    this.#lineUnits += n;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    this.#reserve(3 * n);
    const buf = this.#buf;
    let o = this.#end;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        // Never inside a surrogate pair: `i` is the first non-ASCII unit.
        o += buf.write(s.slice(i), o, 'utf8');
        break;
      }
      buf[o++] = c;
    }
    this.#end = o;
  }

  #reserve(bytes: number): void {
    const need = this.#end + bytes;
    if (need <= this.#buf.length) return;
    const next = Buffer.allocUnsafeSlow(Math.max(need, 2 * this.#buf.length));
    this.#buf.copy(next, 0, 0, this.#end);
    this.#buf = next;
  }
}

let lastSecond = -1;
let lastSecondText = '';
