import assert from 'node:assert/strict';
import { after, test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { WorkerPool } from '../../src/coordinator/pool.js';
import { layers } from '../../src/layers/index.js';
import { type ClippingArgs, checkClipping, clipScale, computeClipScales } from '../../src/optim/clipping.js';
import { Adadelta, Adagrad, Adam, AdamW, RMSprop, createOptimizer } from '../../src/optim/index.js';
import { SGD } from '../../src/optim/sgd.js';
import { UsageError, parseTrainOptions } from '../../src/cli/options.js';
import { Sequential } from '../../src/model/sequential.js';

/**
 * Dense(1, linear) on x = [3, 4] with w = [0, 0], b = 0 and target 1: the error is -1, so the MSE
 * gradient is dW = 2 (y - t) x = [-6, -8] (norm 10) and dB = -2 (norm 2). With SGD at lr 1, the
 * step adds -gradient to the weights.
 */
async function stepOnce(clipping: ClippingArgs, threads: number, stopOnNonFinite: boolean): Promise<number[]> {
  const model = new Sequential({ seed: 1 });
  model.add(layers.dense({ units: 1, inputShape: [2] }));
  model.compile({ optimizer: new SGD({ learningRate: 1 }).setClipping(clipping), loss: 'meanSquaredError' });
  model.setWeights([new Tensor(new Float32Array([0, 0]), [2, 1]), new Tensor(new Float32Array([0]), [1])]);
  const x = new Tensor(new Float32Array([3, 4]), [1, 2]);
  const y = new Tensor(new Float32Array([1]), [1, 1]);
  await model.fit(x, y, { epochs: 1, batchSize: 1, threads, stopOnNonFinite });
  await model.dispose();
  return Array.from(model.flatWeights);
}

function assertClose(actual: number[], expected: number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  expected.forEach((value, i) => {
    assert.ok(Math.abs(actual[i] - value) <= 1e-6 * Math.max(1, Math.abs(value)), `${label}: element ${i} is ${actual[i]}, expected ${value}`);
  });
}

const globalScale = 5 / Math.sqrt(6 * 6 + 8 * 8 + 2 * 2);
const HAND_CASES: { name: string; clipping: ClippingArgs; expected: number[] }[] = [
  { name: 'none', clipping: {}, expected: [6, 8, 2] },
  // The kernel's norm 10 is halved to 5; the bias's norm 2 is under 5 and stays.
  { name: 'clipnorm 5', clipping: { clipnorm: 5 }, expected: [3, 4, 2] },
  { name: 'globalClipnorm 5', clipping: { globalClipnorm: 5 }, expected: [6 * globalScale, 8 * globalScale, 2 * globalScale] },
  { name: 'clipvalue 1', clipping: { clipvalue: 1 }, expected: [1, 1, 1] },
  { name: 'clipvalue 7', clipping: { clipvalue: 7 }, expected: [6, 7, 2] },
];

for (const { name, clipping, expected } of HAND_CASES) {
  for (const threads of [0, 1]) {
    for (const stopOnNonFinite of [true, false]) {
      test(`clipping ${name} matches hand values, threads ${threads}, check ${stopOnNonFinite}`, async () => {
        assertClose(await stepOnce(clipping, threads, stopOnNonFinite), expected, name);
      });
    }
  }
}

test('clipScale leaves small norms and scales large ones', () => {
  assert.equal(clipScale(0, 1), 1);
  assert.equal(clipScale(1, 1), 1);
  assert.equal(clipScale(4, 2), 0.5);
  assert.ok(Number.isNaN(clipScale(Number.NaN, 1)));
});

test('computeClipScales sums chunks per tensor and globally', () => {
  // Tensor 0 has chunks with squares 9 and 16 (norm 5); tensor 1 has one chunk with square 144 (norm 12).
  const squares = new Float64Array([9, 16, 144]);
  const tensors = new Int32Array([0, 0, 1]);
  const scales = new Float64Array(3);
  computeClipScales(scales, squares, tensors, new Float64Array(2), 3, checkClipping({ clipnorm: 6 }, 'test'));
  assert.deepEqual(Array.from(scales), [1, 1, 0.5]);
  computeClipScales(scales, squares, tensors, new Float64Array(2), 3, checkClipping({ globalClipnorm: 6.5 }, 'test'));
  assert.deepEqual(Array.from(scales), [0.5, 0.5, 0.5]);
});

test('clipping options reject invalid values', () => {
  assert.throws(() => new SGD().setClipping({ clipnorm: -1 }), /SGD: clipnorm must be a positive finite number, or null for no clipping, got -1\./);
  assert.throws(() => new SGD().setClipping({ clipvalue: Number.NaN }), /clipvalue must be .* got NaN\./);
  assert.throws(() => new SGD().setClipping({ globalClipnorm: '1' as unknown as number }), /globalClipnorm must be .* got "1"\./);
  assert.throws(() => new SGD().setClipping({ clipnorm: 0 }), /clipnorm must be .* got 0\./);
});

test('clipping options allow only one of three', () => {
  assert.throws(() => createOptimizer('adam', { clipnorm: 1, globalClipnorm: 2 }), /only one of clipnorm, globalClipnorm and clipvalue can be set, got clipnorm 1 and globalClipnorm 2/);
  assert.throws(() => createOptimizer('sgd', { clipnorm: 1, clipvalue: 0.5 }), /got clipnorm 1 and clipvalue 0\.5/);
});

test('createOptimizer keeps clipping out of getConfig', () => {
  for (const name of ['adam', 'sgd', 'rmsprop', 'adagrad', 'adadelta', 'adamw']) {
    const optimizer = createOptimizer(name, { globalClipnorm: 2.5 });
    assert.deepEqual(optimizer.clipping, { clipnorm: null, globalClipnorm: 2.5, clipvalue: null }, name);
    assert.equal('globalClipnorm' in optimizer.getConfig(), false, name);
    const copy = createOptimizer(optimizer.className, optimizer.configWithClipping());
    assert.deepEqual(copy.configWithClipping(), optimizer.configWithClipping(), name);
    assert.equal(copy.configWithClipping().globalClipnorm, 2.5, name);
  }
});

test('optimizer constructors take the clipping options', () => {
  const constructed = [new Adam({ clipnorm: 1 }), new SGD({ clipvalue: 0.5 }), new RMSprop({ globalClipnorm: 3 }), new Adagrad({ clipnorm: 2 }), new Adadelta({ clipvalue: 1 }), new AdamW({ globalClipnorm: 4 })];
  const expected = [
    { clipnorm: 1, globalClipnorm: null, clipvalue: null },
    { clipnorm: null, globalClipnorm: null, clipvalue: 0.5 },
    { clipnorm: null, globalClipnorm: 3, clipvalue: null },
    { clipnorm: 2, globalClipnorm: null, clipvalue: null },
    { clipnorm: null, globalClipnorm: null, clipvalue: 1 },
    { clipnorm: null, globalClipnorm: 4, clipvalue: null },
  ];
  constructed.forEach((optimizer, i) => assert.deepEqual(optimizer.clipping, expected[i], optimizer.className));
  assert.throws(() => new Adam({ clipnorm: 1, clipvalue: 1 }), /only one of clipnorm, globalClipnorm and clipvalue can be set/);
  assert.throws(() => new SGD({ clipvalue: -1 }), /clipvalue/);
});

// Bit-identical weights for any thread count.

const SAMPLES = 300;

function syntheticData(seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([SAMPLES, 8, 8, 1]);
  const y = Tensor.zeros([SAMPLES]);
  for (let i = 0; i < SAMPLES; i++) {
    const label = rng.int(10);
    y.data[i] = label;
    for (let p = 0; p < 64; p++) x.data[i * 64 + p] = 0.5 * rng.next() + (Math.floor(p / 8) === label % 8 ? 0.5 : 0);
  }
  return { x, y };
}

const DATA = syntheticData(7);

/** Conv2D(4) -> Flatten -> Dense(40) -> Dense(10): the first Dense kernel has 144 x 40 = 5760 weights, two chunks. */
function clippedNet(optimizerName: string, clipping: ClippingArgs): Sequential {
  const model = new Sequential({ seed: 3 });
  model.add(layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1] }));
  model.add(layers.flatten());
  model.add(layers.dense({ units: 40, activation: 'relu' }));
  model.add(layers.dense({ units: 10, activation: 'softmax' }));
  model.compile({ optimizer: createOptimizer(optimizerName, { ...clipping }), loss: 'sparseCategoricalCrossentropy' });
  return model;
}

