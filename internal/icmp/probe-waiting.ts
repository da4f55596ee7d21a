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
export interface SignalGroup {
  readonly signal: AbortSignal;
  /** First probe of the group's list (linked through Probe.groupPrev / groupNext, so joining allocates nothing). */
  head: Probe | undefined;
  /** Last probe of the list: probes are aborted in the order they were watched. */
  tail: Probe | undefined;
  size: number;
  /** The signal fired: the group is being aborted and no longer changes. */
  fired: boolean;
  readonly onAbort: () => void;
}

/**
 * The pending pings of each AbortSignal, with one abort listener per signal. The group of the last
 * signal watched is kept at hand and each probe points to its group: the monitoring scheduler sends
 * every probe with one signal, so watching and releasing do no Map lookup.
 */
export class SignalGroups {
  readonly #groups = new Map<AbortSignal, SignalGroup>();
  readonly #abort: (p: Probe) => void;
  #last: SignalGroup | undefined;

  /** `abort` settles one ping whose signal fired. */
  constructor(abort: (p: Probe) => void) {
    this.#abort = abort;
  }

  /** Watches `signal` for `p`. */
  watch(signal: AbortSignal, p: Probe): void {
    let group = this.#last?.signal === signal ? this.#last : this.#groups.get(signal);
    if (!group) {
      const g: SignalGroup = {
        signal,
        head: undefined,
        tail: undefined,
        size: 0,
        fired: false,
        onAbort: () => this.#fire(g),
      };
      group = g;
      this.#groups.set(signal, g);
      signal.addEventListener('abort', g.onAbort, { once: true });
    }
    this.#last = group;
    p.group = group;
    p.groupPrev = group.tail;
    p.groupNext = undefined;
    if (group.tail) group.tail.groupNext = p;
    else group.head = p;
    group.tail = p;
    group.size++;
  }

  /** Forgets `p`; the signal's listener goes with its last ping. */
  release(p: Probe): void {
    const group = p.group;
    if (group === undefined || group.fired) return;
    p.group = undefined;
    const prev = p.groupPrev;
    const next = p.groupNext;
    if (prev) prev.groupNext = next;
    else group.head = next;
    if (next) next.groupPrev = prev;
    else group.tail = prev;
    p.groupPrev = p.groupNext = undefined;
    if (--group.size === 0) {
      group.signal.removeEventListener('abort', group.onAbort);
      this.#forget(group);
    }
  }

  #fire(group: SignalGroup): void {
    group.fired = true;
    this.#forget(group);
    // The list stays as it is while its probes are aborted (release() leaves a fired group alone).
    for (let q = group.head; q !== undefined;) {
      const next = q.groupNext;
      q.group = q.groupPrev = q.groupNext = undefined;
      this.#abort(q);
      q = next;
    }
    group.head = group.tail = undefined;
  }

  #forget(group: SignalGroup): void {
    this.#groups.delete(group.signal);
    if (this.#last === group) this.#last = undefined;
  }
}
