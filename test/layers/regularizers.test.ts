import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { WorkerPool } from '../../src/coordinator/pool.js';
import { Conv2D, Dense, layers } from '../../src/layers/index.js';
import { L1L2, parseRegularizer, penaltyRange, regularizeRange, regularizers } from '../../src/layers/regularizers.js';
import { createOptimizer } from '../../src/optim/index.js';
import { SGD } from '../../src/optim/sgd.js';
import { loadModel, saveModel } from '../../src/model/save.js';
import { Sequential } from '../../src/model/sequential.js';
import { assertNoMismatches, compareWithCentralDifferences } from '../helpers/gradient-check.js';

test('regularizer factories follow Keras defaults', () => {
  assert.deepEqual(regularizers.l1(0.3).getConfig(), { l1: 0.3, l2: 0 });
  assert.deepEqual(regularizers.l2(0.2).getConfig(), { l1: 0, l2: 0.2 });
  assert.deepEqual(regularizers.l1().getConfig(), { l1: 0.01, l2: 0 });
  assert.deepEqual(regularizers.l2({ l2: 0.5 }).getConfig(), { l1: 0, l2: 0.5 });
  assert.deepEqual(regularizers.l1l2({ l1: 0.1 }).getConfig(), { l1: 0.1, l2: 0 });
  assert.deepEqual(regularizers.l1l2().getConfig(), { l1: 0, l2: 0 });
});

test('parseRegularizer accepts every spelling', () => {
  assert.equal(parseRegularizer(undefined, 'kernelRegularizer', 'here'), null);
  assert.equal(parseRegularizer(null, 'kernelRegularizer', 'here'), null);
  assert.deepEqual(parseRegularizer({ l1: 0.1, l2: 0.2 }, 'kernelRegularizer', 'here')?.getConfig(), { l1: 0.1, l2: 0.2 });
  assert.deepEqual(parseRegularizer({ className: 'L1L2', config: { l1: 0.1, l2: 0.2 } }, 'k', 'here')?.getConfig(), { l1: 0.1, l2: 0.2 });
  assert.deepEqual(parseRegularizer({ class_name: 'L2', config: { l2: 0.3 } }, 'k', 'here')?.getConfig(), { l1: 0, l2: 0.3 });
  assert.deepEqual(parseRegularizer({ class_name: 'L1', config: {} }, 'k', 'here')?.getConfig(), { l1: 0.01, l2: 0 });
  assert.deepEqual(parseRegularizer({ class_name: 'L1L2', config: { l1: null, l2: 0.2 } }, 'k', 'here')?.getConfig(), { l1: 0, l2: 0.2 });
});

test('parseRegularizer rejects malformed values', () => {
  assert.throws(() => parseRegularizer('l2', 'kernelRegularizer', "Dense 'd'"), /Dense 'd': kernelRegularizer must be an object; .* Got "l2"\./);
  assert.throws(() => parseRegularizer({ l1: -1 }, 'kernelRegularizer', 'here'), /kernelRegularizer \{"l1":-1\} is invalid: Regularizer factor l1 must be a non-negative finite number, got -1/);
  assert.throws(() => parseRegularizer({ l3: 1 }, 'kernelRegularizer', 'here'), /is invalid: unknown key "l3"/);
  assert.throws(() => parseRegularizer({ className: 'Orthogonal', config: {} }, 'k', 'here'), /unsupported class "Orthogonal"; only L1L2, L1 and L2 are supported/);
  assert.throws(() => parseRegularizer({ className: 'L1L2', config: [] }, 'k', 'here'), /its config must be an object, got \[\]/);
  assert.throws(() => parseRegularizer({ className: 'L2', config: { l2: 'x' } }, 'k', 'here'), /factor l2 must be a non-negative finite number, got "x"/);
  assert.throws(() => new L1L2({ l2: Number.POSITIVE_INFINITY }), /l2 must be a non-negative finite number, got Infinity/);
  assert.throws(() => layers.dense({ units: 2, kernelRegularizer: { l1: Number.NaN } }), /Dense 'dense': kernelRegularizer .* got NaN/);
});

test('penalty gradient matches central differences', () => {
  const rng = new Rng(11);
  const count = 40;
  const weights = new Float64Array(count);
  // Keep every weight away from 0, where |w| has its kink.
  for (let i = 0; i < count; i++) weights[i] = (rng.next() < 0.5 ? -1 : 1) * (0.05 + rng.next());
  for (const [l1, l2] of [[0.3, 0], [0, 0.7], [0.3, 0.7]]) {
    const dW = new Float64Array(count);
    const penalty = regularizeRange(dW, weights, 0, count, l1, l2);
    assert.equal(penalty, penaltyRange(weights, 0, count, l1, l2), 'regularizeRange and penaltyRange agree');
    const indices = Array.from({ length: count }, (_, i) => i);
    const result = compareWithCentralDifferences(`l1 ${l1} l2 ${l2}`, () => penaltyRange(weights, 0, count, l1, l2), weights, indices, dW, { tolerance: 1e-7 });
    assert.ok(result.anyNonzero);
    assertNoMismatches(`penalty l1 ${l1} l2 ${l2}`, [result], 1e-7);
  }
});

