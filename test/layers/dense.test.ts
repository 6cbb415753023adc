import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import type { ActivationName } from '../../src/layers/activations.js';
import { Conv2D } from '../../src/layers/conv2d.js';
import { Dense } from '../../src/layers/dense.js';
import { buildLayers } from '../../src/model/build.js';
import { Sequential } from '../../src/model/sequential.js';
import { INFERENCE_STEP, checkLayerGradients, createFloat64Layer, forwardFloat64, minAbs, uniformArray } from '../helpers/gradient-check.js';

/** Flat weights of a Dense layer: the kernel [inputs, units] row by row, then the bias. */
function denseWeights(kernel: number[][], bias: number[]): number[] {
  return [...kernel.flat(), ...bias];
}

function assertClose(actual: ArrayLike<number>, expected: readonly number[], tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${label}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

// Two samples of 2 features into 3 units. Pre-activations z = x W + b, by hand:
//   sample 0: x = [1, 2]     z = [1 + 4 + 0.5, -1 + 2 + 0, 0.5 - 2 - 1] = [5.5, 1, -2.5]
//   sample 1: x = [-1, 0.5]  z = [-1 + 1 + 0.5, 1 + 0.5 + 0, -0.5 - 0.5 - 1] = [0.5, 1.5, -2]
const HAND_X = [1, 2, -1, 0.5];
const HAND_WEIGHTS = denseWeights(
  [
    [1, -1, 0.5],
    [2, 1, -1],
  ],
  [0.5, 0, -1],
);

// The expected activations of z above, from Python 3.11 math (float64).
const HAND_OUTPUTS: Record<ActivationName, number[]> = {
  linear: [5.5, 1, -2.5, 0.5, 1.5, -2],
  relu: [5.5, 1, 0, 0.5, 1.5, 0],
  sigmoid: [0.995929862284104, 0.7310585786300049, 0.07585818002124355, 0.6224593312018546, 0.8175744761936437, 0.11920292202211755],
  tanh: [0.9999665971563038, 0.7615941559557649, -0.9866142981514303, 0.46211715726000974, 0.9051482536448664, -0.9640275800758169],
  softmax: [
    0.9886850344945488, 0.010983298625611917, 0.00033166687983942695, 0.2631324936512963, 0.7152682759694339, 0.021599230379269717,
  ],
};

for (const activation of Object.keys(HAND_OUTPUTS) as ActivationName[]) {
  test(`Dense 2->3 ${activation} forward by hand`, () => {
    const layer = new Dense({ units: 3, activation });
    const y = forwardFloat64(layer, [2], HAND_X, 2, HAND_WEIGHTS);
    assertClose(y, HAND_OUTPUTS[activation], 1e-12, `y ${activation}`);
  });
}

test('Dense 2->3 without bias forward by hand', () => {
  const layer = new Dense({ units: 3, useBias: false });
  // z = x W only: [5, 1, -1.5] and [0, 1.5, -1].
  const y = forwardFloat64(layer, [2], HAND_X, 2, HAND_WEIGHTS.slice(0, 6));
  assertClose(y, [5, 1, -1.5, 0, 1.5, -1], 0, 'y');
});

test('Dense softmax keeps logits for a fused loss', () => {
  const layer = new Dense({ units: 3, activation: 'softmax' });
  const built = createFloat64Layer(layer, [2], Float64Array.from(HAND_WEIGHTS), 2);
  built.runtime.forward(Float64Array.from(HAND_X), 2, INFERENCE_STEP);
  assert.ok(built.runtime.logits instanceof Float64Array);
  assertClose(built.runtime.logits.slice(0, 6), HAND_OUTPUTS.linear, 0, 'logits');
});

for (const activation of ['linear', 'sigmoid', 'tanh', 'softmax'] as const) {
  test(`Dense 4->3 ${activation} batch 2 gradients`, () => {
    checkLayerGradients({ layer: new Dense({ units: 3, activation }), inputShape: [4], batch: 2, seed: 11 });
  });
}

test('Dense 4->3 relu batch 2 gradients', () => {
  const rng = new Rng(12);
  const x = uniformArray(8, rng);
  const weights = uniformArray(15, rng);
  // Central differences are only valid away from the kink at 0: every pre-activation must be
  // much farther from 0 than a step of eps can move it.
  const z = forwardFloat64(new Dense({ units: 3 }), [4], x, 2, weights);
  assert.ok(minAbs(z) > 1e-3, `a pre-activation is ${minAbs(z)} from the ReLU kink`);
  assert.ok(z.some((v) => v < 0), 'no pre-activation is negative, so the zero branch of ReLU is not covered');
  assert.ok(z.some((v) => v > 0), 'no pre-activation is positive, so the identity branch of ReLU is not covered');
  checkLayerGradients({ layer: new Dense({ units: 3, activation: 'relu' }), inputShape: [4], batch: 2, seed: 12, x, weights });
});

test('Dense 5->2 without bias batch 3 gradients', () => {
  checkLayerGradients({ layer: new Dense({ units: 2, activation: 'tanh', useBias: false }), inputShape: [5], batch: 3, seed: 13 });
});

test('Dense output shape [7] to [4]', () => {
  const layer = new Dense({ units: 4 });
  buildLayers([layer], [7]);
  assert.deepEqual(layer.outputShape, [4]);
  assert.equal(layer.countParams(), 7 * 4 + 4);
  assert.deepEqual(
    layer.paramSpecs().map((s) => [s.name, s.shape]),
    [
      ['kernel', [7, 4]],
      ['bias', [4]],
    ],
  );
});

test('Dense runtime buffers sized for maxBatch 5', () => {
  const layer = new Dense({ units: 4 });
  const built = createFloat64Layer(layer, [7], new Float64Array(32), 5);
  assert.equal(built.runtime.y.length, 5 * 4);
  assert.equal(built.runtime.dX.length, 5 * 7);
});

test('Dense units 0 rejected', () => {
  assert.throws(() => new Dense({ units: 0 }), {
    name: 'RangeError',
    message: "Dense 'dense': units must be a positive integer, got 0.",
  });
});

test('Dense units 2.5 rejected', () => {
  assert.throws(() => new Dense({ units: 2.5 }), {
    name: 'RangeError',
    message: "Dense 'dense': units must be a positive integer, got 2.5.",
  });
});

test('Dense activation gelu rejected', () => {
  assert.throws(() => new Dense({ units: 3, activation: 'gelu' as ActivationName }), {
    name: 'RangeError',
    message: `Dense 'dense': activation "gelu" is not supported; use one of linear, relu, sigmoid, tanh, softmax.`,
  });
});

test('Dense inputShape [0, 3] rejected', () => {
  assert.throws(() => new Dense({ units: 3, inputShape: [0, 3] }), {
    name: 'RangeError',
    message: 'inputShape [0,3] is invalid: give positive integer dimensions without the batch, e.g. [28, 28, 1].',
  });
});

test('Dense after rank-3 input rejected', () => {
  const model = new Sequential({ name: 'dense_after_conv' });
  model.add(new Conv2D({ filters: 32, kernelSize: 3, inputShape: [28, 28, 1] }));
  assert.throws(() => model.add(new Dense({ units: 10, name: 'head' })), {
    name: 'ShapeError',
    message:
      "Layer 'head' (Dense) expects a rank-1 input per sample [None, features]; add a Flatten layer before it; got input shape [None, 26, 26, 32].",
  });
});
