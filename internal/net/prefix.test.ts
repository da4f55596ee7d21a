import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseIpv4 } from '../model/ipv4.js';
import { parsePrefixText } from './prefix.js';

test('reads address/n with a prefix length from 0 to the family maximum, without leading zeros or spaces', () => {
  const table: Array<[string, boolean, { address: number; prefix: number } | undefined]> = [
    ['127.0.0.0/24', false, { address: 0x7f000000, prefix: 24 }],
    ['127.0.0.5/0', false, { address: 0x7f000005, prefix: 0 }],
    ['127.0.0.5/32', false, { address: 0x7f000005, prefix: 32 }],
    ['127.0.0.5/33', false, undefined],
    ['127.0.0.5/100', false, undefined],
    ['127.0.0.5/08', false, undefined],
    ['127.0.0.5/00', false, undefined],
    ['127.0.0.5/ 8', false, undefined],
    ['127.0.0.5/-1', false, undefined],
    ['127.0.0.5/', false, undefined],
    ['127.0.0.300/8', false, undefined],
    ['127.0.0.5', false, undefined],
    ['127.0.0.5', true, { address: 0x7f000005, prefix: 32 }],
    ['127.0.0.300', true, undefined],
  ];
  for (const [text, allowBareAddress, want] of table) {
    assert.deepEqual(parsePrefixText(text, { maxPrefix: 32, allowBareAddress, parseAddress: parseIpv4 }), want, text);
  }
  const long = (text: string) =>
    parsePrefixText(text, { maxPrefix: 128, allowBareAddress: false, parseAddress: parseIpv4 });
  assert.deepEqual(long('127.0.0.5/128'), { address: 0x7f000005, prefix: 128 });
  assert.equal(long('127.0.0.5/129'), undefined);
  assert.equal(long('127.0.0.5/0128'), undefined);
});
