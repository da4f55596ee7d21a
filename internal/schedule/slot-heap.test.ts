import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { SlotHeap, type HeapItem } from './slot-heap.js';

const item = (id: number): HeapItem & { id: number } => ({ id, dueMs: 0, seq: 0, heapIndex: -1 });

test('pops in due order, ties in push order', () => {
  const h = new SlotHeap<ReturnType<typeof item>>();
  const a = item(1),
    b = item(2),
    c = item(3),
    d = item(4);
  h.push(a, 30);
  h.push(b, 10);
  h.push(c, 30);
  h.push(d, 20);
  assert.deepEqual(
    [h.pop(), h.pop(), h.pop(), h.pop()].map((x) => x?.id),
    [2, 4, 1, 3],
  );
  assert.equal(h.pop(), undefined);
  assert.equal(a.heapIndex, -1);
});

test('refuses to hold the same item twice', () => {
  const h = new SlotHeap<ReturnType<typeof item>>();
  const a = item(1);
  h.push(a, 1);
  assert.throws(() => h.push(a, 2), /already in the heap/);
  assert.equal(h.size, 1);
});

test('random pushes and removals keep order and exact membership', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 50 }), fc.integer({ min: 0, max: 1000 }), fc.boolean()), {
        maxLength: 200,
      }),
      (ops) => {
        const h = new SlotHeap<ReturnType<typeof item>>();
        const items = Array.from({ length: 51 }, (_, i) => item(i));
        const model = new Map<number, number>();
        for (const [id, due, del] of ops) {
          const it = items[id]!;
          if (del) {
            assert.equal(h.remove(it), model.delete(id));
          } else if (!h.has(it)) {
            h.push(it, due);
            model.set(id, due);
          }
          assert.equal(h.size, model.size);
        }
        let last = -Infinity;
        for (let it = h.pop(); it; it = h.pop()) {
          assert.ok(it.dueMs >= last);
          assert.equal(model.get(it.id), it.dueMs);
          model.delete(it.id);
          last = it.dueMs;
        }
        assert.equal(model.size, 0);
      },
    ),
  );
});

test('rebuild restores order after keys change in place', () => {
  const h = new SlotHeap<ReturnType<typeof item>>();
  const items = [item(0), item(1), item(2), item(3)];
  items.forEach((it, i) => h.push(it, i));
  for (const it of h.values()) it.dueMs = 100 - it.id;
  h.rebuild();
  assert.deepEqual(
    [h.pop(), h.pop(), h.pop(), h.pop()].map((x) => x?.id),
    [3, 2, 1, 0],
  );
});
