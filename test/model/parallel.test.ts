import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { gemmBlocked } from '../../src/gemm/blocked.js';
import { deserializeLayer, layers, serializeLayer } from '../../src/layers/index.js';
import { getLoss } from '../../src/losses/index.js';
import { Adam } from '../../src/optim/adam.js';
import { SGD } from '../../src/optim/sgd.js';
import { buildLayers } from '../../src/model/build.js';
import type { FitArgs } from '../../src/model/fit.js';
import { Replica } from '../../src/model/replica.js';
import { WorkerPool } from '../../src/coordinator/pool.js';
import { Sequential } from '../../src/model/sequential.js';

const INPUT_SHAPE = [8, 8, 1];
const SAMPLES = 300;

/**
 * Returns seeded 8x8 images with values in [0, 1) and labels 0..9. Row `label % 8` of each image
 * is brighter by 0.5, so the class can be learned, except that 8 and 9 share rows with 0 and 1.
 */
function syntheticData(count: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([count, ...INPUT_SHAPE]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    const label = rng.int(10);
    y.data[i] = label;
    for (let p = 0; p < 64; p++) x.data[i * 64 + p] = 0.5 * rng.next() + (Math.floor(p / 8) === label % 8 ? 0.5 : 0);
  }
  return { x, y };
}

const DATA = syntheticData(SAMPLES, 100);

/** Conv2D(4, 3x3, relu) -> MaxPooling2D -> Flatten -> [Dropout 0.25] -> Dense(10, softmax). */
function smallConvNet(options: { dropout: boolean }): Sequential {
  const model = new Sequential({ seed: 4 });
  model.add(layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: INPUT_SHAPE }));
  model.add(layers.maxPooling2d({ poolSize: 2 }));
  model.add(layers.flatten());
  // The explicit seed keeps the mask independent of how many Dropout layers exist already.
  if (options.dropout) model.add(layers.dropout({ rate: 0.25, seed: 1 }));
  model.add(layers.dense({ units: 10, activation: 'softmax' }));
  return model;
}

interface TrainResult {
  initial: Float32Array;
  weights: Float32Array;
  loss: number[];
}

/** Trains a fresh small net with Adam for one epoch and returns copies of its weights. */
/** Trains the small net; with `pool`, on that pool (every worker running at once). */
async function trainSmallNet(args: FitArgs, pool?: WorkerPool): Promise<TrainResult> {
  const model = smallConvNet({ dropout: true });
  if (pool !== undefined) model.usePool(pool);
  try {
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const initial = model.flatWeights.slice();
    const history = await model.fit(DATA.x, DATA.y, { epochs: 1, seed: 7, ...args });
    return { initial, weights: model.flatWeights.slice(), loss: history.history.loss };
  } finally {
    await model.dispose();
  }
}

/** Asserts equal bytes, naming the first differing element. */
function assertBitIdentical(actual: Float32Array, expected: Float32Array, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const same = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength));
  if (same) return;
  const index = actual.findIndex((v, i) => !Object.is(v, expected[i]));
  assert.fail(`${label}: element ${index} is ${actual[index]}, expected ${expected[index]}`);
}

function countDifferences(a: Float32Array, b: Float32Array): number {
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) count++;
  return count;
}

test('fit batch 128 same weights on threads 0-4', async () => {
  // 300 samples make batches of 128, 128 and 44; micro-batches of 16 make 8, 8 and 3 tasks.
  const reference = await trainSmallNet({ batchSize: 128, threads: 0 });
  assert.ok(countDifferences(reference.weights, reference.initial) > reference.weights.length / 2, 'training changed too few weights');
  for (const threads of [1, 2, 3, 4]) {
    const result = await trainSmallNet({ batchSize: 128, threads });
    assertBitIdentical(result.weights, reference.weights, `weights with ${threads} threads`);
    assert.deepEqual(result.loss, reference.loss, `loss with ${threads} threads`);
  }
});

