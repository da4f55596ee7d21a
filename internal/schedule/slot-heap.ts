/** An item the heap can hold: the heap owns `dueMs`, `seq` and `heapIndex`. */
export interface HeapItem {
  /** When the item is due, ms since the epoch. */
  dueMs: number;
  /** Tie-breaker assigned on every push: equal due times pop in push order. */
  seq: number;
  /** Position in the heap array, or -1 when not in the heap. */
  heapIndex: number;
}

/** Consumed queue positions kept before the queue is compacted (and at least half of it). */
const COMPACT_AFTER = 1024;

/** `heapIndex` of an item at position `k` of the sorted run (always <= -2; -1 means "not held"). */
const runIndex = (k: number): number => -2 - k;

/**
 * Min-priority queue on (dueMs, seq) over items that know where they are, so removal is cheap and
 * "is this device scheduled?" is an O(1) question with an exact answer, which is what lets the
 * scheduler guarantee one entry per device.
 *
 * Two parts: an indexed binary heap, and a sorted run, a FIFO of items pushed in non-decreasing
 * due order. A device served at its slot goes back one interval later, after every slot already
 * held, so in steady state every push appends to the run and every pop takes its head: O(1), no
 * sift through a heap of every device. Anything else (a new device, a paced send, a missed slot)
 * goes to the heap. Pops take the smaller of the two heads, so the order is exactly that of one
 * heap: by due time, ties in push order.
 */
export class SlotHeap<T extends HeapItem> {
  #items: T[] = [];
  /** The sorted run; positions before #head are consumed, removed items leave a hole. */
  #run: Array<T | undefined> = [];
  #head = 0;
  #holes = 0;
  /** Due time of the last item appended to the run (the run only takes items at or after it). */
  #runTailMs = Number.NEGATIVE_INFINITY;
  #seq = 0;

  /** Number of items held. */
  get size(): number {
    return this.#items.length + this.#run.length - this.#head - this.#holes;
  }

  /** The earliest item, without removing it. */
  peek(): T | undefined {
    const r = this.#runHead();
    const h = this.#items[0];
    if (r === undefined) return h;
    if (h === undefined) return r;
    return r.dueMs < h.dueMs || (r.dueMs === h.dueMs && r.seq < h.seq) ? r : h;
  }

  /** True when this item is currently in this heap. */
  has(item: T): boolean {
    const i = item.heapIndex;
    if (i >= 0) return this.#items[i] === item;
    const k = -2 - i;
    return k >= this.#head && this.#run[k] === item;
  }

  /** Inserts `item` due at `dueMs`; the item must not already be in the heap. */
  push(item: T, dueMs: number): void {
    if (this.has(item)) throw new Error('SlotHeap.push: item already in the heap');
    item.dueMs = dueMs;
    item.seq = this.#seq++;
    if (dueMs >= this.#runTailMs) {
      // After everything the run holds (ties: a later seq), so the run stays sorted.
      this.#runTailMs = dueMs;
      item.heapIndex = runIndex(this.#run.length);
      this.#run.push(item);
      return;
    }
    item.heapIndex = this.#items.length;
    this.#items.push(item);
    this.#up(item.heapIndex);
  }

  /** Removes and returns the earliest item. */
  pop(): T | undefined {
    const top = this.peek();
    return top === undefined ? undefined : this.#take(top);
  }

  /** Removes and returns the earliest item if it is due at or before `nowMs` (one look at the top, not two). */
  popDue(nowMs: number): T | undefined {
    const top = this.peek();
    return top === undefined || top.dueMs > nowMs ? undefined : this.#take(top);
  }

  /** Removes `top`, the earliest item. */
  #take(top: T): T {
    if (top.heapIndex >= 0) {
      this.#popHeap();
    } else {
      this.#run[this.#head++] = undefined;
      this.#compact();
    }
    top.heapIndex = -1;
    return top;
  }

