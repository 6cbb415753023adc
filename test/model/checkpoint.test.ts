import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { CheckpointError } from '../../src/errors.js';
import { layers } from '../../src/layers/index.js';
import { Adam } from '../../src/optim/adam.js';
import type { Callback } from '../../src/model/callbacks.js';
import { CHECKPOINT_FILE, readCheckpoint } from '../../src/model/checkpoint.js';
import type { FitArgs } from '../../src/model/fit.js';
import { Sequential } from '../../src/model/sequential.js';

const INPUT_SHAPE = [6, 6, 1];

/** Seeded 6x6 images in [0, 1) with labels 0..3; row `label` is brighter, so the task is learnable. */
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

// 150 samples with validationSplit 0.2 leave 120 for training: 8 batches of 16 (the last has 8).
const DATA = syntheticData(150, 7);
const BASE: FitArgs = { batchSize: 16, microBatchSize: 8, validationSplit: 0.2, seed: 11 };

/** Conv2D -> Flatten -> Dropout -> Dense(4, softmax), compiled with Adam. */
function smallNet(): Sequential {
  const model = new Sequential({ seed: 3 });
  model.add(layers.conv2d({ filters: 3, kernelSize: 3, activation: 'relu', inputShape: INPUT_SHAPE }));
  model.add(layers.flatten());
  model.add(layers.dropout({ rate: 0.25, seed: 1 }));
  model.add(layers.dense({ units: 4, activation: 'softmax' }));
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

interface RunResult {
  weights: Float32Array;
  history: Record<string, number[]>;
  epochs: number[];
}

async function train(args: FitArgs): Promise<RunResult> {
  const model = smallNet();
  try {
    const history = await model.fit(DATA.x, DATA.y, { ...BASE, ...args });
    return { weights: model.flatWeights.slice(), history: history.history, epochs: history.epoch };
  } finally {
    await model.dispose();
  }
}

const roots: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'shardnet-checkpoint-'));
  roots.push(dir);
  return dir;
}
after(() => {
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

/** Stops fit() after batch `batch` of epoch `epoch` (both counted from 0). */
function stopAfter(model: () => Sequential, epoch: number, batch: number): Callback {
  let current = -1;
  return {
    onEpochBegin: (e) => {
      current = e;
    },
    onBatchEnd: (b) => {
      if (current === epoch && b === batch) model().stopTraining = true;
    },
  };
}

function assertSameBits(actual: Float32Array, expected: Float32Array): void {
  assert.equal(actual.length, expected.length);
  assert.ok(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)), 'weights differ in at least one bit');
}

