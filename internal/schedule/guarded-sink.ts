import type { Point, PointSink } from '../model/point.js';
import type { LimitedErrorLog } from '../log/log-limiter.js';

/**
 * Hands the scheduler's points to the sink and counts them. A sink that throws loses that point
 * (counted, logged at most once a minute), never the slot that produced it.
 */
export class GuardedSink {
  readonly #sink: PointSink;
  readonly #errors: LimitedErrorLog;
  #written = 0;
  #dropped = 0;
  #failed = 0;

  constructor(sink: PointSink, errors: LimitedErrorLog) {
    this.#sink = sink;
    this.#errors = errors;
  }

  /** Points handed to the sink. */
  get writtenTotal(): number {
    return this.#written;
  }

  /** Points the sink reported dropping on our writes. */
  get droppedTotal(): number {
    return this.#dropped;
  }

  /** Sink writes that threw. */
  get errorsTotal(): number {
    return this.#failed;
  }

  /** Writes one point; never throws. */
  write(p: Point): void {
    try {
      const dropped = this.#sink.write(p);
      this.#written++;
      if (dropped > 0) this.#dropped += dropped;
    } catch (err) {
      this.#failed++;
      this.#errors.error('sink', { err, count: this.#failed }, 'point sink write failed; point lost');
    }
  }
}
