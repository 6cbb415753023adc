/**
 * Models trained here and written by model.save (or train.js --save) load in TensorFlow.js
 * 4.22 with tf.loadLayersModel and predict the same classes and probabilities.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Tensor } from '../../src/core/tensor.js';
import { layers } from '../../src/layers/index.js';
import { loadModel } from '../../src/model/save.js';
import { Sequential } from '../../src/model/sequential.js';
import { argmaxRows, directoryLoader, maxAbsDifference, stripeImages, tfjsPredict, toTfjs, useTfjsCpu } from './tfjs-files.js';
import { writeIdx } from '../helpers/idx.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const TOLERANCE = 1e-5;
const CLASSES = 3;

/** Conv2D, BatchNormalization (both ranks), both poolings, Reshape, Flatten, Dense, Activation and Dropout. */
function everyLayerModel(): Sequential {
  const model = new Sequential({ seed: 7 });
  model.add(layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', inputShape: [8, 8, 1] }));
  model.add(layers.batchNormalization());
  model.add(layers.maxPooling2d({ poolSize: 2 }));
  model.add(layers.conv2d({ filters: 6, kernelSize: [2, 3], strides: [1, 1], useBias: false }));
  model.add(layers.averagePooling2d({ poolSize: [1, 2] }));
  model.add(layers.reshape({ targetShape: [3, 6] }));
  model.add(layers.flatten());
  model.add(layers.dense({ units: 10, kernelRegularizer: { l1: 0, l2: 0.001 } }));
  model.add(layers.batchNormalization({ scale: false, momentum: 0.9 }));
  model.add(layers.activation({ activation: 'tanh' }));
  model.add(layers.dropout({ rate: 0.25 }));
  model.add(layers.dense({ units: CLASSES, activation: 'softmax' }));
  return model;
}

/** Conv2D -> GlobalAveragePooling2D -> Dense(softmax). */
function globalPoolingModel(): Sequential {
  const model = new Sequential({ seed: 8 });
  model.add(layers.conv2d({ filters: 5, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1] }));
  model.add(layers.globalAveragePooling2d());
  model.add(layers.dense({ units: CLASSES, activation: 'softmax' }));
  return model;
}

async function trainTwoEpochs(model: Sequential, x: Tensor, y: Tensor): Promise<void> {
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  await model.fit(x, y, { epochs: 2, batchSize: 8, threads: 0, seed: 3 });
}

