/**
 * Models built and trained in TensorFlow.js 4.22 (cpu backend) are saved through
 * tf.io.withSaveHandler as model.json and weight files. loadModel reads them, and they evaluate
 * and predict here as they do in TensorFlow.js, also when the weights are split across several
 * manifest groups and shard files.
 */
import * as tf from '@tensorflow/tfjs';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { loadModel } from '../../src/model/save.js';
import { argmaxRows, maxAbsDifference, saveTfjsModel, stripeImages, tfjsPredict, toTfjs, useTfjsCpu } from './tfjs-files.js';

const TOLERANCE = 1e-5;
const CLASSES = 3;

/** conv2d -> batchNormalization -> maxPooling2d -> conv2d -> flatten -> dense -> dropout -> dense(softmax), seeded. */
function tfjsModel(): tf.Sequential {
  const seeded = (seed: number) => tf.initializers.glorotUniform({ seed });
  const model = tf.sequential();
  model.add(tf.layers.conv2d({ inputShape: [8, 8, 1], filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: seeded(1) }));
  model.add(tf.layers.batchNormalization({ momentum: 0.8 }));
  model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
  model.add(tf.layers.conv2d({ filters: 6, kernelSize: [2, 2], strides: 2, activation: 'relu', kernelInitializer: seeded(2) }));
  model.add(tf.layers.flatten());
  model.add(tf.layers.dense({ units: 12, activation: 'relu', kernelInitializer: seeded(3) }));
  model.add(tf.layers.dropout({ rate: 0.2, seed: 4 }));
  model.add(tf.layers.dense({ units: CLASSES, activation: 'softmax', kernelInitializer: seeded(5) }));
  model.compile({ optimizer: tf.train.adam(0.01), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

describe('TensorFlow.js model in shardnet', { timeout: 60_000 }, () => {
  let dir: string;
  let model: tf.Sequential;
  const train = stripeImages(48, 8, CLASSES, 21);
  const test = stripeImages(15, 8, CLASSES, 22);

  before(async () => {
    await useTfjsCpu();
    dir = mkdtempSync(join(tmpdir(), 'shardnet-tfjs-import-'));
    model = tfjsModel();
    // Six gradient steps: three batches of 16 in each of two epochs.
    await model.fit(toTfjs(train.x), toTfjs(train.y), { epochs: 2, batchSize: 16, shuffle: false, verbose: 0 });
  });
  after(() => {
    model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('evaluate and predict match', async () => {
    const modelDir = join(dir, 'single');
    const files = await saveTfjsModel(model, modelDir);
    assert.deepEqual(files, ['weights.bin']);

    const ours = await loadModel(modelDir);
    ours.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    assert.deepEqual(ours.layers.map((l) => l.className), model.layers.map((l) => l.getClassName()));

    const [tfLoss, tfAccuracy] = (model.evaluate(toTfjs(test.x), toTfjs(test.y)) as tf.Scalar[]).map((s) => s.dataSync()[0]);
    const { loss, accuracy } = await ours.evaluate(test.x, test.y, { threads: 0 });
    assert.ok(Math.abs(loss - tfLoss) <= TOLERANCE, `loss ${loss}, TensorFlow.js ${tfLoss}`);
    assert.ok(Math.abs(accuracy - tfAccuracy) <= TOLERANCE, `accuracy ${accuracy}, TensorFlow.js ${tfAccuracy}`);

    const expected = tfjsPredict(model, test.x);
    const predicted = await ours.predict(test.x, { threads: 0 });
    assert.ok(maxAbsDifference(predicted.data, expected) <= TOLERANCE, `max difference ${maxAbsDifference(predicted.data, expected)}`);
    assert.deepEqual(argmaxRows(predicted.data, CLASSES), argmaxRows(expected, CLASSES));
  });

  it('moving statistics land on their layer', async () => {
    // TensorFlow.js lists every trainable weight before the non-trainable ones, so the moving
    // statistics sit at the end of its manifest, after the last Dense bias.
    const modelDir = join(dir, 'order');
    await saveTfjsModel(model, modelDir);
    const names = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')).weightsManifest[0].weights.map((w: { name: string }) => w.name);
    assert.match(names[names.length - 1], /moving_variance$/);

    const ours = await loadModel(modelDir);
    const norm = model.layers[1];
    const expected = new Map(norm.weights.map((w) => [w.originalName, Array.from(w.read().dataSync())]));
    const weights = ours.getWeights();
    ours.paramEntries.forEach((entry, i) => {
      if (entry.layer !== ours.layers[1]) return;
      assert.deepEqual(Array.from(weights[i].data), expected.get(entry.name), entry.name);
    });
    assert.ok(expected.get(`${norm.name}/moving_mean`)!.some((v) => v !== 0), 'training moved the moving mean');
  });

  it('weights split across groups and shards load', async () => {
    // The 12 weights go to three manifest groups of 5, 3 and 4, cut into files of 100 bytes,
    // so several files end inside a weight tensor.
    assert.equal(model.weights.length, 12);
    const modelDir = join(dir, 'sharded');
    const files = await saveTfjsModel(model, modelDir, { groupSizes: [5, 3, 4], shardBytes: 100 });
    const manifest = JSON.parse(readFileSync(join(modelDir, 'model.json'), 'utf8')).weightsManifest;
    assert.equal(manifest.length, 3);
    assert.ok(manifest.every((group: { paths: string[] }) => group.paths.length > 1), 'every group has several files');
    assert.deepEqual(readdirSync(modelDir).filter((f) => f.endsWith('.bin')).sort(), files.slice().sort());

    await saveTfjsModel(model, join(dir, 'unsharded'));
    const single = await loadModel(join(dir, 'unsharded'));
    const sharded = await loadModel(modelDir);
    assert.deepEqual(Array.from(sharded.flatWeights), Array.from(single.flatWeights));
    const expected = tfjsPredict(model, test.x);
    const predicted = await sharded.predict(test.x, { threads: 0 });
    assert.ok(maxAbsDifference(predicted.data, expected) <= TOLERANCE, `max difference ${maxAbsDifference(predicted.data, expected)}`);
  });

  it('missing shard file is rejected', async () => {
    const modelDir = join(dir, 'missing-shard');
    const files = await saveTfjsModel(model, modelDir, { groupSizes: [12], shardBytes: 256 });
    rmSync(join(modelDir, files[1]));
    await assert.rejects(loadModel(modelDir), new RegExp(`cannot read weights file "${files[1]}"`));
  });
});
