import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Exclusions } from './address-match.js';

// Membership fixtures only: nothing here is pinged.
test('Exclusions names the first exclude entry holding an address of either family, and never matches a bad entry', () => {
  const ex = new Exclusions(['not-a-cidr', '127.0.9.0/24', '127.0.9.7', 'fd00:1::/120', '127.0.20.1-127.0.20.3']);
  const table: Array<[string, number]> = [
    ['127.0.9.0', 1],
    ['127.0.9.255', 1],
    ['127.0.9.7', 1],
    ['127.0.10.0', -1],
    ['fd00:1::ff', 3],
    ['fd00:1::100', -1],
    ['127.0.20.2', 4],
    ['127.0.20.4', -1],
  ];
  for (const [ip, index] of table) assert.equal(ex.indexOf(ip), index, ip);
  assert.equal(new Exclusions([]).indexOf('127.0.0.1'), -1);
});
