import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { classesOf, largestRemainderQuotas, splitIndices, trainValidationSplit } from '../../src/data/split.js';
import { layers } from '../../src/layers/index.js';
import { Sequential } from '../../src/model/sequential.js';
import { writeIdx } from '../helpers/idx.js';

/** Labels with uneven class sizes: class c has 5 * (c + 1) samples, in a seeded order. */
function unevenLabels(): Int32Array {
  const labels: number[] = [];
  for (let c = 0; c < 6; c++) for (let k = 0; k < 5 * (c + 1); k++) labels.push(c);
  const out = Int32Array.from(labels);
  new Rng(4).shuffle(out);
  return out;
}

describe('largestRemainderQuotas', () => {
  it('adds up to the total and stays proportional', () => {
    const sizes = [5, 10, 15, 20, 25, 30];
    const quotas = largestRemainderQuotas(sizes, 21, 105);
    assert.equal(quotas.reduce((a, b) => a + b, 0), 21);
    // Exact shares are 1, 2, 3, 4, 5, 6.
    assert.deepEqual(quotas, [1, 2, 3, 4, 5, 6]);
  });

  it('gives leftover samples to the largest remainders', () => {
    // Shares 0.3, 0.3, 2.4: floors 0, 0, 2, and the missing one goes to the remainder 0.4.
    assert.deepEqual(largestRemainderQuotas([1, 1, 8], 3, 10), [0, 0, 3]);
    // Shares 0.5, 0.5, 1: the two remainders tie, so the lower group index wins.
    assert.deepEqual(largestRemainderQuotas([1, 1, 2], 2, 4), [1, 0, 1]);
  });
});

describe('classesOf', () => {
  it('reads sparse labels', () => {
    assert.deepEqual(Array.from(classesOf(Float32Array.from([2, 0, 1]), 1) ?? []), [2, 0, 1]);
  });

  it('reads one-hot rows', () => {
    assert.deepEqual(Array.from(classesOf(Float32Array.from([0, 1, 0, 1, 0, 0]), 3) ?? []), [1, 0]);
  });

  it('returns null for other targets', () => {
    assert.equal(classesOf(Float32Array.from([0.5, 1]), 1), null);
    assert.equal(classesOf(Float32Array.from([-1, 1]), 1), null);
    assert.equal(classesOf(Float32Array.from([0.2, 0.8]), 2), null);
    assert.equal(classesOf(Float32Array.from([1, 1]), 2), null);
    assert.equal(classesOf(Float32Array.from([0, 0]), 2), null);
  });
});

describe('splitIndices', () => {
  const labels = unevenLabels();
  const count = labels.length;

  it('covers every sample once, in ascending order', () => {
    const { train, validation } = splitIndices(count, 21, 7, labels);
    assert.equal(train.length, count - 21);
    assert.equal(validation.length, 21);
    const all = [...train, ...validation].sort((a, b) => a - b);
    assert.deepEqual(all, Array.from({ length: count }, (_, i) => i));
    for (const list of [train, validation]) {
      for (let i = 1; i < list.length; i++) assert.ok(list[i - 1] < list[i], 'ascending');
    }
  });

  it('keeps each class share', () => {
    const { validation } = splitIndices(count, 21, 7, labels);
    const perClass = new Array<number>(6).fill(0);
    for (const i of validation) perClass[labels[i]]++;
    assert.deepEqual(perClass, [1, 2, 3, 4, 5, 6]);
  });

  it('depends only on the seed', () => {
    const a = splitIndices(count, 21, 7, labels);
    const b = splitIndices(count, 21, 7, labels);
    const c = splitIndices(count, 21, 8, labels);
    assert.deepEqual(a, b);
    assert.notDeepEqual(Array.from(a.validation), Array.from(c.validation));
  });

  it('draws at random without classes', () => {
    const { train, validation } = splitIndices(50, 10, 3, null);
    assert.equal(validation.length, 10);
    assert.equal(train.length, 40);
    // A tail split would hold out 40..49; a seeded draw from 50 samples is almost never that.
    assert.notDeepEqual(Array.from(validation), Array.from({ length: 10 }, (_, i) => 40 + i));
  });

  it('rejects sizes that leave a set empty', () => {
    assert.throws(() => splitIndices(10, 0, 1, null), { name: 'ValueError', message: /validation split of 0 of 10 samples/ });
    assert.throws(() => splitIndices(10, 10, 1, null), { name: 'ValueError', message: /validation split of 10 of 10 samples/ });
  });
});

