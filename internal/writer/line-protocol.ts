import { escape } from '@influxdata/influxdb-client';
import type { Point, PointSink } from '../model/point.js';

/** How points are rendered for one kind of server. */
export interface LineProtocolOptions {
  /** Render unsigned fields as integers (`5i` instead of `5u`): InfluxDB 1.x rejects `u`. */
  unsignedAsInteger: boolean;
}

// Control characters (C0, DEL, C1) break a line even when escaped by some parsers; keys and
// tag values are identifiers, so they are replaced rather than escaped.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const NEWLINE = /[\r\n]/g;

/** True when `s` has nothing that line protocol escapes or that we replace (the common case: IPs, names). */
function plain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    // space , = \ " and control characters
    if (c <= 0x20 || c === 0x2c || c === 0x3d || c === 0x5c || c === 0x22 || (c >= 0x7f && c <= 0x9f)) return false;
  }
  return true;
}

function tagText(s: string): string {
  return plain(s) ? s : escape.tag(s.replace(CONTROL, '_'));
}

// Measurement names and keys repeat on every point: render each once.
const keyCache = new Map<string, string>();
const measurementCache = new Map<string, string>();
const CACHE_LIMIT = 10_000;

function cached(cache: Map<string, string>, s: string, render: (s: string) => string): string {
  let v = cache.get(s);
  if (v === undefined) {
    v = render(s);
    if (cache.size < CACHE_LIMIT) cache.set(s, v);
  }
  return v;
}

const renderKey = (s: string): string => escape.tag(s.replace(CONTROL, '_'));
const renderMeasurement = (s: string): string => escape.measurement(s.replace(CONTROL, '_'));

function sortedKeys(o: object): string[] {
  const keys = Object.keys(o);
  for (let i = 1; i < keys.length; i++) {
    if (keys[i - 1]! > keys[i]!) return keys.sort();
  }
  return keys;
}

// Timestamps: points arrive in about time order, so the seconds are rendered once per second and
// only the milliseconds per point (a number past 2^31 costs a double-to-text conversion).
const MS_TEXT = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));
let lastSecond = -1;
let lastSecondText = '';

/** `String(ms)` for an integer `ms`, cheaper for one in the same second as the previous call. */
export function timestampText(ms: number): string {
  const second = Math.floor(ms / 1000);
  const rest = ms - second * 1000;
  // Whole seconds from 1 on (no leading zero), exact integers only; anything else the slow way.
  if (!(second >= 1 && rest >= 0 && rest < 1000 && Number.isSafeInteger(ms))) return String(ms);
  if (second !== lastSecond) {
    lastSecond = second;
    lastSecondText = String(second);
  }
  return lastSecondText + MS_TEXT[rest]!;
}

/**
 * Where a tag set made by {@link encodedTagSet} keeps its rendering. A symbol-keyed,
 * non-enumerable property: object spreads, `Object.keys` and deep equality never see it, so a
 * copy of the tags (which may then differ) is always rendered afresh.
 */
const ENCODED = Symbol('netscan.lineProtocolTags');

/** The rendered tag part of a line: `,key=value` per non-empty tag, sorted by key, escaped. */
export function encodeTags(tags: Readonly<Record<string, string>>): string {
  let out = '';
  for (const key of sortedKeys(tags)) {
    const value = tags[key]!;
    // InfluxDB drops a tag with an empty value; the client's Point does the same.
    if (value === '') continue;
    out += `,${cached(keyCache, key, renderKey)}=${tagText(value)}`;
  }
  return out;
}

/**
 * Freezes `tags` and attaches its line-protocol rendering, so every point that carries this very
 * object (a device's cached tag set, shared by all its points) is encoded without looking at its
 * tags again. Frozen, the object cannot drift from its rendering; a changed tag set is a new object.
 */
export function encodedTagSet(tags: Record<string, string>): Readonly<Record<string, string>> {
  Object.defineProperty(tags, ENCODED, { value: encodeTags(tags), enumerable: false });
  return Object.freeze(tags);
}

/** The rendering {@link encodedTagSet} attached to `tags`, or undefined for any other object. */
export function attachedTags(tags: Readonly<Record<string, string>>): string | undefined {
  return (tags as { [ENCODED]?: string })[ENCODED];
}

// The point being written by writeRendered, and its line: rendered for that very object only.
let renderedPoint: Point | undefined;
let renderedLine = '';

/**
 * `sink.write(point)`, during which {@link toLineProtocol} answers `line` for this very object
 * (not for a copy) without rendering it. Only for a line that is exactly what toLineProtocol renders
 * for the point under every LineProtocolOptions (so no unsigned field); the point is not changed.
 */
export function writeRendered(sink: PointSink, point: Point, line: string): number {
  const outerPoint = renderedPoint;
  const outerLine = renderedLine;
  renderedPoint = point;
  renderedLine = line;
  try {
    return sink.write(point);
  } finally {
    renderedPoint = outerPoint;
    renderedLine = outerLine;
  }
}

/** The line {@link writeRendered} is writing for this very `point`, or undefined. */
export function renderedLineOf(point: Point): string | undefined {
  return point === renderedPoint ? renderedLine : undefined;
}

/**
 * Renders one point as a line of InfluxDB line protocol with millisecond timestamps, using the
 * escaping of @influxdata/influxdb-client (`escape.measurement/tag/quoted`) and the same output
 * as its `Point.toLineProtocol` (tags and fields sorted by key, booleans `T`/`F`, `i`/`u` suffixes).
 * Fields whose value cannot be represented (NaN, Infinity, integers beyond 2^53) are left out;
 * returns undefined when no field remains or the measurement is empty, so the caller counts the
 * point as invalid instead of sending a line the server would reject with the whole batch.
 * A tag set from {@link encodedTagSet} is not rendered again: its attached rendering is used,
 * and a point written by {@link writeRendered} is not rendered at all.
 */
export function toLineProtocol(point: Point, opts: LineProtocolOptions): string | undefined {
  if (point === renderedPoint) return renderedLine;
  if (point.measurement === '' || !Number.isFinite(point.timeMs)) return undefined;
  const fields = point.fields;
  let out = '';
  for (const key of sortedKeys(fields)) {
    const f = fields[key]!;
    let v: string;
    switch (f.type) {
      case 'float':
        if (!Number.isFinite(f.value)) continue;
        v = String(f.value);
        break;
      case 'int':
        if (!Number.isSafeInteger(f.value)) continue;
        v = `${f.value}i`;
        break;
      case 'uint':
        if (!Number.isSafeInteger(f.value) || f.value < 0) continue;
        v = opts.unsignedAsInteger ? `${f.value}i` : `${f.value}u`;
        break;
      case 'bool':
        v = f.value ? 'T' : 'F';
        break;
      case 'string':
        // A raw newline inside a quoted value is legal for InfluxDB but splits the line for
        // simpler parsers (VictoriaMetrics, Telegraf's), so it never leaves this function.
        v = escape.quoted(f.value.replace(NEWLINE, ' '));
        break;
    }
    const k = cached(keyCache, key, renderKey);
    out = out === '' ? `${k}=${v}` : `${out},${k}=${v}`;
  }
  if (out === '') return undefined;
  const tags = attachedTags(point.tags) ?? encodeTags(point.tags);
  return `${cached(measurementCache, point.measurement, renderMeasurement)}${tags} ${out} ${timestampText(Math.trunc(point.timeMs))}`;
}