  /** Removes `item` if it is in the heap; returns whether it was. */
  remove(item: T): boolean {
    if (!this.has(item)) return false;
    const i = item.heapIndex;
    if (i < 0) {
      this.#run[-2 - i] = undefined;
      this.#holes++;
      item.heapIndex = -1;
      this.#runHead();
      return true;
    }
    const items = this.#items;
    const last = items.pop() as T;
    if (last !== item) {
      items[i] = last;
      last.heapIndex = i;
      this.#down(i);
      this.#up(last.heapIndex);
    }
    item.heapIndex = -1;
    return true;
  }

  /** Removes every item. */
  clear(): void {
    for (const it of this.values()) it.heapIndex = -1;
    this.#items = [];
    this.#resetRun();
  }

  /** Every item held, in no particular order (a copy). */
  values(): readonly T[] {
    const out = this.#items.slice();
    for (let k = this.#head; k < this.#run.length; k++) {
      const it = this.#run[k];
      if (it !== undefined) out.push(it);
    }
    return out;
  }

  /** Restores order after the caller changed `dueMs` of many items in place. O(n). */
  rebuild(): void {
    // The run may be out of order now: everything goes to the heap, which is heapified.
    const all = this.values() as T[];
    this.#resetRun();
    this.#items = all;
    all.forEach((it, i) => (it.heapIndex = i));
    for (let i = (all.length >> 1) - 1; i >= 0; i--) this.#down(i);
  }

  /** The first item of the run (skipping the holes of removed items), or undefined. */
  #runHead(): T | undefined {
    const run = this.#run;
    while (this.#head < run.length) {
      const it = run[this.#head];
      if (it !== undefined) return it;
      this.#head++;
      this.#holes--;
    }
    return undefined;
  }

  /** Drops the consumed start of the run once it is long, renumbering the rest. Amortised O(1). */
  #compact(): void {
    const head = this.#head;
    const run = this.#run;
    if (head === run.length) {
      // Empty: the next push may start a new run anywhere.
      this.#resetRun();
      return;
    }
    if (head < COMPACT_AFTER || 2 * head < run.length) return;
    const rest = run.slice(head);
    for (let k = 0; k < rest.length; k++) {
      const it = rest[k];
      if (it !== undefined) it.heapIndex = runIndex(k);
    }
    this.#run = rest;
    this.#head = 0;
  }

  #resetRun(): void {
    this.#run = [];
    this.#head = 0;
    this.#holes = 0;
    this.#runTailMs = Number.NEGATIVE_INFINITY;
  }

  #popHeap(): void {
    const items = this.#items;
    const top = items[0] as T;
    const last = items.pop() as T;
    if (last !== top) {
      items[0] = last;
      last.heapIndex = 0;
      this.#down(0);
    }
  }

  // Order is (dueMs, seq), compared inline: these loops run on every slot of every device.

  #up(i: number): void {
    const items = this.#items;
    const it = items[i] as T;
    const due = it.dueMs;
    const seq = it.seq;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = items[p] as T;
      const pd = parent.dueMs;
      if (!(due < pd || (due === pd && seq < parent.seq))) break;
      items[i] = parent;
      parent.heapIndex = i;
      i = p;
    }
    items[i] = it;
    it.heapIndex = i;
  }

  #down(i: number): void {
    const items = this.#items;
    const n = items.length;
    const it = items[i] as T;
    const due = it.dueMs;
    const seq = it.seq;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      let c = l;
      let child = items[l] as T;
      if (l + 1 < n) {
        const right = items[l + 1] as T;
        if (right.dueMs < child.dueMs || (right.dueMs === child.dueMs && right.seq < child.seq)) {
          c = l + 1;
          child = right;
        }
      }
      if (!(child.dueMs < due || (child.dueMs === due && child.seq < seq))) break;
      items[i] = child;
      child.heapIndex = i;
      i = c;
    }
    items[i] = it;
    it.heapIndex = i;
  }
}
