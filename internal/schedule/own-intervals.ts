import { ConfigError } from '../errors/errors.js';
import type { PingLoad } from './slot-pacer.js';

/** Throws ConfigError unless `intervalMs` is an own interval (at least 1 ms) or undefined (none). */
export function checkOwnInterval(ip: string, intervalMs: number | undefined): void {
  if (intervalMs !== undefined && !(Number.isFinite(intervalMs) && intervalMs >= 1))
    throw new ConfigError([`ping_interval of ${ip}: must be at least 1 ms (got ${intervalMs})`], {
      stage: 'schedule',
      ip,
    });
}

/**
 * The devices pinged at an interval of their own instead of the global one (targets with their
 * own `ping_interval`), and the load all scheduled devices make. An interval belongs to the
 * address, not to its schedule: it is kept while the device waits for a place, and applies when
 * it is scheduled again.
 */
export class OwnIntervals {
  readonly #byIp = new Map<string, number>();
  /** Scheduled devices per own interval: ms -> devices. */
  readonly #scheduled = new Map<number, number>();
  #scheduledCount = 0;

  /** The own interval of `ip`, ms, or undefined when it follows the global one. */
  get(ip: string): number | undefined {
    return this.#byIp.get(ip);
  }

  /** Sets (or with undefined, clears) the own interval of `ip`; true when that changed it. */
  set(ip: string, intervalMs: number | undefined): boolean {
    checkOwnInterval(ip, intervalMs);
    if (this.#byIp.get(ip) === intervalMs) return false;
    if (intervalMs === undefined) this.#byIp.delete(ip);
    else this.#byIp.set(ip, intervalMs);
    return true;
  }

  /** A device whose own interval is `intervalMs` (undefined: none) gained (+1) or lost (-1) its schedule. */
  count(intervalMs: number | undefined, delta: 1 | -1): void {
    if (intervalMs === undefined) return;
    const n = (this.#scheduled.get(intervalMs) ?? 0) + delta;
    if (n > 0) this.#scheduled.set(intervalMs, n);
    else this.#scheduled.delete(intervalMs);
    this.#scheduledCount += delta;
  }

  /** What `devices` scheduled devices need when those without their own interval are pinged every `globalMs`. */
  load(devices: number, globalMs: number): PingLoad {
    // Summed per distinct interval (a handful), so adds and removes never accumulate rounding error.
    let perSec = ((devices - this.#scheduledCount) * 1000) / globalMs;
    for (const [ms, n] of this.#scheduled) perSec += (n * 1000) / ms;
    return { devices, ownInterval: this.#scheduledCount, perSec };
  }
}