const pools = new Map<number, WorkerPool>();
function pool(threads: number): WorkerPool {
  let existing = pools.get(threads);
  if (existing === undefined) {
    // Every worker runs at once, so update ranges are cut in `threads` parts.
    existing = new WorkerPool({ threads, concurrency: threads });
    pools.set(threads, existing);
  }
  return existing;
}
after(async () => {
  for (const p of pools.values()) await p.close();
});

async function trainedWeights(optimizerName: string, clipping: ClippingArgs, threads: number, batchSize: number): Promise<Float32Array> {
  const model = clippedNet(optimizerName, clipping);
  if (threads > 0) model.usePool(pool(threads));
  await model.fit(DATA.x, DATA.y, { epochs: 1, batchSize, seed: 5, threads, stopOnNonFinite: threads !== 3 });
  return model.flatWeights.slice();
}

const PARALLEL_CASES: { optimizer: string; clipping: ClippingArgs; batchSize: number }[] = [
  { optimizer: 'adam', clipping: { clipnorm: 0.05 }, batchSize: 50 },
  { optimizer: 'sgd', clipping: { globalClipnorm: 0.05 }, batchSize: 50 },
  { optimizer: 'rmsprop', clipping: { clipvalue: 0.001 }, batchSize: 50 },
  // 19 micro-batches of 16 take two reduce rounds before the step.
  { optimizer: 'adam', clipping: { globalClipnorm: 0.05 }, batchSize: 300 },
];

