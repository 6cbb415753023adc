import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { BatchStatisticsPlan } from '../../src/coordinator/batch-statistics.js';
import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { gemmNaive } from '../../src/gemm/naive.js';
import { BatchNormalization } from '../../src/layers/batch-normalization.js';
import { Conv2D } from '../../src/layers/conv2d.js';
import { Dense } from '../../src/layers/dense.js';
import { Flatten } from '../../src/layers/flatten.js';
import { layers } from '../../src/layers/index.js';
import type { Layer, StepContext } from '../../src/layers/layer.js';
import { SparseCategoricalCrossentropy } from '../../src/losses/cross-entropy.js';
import { buildLayers, totalParams, trainableParams } from '../../src/model/build.js';
import { Replica } from '../../src/model/replica.js';
import { loadModel, saveModel } from '../../src/model/save.js';
import { Sequential } from '../../src/model/sequential.js';
import { INFERENCE_STEP, assertNoMismatches, compareWithCentralDifferences, relativeError, uniformArray } from '../helpers/gradient-check.js';

const EPSILON = 1e-3;

function trainingStep(): StepContext {
  return { training: true, seed: 1, epoch: 0, sampleIds: new Int32Array(0), sampleIdOffset: 0 };
}

/** Creates a float64 replica on the naive GEMM with its own batch-statistics buffer and a one-slot plan. */
function float64Replica(modelLayers: Layer[], inputShape: number[], weights: Float64Array, batch: number) {
  const entries = buildLayers(modelLayers, inputShape);
  const lengths = BatchStatisticsPlan.lengths(modelLayers);
  const statistics = new Float64Array(lengths.statistics);
  const partials = new Float64Array(lengths.partialStride);
  const plan = new BatchStatisticsPlan(modelLayers, statistics, partials, lengths.partialStride);
  const replica = new Replica<Float64Array>({
    layers: modelLayers,
    loss: new SparseCategoricalCrossentropy(),
    weights,
    paramCount: trainableParams(entries),
    maxBatch: batch,
    gemm: gemmNaive,
    alloc: (length) => new Float64Array(length),
    batchStatistics: statistics,
  });
  return { replica, plan, partials, entries };
}

/** Runs every moments pass of the plan over the whole batch as one micro-batch. */
function computeMoments(replica: Replica<Float64Array>, plan: BatchStatisticsPlan, partials: Float64Array, n: number, step: StepContext): void {
  for (const phase of plan.phases) {
    if (phase.reduction !== 'moments') continue;
    plan.begin(phase);
    replica.writeMoments(phase.layerIndex, n, step, partials, 0);
    plan.absorb(phase, 1);
    plan.finish(phase);
  }
}

test('forward in training mode uses batch mean and biased variance', () => {
  // x is [4, 2]: channel 0 = 1, 2, 3, 6 (mean 3, variance 3.5); channel 1 = -1, -1, 1, 1 (mean 0, variance 1).
  const layer = new BatchNormalization({ inputShape: [2] });
  const weights = Float64Array.from([2, 1, 0.5, 0, 9, 9, 9, 9]); // gamma, beta, moving stats (unused)
  const { replica, plan, partials } = float64Replica([layer], [2], weights, 4);
  replica.input.set([1, -1, 2, -1, 3, 1, 6, 1]);
  computeMoments(replica, plan, partials, 4, trainingStep());
  const y = replica.forward(4, trainingStep());
  const std0 = Math.sqrt(3.5 + EPSILON);
  const std1 = Math.sqrt(1 + EPSILON);
  const expected = [2 * (-2 / std0) + 0.5, -1 / std1, 2 * (-1 / std0) + 0.5, -1 / std1, 0.5, 1 / std1, 2 * (3 / std0) + 0.5, 1 / std1];
  expected.forEach((value, i) => assert.ok(Math.abs(y[i] - value) < 1e-12, `y[${i}] is ${y[i]}, expected ${value}`));
});

