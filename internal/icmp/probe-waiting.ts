/**
 * What the ICMP engine keeps beside its probe table: the FIFO of pings waiting for the in-flight
 * cap, and the pings grouped by the AbortSignal they wait on.
 */
import type { Probe } from './probe.js';

/** Pings waiting for the in-flight cap, first in first out; an array with a moving head, compacted as it drains. */
export class WaitQueue {
  #items: Probe[] = [];
  #head = 0;

  /** Pings waiting. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds `p` at the tail. */
  push(p: Probe): void {
    this.#items.push(p);
  }

  /** Removes and returns the head, or undefined when empty. */
  shift(): Probe | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const p = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as never;
    return p;
  }

  /** Frees the drained head of the array: all of it when empty, else once it is half the array. */
  compact(): void {
    if (this.#head >= this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  /** Removes every waiting ping into `out`, in order. */
  drainInto(out: Probe[]): void {
    for (let i = this.#head; i < this.#items.length; i++) out.push(this.#items[i]!);
    this.#items = [];
    this.#head = 0;
  }
}

/** Pings sharing one AbortSignal: one listener per signal, not per ping (EventTarget's add is O(listeners)). */
interface SignalGroup {
  readonly probes: Set<Probe>;
  readonly onAbort: () => void;
}

/** The pending pings of each AbortSignal, with one abort listener per signal. */
export class SignalGroups {
  readonly #groups = new Map<AbortSignal, SignalGroup>();
  readonly #abort: (p: Probe) => void;

  /** `abort` settles one ping whose signal fired. */
  constructor(abort: (p: Probe) => void) {
    this.#abort = abort;
  }

  /** Watches `signal` for `p`. */
  watch(signal: AbortSignal, p: Probe): void {
    let group = this.#groups.get(signal);
    if (!group) {
      const probes = new Set<Probe>();
      const onAbort = (): void => {
        this.#groups.delete(signal);
        for (const q of probes) this.#abort(q);
      };
      group = { probes, onAbort };
      this.#groups.set(signal, group);
      signal.addEventListener('abort', onAbort, { once: true });
    }
    group.probes.add(p);
  }

  /** Forgets `p`; the signal's listener goes with its last ping. */
  release(p: Probe): void {
    const signal = p.signal!;
    const group = this.#groups.get(signal);
    if (group && group.probes.delete(p) && group.probes.size === 0) {
      signal.removeEventListener('abort', group.onAbort);
      this.#groups.delete(signal);
    }
  }
}