test('fit same weights with 4 workers running at once', async () => {
  // By default a pool runs at most one task per core; this pool runs all 4, whatever the cores.
  const reference = await trainSmallNet({ batchSize: 128, threads: 0 });
  const pool = new WorkerPool({ threads: 4, concurrency: 4, warn: () => {} });
  try {
    const result = await trainSmallNet({ batchSize: 128 }, pool);
    assertBitIdentical(result.weights, reference.weights, 'weights with 4 concurrent workers');
    const again = await trainSmallNet({ batchSize: 128 }, pool);
    assertBitIdentical(again.weights, reference.weights, 'weights of a second model on the shared pool');
  } finally {
    await pool.close();
  }
});

test('fit batch 96 micro 32 on 8 threads', async () => {
  // Each batch has 3 micro-batches (the last batch of 12 has 1), so most workers stay idle.
  const reference = await trainSmallNet({ batchSize: 96, microBatchSize: 32, threads: 0 });
  const result = await trainSmallNet({ batchSize: 96, microBatchSize: 32, threads: 8 });
  assertBitIdentical(result.weights, reference.weights, 'weights with 8 threads');
  assert.deepEqual(result.loss, reference.loss);
  const other = await trainSmallNet({ batchSize: 96, microBatchSize: 32, threads: 2 });
  assertBitIdentical(other.weights, reference.weights, 'weights with 2 threads');
});

// fit() splits one batch into micro-batches of 16 over 3 workers. Its step must equal
// w - lr * g, where one replica computes g, the gradient of the batch's mean loss, over all
// rows at once. The sums differ only in rounding order. 128 rows make 8 full micro-batches,
// and 100 rows make 6 full ones and one of 4.
for (const count of [128, 100]) {
  test(`fit SGD step batch ${count} equals one replica`, async () => {
    const learningRate = 0.1;
    const x = DATA.x.slice(0, count);
    const y = DATA.y.slice(0, count);
    const model = smallConvNet({ dropout: false });
    try {
      model.compile({ optimizer: new SGD({ learningRate }), loss: 'sparseCategoricalCrossentropy' });
      const initial = model.flatWeights.slice();

      const referenceLayers = model.layers.map((layer) => deserializeLayer(serializeLayer(layer)));
      buildLayers(referenceLayers, INPUT_SHAPE);
      const paramCount = initial.length;
      const replica = new Replica<Float32Array>({
        layers: referenceLayers,
        loss: getLoss('sparseCategoricalCrossentropy'),
        weights: initial.slice(),
        paramCount,
        maxBatch: count,
        gemm: gemmBlocked,
        alloc: (length) => new Float32Array(length),
      });
      replica.input.set(x.data);
      replica.targets.set(y.data);
      const gradient = new Float32Array(paramCount);
      const step = { training: true, seed: 0, epoch: 0, sampleIds: Int32Array.from({ length: count }, (_, i) => i), sampleIdOffset: 0 };
      replica.trainStep(count, step, gradient, 0, 1 / count);

      const history = await model.fit(x, y, { epochs: 1, batchSize: 128, shuffle: false, threads: 3, microBatchSize: 16 });
      assert.equal(history.params.steps, 1);
      const weights = model.flatWeights;
      let moved = 0;
      for (let i = 0; i < paramCount; i++) {
        const expected = initial[i] - learningRate * gradient[i];
        // The fit step and the reference step differ only in float32 summation order (micro-batches
        // and the backend's GEMM), far below the step itself; 1e-7 covers rounding the weight.
        const stepError = Math.abs(weights[i] - initial[i] + learningRate * gradient[i]);
        assert.ok(stepError <= 1e-3 * Math.abs(learningRate * gradient[i]) + 1e-7, `weight ${i}: fit gives ${weights[i]}, w - lr g is ${expected}`);
        if (Math.abs(weights[i] - initial[i]) > 1e-5) moved++;
      }
      assert.ok(moved > paramCount / 2, `only ${moved} of ${paramCount} weights moved`);
      const loss = history.history.loss[0];
      assert.ok(Math.abs(loss - replica.lossSum / count) < 1e-6, `fit loss ${loss}, replica loss ${replica.lossSum / count}`);
    } finally {
      await model.dispose();
    }
  });
}

