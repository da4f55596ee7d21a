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

test('interleaved pushes, pops and removals pop exactly in (due, push order), with exact membership', () => {
  // Mostly the scheduler's pattern (pop the earliest, push it one interval later), mixed with
  // pushes anywhere, removals and re-adds, long enough for the sorted run to be compacted.
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          { arbitrary: fc.constant({ op: 'serve' as const }), weight: 6 },
          {
            arbitrary: fc.record({ op: fc.constant('due' as const), now: fc.integer({ min: 0, max: 6000 }) }),
            weight: 2,
          },
          {
            arbitrary: fc.record({
              op: fc.constant('push' as const),
              id: fc.nat(39),
              due: fc.integer({ min: 0, max: 3000 }),
            }),
            weight: 1,
          },
          { arbitrary: fc.record({ op: fc.constant('remove' as const), id: fc.nat(39) }), weight: 1 },
        ),
        { maxLength: 3000 },
      ),
      (ops) => {
        const h = new SlotHeap<ReturnType<typeof item>>();
        const items = Array.from({ length: 40 }, (_, i) => item(i));
        // The model: id -> [due, push number]; the earliest is the smallest pair.
        const model = new Map<number, [number, number]>();
        let pushes = 0;
        const push = (id: number, due: number): void => {
          h.push(items[id]!, due);
          model.set(id, [due, pushes++]);
        };
        const earliest = (): number | undefined => {
          let best: number | undefined;
          for (const [id, [d, s]] of model) {
            const b = best === undefined ? undefined : model.get(best)!;
            if (b === undefined || d < b[0] || (d === b[0] && s < b[1])) best = id;
          }
          return best;
        };
        for (let i = 0; i < 40; i++) push(i, i * 25);
        for (const o of ops) {
          if (o.op === 'serve') {
            const want = earliest();
            const got = h.pop();
            assert.equal(got?.id, want);
            if (got === undefined) continue;
            assert.equal(got.heapIndex, -1);
            model.delete(got.id);
            push(got.id, got.dueMs + 1000);
          } else if (o.op === 'due') {
            // Only an item due by `now` comes out, and then the earliest.
            const want = earliest();
            const due = want !== undefined && model.get(want)![0] <= o.now ? want : undefined;
            const got = h.popDue(o.now);
            assert.equal(got?.id, due);
            if (got === undefined) continue;
            assert.equal(got.heapIndex, -1);
            model.delete(got.id);
            push(got.id, got.dueMs + 1000);
          } else if (o.op === 'push') {
            if (!h.has(items[o.id]!)) push(o.id, o.due);
          } else {
            assert.equal(h.remove(items[o.id]!), model.delete(o.id));
          }
          assert.equal(h.size, model.size);
          for (const it of items) assert.equal(h.has(it), model.has(it.id), `membership of ${it.id}`);
          assert.equal(h.peek()?.id, earliest());
        }
        assert.equal(h.values().length, model.size);
        for (let want = earliest(); want !== undefined; want = earliest()) {
          assert.equal(h.pop()?.id, want);
          model.delete(want);
        }
        assert.equal(h.pop(), undefined);
        assert.equal(h.size, 0);
      },
    ),
    { numRuns: 60 },
  );
});

test('the steady pattern (pop, push one interval later) keeps every item once through many rounds', () => {
  const h = new SlotHeap<ReturnType<typeof item>>();
  const items = Array.from({ length: 3000 }, (_, i) => item(i));
  items.forEach((it, i) => h.push(it, (i * 7919) % 1000));
  let last = -Infinity;
  for (let n = 0; n < 3000 * 5; n++) {
    const it = h.pop()!;
    assert.ok(it.dueMs >= last);
    last = it.dueMs;
    h.push(it, it.dueMs + 1000);
    assert.equal(h.size, 3000);
  }
  for (const it of items) assert.ok(h.has(it));
  h.clear();
  assert.equal(h.size, 0);
  for (const it of items) assert.equal(it.heapIndex, -1);
});
