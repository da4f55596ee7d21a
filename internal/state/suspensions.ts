import { Heap } from 'heap-js';

/**
 * Circuit-breaker data of one probe kind of one device, plus one bookkeeping pointer.
 * `fails` and `untilMs` are device data; `expiry` belongs to {@link SuspensionTracker} alone
 * and is never copied into or out of a Device view, so no data update can clobber it (Go's bug R3, docs/go-parity.md).
 */
export class Breaker {
  /** Consecutive failures since the last success or trip. */
  fails: number;
  /** Suspension end, ms since the epoch; 0 when none. Active while now < untilMs. */
  untilMs: number;
  /** The tracker's live heap node while this breaker is counted as suspended; undefined otherwise. */
  expiry: ExpiryNode<unknown> | undefined = undefined;

  constructor(fails = 0, untilMs = 0) {
    this.fails = fails;
    this.untilMs = untilMs;
  }
}

/** One entry of the expiry heap. It is live only while `breaker.expiry === node`. */
export interface ExpiryNode<T> {
  readonly owner: T;
  readonly breaker: Breaker;
  readonly untilMs: number;
}

/**
 * Exact count of active suspensions of one kind, O(1) amortised.
 *
 * A breaker is *counted* from the moment it trips until the first of: a success, the owner's
 * removal, or `expire()` observing that its end time has passed. Every trip pushes one node onto
 * a min-heap of end times; nodes made obsolete by a success, a removal or a re-trip stay in the
 * heap and are skipped when popped (lazy deletion), and the heap is compacted when obsolete
 * nodes outnumber live ones. Calling `expire(now)` before reading `active` therefore yields the
 * brute-force count of breakers with `now < untilMs`, paying for each trip at most once.
 */
export class SuspensionTracker<T> {
  #active = 0;
  readonly #heap = new Heap<ExpiryNode<T>>((a, b) => a.untilMs - b.untilMs);

  /** Counted breakers (exact only right after {@link expire}). */
  get active(): number {
    return this.#active;
  }

  /** Heap nodes, live and obsolete (for tests and compaction checks). */
  get heapSize(): number {
    return this.#heap.size();
  }

  /**
   * Counts `breaker` as suspended until its current `untilMs` (already set, in the future).
   * A breaker that is already counted is re-armed, not counted twice (Go bug A).
   */
  track(owner: T, breaker: Breaker): void {
    const node: ExpiryNode<T> = { owner, breaker, untilMs: breaker.untilMs };
    if (breaker.expiry === undefined) this.#active++;
    breaker.expiry = node;
    this.#heap.push(node);
    if (this.#heap.size() > 2 * this.#active + 1024) this.#compact();
  }

  /** Stops counting `breaker`; returns whether it was counted. */
  untrack(breaker: Breaker): boolean {
    if (breaker.expiry === undefined) return false;
    breaker.expiry = undefined;
    this.#active--;
    return true;
  }

  /** Ends every counted suspension whose end time is at or before `nowMs`, oldest first. */
  expire(nowMs: number, onEnd: (owner: T) => void): void {
    for (;;) {
      const top = this.#heap.peek();
      if (top === undefined || top.untilMs > nowMs) return;
      this.#heap.pop();
      if (top.breaker.expiry === top) {
        top.breaker.expiry = undefined;
        this.#active--;
        onEnd(top.owner);
      }
    }
  }

  /** Earliest end time in the heap (possibly of an obsolete node), or undefined when empty. */
  nextMs(): number | undefined {
    return this.#heap.peek()?.untilMs;
  }

  #compact(): void {
    this.#heap.init(this.#heap.toArray().filter((n) => n.breaker.expiry === n));
  }
}