test('evaluate and predict equal on threads 0 and 2', async () => {
  // 300 rows make two evaluation tasks of 256 and 44.
  const model = smallConvNet({ dropout: true });
  try {
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const inline = await model.evaluate(DATA.x, DATA.y, { threads: 0 });
    const inlinePrediction = await model.predict(DATA.x, { threads: 0 });
    const pooled = await model.evaluate(DATA.x, DATA.y, { threads: 2 });
    const pooledPrediction = await model.predict(DATA.x, { threads: 2 });
    assert.equal(pooled.loss, inline.loss);
    assert.equal(pooled.accuracy, inline.accuracy);
    assert.ok(Number.isFinite(inline.loss), `loss ${inline.loss}`);
    assert.ok(inline.loss > 0, `loss ${inline.loss}`);
    assert.deepEqual(pooledPrediction.shape, [SAMPLES, 10]);
    assertBitIdentical(pooledPrediction.data, inlinePrediction.data, 'predictions');
    // Each prediction row is a softmax.
    for (let r = 0; r < SAMPLES; r++) {
      const row = inlinePrediction.data.subarray(r * 10, r * 10 + 10);
      const sum = row.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `row ${r} sums to ${sum}`);
    }
  } finally {
    await model.dispose();
  }
});

test('evaluate accuracy matches predict argmax', async () => {
  const model = smallConvNet({ dropout: false });
  try {
    model.compile({ optimizer: new Adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    await model.fit(DATA.x, DATA.y, { epochs: 3, batchSize: 32, threads: 0, seed: 3 });
    const { accuracy } = await model.evaluate(DATA.x, DATA.y, { threads: 0 });
    const prediction = await model.predict(DATA.x, { threads: 0 });
    let correct = 0;
    for (let r = 0; r < SAMPLES; r++) {
      const row = Array.from(prediction.data.subarray(r * 10, r * 10 + 10));
      if (row.indexOf(Math.max(...row)) === DATA.y.data[r]) correct++;
    }
    assert.equal(accuracy, correct / SAMPLES);
    // The class is visible in the image: three epochs reached 0.65 here, against chance 0.1.
    assert.ok(accuracy > 0.3, `accuracy ${accuracy}`);
  } finally {
    await model.dispose();
  }
});

test(
  'fit default Dropout seed reproducible',
  async () => {
    const train = async (): Promise<Float32Array> => {
      const model = new Sequential({ seed: 4 });
      model.add(layers.dense({ units: 8, activation: 'relu', inputShape: [4] }));
      model.add(layers.dropout({ rate: 0.5 }));
      model.add(layers.dense({ units: 2, activation: 'softmax' }));
      model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
      const rng = new Rng(5);
      const x = new Tensor(Float32Array.from({ length: 64 * 4 }, () => rng.next()), [64, 4]);
      const y = new Tensor(Float32Array.from({ length: 64 }, (_, i) => i % 2), [64]);
      await model.fit(x, y, { epochs: 1, batchSize: 16, threads: 0, seed: 1 });
      return model.flatWeights.slice();
    };
    assertBitIdentical(await train(), await train(), 'weights of the second identical run');
  },
);

function compiledSmallNet(): Sequential {
  const model = smallConvNet({ dropout: false });
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
  return model;
}

test('fit x [10,8,8,2] rejected', async () => {
  const model = compiledSmallNet();
  await assert.rejects(model.fit(Tensor.zeros([10, 8, 8, 2]), Tensor.zeros([10]), { threads: 0 }), {
    name: 'ShapeError',
    message: "Input of layer 'conv2d' (Conv2D) must have shape [None, 8, 8, 1]; got x with shape [10, 8, 8, 2].",
  });
});

test('fit x rank 3 [10,8,8] rejected', async () => {
  const model = compiledSmallNet();
  await assert.rejects(model.fit(Tensor.zeros([10, 8, 8]), Tensor.zeros([10]), { threads: 0 }), {
    name: 'ShapeError',
    message: "Input of layer 'conv2d' (Conv2D) must have shape [None, 8, 8, 1]; got x with shape [10, 8, 8].",
  });
});

test('fit label 12 for 10 units rejected', async () => {
  const model = compiledSmallNet();
  const y = Tensor.zeros([10]);
  y.data[3] = 12;
  await assert.rejects(model.fit(Tensor.zeros([10, 8, 8, 1]), y, { threads: 0 }), {
    name: 'ValueError',
    message:
      "Output layer 'dense' (Dense, output [None, 10]) with loss sparseCategoricalCrossentropy expects integer labels in [0, 9]; sample 3 has label 12.",
  });
});

test('fit label 2.5 rejected', async () => {
  const model = compiledSmallNet();
  const y = Tensor.zeros([10]);
  y.data[9] = 2.5;
  await assert.rejects(model.fit(Tensor.zeros([10, 8, 8, 1]), y, { threads: 0 }), { name: 'ValueError', message: /sample 9 has label 2.5\.$/ });
});

test('fit 9 labels for 10 samples rejected', async () => {
  const model = compiledSmallNet();
  await assert.rejects(model.fit(Tensor.zeros([10, 8, 8, 1]), Tensor.zeros([9]), { threads: 0 }), {
    name: 'ShapeError',
    message: 'y has 9 samples but the inputs have 10; give one target per sample.',
  });
});

test('fit x with NaN rejected', async () => {
  const model = compiledSmallNet();
  const x = Tensor.zeros([10, 8, 8, 1]);
  x.data[64 * 4 + 5] = Number.NaN;
  await assert.rejects(model.fit(x, Tensor.zeros([10]), { threads: 0 }), {
    name: 'ValueError',
    message: 'x contains NaN at sample 4; inputs must be finite numbers.',
  });
});

test('fit before compile rejected', async () => {
  const model = new Sequential({ name: 'uncompiled' });
  model.add(layers.dense({ units: 2, inputShape: [3] }));
  await assert.rejects(model.fit(Tensor.zeros([4, 3]), Tensor.zeros([4]), { threads: 0 }), {
    name: 'StateError',
    message: "Model 'uncompiled' must be compiled before fit(); call compile({ optimizer, loss }).",
  });
});

test('evaluate before compile rejected', async () => {
  const model = new Sequential({ name: 'uncompiled_eval' });
  model.add(layers.dense({ units: 2, inputShape: [3] }));
  await assert.rejects(model.evaluate(Tensor.zeros([4, 3]), Tensor.zeros([4]), { threads: 0 }), {
    name: 'StateError',
    message: "Model 'uncompiled_eval' must be compiled before evaluate(); call compile({ optimizer, loss }).",
  });
});

for (const [option, value, message] of [
  ['batchSize', 0, 'fit(): batchSize must be an integer >= 1, got 0.'],
  ['epochs', -1, 'fit(): epochs must be an integer >= 0, got -1.'],
  ['microBatchSize', 1.5, 'fit(): microBatchSize must be an integer >= 1, got 1.5.'],
  ['validationSplit', 1, 'fit(): validationSplit must be a number in [0, 1), got 1.'],
] as const) {
  test(`fit ${option} ${value} rejected`, async () => {
    const model = compiledSmallNet();
    await assert.rejects(model.fit(DATA.x, DATA.y, { threads: 0, [option]: value }), { name: 'RangeError', message });
  });
}

test('fit threads 0.5 rejected', async () => {
  const model = compiledSmallNet();
  await assert.rejects(model.fit(DATA.x, DATA.y, { threads: 0.5 }), {
    name: 'RangeError',
    message: 'threads must be an integer from 1 to 1024, got 0.5.',
  });
});

test('closed shared pool named and detachable', async () => {
  const pool = new WorkerPool({ threads: 2 });
  const model = smallConvNet({ dropout: false });
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
  try {
    model.usePool(pool);
    await pool.close();
    await assert.rejects(model.fit(DATA.x, DATA.y, { epochs: 1, seed: 7 }), {
      name: 'StateError',
      message: /worker pool that model '.*' uses \(usePool\) is closed; give it an open pool with usePool\(\), or call usePool\(null\)/,
    });
    model.usePool(null);
    const history = await model.fit(DATA.x, DATA.y, { epochs: 1, seed: 7, threads: 0 });
    assert.equal(history.epoch.length, 1);
  } finally {
    await model.dispose();
  }
});
