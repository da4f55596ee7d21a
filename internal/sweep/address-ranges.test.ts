import assert from 'node:assert/strict';
import { test } from 'node:test';
import { rangeAtPosition } from './address-ranges.js';

test('finds the range holding the n-th address from the prefix sums of range sizes', () => {
  // Ranges of 3, 1 and 2 addresses.
  const starts = Float64Array.from([0, 3, 4]);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((i) => rangeAtPosition(starts, i)),
    [0, 0, 0, 1, 2, 2],
  );
  assert.equal(rangeAtPosition(Float64Array.from([0]), 7), 0);
});
