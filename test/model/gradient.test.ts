import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import { gemmBlocked } from '../../src/gemm/blocked.js';
import { gemmNaive } from '../../src/gemm/naive.js';
import type { FloatArray, GemmFn } from '../../src/gemm/types.js';
import { Conv2D } from '../../src/layers/conv2d.js';
import { Dense } from '../../src/layers/dense.js';
import { Dropout } from '../../src/layers/dropout.js';
import { Flatten } from '../../src/layers/flatten.js';
import type { Layer, StepContext } from '../../src/layers/layer.js';
import { MaxPooling2D } from '../../src/layers/max-pooling2d.js';
import { CategoricalCrossentropy, SparseCategoricalCrossentropy } from '../../src/losses/cross-entropy.js';
import type { Loss } from '../../src/losses/loss.js';
import { MeanSquaredError } from '../../src/losses/mean-squared-error.js';
import { buildLayers, totalParams } from '../../src/model/build.js';
import { Replica } from '../../src/model/replica.js';
import { assertNoMismatches, compareWithCentralDifferences, forwardFloat64, minAbs, relativeError, uniformArray } from '../helpers/gradient-check.js';

// A tiny model in float64: Conv2D(2, 3x3, relu) on 6x6x1 -> MaxPooling2D(2) -> Flatten ->
// [Dropout] -> Dense(3, softmax): 20 + 27 = 47 parameters, all of them checked.
const INPUT_SHAPE = [6, 6, 1];
const BATCH = 4;
const CLASSES = 3;
const LABELS = [0, 2, 1, 2];
/** Weight of each sample's loss, as fit() uses 1 / batchSize. */
const SCALE = 0.25;
/** Value in the gradient slots before trainStep, which must zero its own slot. */
const STALE_GRADIENT = 7;

function createLayers(dropout: boolean): Layer[] {
  const layers: Layer[] = [new Conv2D({ filters: 2, kernelSize: 3, activation: 'relu' }), new MaxPooling2D({ poolSize: 2 }), new Flatten()];
  if (dropout) layers.push(new Dropout({ rate: 0.5, seed: 3 }));
  layers.push(new Dense({ units: CLASSES, activation: 'softmax' }));
  return layers;
}

function trainingStep(): StepContext {
  return { training: true, seed: 99, epoch: 0, sampleIds: Int32Array.from([5, 1, 8, 2]), sampleIdOffset: 0 };
}

function targetsFor(loss: Loss): number[] {
  if (loss.targetWidth(CLASSES) === 1) return LABELS;
  return LABELS.flatMap((label) => Array.from({ length: CLASSES }, (_, j) => (j === label ? 1 : 0)));
}

/**
 * Asserts that the conv pre-activations of the model are far from the ReLU kink and that every
 * 2x2 pooling window has a clear winner, so a step of eps cannot cross a kink.
 */
function assertAwayFromKinks(weights: Float64Array, x: Float64Array): void {
  const conv = new Conv2D({ filters: 2, kernelSize: 3 });
  const z = forwardFloat64(conv, INPUT_SHAPE, x, BATCH, weights.subarray(0, 20));
  assert.ok(minAbs(z) > 1e-4, `a conv pre-activation is ${minAbs(z)} from the ReLU kink`);
  const y = z.map((v) => Math.max(v, 0));
  // y is [BATCH, 4, 4, 2]; windows are 2x2 per channel.
  for (let b = 0; b < BATCH; b++) {
    for (let p = 0; p < 2; p++) {
      for (let q = 0; q < 2; q++) {
        for (let c = 0; c < 2; c++) {
          const window: number[] = [];
          for (let r = 0; r < 2; r++) for (let s = 0; s < 2; s++) window.push(y[((b * 4 + 2 * p + r) * 4 + 2 * q + s) * 2 + c]);
          window.sort((u, v) => v - u);
          if (window[0] > 0) assert.ok(window[0] - window[1] > 1e-4, `pooling window (${b}, ${p}, ${q}, ${c}) is nearly tied: ${window}`);
        }
      }
    }
  }
}

interface ModelCase {
  title: string;
  loss: Loss;
  dropout: boolean;
  seed: number;
}

const CASES: ModelCase[] = [
  { title: 'sparse CE fused softmax', loss: new SparseCategoricalCrossentropy(), dropout: false, seed: 90 },
  { title: 'categorical CE fused softmax', loss: new CategoricalCrossentropy(), dropout: false, seed: 91 },
  { title: 'MSE through softmax', loss: new MeanSquaredError(), dropout: false, seed: 97 },
  { title: 'sparse CE with Dropout 0.5', loss: new SparseCategoricalCrossentropy(), dropout: true, seed: 93 },
];

