import type { Point, PointSink } from '../model/point.js';

/** Sends every point to several sinks (e.g. InfluxDB and a local file); each sink counts its own drops. */
export class FanOutSink implements PointSink {
  readonly #sinks: readonly PointSink[];

  constructor(sinks: readonly PointSink[]) {
    this.#sinks = sinks;
  }

  /** Writes to every sink; returns the drops of all sinks added up. */
  write(point: Point): number {
    let dropped = 0;
    for (const s of this.#sinks) dropped += s.write(point);
    return dropped;
  }
}