describe('trainValidationSplit', () => {
  it('gathers the rows of x and y together', () => {
    const count = 20;
    const x = Tensor.zeros([count, 2, 1]);
    const y = Tensor.zeros([count]);
    for (let i = 0; i < count; i++) {
      x.data[2 * i] = i;
      x.data[2 * i + 1] = -i;
      y.data[i] = i % 4;
    }
    const split = trainValidationSplit(x, y, 0.2, 5);
    const [vx, vy] = split.validation;
    // Keras holds out N - floor(N * 0.8) = 4 samples.
    assert.deepEqual(vx.shape, [4, 2, 1]);
    assert.deepEqual(split.train[0].shape, [16, 2, 1]);
    for (let r = 0; r < 4; r++) {
      const sample = vx.data[2 * r];
      assert.equal(vx.data[2 * r + 1], -sample);
      assert.equal(vy.data[r], sample % 4);
    }
    // One sample of each of the 4 classes (5 each, a 0.2 share).
    assert.deepEqual(Array.from(vy.data).sort(), [0, 1, 2, 3]);
  });

  it('rejects a bad fraction and mismatched counts', () => {
    const x = Tensor.zeros([4, 1]);
    assert.throws(() => trainValidationSplit(x, Tensor.zeros([4]), 1), { name: 'RangeError', message: /fraction must be a number in \(0, 1\), got 1/ });
    assert.throws(() => trainValidationSplit(x, Tensor.zeros([3]), 0.5), { name: 'ShapeError', message: /x has 4 samples but y has 3/ });
  });
});

describe('fit with validationSplitShuffle', () => {
  const count = 60;
  const rng = new Rng(12);
  const x = Tensor.zeros([count, 3, 3, 1]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    y.data[i] = i < 45 ? 0 : 1 + (i % 2);
    for (let p = 0; p < 9; p++) x.data[i * 9 + p] = rng.next() + (p === y.data[i] ? 1 : 0);
  }

  function net(): Sequential {
    const model = new Sequential({ seed: 1 });
    model.add(layers.flatten({ inputShape: [3, 3, 1] }));
    model.add(layers.dense({ units: 3, activation: 'softmax' }));
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    return model;
  }

  it('validates on the stratified draw on any thread count', async () => {
    const results: { weights: Float32Array; valLoss: number[] }[] = [];
    for (const threads of [0, 2]) {
      const model = net();
      try {
        const history = await model.fit(x, y, { epochs: 2, batchSize: 16, validationSplit: 0.2, validationSplitShuffle: true, seed: 9, threads });
        const split = trainValidationSplit(x, y, 0.2, 9);
        const evaluated = await model.evaluate(split.validation[0], split.validation[1], { threads });
        // The last epoch's validation loss is the evaluation of the same weights on the same draw.
        assert.equal(history.history.val_loss[1], evaluated.loss);
        assert.equal(history.params.validationSamples, 12);
        results.push({ weights: model.flatWeights.slice(), valLoss: history.history.val_loss });
      } finally {
        await model.dispose();
      }
    }
    assert.deepEqual(results[1].weights, results[0].weights);
    assert.deepEqual(results[1].valLoss, results[0].valLoss);
  });

  it('differs from the tail split on sorted data', async () => {
    const tail = net();
    const shuffled = net();
    try {
      const a = await tail.fit(x, y, { epochs: 1, batchSize: 16, validationSplit: 0.2, seed: 9, threads: 0 });
      const b = await shuffled.fit(x, y, { epochs: 1, batchSize: 16, validationSplit: 0.2, validationSplitShuffle: true, seed: 9, threads: 0 });
      assert.notEqual(a.history.val_loss[0], b.history.val_loss[0]);
    } finally {
      await tail.dispose();
      await shuffled.dispose();
    }
  });

  it('rejects a non-boolean option', async () => {
    const model = net();
    try {
      await assert.rejects(model.fit(x, y, { validationSplit: 0.2, validationSplitShuffle: 'yes' as unknown as boolean, threads: 0 }), {
        name: 'TypeError',
        message: 'fit(): validationSplitShuffle must be a boolean, got "yes".',
      });
    } finally {
      await model.dispose();
    }
  });
});

describe('train.js --validation-split-shuffle', () => {
  it('reports the final validation metrics of the same draw', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardnet-split-cli-'));
    try {
      // Labels sorted by class, so a tail split would validate on classes 8 and 9 only.
      const labels = Uint8Array.from({ length: 50 }, (_, i) => Math.floor(i / 5));
      const pixels = (n: number) => Uint8Array.from({ length: n * 784 }, (_, i) => (i * 131) % 256);
      writeIdx(join(dir, 'train-images-idx3-ubyte'), [50, 28, 28], pixels(50));
      writeIdx(join(dir, 'train-labels-idx1-ubyte'), [50], labels);
      writeIdx(join(dir, 't10k-images-idx3-ubyte'), [10, 28, 28], pixels(10));
      writeIdx(join(dir, 't10k-labels-idx1-ubyte'), [10], labels.subarray(0, 10));
      const root = fileURLToPath(new URL('../..', import.meta.url));
      const args = ['--data', dir, '--no-download', '--epochs', '1', '--batch-size', '16', '--threads', '1', '--validation-split', '0.2', '--validation-split-shuffle', '--json'];
      const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/train.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
      assert.equal(result.status, 0, result.stderr);
      const report = JSON.parse(result.stdout);
      assert.equal(report.final.validation.samples, 10);
      assert.equal(report.final.train.samples, 40);
      assert.equal(report.final.validation.loss, report.epochs[0].val_loss);
      assert.equal(report.settings.validationSplitShuffle, true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
