import { escape } from '@influxdata/influxdb-client';
import type { Point } from '../model/point.js';

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

function cleanKey(s: string): string {
  return s.replace(CONTROL, '_');
}

/**
 * Renders one point as a line of InfluxDB line protocol with millisecond timestamps, using the
 * escaping of @influxdata/influxdb-client (`escape.measurement/tag/quoted`) and the same output
 * as its `Point.toLineProtocol` (tags and fields sorted by key, booleans `T`/`F`, `i`/`u` suffixes).
 * Fields whose value cannot be represented (NaN, Infinity, integers beyond 2^53) are left out;
 * returns undefined when no field remains or the measurement is empty, so the caller counts the
 * point as invalid instead of sending a line the server would reject with the whole batch.
 */
export function toLineProtocol(point: Point, opts: LineProtocolOptions): string | undefined {
  if (point.measurement === '' || !Number.isFinite(point.timeMs)) return undefined;
  let fields = '';
  for (const key of Object.keys(point.fields).sort()) {
    const f = point.fields[key]!;
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
    fields += `${fields === '' ? '' : ','}${escape.tag(cleanKey(key))}=${v}`;
  }
  if (fields === '') return undefined;
  let line = escape.measurement(cleanKey(point.measurement));
  const tagKeys = Object.keys(point.tags);
  if (tagKeys.length > 1) tagKeys.sort();
  for (const key of tagKeys) {
    const value = point.tags[key]!;
    // InfluxDB drops a tag with an empty value; the client's Point does the same.
    if (value === '') continue;
    line += `,${escape.tag(cleanKey(key))}=${escape.tag(cleanKey(value))}`;
  }
  return `${line} ${fields} ${Math.trunc(point.timeMs)}`;
}
