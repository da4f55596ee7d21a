import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fpingMs } from './sweep-count-stats.js';

describe('netscan sweep', () => {
  test('formats milliseconds with three significant digits as fping does', () => {
    assert.deepEqual([0.0534, 0.5, 1.5, 9.999, 12.345, 99.94, 123.4, 5e6].map(fpingMs), [
      '0.053',
      '0.500',
      '1.50',
      '10.00',
      '12.3',
      '99.9',
      '123',
      '5.000e+6',
    ]);
  });
});