test('regularizeRange adds to the gradient and treats 0 as sign 0', () => {
  const weights = new Float32Array([2, -0.5, 0]);
  const dW = new Float32Array([1, 1, 1]);
  // penalty = 0.1 * 2.5 + 0.2 * (4 + 0.25); dW += 0.1 sign(w) + 0.4 w
  const penalty = regularizeRange(dW, weights, 0, 3, 0.1, 0.2);
  assert.ok(Math.abs(penalty - (0.25 + 0.85)) < 1e-12);
  assert.deepEqual(Array.from(dW), [Math.fround(1 + 0.1 + 0.8), Math.fround(1 - 0.1 - 0.2), 1]);
});

/**
 * Dense(1, linear) with w = [0.5, -1], b = 0.25, kernelRegularizer l1 0.1, l2 0.2, on x = [2, 1]
 * and target 1: y = 1 - 1 + 0.25 = 0.25, error -0.75, MSE 0.5625, penalty 0.1 * 1.5 + 0.2 * 1.25
 * = 0.4. The data gradient is dW = 2 (-0.75) x = [-3, -1.5], dB = -1.5; the penalty adds
 * 0.1 sign(w) + 0.4 w = [0.3, -0.5] to dW only.
 */
function tinyModel(): { model: Sequential; x: Tensor; y: Tensor } {
  const model = new Sequential({ seed: 1 });
  model.add(layers.dense({ units: 1, inputShape: [2], kernelRegularizer: regularizers.l1l2({ l1: 0.1, l2: 0.2 }) }));
  model.compile({ optimizer: new SGD({ learningRate: 0.1 }), loss: 'meanSquaredError' });
  model.setWeights([new Tensor(new Float32Array([0.5, -1]), [2, 1]), new Tensor(new Float32Array([0.25]), [1])]);
  return { model, x: new Tensor(new Float32Array([2, 1]), [1, 2]), y: new Tensor(new Float32Array([1]), [1, 1]) };
}

for (const threads of [0, 1]) {
  for (const stopOnNonFinite of [true, false]) {
    test(`regularized loss and step match hand values, threads ${threads}, check ${stopOnNonFinite}`, async () => {
      const { model, x, y } = tinyModel();
      const before = await model.evaluate(x, y, { threads });
      assert.ok(Math.abs(before.loss - (0.5625 + 0.4)) < 1e-6, `evaluate loss ${before.loss}`);
      const history = await model.fit(x, y, { epochs: 1, batchSize: 1, threads, stopOnNonFinite });
      assert.ok(Math.abs(history.history.loss[0] - (0.5625 + 0.4)) < 1e-6, `training loss ${history.history.loss[0]}`);
      // w -= 0.1 (data gradient + penalty gradient); b -= 0.1 dB.
      const expected = [0.5 - 0.1 * (-3 + 0.3), -1 - 0.1 * (-1.5 - 0.5), 0.25 + 0.15];
      Array.from(model.flatWeights).forEach((value, i) => assert.ok(Math.abs(value - expected[i]) < 1e-6, `weight ${i} is ${value}, expected ${expected[i]}`));
      await model.dispose();
    });
  }
}

test('regularizer adds nothing when factors are 0', async () => {
  const plain = tinyModel();
  const zero = new Sequential({ seed: 1 });
  zero.add(layers.dense({ units: 1, inputShape: [2], kernelRegularizer: { l1: 0, l2: 0 } }));
  zero.compile({ optimizer: new SGD({ learningRate: 0.1 }), loss: 'meanSquaredError' });
  zero.setWeights(plain.model.getWeights());
  const result = await zero.evaluate(plain.x, plain.y, { threads: 0 });
  assert.ok(Math.abs(result.loss - 0.5625) < 1e-6, `loss ${result.loss}`);
});

// Bit-identical weights for any thread count, with regularizers on every kernel.

function syntheticData(count: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([count, 8, 8, 1]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    const label = rng.int(10);
    y.data[i] = label;
    for (let p = 0; p < 64; p++) x.data[i * 64 + p] = 0.5 * rng.next() + (Math.floor(p / 8) === label % 8 ? 0.5 : 0);
  }
  return { x, y };
}

const DATA = syntheticData(200, 9);

/** The first Dense kernel has 144 x 40 = 5760 weights, so it spans two chunks. */
function regularizedNet(clipnorm: number | null): Sequential {
  const model = new Sequential({ seed: 2 });
  model.add(layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1], kernelRegularizer: regularizers.l2(0.01) }));
  model.add(layers.flatten());
  model.add(layers.dense({ units: 40, activation: 'relu', kernelRegularizer: regularizers.l1l2({ l1: 0.001, l2: 0.01 }) }));
  model.add(layers.dense({ units: 10, activation: 'softmax', kernelRegularizer: regularizers.l1(0.002) }));
  model.compile({ optimizer: createOptimizer('adam', clipnorm === null ? {} : { clipnorm }), loss: 'sparseCategoricalCrossentropy' });
  return model;
}

