import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { layers } from '../../src/layers/index.js';
import { readCheckpoint } from '../../src/model/checkpoint.js';
import type { FitArgs } from '../../src/model/fit.js';
import { Sequential } from '../../src/model/sequential.js';
import { Adadelta, Adagrad, AdamW, type Optimizer, RMSprop } from '../../src/optim/index.js';
import { assertBitIdentical } from './harness.js';

const INPUT_SHAPE = [6, 6, 1];

/** Returns seeded 6x6 images in [0, 1) with labels 0..3. Row `label` is brighter, so the task is learnable. */
function syntheticData(count: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([count, ...INPUT_SHAPE]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    const label = rng.int(4);
    y.data[i] = label;
    for (let p = 0; p < 36; p++) x.data[i * 36 + p] = 0.5 * rng.next() + (Math.floor(p / 6) === label ? 0.5 : 0);
  }
  return { x, y };
}

// 96 samples in batches of 16 make 6 steps per epoch, each of 2 micro-batches of 8.
const DATA = syntheticData(96, 5);
const FIT: FitArgs = { epochs: 3, batchSize: 16, microBatchSize: 8, seed: 9 };

/** Conv2D(3, 3x3, relu) -> Flatten -> Dense(4, softmax), compiled with `optimizer`. */
function smallNet(optimizer: Optimizer): Sequential {
  const model = new Sequential({ seed: 2 });
  model.add(layers.conv2d({ filters: 3, kernelSize: 3, activation: 'relu', inputShape: INPUT_SHAPE }));
  model.add(layers.flatten());
  model.add(layers.dense({ units: 4, activation: 'softmax' }));
  model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

interface TrainResult {
  weights: Float32Array;
  lossBefore: number;
  lossAfter: number;
}

async function train(optimizer: () => Optimizer, args: FitArgs): Promise<TrainResult> {
  const model = smallNet(optimizer());
  try {
    const lossBefore = (await model.evaluate(DATA.x, DATA.y, { threads: 0 })).loss;
    await model.fit(DATA.x, DATA.y, { ...FIT, ...args });
    const lossAfter = (await model.evaluate(DATA.x, DATA.y, { threads: 0 })).loss;
    return { weights: model.flatWeights.slice(), lossBefore, lossAfter };
  } finally {
    await model.dispose();
  }
}

// Settings that let three short epochs lower the loss clearly. Adadelta runs with lr 1, the
// form of Zeiler's 2012 paper, and epsilon 1e-4 shortens its slow start, where steps are
// about sqrt(epsilon) / rms(g).
const OPTIMIZERS: { name: string; create: () => Optimizer }[] = [
  { name: 'RMSprop', create: () => new RMSprop({ learningRate: 0.01 }) },
  { name: 'RMSprop momentum centered', create: () => new RMSprop({ learningRate: 0.005, momentum: 0.5, centered: true }) },
  { name: 'Adadelta', create: () => new Adadelta({ learningRate: 1, epsilon: 1e-4 }) },
  { name: 'Adagrad', create: () => new Adagrad({ learningRate: 0.1 }) },
  { name: 'AdamW', create: () => new AdamW({ learningRate: 0.01, weightDecay: 0.05 }) },
];

for (const { name, create } of OPTIMIZERS) {
  test(`fit ${name} same weights on threads 0 and 2`, async () => {
    const inline = await train(create, { threads: 0 });
    const pooled = await train(create, { threads: 2 });
    assertBitIdentical(pooled.weights, inline.weights, 'weights with 2 threads');
    assert.ok(inline.lossAfter < 0.75 * inline.lossBefore, `loss went from ${inline.lossBefore} to ${inline.lossAfter}`);
  });
}

test('compile fills Adagrad state with initialAccumulatorValue', async () => {
  const model = smallNet(new Adagrad({ initialAccumulatorValue: 0.25 }));
  try {
    const state = model.optimizerStateArray;
    assert.equal(state.length, model.countParams());
    assert.ok(state.every((value) => value === 0.25), 'some state values are not 0.25');
  } finally {
    await model.dispose();
  }
});

const roots: string[] = [];
after(() => {
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

test('Adagrad checkpoint resume matches uninterrupted run', async () => {
  const create = (): Optimizer => new Adagrad({ learningRate: 0.1, initialAccumulatorValue: 0.2 });
  const full = await train(create, { threads: 0 });
  const dir = mkdtempSync(join(tmpdir(), 'shardnet-optim-'));
  roots.push(dir);

  const first = smallNet(create());
  try {
    await first.fit(DATA.x, DATA.y, { ...FIT, epochs: 1, threads: 0, checkpointDir: dir });
    const saved = await readCheckpoint(dir);
    assert.equal(saved.meta.optimizer.className, 'Adagrad');
    assert.deepEqual(saved.meta.optimizer.config, { learningRate: 0.1, initialAccumulatorValue: 0.2, epsilon: 1e-7 });
    assert.equal(saved.meta.optimizer.step, 6);
    assert.equal(saved.meta.optimizer.stateCount, first.countParams());
    assertBitIdentical(saved.optimizerState, first.optimizerStateArray, 'checkpoint state');
    // After six steps every accumulator has grown past its start, unless its gradient was always 0.
    assert.ok(saved.optimizerState.some((value) => value > 0.2), 'no accumulator grew');
  } finally {
    await first.dispose();
  }

  const resumed = smallNet(create());
  try {
    await resumed.fit(DATA.x, DATA.y, { ...FIT, threads: 2, resumeFrom: dir });
    assertBitIdentical(resumed.flatWeights, full.weights, 'resumed weights');
  } finally {
    await resumed.dispose();
  }
});

test('checkpoint with other optimizer config rejected', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shardnet-optim-'));
  roots.push(dir);
  const first = smallNet(new Adagrad({ learningRate: 0.1 }));
  try {
    await first.fit(DATA.x, DATA.y, { ...FIT, epochs: 1, threads: 0, checkpointDir: dir });
  } finally {
    await first.dispose();
  }
  const other = smallNet(new RMSprop({ learningRate: 0.1 }));
  try {
    await assert.rejects(other.fit(DATA.x, DATA.y, { ...FIT, threads: 0, resumeFrom: dir }), /the optimizer is .*"RMSprop".* but the checkpoint has .*"Adagrad"/);
  } finally {
    await other.dispose();
  }
});
