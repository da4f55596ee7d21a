import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDuration, formatDuration } from './duration.js';

test('parses every Go duration form plus days', () => {
  const table: Array<[string, number]> = [
    ['500ms', 500],
    ['1s', 1000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['2m3.5s', 123_500],
    ['0', 0],
    ['-2s', -2000],
    ['250us', 0.25],
    ['1000ns', 0.001],
    ['1d', 86_400_000],
    ['1d12h', 129_600_000],
    ['.5s', 500],
    [' 5m ', 300_000],
  ];
  for (const [input, want] of table) assert.equal(parseDuration(input), want, input);
});

test('rejects bare numbers with a hint and other junk plainly', () => {
  assert.throws(() => parseDuration('5'), /missing unit in duration "5" \(write e\.g\. "5s" or "5ms"\)/);
  assert.throws(() => parseDuration('abc'), /invalid duration "abc"/);
  assert.throws(() => parseDuration('5x'), /invalid duration "5x"/);
  assert.throws(() => parseDuration(''), /empty duration/);
  assert.throws(() => parseDuration('1h 30m'), /invalid duration/);
});

test('formats like Go', () => {
  assert.equal(formatDuration(30_000), '30s');
  assert.equal(formatDuration(60_000), '1m0s');
  assert.equal(formatDuration(3_600_000), '1h0m0s');
  assert.equal(formatDuration(5_400_000), '1h30m0s');
  assert.equal(formatDuration(500), '500ms');
  assert.equal(formatDuration(1500), '1.5s');
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(-2000), '-2s');
});
