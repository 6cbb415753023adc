import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Tensor } from '../../src/core/tensor.js';
import { loadMnist } from '../../src/data/mnist.js';
import { layers } from '../../src/layers/index.js';
import { Sequential } from '../../src/model/sequential.js';

const MNIST_DIR = process.env.MNIST_DIR;
const TRAIN_SAMPLES = 3000;
const TEST_SAMPLES = 1000;
const PIXELS = 28 * 28;

/**
 * Minimum test accuracy after one epoch on 3000 samples. Measured: 0.844 (test loss 0.517) with
 * seed 1 and 2 threads on a 2-core x86-64 Linux machine under Node 20, in about 44 s. The
 * threshold sits 0.054 lower, for changes in the kernels' rounding order.
 */
const MIN_ACCURACY = 0.79;

/** Returns the first `count` samples of a split as a [count, 28, 28, 1] image tensor and [count] labels. */
function firstSamples(split: { images: Float32Array; labels: Uint8Array; count: number }, count: number): { x: Tensor; y: Tensor } {
  assert.ok(split.count >= count, `the split has ${split.count} samples, fewer than ${count}`);
  const x = new Tensor(split.images.slice(0, count * PIXELS), [count, 28, 28, 1]);
  const y = new Tensor(Float32Array.from(split.labels.subarray(0, count)), [count]);
  return { x, y };
}

test(
  'MNIST CNN 3000 samples 1 epoch threads 2 accuracy',
  { skip: MNIST_DIR === undefined ? 'MNIST_DIR is not set; point it at a directory with the four MNIST IDX files' : false },
  async () => {
    const mnist = await loadMnist({ dataDir: MNIST_DIR, download: false });
    const train = firstSamples(mnist.train, TRAIN_SAMPLES);
    const evaluation = firstSamples(mnist.test, TEST_SAMPLES);

    // The Keras MNIST convnet with Adam defaults.
    const model = new Sequential({ seed: 1 });
    model.add(layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }));
    model.add(layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
    model.add(layers.maxPooling2d({ poolSize: 2 }));
    model.add(layers.flatten());
    model.add(layers.dense({ units: 128, activation: 'relu' }));
    model.add(layers.dense({ units: 10, activation: 'softmax' }));
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    try {
      const history = await model.fit(train.x, train.y, { epochs: 1, batchSize: 128, threads: 2, seed: 1 });
      assert.equal(history.params.steps, Math.ceil(TRAIN_SAMPLES / 128));
      const { loss, accuracy } = await model.evaluate(evaluation.x, evaluation.y, { threads: 2 });
      assert.ok(Number.isFinite(loss), `test loss ${loss}`);
      assert.ok(accuracy >= MIN_ACCURACY, `test accuracy ${accuracy} (loss ${loss}) is below ${MIN_ACCURACY}`);
    } finally {
      await model.dispose();
    }
  },
);
