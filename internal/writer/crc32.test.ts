import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crc32, crc32Js } from './crc32.js';

test('crc32 gives the IEEE check value, and the fallback agrees with it on any bytes', () => {
  const check = new TextEncoder().encode('123456789');
  assert.equal(crc32(check), 0xcbf43926);
  assert.equal(crc32Js(check), 0xcbf43926);
  assert.equal(crc32Js(new Uint8Array(0)), 0);
  const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 131 + 7) & 255);
  assert.equal(crc32Js(bytes), crc32(bytes));
});