test('forward in inference mode uses moving statistics', () => {
  const layer = new BatchNormalization({ inputShape: [2], epsilon: 0.01 });
  // gamma [3, 1], beta [0, -1], moving_mean [1, 2], moving_variance [0.99, 3.99].
  const weights = Float64Array.from([3, 1, 0, -1, 1, 2, 0.99, 3.99]);
  const { replica } = float64Replica([layer], [2], weights, 2);
  replica.input.set([2, 4, 0, 0]);
  const y = replica.forward(2, INFERENCE_STEP);
  const expected = [3 * (1 / 1), (2 / 2) - 1, 3 * (-1 / 1), (-2 / 2) - 1];
  expected.forEach((value, i) => assert.ok(Math.abs(y[i] - value) < 1e-12, `y[${i}] is ${y[i]}, expected ${value}`));
});

test('input, gamma and beta gradients over whole batch', () => {
  // L = sum(dYFixed * y) with training-mode statistics recomputed from x at every evaluation.
  const inputShape = [3, 3, 2];
  const n = 4;
  const layer = new BatchNormalization({ inputShape });
  const rng = new Rng(21);
  const weights = Float64Array.from([1.5, -0.7, 0.3, 0.2, 0, 0, 1, 1]);
  const entries = buildLayers([layer], inputShape);
  const lengths = BatchStatisticsPlan.lengths([layer]);
  const statistics = new Float64Array(lengths.statistics);
  const partials = new Float64Array(lengths.partialStride);
  const plan = new BatchStatisticsPlan([layer], statistics, partials, lengths.partialStride);
  const runtime = layer.createRuntime<Float64Array>({ alloc: (length) => new Float64Array(length), gemm: gemmNaive, weights, maxBatch: n, batchStatistics: statistics });
  const size = n * 18;
  const x = uniformArray(size, rng, -2, 2);
  const dYFixed = uniformArray(size, rng);
  const [moments, sums] = plan.phases;
  const objective = (): number => {
    plan.begin(moments);
    runtime.writeMoments?.(x, n, partials, 0);
    plan.absorb(moments, 1);
    plan.finish(moments);
    runtime.forward(x, n, trainingStep());
    let total = 0;
    for (let i = 0; i < size; i++) total += dYFixed[i] * runtime.y[i];
    return total;
  };
  objective();
  plan.begin(sums);
  runtime.writeGradientSums?.(x, dYFixed, n, partials, 0);
  plan.absorb(sums, 1);
  const grads = new Float64Array(trainableParams(entries));
  runtime.backward(x, dYFixed.slice(), n, true, grads, 0, false);
  const dX = runtime.dX.slice(0, size);
  const indices = (start: number, end: number): number[] => Array.from({ length: end - start }, (_, i) => start + i);
  const options = { eps: 1e-6, tolerance: 1e-6 };
  const results = [
    compareWithCentralDifferences('input', objective, x, indices(0, size), dX, options),
    compareWithCentralDifferences('gamma', objective, weights, indices(0, 2), grads.slice(0, 2), options),
    compareWithCentralDifferences('beta', objective, weights, indices(2, 4), grads.slice(2, 4), options),
  ];
  for (const result of results) assert.ok(result.anyNonzero, 'a checked gradient is nonzero');
  assertNoMismatches(`layer '${layer.name}'`, results, options.tolerance);
});