for (const c of CASES) {
  test(`model 6x6x1 conv-pool-dense ${c.title} gradients`, () => {
    const layers = createLayers(c.dropout);
    const paramCount = totalParams(buildLayers(layers, INPUT_SHAPE));
    assert.equal(paramCount, 47);
    const rng = new Rng(c.seed);
    const weights = uniformArray(paramCount, rng, -0.5, 0.5);
    const x = uniformArray(BATCH * 36, rng, 0, 1);
    assertAwayFromKinks(weights, x);

    const replica = new Replica<Float64Array>({
      layers,
      loss: c.loss,
      weights,
      paramCount,
      maxBatch: BATCH,
      gemm: gemmNaive,
      alloc: (length) => new Float64Array(length),
    });
    replica.input.set(x);
    replica.targets.set(targetsFor(c.loss));
    const step = trainingStep();

    // The gradient goes to the second slot; the first must keep its values.
    const grads = new Float64Array(2 * paramCount).fill(STALE_GRADIENT);
    replica.trainStep(BATCH, step, grads, paramCount, SCALE);
    for (let i = 0; i < paramCount; i++) assert.equal(grads[i], STALE_GRADIENT, `trainStep wrote slot 0 at ${i}`);
    const analytic = grads.slice(paramCount);
    // With a dead filter the conv check would cover only half the kernel.
    assert.ok(analytic.subarray(0, 20).every((g) => g !== 0), `a conv gradient is 0: ${analytic.subarray(0, 20)}`);

    const scratch = new Float64Array(paramCount);
    const objective = (): number => {
      replica.trainStep(BATCH, step, scratch, 0, 1);
      return SCALE * replica.lossSum;
    };
    const lossAtWeights = objective();
    assert.ok(Number.isFinite(lossAtWeights), `loss ${lossAtWeights}`);
    assert.ok(lossAtWeights > 0, `loss ${lossAtWeights}`);
    const indices = Array.from({ length: paramCount }, (_, i) => i);
    const result = compareWithCentralDifferences('weights', objective, weights, indices, analytic);
    assert.ok(result.anyNonzero, 'every gradient is 0');
    assertNoMismatches(`the model with ${c.title}`, [result], 1e-6);
  });
}

test('model evaluate loss equals training loss', () => {
  const layers = createLayers(false);
  const paramCount = totalParams(buildLayers(layers, INPUT_SHAPE));
  const rng = new Rng(94);
  const weights = uniformArray(paramCount, rng, -0.5, 0.5);
  const replica = new Replica<Float64Array>({
    layers,
    loss: new SparseCategoricalCrossentropy(),
    weights,
    paramCount,
    maxBatch: BATCH,
    gemm: gemmNaive,
    alloc: (length) => new Float64Array(length),
  });
  replica.input.set(uniformArray(BATCH * 36, rng, 0, 1));
  replica.targets.set(LABELS);
  replica.trainStep(BATCH, trainingStep(), new Float64Array(paramCount), 0, 1);
  const trainLoss = replica.lossSum;
  const trainCorrect = replica.correct;
  replica.evaluate(BATCH);
  assert.equal(replica.lossSum, trainLoss);
  assert.equal(replica.correct, trainCorrect);
});

/** Gradient of the mean loss of one random batch with the given precision and GEMM. */
function batchGradient<T extends FloatArray>(alloc: (length: number) => T, gemm: GemmFn<T>, seed: number): T {
  const layers = createLayers(false);
  const paramCount = totalParams(buildLayers(layers, INPUT_SHAPE));
  const rng = new Rng(seed);
  const weights = alloc(paramCount);
  weights.set(uniformArray(paramCount, rng, -0.5, 0.5));
  const replica = new Replica<T>({ layers, loss: new SparseCategoricalCrossentropy(), weights, paramCount, maxBatch: BATCH, gemm, alloc });
  replica.input.set(uniformArray(BATCH * 36, rng, 0, 1));
  replica.targets.set(LABELS);
  const grads = alloc(paramCount);
  replica.trainStep(BATCH, trainingStep(), grads, 0, SCALE);
  return grads;
}

test('model float32 blocked GEMM gradient matches float64', () => {
  // The worker path runs float32 on gemmBlocked. The largest relative error measured here was
  // 3.7e-6; a wrong gradient is off by far more than the 5e-5 allowed.
  const reference = batchGradient((length) => new Float64Array(length), gemmNaive, 95);
  const fast = batchGradient((length) => new Float32Array(length), gemmBlocked, 95);
  for (let i = 0; i < reference.length; i++) {
    assert.ok(relativeError(fast[i], reference[i]) < 5e-5, `gradient ${i}: float32 ${fast[i]}, float64 ${reference[i]}`);
  }
});
