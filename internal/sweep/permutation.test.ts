import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { IndexPermutation } from './permutation.js';

test('is a bijection on [0, n) for any n and seed', () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 3000 }), fc.integer(), (n, seed) => {
      const p = new IndexPermutation(n, seed);
      const seen = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const v = p.at(i);
        if (!(Number.isInteger(v) && v >= 0 && v < n) || seen[v]) return false;
        seen[v] = 1;
      }
      return true;
    }),
    { numRuns: 200 },
  );
});

test('is a bijection on a /16-sized domain', () => {
  const n = 65534;
  const p = new IndexPermutation(n, 42);
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) seen[p.at(i)] = 1;
  assert.equal(
    seen.reduce((a, b) => a + b, 0),
    n,
  );
});

test('gives the same order for the same seed and a different one for another seed', () => {
  const a = new IndexPermutation(1000, 7);
  const b = new IndexPermutation(1000, 7);
  const c = new IndexPermutation(1000, 8);
  const first = (p: IndexPermutation): number[] => Array.from({ length: 20 }, (_, i) => p.at(i));
  assert.deepEqual(first(a), first(b));
  assert.notDeepEqual(first(a), first(c));
});

test('does not keep the natural order', () => {
  const p = new IndexPermutation(65536, 1);
  let ascending = 0;
  for (let i = 1; i < 1000; i++) if (p.at(i) > p.at(i - 1)) ascending++;
  // A random order rises about half the time; the identity would rise every time.
  assert.ok(ascending > 350 && ascending < 650, `ascending steps: ${ascending}`);
});

test('covers domains up to 2^32 without overflow', () => {
  const p = new IndexPermutation(2 ** 32, 3);
  for (const i of [0, 1, 2 ** 31, 2 ** 32 - 1]) {
    const v = p.at(i);
    assert.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32);
  }
  assert.throws(() => new IndexPermutation(2 ** 32 + 1, 0), RangeError);
});