test('conv model gradient through BatchNormalization', () => {
  // Conv2D(2, 3x3, no bias) -> BatchNormalization -> Flatten -> Dense(3, softmax), batch 5, float64.
  const inputShape = [4, 4, 1];
  const n = 5;
  const modelLayers: Layer[] = [new Conv2D({ filters: 2, kernelSize: 3, useBias: false }), new BatchNormalization({}), new Flatten(), new Dense({ units: 3, activation: 'softmax' })];
  const entries = buildLayers(modelLayers, inputShape);
  const rng = new Rng(8);
  const weights = uniformArray(totalParams(entries), rng);
  for (const entry of entries) if (entry.spec.name === 'moving_variance') weights.fill(1, entry.offset, entry.offset + entry.size);
  const { replica, plan, partials } = float64Replica(modelLayers, inputShape, weights, n);
  replica.input.set(uniformArray(n * 16, rng));
  replica.targets.set([0, 2, 1, 1, 0]);
  const scale = 1 / n;
  const objective = (): number => {
    computeMoments(replica, plan, partials, n, trainingStep());
    replica.writeGradientSums(1, n, trainingStep(), new Float64Array(replica.paramCount), 0, scale, partials, 0);
    return replica.lossSum * scale;
  };
  // Analytic: statistics, then the gradient sums, then the gradient pass.
  computeMoments(replica, plan, partials, n, trainingStep());
  const [, sums] = plan.phases;
  plan.begin(sums);
  replica.writeGradientSums(1, n, trainingStep(), new Float64Array(replica.paramCount), 0, scale, partials, 0);
  plan.absorb(sums, 1);
  const grads = new Float64Array(replica.paramCount);
  replica.trainStep(n, trainingStep(), grads, 0, scale);
  const results = entries
    .filter((entry) => entry.spec.trainable !== false)
    .map((entry) => {
      const indices = Array.from({ length: entry.size }, (_, i) => entry.offset + i);
      return compareWithCentralDifferences(entry.name, objective, weights, indices, grads.slice(entry.offset, entry.offset + entry.size), { tolerance: 1e-5 });
    });
  for (const result of results) assert.ok(result.anyNonzero, 'a checked gradient is nonzero');
  assertNoMismatches('the conv model', results, 1e-5);
});

function smallData(count: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([count, 8, 8, 1]);
  for (let i = 0; i < x.size; i++) x.data[i] = rng.next();
  const y = new Tensor(Float32Array.from({ length: count }, (_, i) => (i * 7) % 10), [count]);
  return { x, y };
}

