import * as zlib from 'node:zlib';

/** CRC-32 (IEEE) of `data`, as the spool and the write-ahead log frame their records with. */
export const crc32: (data: Uint8Array) => number =
  typeof (zlib as { crc32?: unknown }).crc32 === 'function' ? (d) => zlib.crc32(d) : crc32Js;

/** Table-free CRC-32 (IEEE) for Node releases without zlib.crc32 (< 20.15). */
export function crc32Js(data: Uint8Array): number {
  let c = ~0;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}
