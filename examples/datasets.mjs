/**
 * Data for the examples: MNIST from the directory in MNIST_DIR when it is set, else a seeded
 * synthetic stand-in, so the examples also run offline. Synthetic images are 28x28 like MNIST
 * and come in 10 classes: class k is a bright 6x6 square at its own place on a 4x3 grid, over
 * noise in [0, 0.3). With its defaults (2 epochs of 2000 samples), train-from-code.mjs
 * classifies all 400 synthetic test samples correctly.
 */
import { Rng, Tensor, loadMnist } from 'shardnet';

export const IMAGE_SIZE = 28;
export const CLASSES = 10;

/** Returns `count` synthetic images [count, 28, 28, 1] with values in [0, 1], and labels [count]. */
export function syntheticDigits(count, seed) {
  const rng = new Rng(seed);
  const pixels = IMAGE_SIZE * IMAGE_SIZE;
  const x = Tensor.zeros([count, IMAGE_SIZE, IMAGE_SIZE, 1]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    const label = rng.int(CLASSES);
    y.data[i] = label;
    const top = 2 + 8 * Math.floor(label / 4);
    const left = 1 + 7 * (label % 4);
    for (let p = 0; p < pixels; p++) {
      const row = Math.floor(p / IMAGE_SIZE);
      const column = p % IMAGE_SIZE;
      const inSquare = row >= top && row < top + 6 && column >= left && column < left + 6;
      x.data[i * pixels + p] = 0.3 * rng.next() + (inSquare ? 0.7 : 0);
    }
  }
  return { x, y };
}

/** Converts the first `count` samples of an MNIST split to tensors [count, 28, 28, 1] and [count]. */
function mnistTensors(split, count) {
  const n = Math.min(count, split.count);
  const x = new Tensor(split.images.subarray(0, n * IMAGE_SIZE * IMAGE_SIZE), [n, IMAGE_SIZE, IMAGE_SIZE, 1]);
  const y = new Tensor(Float32Array.from(split.labels.subarray(0, n)), [n]);
  return { x, y };
}

/**
 * Returns { source, train, test }: up to `trainCount` training and `testCount` test samples,
 * from MNIST when MNIST_DIR is set, else synthetic. The MNIST files must already be in
 * MNIST_DIR, because nothing is downloaded.
 */
export async function loadExampleData(trainCount, testCount) {
  if (process.env.MNIST_DIR) {
    const mnist = await loadMnist({ download: false });
    return { source: `MNIST from ${mnist.dir}`, train: mnistTensors(mnist.train, trainCount), test: mnistTensors(mnist.test, testCount) };
  }
  return { source: 'synthetic digits (set MNIST_DIR to use MNIST)', train: syntheticDigits(trainCount, 1), test: syntheticDigits(testCount, 2) };
}
