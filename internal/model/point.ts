/**
 * A measurement point as produced by the stages and consumed by every sink. Field types are
 * explicit because InfluxDB rejects a type change within a shard: the Go netscan wrote
 * integers (`i`), unsigned counters (`u`), floats and booleans, and existing buckets hold those.
 */

/** One typed field value. */
export type FieldValue =
  | { readonly type: 'float'; readonly value: number }
  | { readonly type: 'int'; readonly value: number }
  | { readonly type: 'uint'; readonly value: number }
  | { readonly type: 'bool'; readonly value: boolean }
  | { readonly type: 'string'; readonly value: string };

/** One point: measurement, tags, typed fields and a timestamp. */
export interface Point {
  /** Measurement name (`ping`, `ping_summary`, `device_info`, `health_metrics`). */
  readonly measurement: string;
  /** Tag set; values are strings. */
  readonly tags: Readonly<Record<string, string>>;
  /** Field set; at least one field. */
  readonly fields: Readonly<Record<string, FieldValue>>;
  /** Timestamp in milliseconds since the Unix epoch. */
  readonly timeMs: number;
  /** Destination: the primary bucket (default) or the health bucket. */
  readonly bucket?: 'primary' | 'health';
}

// Field values are never changed once built, so the two booleans are shared (no object per point).
const TRUE: FieldValue = Object.freeze({ type: 'bool', value: true });
const FALSE: FieldValue = Object.freeze({ type: 'bool', value: false });

/** Helpers to build typed field values without repeating the tag literals. */
export const field = {
  float: (value: number): FieldValue => ({ type: 'float', value }),
  int: (value: number): FieldValue => ({ type: 'int', value: Math.trunc(value) }),
  uint: (value: number): FieldValue => ({ type: 'uint', value: Math.max(0, Math.trunc(value)) }),
  bool: (value: boolean): FieldValue => (value ? TRUE : FALSE),
  string: (value: string): FieldValue => ({ type: 'string', value }),
} as const;

/**
 * Where stages send their points. Implemented by the writer; tests use a recording fake.
 * `write` never blocks and never throws for a full queue: it returns how many points were
 * dropped to make room (0 normally), and the sink counts them.
 */
export interface PointSink {
  /** Enqueues one point; returns the number of points dropped by this call. */
  write(point: Point): number;
}
