/** An item the heap can hold: the heap owns `dueMs`, `seq` and `heapIndex`. */
export interface HeapItem {
  /** When the item is due, ms since the epoch. */
  dueMs: number;
  /** Tie-breaker assigned on every push: equal due times pop in push order. */
  seq: number;
  /** Position in the heap array, or -1 when not in the heap. */
  heapIndex: number;
}

/**
 * Indexed binary min-heap on (dueMs, seq). Each item knows its index, so removal and re-keying are
 * O(log n) and "is this device scheduled?" is an O(1) question with an exact answer, which is what
 * lets the scheduler guarantee one entry per device.
 */
export class SlotHeap<T extends HeapItem> {
  #items: T[] = [];
  #seq = 0;

  /** Number of items in the heap. */
  get size(): number {
    return this.#items.length;
  }

  /** The earliest item, without removing it. */
  peek(): T | undefined {
    return this.#items[0];
  }

  /** True when this item is currently in this heap. */
  has(item: T): boolean {
    return item.heapIndex >= 0 && this.#items[item.heapIndex] === item;
  }

  /** Inserts `item` due at `dueMs`; the item must not already be in the heap. */
  push(item: T, dueMs: number): void {
    if (this.has(item)) throw new Error('SlotHeap.push: item already in the heap');
    item.dueMs = dueMs;
    item.seq = this.#seq++;
    item.heapIndex = this.#items.length;
    this.#items.push(item);
    this.#up(item.heapIndex);
  }

  /** Removes and returns the earliest item. */
  pop(): T | undefined {
    const items = this.#items;
    const top = items[0];
    if (top === undefined) return undefined;
    const last = items.pop() as T;
    if (last !== top) {
      items[0] = last;
      last.heapIndex = 0;
      this.#down(0);
    }
    top.heapIndex = -1;
    return top;
  }

  /** Removes `item` if it is in the heap; returns whether it was. */
  remove(item: T): boolean {
    if (!this.has(item)) return false;
    const items = this.#items;
    const i = item.heapIndex;
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
    for (const it of this.#items) it.heapIndex = -1;
    this.#items = [];
  }

  /** Items in heap (not due) order. */
  values(): readonly T[] {
    return this.#items;
  }

  /** Restores heap order after the caller changed `dueMs` of many items in place. O(n). */
  rebuild(): void {
    for (let i = (this.#items.length >> 1) - 1; i >= 0; i--) this.#down(i);
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
