import { phaseMs, slotAfter } from './phase.js';

/** The pings per second a schedule asks for, and how many of its devices have their own interval. */
export interface ExpectedLoad {
  readonly own: number;
  readonly perSec: number;
}

/**
 * The main thread's record of what the probe thread schedules: the devices, their own intervals
 * (kept per address whether or not it is scheduled, as the scheduler keeps them), the load they
 * ask for, and the slots that pass while no thread runs. Everything here survives a restart and
 * is what a new thread is given.
 */
export class ProbeRoster {
  readonly #ips = new Set<string>();
  readonly #own = new Map<string, number>();
  #load: ExpectedLoad | undefined;
  #loadForMs = 0;
  /** Since when no thread has been running after a crash (undefined: one runs, or none was asked to). */
  #downSinceMs: number | undefined;
  /** Slots that passed while no thread ran, closed episodes. */
  #missedWhileDown = 0;

  get size(): number {
    return this.#ips.size;
  }

  has(ip: string): boolean {
    return this.#ips.has(ip);
  }

  /** Scheduled IPs, in the order they were (re)added. */
  ips(): IterableIterator<string> {
    return this.#ips.values();
  }

  /** Own intervals by address. */
  ownIntervals(): IterableIterator<[string, number]> {
    return this.#own.entries();
  }

  /** Adds `ip`; false when it was there. */
  add(ip: string): boolean {
    if (this.#ips.has(ip)) return false;
    this.#ips.add(ip);
    this.#load = undefined;
    return true;
  }

  /** Removes `ip`; false when it was not there. */
  remove(ip: string): boolean {
    if (!this.#ips.delete(ip)) return false;
    this.#load = undefined;
    return true;
  }

  /** Sets or (undefined) clears `ip`'s own interval; false when nothing changed. */
  setOwnInterval(ip: string, intervalMs: number | undefined): boolean {
    if (this.#own.get(ip) === intervalMs) return false;
    if (intervalMs === undefined) this.#own.delete(ip);
    else this.#own.set(ip, intervalMs);
    this.#load = undefined;
    return true;
  }

  /** The device's next slot by its phase at `globalMs` unless it has its own interval (undefined: not scheduled). */
  nextSlotMs(ip: string, globalMs: number, nowMs: number): number | undefined {
    if (!this.#ips.has(ip)) return undefined;
    const intervalMs = this.#own.get(ip) ?? globalMs;
    return slotAfter(phaseMs(ip, intervalMs), intervalMs, nowMs - 1);
  }

  /** The load the schedule asks for at global interval `globalMs`; recounted only after a change. */
  expectedLoad(globalMs: number): ExpectedLoad {
    if (this.#load !== undefined && this.#loadForMs === globalMs) return this.#load;
    let own = 0;
    let perSec = 0;
    for (const ip of this.#ips) {
      const o = this.#own.get(ip);
      if (o !== undefined) own++;
      perSec += 1000 / (o ?? globalMs);
    }
    this.#load = { own, perSec };
    this.#loadForMs = globalMs;
    return this.#load;
  }

  /** No thread runs from `nowMs` (a crash); a second call in the same episode changes nothing. */
  down(nowMs: number): void {
    this.#downSinceMs ??= nowMs;
  }

  /** A thread runs again (it answered): the episode's slots are kept as missed. */
  up(nowMs: number, globalMs: number): void {
    if (this.#downSinceMs === undefined) return;
    this.#missedWhileDown += this.#slotsDown(nowMs, globalMs);
    this.#downSinceMs = undefined;
  }

  /** Slots that passed while no thread ran, the running episode included. */
  missedWhileDown(nowMs: number, globalMs: number): number {
    return this.#missedWhileDown + this.#slotsDown(nowMs, globalMs);
  }

  /** Ms since no thread has run, or undefined while one runs. */
  downForMs(nowMs: number): number | undefined {
    return this.#downSinceMs === undefined ? undefined : nowMs - this.#downSinceMs;
  }

  #slotsDown(nowMs: number, globalMs: number): number {
    if (this.#downSinceMs === undefined) return 0;
    return Math.floor((this.expectedLoad(globalMs).perSec * Math.max(0, nowMs - this.#downSinceMs)) / 1000);
  }
}
