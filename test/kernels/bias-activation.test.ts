import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { FloatArray } from '../../src/gemm/types.js';
import {
  activationBiasBackward,
  activationBiasBackwardReference,
  biasActivationForward,
  biasActivationForwardReference,
} from '../../src/kernels/bias-activation.js';
import { ACTIVATIONS } from '../../src/layers/activations.js';

/** mulberry32: a 32-bit seeded PRNG returning floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Fills values in [-1, 1) with about one in eight set to exactly 0, so relu's y > 0 test
 * meets zeros and the bias can turn values either way.
 */
function fillMixed<T extends FloatArray>(values: T, random: () => number): T {
  for (let i = 0; i < values.length; i++) values[i] = random() < 0.125 ? 0 : random() * 2 - 1;
  return values;
}

type Make = (length: number) => FloatArray;
const DTYPES: Array<[string, Make]> = [
  ['float32', (length) => new Float32Array(length)],
  ['float64', (length) => new Float64Array(length)],
];

/** Odd sizes, so no loop can rely on a multiple of 4 or 8. */
const ROWS = 7;
const WIDTH = 5;
/** The bias sits at this offset of a larger buffer, as in the model's flat weights. */
const BIAS_OFFSET = 3;

for (const [dtype, make] of DTYPES) {
  for (const name of ACTIVATIONS) {
    for (const withBias of [true, false]) {
      for (const sameBuffer of [true, false]) {
        const label = `${name} ${dtype}${withBias ? '' : ' nobias'}${sameBuffer ? ' in place' : ''}`;
        test(`biasActivationForward ${label} matches reference`, () => {
          const random = mulberry32(ACTIVATIONS.indexOf(name) * 8 + (withBias ? 4 : 0) + (sameBuffer ? 2 : 0));
          const bias = fillMixed(make(BIAS_OFFSET + WIDTH + 2), random);
          const biasOffset = withBias ? BIAS_OFFSET : -1;
          const zStart = fillMixed(make(ROWS * WIDTH), random);

          const z = make(zStart.length);
          z.set(zStart);
          const y = sameBuffer ? z : make(zStart.length).fill(Number.NaN);
          biasActivationForward(name, y, z, bias, biasOffset, ROWS, WIDTH);

          const zRef = make(zStart.length);
          zRef.set(zStart);
          const yRef = sameBuffer ? zRef : make(zStart.length);
          biasActivationForwardReference(name, yRef, zRef, bias, biasOffset, ROWS, WIDTH);

          assert.deepEqual(Array.from(y), Array.from(yRef), 'y');
          assert.deepEqual(Array.from(z), Array.from(zRef), 'z');
        });
      }

      const label = `${name} ${dtype}${withBias ? '' : ' nobias'}`;
      test(`activationBiasBackward ${label} matches reference`, () => {
        const random = mulberry32(100 + ACTIVATIONS.indexOf(name) * 2 + (withBias ? 1 : 0));
        const z = fillMixed(make(ROWS * WIDTH), random);
        const y = make(z.length);
        biasActivationForwardReference(name, y, z, make(0), -1, ROWS, WIDTH);
        const dYStart = fillMixed(make(z.length), random);
        // dB starts non-zero around the bias, which must be added to and never overwritten.
        const dBStart = fillMixed(make(BIAS_OFFSET + WIDTH + 2), random);
        const dBOffset = withBias ? BIAS_OFFSET : -1;

        const dY = make(z.length);
        dY.set(dYStart);
        const dB = make(dBStart.length);
        dB.set(dBStart);
        activationBiasBackward(name, dY, y, dB, dBOffset, ROWS, WIDTH, new Float64Array(WIDTH).fill(Number.NaN));

        const dYRef = make(z.length);
        dYRef.set(dYStart);
        const dBRef = make(dBStart.length);
        dBRef.set(dBStart);
        activationBiasBackwardReference(name, dYRef, y, dBRef, dBOffset, ROWS, WIDTH, new Float64Array(WIDTH));

        assert.deepEqual(Array.from(dY), Array.from(dYRef), 'dZ');
        assert.deepEqual(Array.from(dB), Array.from(dBRef), 'dB');
        if (!withBias) assert.deepEqual(Array.from(dB), Array.from(dBStart), 'dB without a bias');
      });
    }
  }
}

test('biasActivationForward relu by hand', () => {
  // z = [[1, -2], [-0.5, 0.25]] plus bias [-1.5, 2] is [[-0.5, 0], [-2, 2.25]].
  const z = new Float32Array([1, -2, -0.5, 0.25]);
  biasActivationForward('relu', z, z, new Float32Array([-1.5, 2]), 0, 2, 2);
  assert.deepEqual(Array.from(z), [0, 0, 0, 2.25]);
});

test('activationBiasBackward relu by hand', () => {
  // dZ keeps dY where y > 0; dB adds each column's sum of dZ to its start value of 10.
  const y = new Float64Array([0, 2, 3, 0, 1, 1]);
  const dY = new Float64Array([5, 6, 7, 8, 9, 10]);
  const dB = new Float64Array([10, 10]);
  activationBiasBackward('relu', dY, y, dB, 0, 3, 2, new Float64Array(2));
  assert.deepEqual(Array.from(dY), [0, 6, 7, 0, 9, 10]);
  assert.deepEqual(Array.from(dB), [26, 26]);
});