const pools: WorkerPool[] = [];
after(async () => {
  for (const p of pools) await p.close();
});

async function train(threads: number, clipnorm: number | null): Promise<{ weights: Float32Array; loss: number[]; valLoss: number[] }> {
  const model = regularizedNet(clipnorm);
  if (threads > 0) {
    const pool = new WorkerPool({ threads, concurrency: threads });
    pools.push(pool);
    model.usePool(pool);
  }
  const history = await model.fit(DATA.x, DATA.y, { epochs: 2, batchSize: 40, seed: 3, threads, validationSplit: 0.2, stopOnNonFinite: threads !== 2 });
  return { weights: model.flatWeights.slice(), loss: history.history.loss, valLoss: history.history.val_loss };
}

for (const clipnorm of [null, 0.1]) {
  test(`regularized training, clipnorm ${clipnorm}: same bits on 0, 2 and 3 threads`, async () => {
    const inline = await train(0, clipnorm);
    for (const threads of [2, 3]) {
      const parallel = await train(threads, clipnorm);
      const mismatch = inline.weights.findIndex((value, i) => !Object.is(value, parallel.weights[i]));
      assert.equal(mismatch, -1, `threads ${threads}: weight ${mismatch} is ${parallel.weights[mismatch]}, inline ${inline.weights[mismatch]}`);
      assert.deepEqual(parallel.loss, inline.loss, `threads ${threads}: training losses`);
      assert.deepEqual(parallel.valLoss, inline.valLoss, `threads ${threads}: validation losses`);
    }
  });
}

test('regularizers survive save and load', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shardnet-regularizers-'));
  try {
    const model = new Sequential({ seed: 5 });
    model.add(layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [5, 5, 1], kernelRegularizer: regularizers.l2(0.25) }));
    model.add(layers.flatten());
    model.add(layers.dense({ units: 3, kernelRegularizer: { l1: 0.5, l2: 0.125 } }));
    model.add(layers.dense({ units: 2 }));
    await saveModel(model, dir);
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const configs = json.modelTopology.config.layers.map((layer: { config: Record<string, unknown> }) => layer.config);
    assert.deepEqual(configs[0].kernel_regularizer, { class_name: 'L1L2', config: { l1: 0, l2: 0.25 } });
    assert.deepEqual(configs[2].kernel_regularizer, { class_name: 'L1L2', config: { l1: 0.5, l2: 0.125 } });
    assert.equal('kernel_regularizer' in configs[3], false);
    const loaded = await loadModel(dir);
    assert.deepEqual((loaded.layers[0] as Conv2D).kernelRegularizer?.getConfig(), { l1: 0, l2: 0.25 });
    assert.deepEqual((loaded.layers[2] as Dense).kernelRegularizer?.getConfig(), { l1: 0.5, l2: 0.125 });
    assert.equal((loaded.layers[3] as Dense).kernelRegularizer, null);
    assert.deepEqual(loaded.flatWeights, model.flatWeights);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('loadModel reads Keras and null regularizers and rejects malformed ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'shardnet-regularizers-'));
  try {
    const model = new Sequential({ seed: 5 });
    model.add(layers.dense({ units: 2, inputShape: [3] }));
    await saveModel(model, dir);
    const original = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const withRegularizer = async (value: unknown): Promise<Sequential> => {
      const json = structuredClone(original);
      json.modelTopology.config.layers[0].config.kernel_regularizer = value;
      await writeFile(join(dir, 'model.json'), JSON.stringify(json));
      return loadModel(dir);
    };
    assert.equal(((await withRegularizer(null)).layers[0] as Dense).kernelRegularizer, null);
    const keras = await withRegularizer({ module: 'keras.regularizers', class_name: 'L2', config: { l2: 0.03 }, registered_name: null });
    assert.deepEqual((keras.layers[0] as Dense).kernelRegularizer?.getConfig(), { l1: 0, l2: 0.03 });
    await assert.rejects(withRegularizer({ class_name: 'L1L2', config: { l1: -0.5 } }), /Cannot load model .*model\.json: layer 0 \(Dense\) has an invalid config: Dense 'dense.*': kernelRegularizer .* l1 must be a non-negative finite number, got -0\.5/);
    await assert.rejects(withRegularizer({ class_name: 'OrthogonalRegularizer', config: { factor: 0.01 } }), /layer 0 \(Dense\) has an invalid config: .*unsupported class "OrthogonalRegularizer"/);
    await assert.rejects(withRegularizer(0.01), /layer 0 \(Dense\) has an invalid config: .*kernelRegularizer must be an object/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