for (const { optimizer, clipping, batchSize } of PARALLEL_CASES) {
  const name = Object.entries(clipping).map(([key, value]) => `${key} ${value}`).join();
  test(`${optimizer} ${name} batch ${batchSize}: same bits on 0, 2 and 3 threads`, async () => {
    const inline = await trainedWeights(optimizer, clipping, 0, batchSize);
    const unclipped = await trainedWeights(optimizer, {}, 0, batchSize);
    assert.notDeepEqual(inline, unclipped, 'the clipping threshold is not reached, so the test compares nothing');
    for (const threads of [2, 3]) {
      const parallel = await trainedWeights(optimizer, clipping, threads, batchSize);
      const mismatch = inline.findIndex((value, i) => !Object.is(value, parallel[i]));
      assert.equal(mismatch, -1, `threads ${threads}: weight ${mismatch} is ${parallel[mismatch]}, inline ${inline[mismatch]}`);
    }
  });
}

test('train.js parses --clipnorm and --clipvalue', () => {
  const write = { out: () => {}, err: () => {} };
  assert.equal(parseTrainOptions(['--clipnorm', '1.5'], write).clipnorm, 1.5);
  assert.equal(parseTrainOptions(['--clipvalue', '0.25'], write).clipvalue, 0.25);
  assert.equal(parseTrainOptions([], write).clipnorm, undefined);
  assert.throws(() => parseTrainOptions(['--clipnorm', '-1'], write), /--clipnorm <norm>' argument '-1' is invalid\. expected a positive number/);
  assert.throws(() => parseTrainOptions(['--clipnorm', '1', '--clipvalue', '1'], write), (error: unknown) => {
    assert.ok(error instanceof UsageError);
    assert.equal(error.exitCode, 2);
    assert.match(error.message, /--clipnorm and --clipvalue cannot be combined/);
    return true;
  });
});
