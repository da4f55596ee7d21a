import type { Logger } from '../internal/log/log.js';

/**
 * The soft `memory_limit_mb`: one warning when the heap passes it, and one line when it is back
 * under (a heap that stays over is not logged again at every health report).
 */
export class MemoryWatch {
  #over = false;

  /** Compares the heap with `limitMb` and logs a crossing. */
  check(limitMb: number, logger: Logger, heapUsedBytes: number = process.memoryUsage().heapUsed): void {
    const heapMb = heapUsedBytes / 1048576;
    const over = heapMb > limitMb;
    if (over === this.#over) return;
    this.#over = over;
    const fields = { memory_mb: Math.round(heapMb), limit_mb: limitMb };
    if (over) logger.warn(fields, 'Memory usage exceeds limit');
    else logger.info(fields, 'memory usage back under the limit');
  }
}