describe('shardnet model in TensorFlow.js', { timeout: 120_000 }, () => {
  let dir: string;
  const train = stripeImages(48, 8, CLASSES, 11);
  const test = stripeImages(12, 8, CLASSES, 12);

  before(async () => {
    await useTfjsCpu();
    dir = mkdtempSync(join(tmpdir(), 'shardnet-tfjs-export-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('every layer type predicts the same', async () => {
    const model = everyLayerModel();
    await trainTwoEpochs(model, train.x, train.y);
    const modelDir = join(dir, 'every-layer');
    await model.save(modelDir);

    const ours = await model.predict(test.x, { threads: 0 });
    const theirs = await tf.loadLayersModel(directoryLoader(modelDir));
    const probabilities = tfjsPredict(theirs, test.x);
    assert.deepEqual(theirs.layers.map((l) => l.getClassName()), model.layers.map((l) => l.className));
    assert.ok(maxAbsDifference(ours.data, probabilities) <= TOLERANCE, `max difference ${maxAbsDifference(ours.data, probabilities)}`);
    assert.deepEqual(argmaxRows(probabilities, CLASSES), argmaxRows(ours.data, CLASSES));

    // Our evaluate() adds the Dense kernel's L2 penalty to the loss, as Keras does. TensorFlow.js
    // 4.22 adds it only while training (tfjs-layers makeTestFunction leaves it out), so its
    // evaluate() loss plus the penalty it computes from the loaded regularizer must match ours.
    theirs.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const [tfLoss, tfAccuracy] = (theirs.evaluate(toTfjs(test.x), toTfjs(test.y)) as tf.Scalar[]).map((s) => s.dataSync()[0]);
    const penalties = theirs.calculateLosses().map((s) => s.dataSync()[0]);
    assert.equal(penalties.length, 1, 'TensorFlow.js loaded one kernel regularizer');
    assert.ok(penalties[0] > 0);
    const { loss, accuracy } = await model.evaluate(test.x, test.y, { threads: 0 });
    assert.ok(Math.abs(loss - (tfLoss + penalties[0])) <= TOLERANCE, `loss ${loss}, TensorFlow.js ${tfLoss} + penalty ${penalties[0]}`);
    assert.ok(Math.abs(accuracy - tfAccuracy) <= TOLERANCE, `accuracy ${accuracy}, TensorFlow.js ${tfAccuracy}`);
    theirs.dispose();
  });

  it('weights keep the Keras layouts', async () => {
    const model = everyLayerModel();
    await trainTwoEpochs(model, train.x, train.y);
    const modelDir = join(dir, 'layouts');
    await model.save(modelDir);

    const manifest = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')).weightsManifest[0].weights;
    const shapes = Object.fromEntries(manifest.map((w: { name: string; shape: number[] }) => [w.name, w.shape]));
    assert.deepEqual(shapes['conv2d/kernel'], [3, 3, 1, 4], 'conv kernel [kh, kw, in, out]');
    assert.deepEqual(shapes['conv2d_1/kernel'], [2, 3, 4, 6], 'conv kernel [kh, kw, in, out]');
    assert.deepEqual(shapes['dense/kernel'], [18, 10], 'dense kernel [in, out]');
    assert.deepEqual(shapes['dense_1/kernel'], [10, CLASSES], 'dense kernel [in, out]');

    // TensorFlow.js reads each weight by name into its own tensor, and every value must agree.
    const theirs = await tf.loadLayersModel(directoryLoader(modelDir));
    const theirWeights = new Map<string, tf.LayerVariable>();
    for (const layer of theirs.layers) for (const weight of layer.weights) theirWeights.set(weight.originalName, weight);
    const ours = model.getWeights();
    model.paramEntries.forEach((entry, i) => {
      const weight = theirWeights.get(entry.name);
      assert.ok(weight !== undefined, `TensorFlow.js has weight ${entry.name}`);
      assert.deepEqual(weight.shape, entry.spec.shape, `${entry.name} shape`);
      assert.deepEqual(Array.from(weight.read().dataSync()), Array.from(ours[i].data), `${entry.name} values`);
    });
    theirs.dispose();
  });

  it('batch normalization moving statistics transfer', async () => {
    const model = new Sequential({ seed: 9 });
    model.add(layers.conv2d({ filters: 3, kernelSize: 3, inputShape: [8, 8, 1] }));
    model.add(layers.batchNormalization({ momentum: 0.5, epsilon: 0.01 }));
    model.add(layers.flatten());
    model.add(layers.dense({ units: CLASSES, activation: 'softmax' }));
    await trainTwoEpochs(model, train.x, train.y);
    const modelDir = join(dir, 'batch-norm');
    await model.save(modelDir);

    const weights = model.getWeights();
    const names = model.paramEntries.map((e) => e.name);
    const movingMean = weights[names.indexOf('batch_normalization/moving_mean')].data;
    const movingVariance = weights[names.indexOf('batch_normalization/moving_variance')].data;
    assert.ok(movingMean.some((v) => v !== 0), 'training moved the moving mean away from its initial zeros');
    assert.ok(movingVariance.some((v) => v !== 1), 'training moved the moving variance away from its initial ones');

    const theirs = await tf.loadLayersModel(directoryLoader(modelDir));
    const norm = theirs.layers[1];
    const byName = new Map(norm.weights.map((w) => [w.originalName, w.read().dataSync()]));
    assert.deepEqual(Array.from(byName.get('batch_normalization/moving_mean')!), Array.from(movingMean));
    assert.deepEqual(Array.from(byName.get('batch_normalization/moving_variance')!), Array.from(movingVariance));
    assert.equal(norm.getConfig().momentum, 0.5);
    assert.equal(norm.getConfig().epsilon, 0.01);

    // Inference normalizes with the moving statistics, so one sample alone gives its row of
    // the batch result, here and in TensorFlow.js.
    const ours = await model.predict(test.x, { threads: 0 });
    const probabilities = tfjsPredict(theirs, test.x);
    assert.ok(maxAbsDifference(ours.data, probabilities) <= TOLERANCE, `max difference ${maxAbsDifference(ours.data, probabilities)}`);
    const first = new Tensor(test.x.data.slice(0, 64), [1, 8, 8, 1]);
    const alone = await model.predict(first, { threads: 0 });
    assert.ok(maxAbsDifference(alone.data, ours.data.subarray(0, CLASSES)) <= TOLERANCE);
    assert.ok(maxAbsDifference(tfjsPredict(theirs, first), ours.data.subarray(0, CLASSES)) <= TOLERANCE);

    // Training mode normalizes with the batch statistics instead; the outputs must differ,
    // or the comparison above would not tell the two modes apart.
    const trainingMode = tf.tidy(() => (theirs.apply(toTfjs(test.x), { training: true }) as tf.Tensor).dataSync());
    assert.ok(maxAbsDifference(trainingMode, probabilities) > 1e-3, 'training-mode outputs differ from inference');
    theirs.dispose();
  });

  it('global average pooling predicts the same', async () => {
    const model = globalPoolingModel();
    await trainTwoEpochs(model, train.x, train.y);
    const modelDir = join(dir, 'global-pooling');
    await model.save(modelDir);

    const ours = await model.predict(test.x, { threads: 0 });
    const theirs = await tf.loadLayersModel(directoryLoader(modelDir));
    const probabilities = tfjsPredict(theirs, test.x);
    assert.ok(maxAbsDifference(ours.data, probabilities) <= TOLERANCE, `max difference ${maxAbsDifference(ours.data, probabilities)}`);
    assert.deepEqual(argmaxRows(probabilities, CLASSES), argmaxRows(ours.data, CLASSES));
    theirs.dispose();
  });

  it('train.js --save output loads in TensorFlow.js', async () => {
    const dataDir = join(dir, 'idx');
    const modelDir = join(dir, 'cli-model');
    mkdirSync(dataDir);
    // Tiny IDX files with the MNIST names: 32 training and 8 test images of patterned pixels.
    const pixels = (count: number) => Uint8Array.from({ length: count * 784 }, (_, i) => (i * 37 + Math.floor(i / 784) * 11) % 256);
    const labels = (count: number) => Uint8Array.from({ length: count }, (_, i) => i % 10);
    writeIdx(join(dataDir, 'train-images-idx3-ubyte'), [32, 28, 28], pixels(32));
    writeIdx(join(dataDir, 'train-labels-idx1-ubyte'), [32], labels(32));
    writeIdx(join(dataDir, 't10k-images-idx3-ubyte'), [8, 28, 28], pixels(8));
    writeIdx(join(dataDir, 't10k-labels-idx1-ubyte'), [8], labels(8));
    const args = ['--data', dataDir, '--no-download', '--epochs', '1', '--batch-size', '16', '--threads', '1', '--validation-split', '0', '--save', modelDir];
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/train.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    assert.equal(result.status, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`saved model to ${modelDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));

    const ours = await loadModel(modelDir);
    const theirs = await tf.loadLayersModel(directoryLoader(modelDir));
    const images = new Tensor(Float32Array.from(pixels(8), (v) => v / 255), [8, 28, 28, 1]);
    const expected = await ours.predict(images, { threads: 0 });
    const probabilities = tfjsPredict(theirs, images);
    assert.deepEqual(theirs.outputs[0].shape, [null, 10]);
    assert.ok(maxAbsDifference(expected.data, probabilities) <= TOLERANCE, `max difference ${maxAbsDifference(expected.data, probabilities)}`);
    assert.deepEqual(argmaxRows(probabilities, 10), argmaxRows(expected.data, 10));
    theirs.dispose();
  });
});
