import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import { gemmNaive } from '../../src/gemm/naive.js';
import { Activation, type ActivationArgs } from '../../src/layers/activation.js';
import { ACTIVATIONS, type ActivationName } from '../../src/layers/activations.js';
import { Dense } from '../../src/layers/dense.js';
import type { Layer } from '../../src/layers/layer.js';
import { Reshape } from '../../src/layers/reshape.js';
import { getLoss } from '../../src/losses/index.js';
import { buildLayers, totalParams } from '../../src/model/build.js';
import { Replica } from '../../src/model/replica.js';
import { INFERENCE_STEP, checkLayerGradients, compareWithCentralDifferences, assertNoMismatches, forwardFloat64, uniformArray } from '../helpers/gradient-check.js';

const X = [-2, -0.5, 0, 0.5, 2, 3];

const ELEMENTWISE: Record<Exclude<ActivationName, 'softmax'>, (v: number) => number> = {
  linear: (v) => v,
  relu: (v) => Math.max(v, 0),
  sigmoid: (v) => 1 / (1 + Math.exp(-v)),
  tanh: (v) => Math.tanh(v),
};

for (const [name, f] of Object.entries(ELEMENTWISE)) {
  test(`Activation ${name} forward on [2, 3]`, () => {
    const y = forwardFloat64(new Activation({ activation: name as ActivationName }), [2, 3], X, 1, []);
    const expected = X.map(f);
    y.forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-15, `y[${i}] is ${v}, expected ${expected[i]}`));
  });
}

test('Activation softmax normalizes the last axis', () => {
  const y = forwardFloat64(new Activation({ activation: 'softmax' }), [2, 3], X, 1, []);
  for (const offset of [0, 3]) {
    const row = X.slice(offset, offset + 3);
    const sum = row.reduce((a, v) => a + Math.exp(v), 0);
    row.forEach((v, j) => {
      const expected = Math.exp(v) / sum;
      assert.ok(Math.abs(y[offset + j] - expected) < 1e-15, `y[${offset + j}] is ${y[offset + j]}, expected ${expected}`);
    });
  }
});

const GRADIENT_SHAPES: number[][] = [[5], [2, 3], [2, 2, 3]];

for (const name of ACTIVATIONS) {
  for (const [index, inputShape] of GRADIENT_SHAPES.entries()) {
    test(`Activation ${name} [${inputShape}] batch 2 gradients`, () => {
      checkLayerGradients({ layer: new Activation({ activation: name }), inputShape, batch: 2, seed: 90 + index });
    });
  }
}

test('Activation reports softmax only when it spans the sample', () => {
  const cases: [number[], ActivationName][] = [
    [[5], 'softmax'],
    [[1, 1, 5], 'softmax'],
    [[2, 3], 'linear'],
  ];
  for (const [inputShape, expected] of cases) {
    const layer = new Activation({ activation: 'softmax' });
    buildLayers([layer], inputShape);
    assert.equal(layer.activation, expected, `input [${inputShape}]`);
    assert.equal(layer.activationName, 'softmax');
  }
  const relu = new Activation({ activation: 'relu' });
  buildLayers([relu], [2, 3]);
  assert.equal(relu.activation, 'relu');
});

test('Activation keeps the input shape', () => {
  const layer = new Activation({ activation: 'tanh' });
  buildLayers([layer], [4, 3, 2]);
  assert.deepEqual(layer.outputShape, [4, 3, 2]);
  assert.equal(layer.countParams(), 0);
  assert.deepEqual(layer.getConfig(), { name: 'activation', activation: 'tanh' });
});

test('Activation gelu rejected', () => {
  assert.throws(() => new Activation({ activation: 'gelu' } as unknown as ActivationArgs), {
    name: 'RangeError',
    message: `Activation 'activation': activation "gelu" is not supported; use one of ${ACTIVATIONS.join(', ')}.`,
  });
});

test('Activation without activation rejected', () => {
  assert.throws(() => new Activation({} as ActivationArgs), {
    name: 'TypeError',
    message: `Activation 'activation': activation is required; use one of ${ACTIVATIONS.join(', ')}.`,
  });
});

/** A float64 replica of `layers` on the naive GEMM, with seeded weights. */
function float64Replica(layers: Layer[], inputShape: number[], lossName: string, batch: number, weights: Float64Array): Replica<Float64Array> {
  const entries = buildLayers(layers, inputShape);
  assert.equal(totalParams(entries), weights.length);
  return new Replica<Float64Array>({
    layers,
    loss: getLoss(lossName),
    weights,
    paramCount: weights.length,
    maxBatch: batch,
    gemm: gemmNaive,
    alloc: (length) => new Float64Array(length),
  });
}

test('Activation softmax last layer matches Dense softmax', () => {
  const rng = new Rng(5);
  const batch = 3;
  const weights = uniformArray(4 * 5 + 5, rng);
  const x = uniformArray(batch * 4, rng);
  const labels = Float64Array.from([0, 4, 2]);
  const grads: Float64Array[] = [];
  const losses: number[] = [];
  const stacks = [[new Dense({ units: 5, activation: 'softmax' })], [new Dense({ units: 5 }), new Activation({ activation: 'softmax' })]];
  for (const stack of stacks) {
    const replica = float64Replica(stack, [4], 'sparseCategoricalCrossentropy', batch, weights);
    replica.input.set(x);
    replica.targets.set(labels);
    const gradient = new Float64Array(weights.length);
    replica.trainStep(batch, INFERENCE_STEP, gradient, 0, 1 / batch);
    grads.push(gradient);
    losses.push(replica.lossSum);
  }
  assert.equal(losses[1], losses[0]);
  assert.deepEqual(Array.from(grads[1]), Array.from(grads[0]));
});

test('Activation softmax over [2, 3] trains without the fused loss', () => {
  // Dense(6) -> Reshape([2, 3]) -> Activation(softmax): two softmaxes per sample, which the
  // whole-row fused loss would get wrong. The weight gradient must match central differences.
  const rng = new Rng(6);
  const batch = 2;
  const weights = uniformArray(4 * 6 + 6, rng);
  const layers = [new Dense({ units: 6 }), new Reshape({ targetShape: [2, 3] }), new Activation({ activation: 'softmax' })];
  const replica = float64Replica(layers, [4], 'categoricalCrossentropy', batch, weights);
  replica.input.set(uniformArray(batch * 4, rng));
  // One one-hot target per softmax row.
  replica.targets.set([0, 1, 0, 0, 0, 1, 1, 0, 0, 0, 1, 0]);
  const gradient = new Float64Array(weights.length);
  replica.trainStep(batch, INFERENCE_STEP, gradient, 0, 1);
  const objective = (): number => {
    replica.evaluate(batch);
    return replica.lossSum;
  };
  const indices = Array.from({ length: weights.length }, (_, i) => i);
  const result = compareWithCentralDifferences('weights', objective, weights, indices, gradient, { tolerance: 1e-6 });
  assert.ok(result.anyNonzero, 'every weight gradient is 0');
  assertNoMismatches('Dense -> Reshape -> Activation(softmax)', [result], 1e-6);
});
