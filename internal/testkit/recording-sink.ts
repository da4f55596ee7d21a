import type { Point, PointSink } from '../model/point.js';

/** Options for {@link RecordingSink}. */
export interface RecordingSinkOptions {
  /** Which points to keep in `points` (all by default); every point is counted either way. */
  keep?: (p: Point) => boolean;
  /** Value `write` returns, to simulate a full queue dropping points. */
  droppedPerWrite?: number;
}

/** A PointSink that records what it is given, for assertions. */
export class RecordingSink implements PointSink {
  /** Kept points in write order. */
  readonly points: Point[] = [];
  /** Points written per measurement, kept or not. */
  readonly counts = new Map<string, number>();
  /** Every point written, kept or not. */
  written = 0;
  readonly #keep: (p: Point) => boolean;
  readonly #dropped: number;

  constructor(opts: RecordingSinkOptions = {}) {
    this.#keep = opts.keep ?? (() => true);
    this.#dropped = opts.droppedPerWrite ?? 0;
  }

  write(point: Point): number {
    this.written++;
    this.counts.set(point.measurement, (this.counts.get(point.measurement) ?? 0) + 1);
    if (this.#keep(point)) this.points.push(point);
    return this.#dropped;
  }

  /** Kept points of one measurement, optionally for one IP. */
  of(measurement: string, ip?: string): Point[] {
    return this.points.filter((p) => p.measurement === measurement && (ip === undefined || p.tags['ip'] === ip));
  }

  /** Written count for one measurement. */
  count(measurement: string): number {
    return this.counts.get(measurement) ?? 0;
  }
}
