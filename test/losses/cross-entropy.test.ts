import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import type { FloatArray } from '../../src/gemm/types.js';
import { activationForward } from '../../src/layers/activations.js';
import { CategoricalCrossentropy, PROBABILITY_EPSILON, SparseCategoricalCrossentropy } from '../../src/losses/cross-entropy.js';
import type { Loss } from '../../src/losses/loss.js';
import { assertNoMismatches, compareWithCentralDifferences, uniformArray } from '../helpers/gradient-check.js';

function softmaxRows<T extends FloatArray>(logits: T, rows: number, width: number): T {
  const output = logits.slice() as T;
  activationForward('softmax', output, logits, rows, width);
  return output;
}

function assertClose(actual: number, expected: number, tolerance: number, label: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${label}: got ${actual}, expected ${expected}`);
}

function assertAllClose(actual: ArrayLike<number>, expected: readonly number[], tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) assertClose(actual[i], expected[i], tolerance, `${label}[${i}]`);
}

/** softmax([1, 2, 3]) from Python 3.11 math. */
const SOFTMAX_123 = [0.09003057317038046, 0.24472847105479764, 0.6652409557748218];

test('sparse CE fused logits [1,2,3] and [0,0,0] by hand', () => {
  // Row loss = logsumexp(z) - z[label]:
  //   [1, 2, 3], label 2: log(1 + e^-1 + e^-2) = 0.4076059644443806
  //   [0, 0, 0], label 1: log 3 = 1.0986122886681098
  const logits = Float64Array.from([1, 2, 3, 0, 0, 0]);
  const output = softmaxRows(logits, 2, 3);
  const dOut = new Float64Array(6);
  const total = new SparseCategoricalCrossentropy().compute(dOut, output, logits, Float64Array.from([2, 1]), 2, 3, 0.5);
  assertClose(total, 0.4076059644443806 + 1.0986122886681098, 1e-14, 'loss sum');
  // Gradient of 0.5 * sum: 0.5 * (softmax(z) - onehot(label)).
  const third = 1 / 3;
  const expected = [SOFTMAX_123[0], SOFTMAX_123[1], SOFTMAX_123[2] - 1, third, third - 1, third].map((v) => 0.5 * v);
  assertAllClose(dOut, expected, 1e-15, 'dOut');
});

test('sparse CE from probabilities by hand', () => {
  // -log p[label]: -log 0.3 = 1.2039728043259361, -log 0.7 = 0.35667494393873245.
  const output = Float64Array.from([0.2, 0.3, 0.5, 0.7, 0.2, 0.1]);
  const dOut = new Float64Array(6).fill(9);
  const total = new SparseCategoricalCrossentropy().compute(dOut, output, null, Float64Array.from([1, 0]), 2, 3, 2);
  assertClose(total, 1.2039728043259361 + 0.35667494393873245, 1e-14, 'loss sum');
  // d/dp of 2 * -log p is -2 / p at the label and 0 elsewhere.
  assertAllClose(dOut, [0, -2 / 0.3, 0, -2 / 0.7, 0, 0], 1e-14, 'dOut');
});

test('sparse CE clips probabilities 0 and 1', () => {
  // p[label] = 0 clips to 1e-7: loss -log(1e-7) = 16.11809565095832; p = 1 clips to 1 - 1e-7.
  // The clip is flat, so the gradient there is 0.
  const output = Float64Array.from([0, 1, 0, 0, 1, 0]);
  const dOut = new Float64Array(6).fill(9);
  const loss = new SparseCategoricalCrossentropy();
  const total = loss.compute(dOut, output, null, Float64Array.from([0, 1]), 2, 3, 1);
  assertClose(total, 16.11809565095832 + 1.0000000494736474e-7, 1e-12, 'loss sum');
  assert.deepEqual(Array.from(dOut), [0, 0, 0, 0, 0, 0]);
  assert.equal(PROBABILITY_EPSILON, 1e-7);
});

test('categorical CE fused one-hot equals sparse', () => {
  const logits = Float64Array.from([1, 2, 3, -1, 0.5, 2]);
  const output = softmaxRows(logits, 2, 3);
  const sparseDOut = new Float64Array(6);
  const categoricalDOut = new Float64Array(6);
  const sparse = new SparseCategoricalCrossentropy().compute(sparseDOut, output, logits, Float64Array.from([2, 0]), 2, 3, 0.25);
  const categorical = new CategoricalCrossentropy().compute(categoricalDOut, output, logits, Float64Array.from([0, 0, 1, 1, 0, 0]), 2, 3, 0.25);
  assertClose(categorical, sparse, 1e-14, 'loss sum');
  assertAllClose(categoricalDOut, Array.from(sparseDOut), 1e-16, 'dOut');
});

test('categorical CE fused soft targets by hand', () => {
  // logsumexp([1, 2, 3]) - (0.25 * 1 + 0.25 * 2 + 0.5 * 3) = 3.4076059644443806 - 2.25.
  const logits = Float64Array.from([1, 2, 3]);
  const dOut = new Float64Array(3);
  const total = new CategoricalCrossentropy().compute(dOut, softmaxRows(logits, 1, 3), logits, Float64Array.from([0.25, 0.25, 0.5]), 1, 3, 1);
  assertClose(total, 1.1576059644443806, 1e-14, 'loss');
  assertAllClose(dOut, [SOFTMAX_123[0] - 0.25, SOFTMAX_123[1] - 0.25, SOFTMAX_123[2] - 0.5], 1e-15, 'dOut');
});

test('categorical CE from probabilities by hand', () => {
  // -(0.25 log 0.2 + 0.75 log 0.5) = 0.922219863528484; the gradient of that is -t / p.
  const dOut = new Float64Array(3);
  const total = new CategoricalCrossentropy().compute(dOut, Float64Array.from([0.2, 0.3, 0.5]), null, Float64Array.from([0.25, 0, 0.75]), 1, 3, 1);
  assertClose(total, 0.922219863528484, 1e-14, 'loss');
  assertAllClose(dOut, [-0.25 / 0.2, 0, -0.75 / 0.5], 1e-14, 'dOut');
});

test('categorical CE clip gives 0 gradient', () => {
  const dOut = new Float64Array(2).fill(9);
  const total = new CategoricalCrossentropy().compute(dOut, Float64Array.from([0, 1]), null, Float64Array.from([1, 0]), 1, 2, 1);
  assertClose(total, 16.11809565095832, 1e-12, 'loss');
  assert.deepEqual(Array.from(dOut), [0, 0]);
});

test('loss without dOut returns the same sum', () => {
  const logits = Float64Array.from([1, 2, 3, 0, 0, 0]);
  const output = softmaxRows(logits, 2, 3);
  const targets = Float64Array.from([2, 1]);
  const loss = new SparseCategoricalCrossentropy();
  assert.equal(loss.compute(null, output, logits, targets, 2, 3, 1), loss.compute(new Float64Array(6), output, logits, targets, 2, 3, 1));
});

/** Fused loss of logits z: compute() over softmax(z) and z, with the gradient w.r.t. z. */
function checkFusedGradient(loss: Loss, logits: Float64Array, targets: Float64Array, rows: number, width: number): void {
  const scale = 0.75;
  const dOut = new Float64Array(rows * width);
  loss.compute(dOut, softmaxRows(logits, rows, width), logits, targets, rows, width, scale);
  const objective = (): number => scale * loss.compute(null, softmaxRows(logits, rows, width), logits, targets, rows, width, 1);
  const indices = Array.from(logits.keys());
  const result = compareWithCentralDifferences('logits', objective, logits, indices, dOut);
  assertNoMismatches(`${loss.name} with logits`, [result], 1e-6);
}

/** Unfused loss of the output p itself, with p kept away from the clip. */
function checkOutputGradient(loss: Loss, output: Float64Array, targets: Float64Array, rows: number, width: number): void {
  const scale = 0.75;
  const dOut = new Float64Array(rows * width);
  loss.compute(dOut, output, null, targets, rows, width, scale);
  const objective = (): number => scale * loss.compute(null, output, null, targets, rows, width, 1);
  const result = compareWithCentralDifferences('output', objective, output, Array.from(output.keys()), dOut);
  assertNoMismatches(`${loss.name} from probabilities`, [result], 1e-6);
}

test('sparse CE fused 3 rows of 4 gradients', () => {
  const rng = new Rng(70);
  checkFusedGradient(new SparseCategoricalCrossentropy(), uniformArray(12, rng, -3, 3), Float64Array.from([3, 0, 2]), 3, 4);
});

test('sparse CE from probabilities 3 rows of 4 gradients', () => {
  const rng = new Rng(71);
  checkOutputGradient(new SparseCategoricalCrossentropy(), uniformArray(12, rng, 0.05, 0.95), Float64Array.from([1, 3, 0]), 3, 4);
});

test('categorical CE fused soft targets 3 rows of 4 gradients', () => {
  const rng = new Rng(72);
  // Row sums of the targets are 1, 0.6 and 1.3: the fused gradient scales softmax by them.
  const targets = Float64Array.from([0.1, 0.2, 0.3, 0.4, 0, 0.6, 0, 0, 1, 0, 0.3, 0]);
  checkFusedGradient(new CategoricalCrossentropy(), uniformArray(12, rng, -3, 3), targets, 3, 4);
});

test('categorical CE from probabilities 3 rows of 4 gradients', () => {
  const rng = new Rng(73);
  const targets = Float64Array.from([0.1, 0.2, 0.3, 0.4, 0, 0.6, 0, 0.4, 1, 0, 0, 0]);
  checkOutputGradient(new CategoricalCrossentropy(), uniformArray(12, rng, 0.05, 0.95), targets, 3, 4);
});

for (const [label, expectedLoss, expectedGradient] of [
  [1, 1000, [1, -1, 0]],
  [0, 0, [0, 0, 0]],
] as const) {
  test(`sparse CE logit gap 1000 label ${label} float32`, () => {
    const logits = Float32Array.from([1000, 0, 0]);
    const output = softmaxRows(logits, 1, 3);
    const dOut = new Float32Array(3);
    const total = new SparseCategoricalCrossentropy().compute(dOut, output, logits, Float32Array.from([label]), 1, 3, 1);
    assert.ok(Number.isFinite(total), `loss ${total}`);
    assertClose(total, expectedLoss, 1e-9, 'loss');
    for (const v of dOut) assert.ok(Number.isFinite(v), `gradient value ${v}`);
    assertAllClose(dOut, expectedGradient, 1e-12, 'dOut');
  });
}

test('categorical CE logit gap 1000 wrong class float32', () => {
  const logits = Float32Array.from([0, -1000, 1000]);
  const output = softmaxRows(logits, 1, 3);
  const dOut = new Float32Array(3);
  const total = new CategoricalCrossentropy().compute(dOut, output, logits, Float32Array.from([0, 1, 0]), 1, 3, 1);
  // logsumexp = 1000 (the other terms underflow), minus z[1] = -1000.
  assertClose(total, 2000, 1e-9, 'loss');
  assertAllClose(dOut, [0, -1, 1], 1e-12, 'dOut');
});

test('sparse CE targetWidth 1, categorical width', () => {
  assert.equal(new SparseCategoricalCrossentropy().targetWidth(10), 1);
  assert.equal(new CategoricalCrossentropy().targetWidth(10), 10);
  assert.equal(new SparseCategoricalCrossentropy().fusesSoftmax, true);
  assert.equal(new CategoricalCrossentropy().fusesSoftmax, true);
});
