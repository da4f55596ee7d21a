/**
 * A pseudo-random permutation of [0, n) computed one index at a time, so a sweep of 2^32
 * addresses needs no array. A balanced Feistel network over the smallest even-bit power of two
 * >= n, with cycle walking to stay inside [0, n) (Black & Rogaway, "Ciphers with Arbitrary
 * Finite Domains", 2002). The domain is < 4n, so each index costs fewer than 4 rounds of 4
 * mixes on average. This only hides sequential patterns from routers and IDSs (ZMap/masscan do
 * the same with other bijections); it is not a cipher.
 */
export class IndexPermutation {
  readonly #n: number;
  readonly #halfBits: number;
  readonly #halfMask: number;
  readonly #keys: Uint32Array;

  /**
   * @param n size of the domain, 0..2^32
   * @param seed any 32-bit integer; the same seed gives the same order
   */
  constructor(n: number, seed: number) {
    if (!(Number.isInteger(n) && n >= 0 && n <= 2 ** 32))
      throw new RangeError(`permutation size must be 0..2^32, got ${n}`);
    this.#n = n;
    let bits = 2;
    while (2 ** bits < n) bits += 2;
    this.#halfBits = bits / 2;
    this.#halfMask = 2 ** this.#halfBits - 1;
    this.#keys = new Uint32Array(ROUNDS);
    let s = seed >>> 0;
    for (let i = 0; i < ROUNDS; i++) {
      s = mix(s + 0x9e3779b9 * (i + 1));
      this.#keys[i] = s;
    }
  }

  /** Size of the domain. */
  get size(): number {
    return this.#n;
  }

  /** The image of `index` (0 <= index < size). */
  at(index: number): number {
    let x = index;
    do x = this.#encrypt(x);
    while (x >= this.#n);
    return x;
  }

  #encrypt(x: number): number {
    const half = this.#halfBits;
    const mask = this.#halfMask;
    const scale = 2 ** half;
    let left = Math.floor(x / scale);
    let right = x % scale;
    for (let i = 0; i < ROUNDS; i++) {
      const next = (left ^ (mix(right ^ this.#keys[i]!) & mask)) >>> 0;
      left = right;
      right = next;
    }
    return left * scale + right;
  }
}

const ROUNDS = 4;

function mix(v: number): number {
  let h = v >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}
