import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ipv4Step,
  ipv6Step,
  mergeAddressRanges,
  rangeAtPosition,
  rangesHave,
  subtractAddressRanges,
} from './address-ranges.js';

test('merges overlapping and adjacent ranges of either family into disjoint ascending ones', () => {
  assert.deepEqual(
    mergeAddressRanges(
      [
        { first: 20, last: 25 },
        { first: 5, last: 10 },
        { first: 11, last: 12 },
        { first: 5, last: 7 },
        { first: 9, last: 8 },
      ],
      ipv4Step,
    ),
    [
      { first: 5, last: 12 },
      { first: 20, last: 25 },
    ],
  );
  assert.deepEqual(
    mergeAddressRanges(
      [
        { first: 1n << 100n, last: (1n << 100n) + 3n },
        { first: (1n << 100n) + 4n, last: (1n << 100n) + 9n },
        { first: 0n, last: 0n },
      ],
      ipv6Step,
    ),
    [
      { first: 0n, last: 0n },
      { first: 1n << 100n, last: (1n << 100n) + 9n },
    ],
  );
});

test('subtracts holes at the edges and inside, in both families', () => {
  assert.deepEqual(
    subtractAddressRanges(
      [{ first: 0, last: 20 }],
      [
        { first: 0, last: 1 },
        { first: 5, last: 6 },
        { first: 20, last: 30 },
      ],
      ipv4Step,
    ),
    [
      { first: 2, last: 4 },
      { first: 7, last: 19 },
    ],
  );
  assert.deepEqual(subtractAddressRanges([{ first: 10n, last: 12n }], [{ first: 11n, last: 11n }], ipv6Step), [
    { first: 10n, last: 10n },
    { first: 12n, last: 12n },
  ]);
});

test('finds membership and the range holding the n-th address', () => {
  const ranges = [
    { first: 5, last: 7 },
    { first: 20, last: 20 },
    { first: 30, last: 31 },
  ];
  assert.deepEqual(
    [4, 5, 7, 8, 20, 21, 31, 32].map((v) => rangesHave(ranges, v)),
    [false, true, true, false, true, false, true, false],
  );
  assert.equal(rangesHave([], 1n), false);
  const starts = Float64Array.from([0, 3, 4]);
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5].map((i) => rangeAtPosition(starts, i)),
    [0, 0, 0, 1, 2, 2],
  );
});