describe('checkpoint resume', () => {
  const reference = new Map<number, RunResult>();
  async function uninterrupted(threads: number): Promise<RunResult> {
    if (!reference.has(threads)) reference.set(threads, await train({ epochs: 3, threads }));
    return reference.get(threads) as RunResult;
  }

  for (const threads of [0, 2]) {
    it(`end-of-epoch resume matches on ${threads} threads`, async () => {
      const full = await uninterrupted(threads);
      const dir = freshDir();
      const first = await train({ epochs: 1, threads, checkpointDir: dir });
      assert.deepEqual(first.epochs, [0]);
      const saved = await readCheckpoint(dir);
      assert.equal(saved.meta.epoch, 1);
      assert.equal(saved.meta.batch, 0);

      const resumed = await train({ epochs: 3, threads, resumeFrom: dir });
      assertSameBits(resumed.weights, full.weights);
      assert.deepEqual(resumed.epochs, [0, 1, 2]);
      assert.deepEqual(resumed.history, full.history);
    });
  }

  it('mid-epoch resume matches on 0 and 2 threads', async () => {
    const full = await uninterrupted(0);
    const dir = freshDir();
    let model: Sequential | null = null;
    const net = smallNet();
    model = net;
    try {
      await net.fit(DATA.x, DATA.y, { ...BASE, epochs: 3, threads: 0, checkpointDir: dir, checkpointEvery: 2, callbacks: stopAfter(() => model as Sequential, 1, 4) });
    } finally {
      await net.dispose();
    }
    const saved = await readCheckpoint(dir);
    assert.equal(saved.meta.epoch, 1);
    // Batches 0-3 of epoch 1 are in the checkpoint, so a resume runs batch 4 again.
    assert.equal(saved.meta.batch, 4);
    assert.deepEqual(saved.meta.history.epoch, [0]);

    const onInline = await train({ epochs: 3, threads: 0, resumeFrom: dir });
    assertSameBits(onInline.weights, full.weights);
    assert.deepEqual(onInline.history, full.history);

    const onPool = await train({ epochs: 3, threads: 2, resumeFrom: dir });
    assertSameBits(onPool.weights, full.weights);
    assert.deepEqual(onPool.history, full.history);
  });

  it('finished run continues with more epochs', async () => {
    const full = await uninterrupted(0);
    const dir = freshDir();
    await train({ epochs: 2, threads: 0, checkpointDir: dir });
    const resumed = await train({ epochs: 3, threads: 0, resumeFrom: dir, checkpointDir: dir });
    assertSameBits(resumed.weights, full.weights);
    assert.equal((await readCheckpoint(dir)).meta.epoch, 3);
  });

  it('rejects changed fit settings', async () => {
    const dir = freshDir();
    await train({ epochs: 1, threads: 0, checkpointDir: dir });
    await assert.rejects(train({ epochs: 2, threads: 0, resumeFrom: dir, batchSize: 8 }), (error: Error) => {
      assert.ok(error instanceof CheckpointError);
      assert.match(error.message, /batchSize is 8 but the checkpoint has 16/);
      return true;
    });
  });

  it('rejects other gradient clipping', async () => {
    const dir = freshDir();
    const clipped = smallNet();
    clipped.compile({ optimizer: new Adam({ clipnorm: 1 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    try {
      await clipped.fit(DATA.x, DATA.y, { ...BASE, epochs: 1, threads: 0, checkpointDir: dir });
    } finally {
      await clipped.dispose();
    }
    await assert.rejects(train({ epochs: 2, threads: 0, resumeFrom: dir }), (error: Error) => {
      assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${String(error)}`);
      assert.match(error.message, /the optimizer is .* but the checkpoint has .*"clipnorm":1/);
      return true;
    });
  });

  it('rejects other augmentation', async () => {
    const dir = freshDir();
    await train({ epochs: 1, threads: 0, checkpointDir: dir, augment: { rotationRange: 5 } });
    await assert.rejects(train({ epochs: 2, threads: 0, resumeFrom: dir }), (error: Error) => {
      assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${String(error)}`);
      assert.match(error.message, /augment is "null" but the checkpoint has .*rotation/);
      return true;
    });
    const resumed = await train({ epochs: 2, threads: 0, resumeFrom: dir, augment: { rotationRange: 5 } });
    assert.deepEqual(resumed.epochs, [0, 1]);
  });

  it('rejects other training data', async () => {
    const dir = freshDir();
    await train({ epochs: 1, threads: 0, checkpointDir: dir });
    const other = syntheticData(150, 8);
    const model = smallNet();
    try {
      await assert.rejects(model.fit(other.x, other.y, { ...BASE, epochs: 2, threads: 0, resumeFrom: dir }), /the sha256 of x, y and validationData is "[0-9a-f]{64}" but the checkpoint has "[0-9a-f]{64}"/);
    } finally {
      await model.dispose();
    }
  });

  it('resumes a run whose loss is NaN', async () => {
    const dir = freshDir();
    const poisoned = (): Sequential => {
      const model = smallNet();
      const weights = model.getWeights();
      weights[3].data[0] = Number.NaN;
      model.setWeights(weights);
      return model;
    };
    const first = poisoned();
    try {
      await first.fit(DATA.x, DATA.y, { ...BASE, epochs: 1, threads: 0, stopOnNonFinite: false, checkpointDir: dir });
    } finally {
      await first.dispose();
    }
    const saved = await readCheckpoint(dir);
    assert.ok(Number.isNaN(saved.meta.history.history.loss[0]), `saved loss ${saved.meta.history.history.loss[0]}`);
    const second = poisoned();
    try {
      const history = await second.fit(DATA.x, DATA.y, { ...BASE, epochs: 2, threads: 0, stopOnNonFinite: false, resumeFrom: dir });
      assert.deepEqual(history.epoch, [0, 1]);
      assert.ok(Number.isNaN(history.history.loss[0]), `epoch 0 loss ${history.history.loss[0]}`);
      assert.ok(Number.isNaN(history.history.loss[1]), `epoch 1 loss ${history.history.loss[1]}`);
    } finally {
      await second.dispose();
    }
  });

  it('rejects other validation data', async () => {
    const dir = freshDir();
    const validation = syntheticData(20, 21);
    const args: FitArgs = { ...BASE, validationSplit: 0, validationData: [validation.x, validation.y], threads: 0 };
    await train({ ...args, epochs: 1, checkpointDir: dir });
    const other = syntheticData(20, 22);
    await assert.rejects(train({ ...args, epochs: 2, validationData: [other.x, other.y], resumeFrom: dir }), /the sha256 of x, y and validationData is "[0-9a-f]{64}" but the checkpoint has/);
    const resumed = await train({ ...args, epochs: 2, resumeFrom: dir });
    assert.deepEqual(resumed.epochs, [0, 1]);
  });

  it('rejects checkpointEvery without a directory', async () => {
    await assert.rejects(train({ epochs: 1, threads: 0, checkpointEvery: 2 }), /checkpointEvery needs checkpointDir/);
  });
});

describe('damaged checkpoint', () => {
  async function writeOne(): Promise<string> {
    const dir = freshDir();
    await train({ epochs: 1, threads: 0, checkpointDir: dir });
    return dir;
  }

  async function assertRejected(dir: string, pattern: RegExp): Promise<void> {
    const file = join(dir, CHECKPOINT_FILE);
    await assert.rejects(readCheckpoint(dir), (error: Error) => {
      assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${error.name}`);
      assert.ok(error.message.includes(file), `the message names ${file}: ${error.message}`);
      assert.match(error.message, pattern);
      return true;
    });
    await assert.rejects(train({ epochs: 2, threads: 0, resumeFrom: dir }), CheckpointError);
  }

  it('rejects a flipped byte by checksum', async () => {
    const dir = await writeOne();
    const file = join(dir, CHECKPOINT_FILE);
    const bytes = readFileSync(file);
    bytes[bytes.length - 5] ^= 0x01;
    writeFileSync(file, bytes);
    await assertRejected(dir, /checksum/);
  });

  it('rejects a truncated file', async () => {
    const dir = await writeOne();
    const file = join(dir, CHECKPOINT_FILE);
    const bytes = readFileSync(file);
    writeFileSync(file, bytes.subarray(0, bytes.length - 100));
    await assertRejected(dir, /truncated/);
  });

  it('rejects a wrong format name', async () => {
    const dir = await writeOne();
    const file = join(dir, CHECKPOINT_FILE);
    const text = readFileSync(file).toString('latin1');
    writeFileSync(file, Buffer.from(text.replace('"shardnet-checkpoint"', '"shardnet-checkpoinx"'), 'latin1'));
    await assertRejected(dir, /format is "shardnet-checkpoinx", expected "shardnet-checkpoint"/);
  });

  it('rejects another version', async () => {
    const dir = await writeOne();
    const file = join(dir, CHECKPOINT_FILE);
    const text = readFileSync(file).toString('latin1');
    writeFileSync(file, Buffer.from(text.replace('"version":1', '"version":2'), 'latin1'));
    await assertRejected(dir, /version is 2, expected 1/);
  });

  it('rejects a missing file', async () => {
    const dir = freshDir();
    await assertRejected(dir, /cannot be read \(ENOENT\)/);
  });

  it('ignores a stray temporary file', async () => {
    const dir = await writeOne();
    const before = readFileSync(join(dir, CHECKPOINT_FILE));
    assert.deepEqual(readdirSync(dir), [CHECKPOINT_FILE], 'a completed write leaves no temporary file');
    // A write cut off before its rename leaves a partial temporary file next to the checkpoint.
    writeFileSync(join(dir, `${CHECKPOINT_FILE}.tmp-99999-0`), before.subarray(0, 50));
    const loaded = await readCheckpoint(dir);
    assert.equal(loaded.meta.epoch, 1);
    const resumed = await train({ epochs: 2, threads: 0, resumeFrom: dir });
    assert.deepEqual(resumed.epochs, [0, 1]);
  });
});