/** Conv2D(4, 3x3) -> BN -> MaxPooling2D(2) -> Flatten -> Dense(8, relu) -> BN(momentum 0.9) -> Dense(10, softmax). */
function convNet(optimizer = 'adam'): Sequential {
  const model = new Sequential({ seed: 3 });
  model.add(layers.conv2d({ filters: 4, kernelSize: 3, inputShape: [8, 8, 1] }));
  model.add(layers.batchNormalization());
  model.add(layers.maxPooling2d({ poolSize: 2 }));
  model.add(layers.flatten());
  model.add(layers.dense({ units: 8, activation: 'relu' }));
  model.add(layers.batchNormalization({ momentum: 0.9 }));
  model.add(layers.dense({ units: 10, activation: 'softmax' }));
  model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

test('moving statistics follow the whole batch', async () => {
  // One SGD step on 40 samples in micro-batches of 16: the moving statistics must use all 40.
  const model = new Sequential({ seed: 1 });
  model.add(layers.batchNormalization({ inputShape: [2], momentum: 0.75 }));
  model.add(layers.dense({ units: 3, activation: 'softmax' }));
  model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
  const count = 40;
  const x = Tensor.zeros([count, 2]);
  for (let i = 0; i < count; i++) {
    x.data[2 * i] = i % 7;
    x.data[2 * i + 1] = (i * i) % 5 - 1.5;
  }
  const y = new Tensor(Float32Array.from({ length: count }, (_, i) => i % 3), [count]);
  try {
    await model.fit(x, y, { epochs: 1, batchSize: count, threads: 0, shuffle: false });
    const [gamma, beta, movingMean, movingVariance] = model.getWeights();
    for (let c = 0; c < 2; c++) {
      let mean = 0;
      for (let i = 0; i < count; i++) mean += x.data[2 * i + c] / count;
      let variance = 0;
      for (let i = 0; i < count; i++) variance += (x.data[2 * i + c] - mean) ** 2 / count;
      assert.ok(relativeError(movingMean.data[c], 0.25 * mean) < 1e-6, `moving_mean[${c}] is ${movingMean.data[c]}, expected ${0.25 * mean}`);
      const expectedVariance = 0.75 + 0.25 * variance;
      assert.ok(relativeError(movingVariance.data[c], expectedVariance) < 1e-6, `moving_variance[${c}] is ${movingVariance.data[c]}, expected ${expectedVariance}`);
    }
    assert.notDeepEqual(Array.from(gamma.data), [1, 1], 'the optimizer updated gamma');
    assert.notDeepEqual(Array.from(beta.data), [0, 0], 'the optimizer updated beta');
  } finally {
    await model.dispose();
  }
});

test('micro-batched gradient equals whole-batch gradient', async () => {
  // 40 samples in micro-batches of 16 (16 + 16 + 8) against one float64 pass over all 40.
  const count = 40;
  const { x, y } = smallData(count, 4);
  const model = convNet('sgd');
  try {
    const initial = Float64Array.from(model.flatWeights);
    await model.fit(x, y, { epochs: 1, batchSize: count, threads: 0, shuffle: false });
    const runner = model.getRunner(0, count);
    const modelLayers = convNet().layers;
    const { replica, plan, partials } = float64Replica(modelLayers, [8, 8, 1], initial, count);
    replica.input.set(x.data);
    replica.targets.set(y.data);
    const step = trainingStep();
    computeMoments(replica, plan, partials, count, step);
    for (const phase of plan.phases) {
      if (phase.reduction !== 'gradientSums') continue;
      plan.begin(phase);
      replica.writeGradientSums(phase.layerIndex, count, step, new Float64Array(replica.paramCount), 0, 1 / count, partials, 0);
      plan.absorb(phase, 1);
    }
    const expected = new Float64Array(replica.paramCount);
    replica.trainStep(count, step, expected, 0, 1 / count);
    const actual = runner.gradients;
    assert.equal(actual.length, expected.length);
    let largest = 0;
    for (const g of expected) largest = Math.max(largest, Math.abs(g));
    for (let i = 0; i < expected.length; i++) {
      assert.ok(Math.abs(actual[i] - expected[i]) <= 1e-4 * largest, `gradient ${i} is ${actual[i]}, whole-batch float64 gives ${expected[i]}`);
    }
  } finally {
    await model.dispose();
  }
});

for (const batchSize of [40, 300]) {
  test(`conv model with BN bit-identical on 0, 2, 3 threads, batch ${batchSize}`, async () => {
    // 300 samples need 19 micro-batches: two rounds of at most 16 slots.
    const { x, y } = smallData(330, 6);
    const results: Float32Array[] = [];
    for (const threads of [0, 2, 3]) {
      const model = convNet();
      try {
        await model.fit(x, y, { epochs: 2, batchSize, threads, seed: 5, validationSplit: 0.09 });
        results.push(model.flatWeights.slice());
        const movingVariance = model.getWeights()[5].data;
        assert.ok(movingVariance.some((v) => v !== 1), 'training moved the moving variance');
      } finally {
        await model.dispose();
      }
    }
    assert.deepEqual(results[1], results[0], 'threads 2 match threads 0');
    assert.deepEqual(results[2], results[0], 'threads 3 match threads 0');
  });
}

test('weight order, save and load round trip', async () => {
  const { x, y } = smallData(64, 9);
  const model = convNet();
  const dir = await mkdtemp(join(tmpdir(), 'shardnet-bn-'));
  try {
    await model.fit(x, y, { epochs: 1, batchSize: 32, threads: 0 });
    const names = model.paramEntries.map((e) => e.name);
    assert.deepEqual(names.slice(2, 6), ['batch_normalization/gamma', 'batch_normalization/beta', 'batch_normalization/moving_mean', 'batch_normalization/moving_variance']);
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    const before = model.getWeights();
    const after = loaded.getWeights();
    assert.equal(after.length, before.length);
    before.forEach((tensor, i) => assert.deepEqual(after[i].data, tensor.data, `weight ${names[i]} survives the round trip`));
    const expected = await model.predict(x, { threads: 0 });
    const actual = await loaded.predict(x, { threads: 0 });
    assert.deepEqual(actual.data, expected.data);

    // TensorFlow.js lists trainable weights of all layers first; such a manifest loads by name.
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const manifest: { name: string }[] = json.weightsManifest[0].weights;
    const trainableFirst = [...manifest.filter((w) => !w.name.includes('moving')), ...manifest.filter((w) => w.name.includes('moving'))];
    json.weightsManifest[0].weights = trainableFirst;
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    const values = trainableFirst.map((w) => before[names.indexOf(w.name)].data);
    const bytes = new Float32Array(values.reduce((sum, v) => sum + v.length, 0));
    let at = 0;
    for (const v of values) {
      bytes.set(v, at);
      at += v.length;
    }
    await writeFile(join(dir, 'weights.bin'), new Uint8Array(bytes.buffer));
    const reordered = await loadModel(dir);
    reordered.getWeights().forEach((tensor, i) => assert.deepEqual(tensor.data, before[i].data, `weight ${names[i]} loads by name`));
  } finally {
    await model.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('summary counts trainable and non-trainable params', () => {
  const model = convNet();
  const lines: string[] = [];
  model.summary((line) => lines.push(line));
  // conv 3*3*1*4 + 4 = 40, BN(4) 16, dense 36*8 + 8 = 296, BN(8) 32, dense 8*10 + 10 = 90.
  assert.ok(lines.includes('Total params: 474'), lines.join('\n'));
  assert.ok(lines.includes('Trainable params: 450'), lines.join('\n'));
  assert.ok(lines.includes('Non-trainable params: 24'), lines.join('\n'));
  assert.equal(model.countParams(), 474);
});

test('checkpoint resume carries moving statistics', async () => {
  const { x, y } = smallData(96, 12);
  const dir = await mkdtemp(join(tmpdir(), 'shardnet-bn-ckpt-'));
  const straight = convNet();
  const first = convNet();
  const resumed = convNet();
  try {
    await straight.fit(x, y, { epochs: 2, batchSize: 32, threads: 0, seed: 4 });
    await first.fit(x, y, { epochs: 1, batchSize: 32, threads: 0, seed: 4, checkpointDir: dir });
    await resumed.fit(x, y, { epochs: 2, batchSize: 32, threads: 0, seed: 4, resumeFrom: dir });
    assert.deepEqual(resumed.flatWeights, straight.flatWeights);
  } finally {
    await straight.dispose();
    await first.dispose();
    await resumed.dispose();
    await rm(dir, { recursive: true, force: true });
  }
});

test('invalid options rejected', () => {
  assert.throws(() => new BatchNormalization({ momentum: 1.5 }), { name: 'RangeError', message: /momentum must be a number in \[0, 1\], got 1\.5/ });
  assert.throws(() => new BatchNormalization({ epsilon: 0 }), { name: 'RangeError', message: /epsilon must be a positive finite number, got 0/ });
  assert.throws(() => new BatchNormalization({ center: 'yes' as unknown as boolean }), { name: 'TypeError', message: /center must be a boolean/ });
  const model = new Sequential();
  model.add(layers.conv2d({ filters: 2, kernelSize: 3, inputShape: [5, 5, 1] }));
  assert.throws(() => model.add(layers.batchNormalization({ axis: 1 })), { name: 'ShapeError', message: /normalizes only the last axis \(axis -1, or 3 for this input\), got axis 1/ });
});
