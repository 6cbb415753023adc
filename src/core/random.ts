/**
 * Seeded pseudo-random numbers.
 *
 * `Rng` is a sequential generator (SplitMix32 state update with a Murmur3-style finalizer),
 * used for weight initialization and epoch shuffles. `hashUniform` is counter-based: it maps a
 * tuple of integers to a uniform number, so a dropout mask can be drawn per sample without
 * any shared state, whichever worker computes it.
 */

/** Mixes a 32-bit integer into a well-distributed 32-bit integer (Murmur3 finalizer). */
function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

const GOLDEN_GAMMA = 0x9e3779b9;
const TWO_POW_32 = 4294967296;

export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = mix32((seed >>> 0) ^ 0x5bd1e995) >>> 0;
  }

  /** Returns the next uniform integer in [0, 2^32). */
  nextUint32(): number {
    this.state = (this.state + GOLDEN_GAMMA) >>> 0;
    return mix32(this.state);
  }

  /** Returns the next uniform number in [0, 1). */
  next(): number {
    return this.nextUint32() / TWO_POW_32;
  }

  /** Returns a uniform number in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.next();
  }

  /** Returns a uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Shuffles `values` in place (Fisher-Yates). */
  shuffle(values: Int32Array | number[]): void {
    for (let i = values.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = values[i];
      values[i] = values[j];
      values[j] = t;
    }
  }

  /** Generator state, for checkpoints. */
  getState(): number {
    return this.state;
  }

  setState(state: number): void {
    this.state = state >>> 0;
  }
}

/** Maps the integer tuple (a, b, c, d) to a uniform number in [0, 1), with no shared state. */
export function hashUniform(a: number, b: number, c: number, d: number): number {
  let h = mix32((a >>> 0) ^ 0x27d4eb2f);
  h = mix32((h ^ (b >>> 0)) + GOLDEN_GAMMA);
  h = mix32((h ^ (c >>> 0)) + GOLDEN_GAMMA);
  h = mix32((h ^ (d >>> 0)) + GOLDEN_GAMMA);
  return h / TWO_POW_32;
}
