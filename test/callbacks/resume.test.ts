/**
 * Callbacks with state across a checkpoint resume: a run that is stopped mid-training and
 * resumed must end with the weights, history and callback decisions of one uninterrupted run.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { CSVLogger, EarlyStopping, ModelCheckpoint, ReduceLROnPlateau } from '../../src/callbacks/index.js';
import { CheckpointError } from '../../src/errors.js';
import type { Callback } from '../../src/model/callbacks.js';
import { readCheckpoint } from '../../src/model/checkpoint.js';
import type { FitArgs } from '../../src/model/fit.js';
import type { Sequential } from '../../src/model/sequential.js';
import { firstDifference, tinyData, tinyModel } from './tiny-model.js';

const DATA = tinyData(90, 12);
// 90 samples with validationSplit 0.2 leave 72 for training: 5 batches of 16 (the last has 8).
const BASE: FitArgs = { batchSize: 16, validationSplit: 0.2, seed: 4, threads: 0 };

const roots: string[] = [];
function freshDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'shardnet-callback-resume-'));
  roots.push(dir);
  return dir;
}
after(() => {
  for (const dir of roots) rmSync(dir, { recursive: true, force: true });
});

/** Stops fit() after batch `batch` of epoch `epoch`, as a signal handler would. */
function stopAt(model: Sequential, epoch: number, batch: number): Callback {
  let current = -1;
  return {
    onEpochBegin: (e) => {
      current = e;
    },
    onBatchEnd: (b) => {
      if (current === epoch && b === batch) model.stopTraining = true;
    },
  };
}

interface Run {
  weights: Float32Array;
  history: Record<string, number[]>;
  epochs: number[];
}

/**
 * Trains `epochs` epochs with the callbacks `make()` returns, in one run or, with `stop`, in a
 * run stopped at that [epoch, batch] and a resumed run with fresh callbacks.
 */
async function train(make: () => Callback[], epochs: number, stop?: [number, number], lr = 0.05): Promise<Run> {
  const dir = freshDir();
  const first = tinyModel('sgd');
  if (first.optimizer !== null) first.optimizer.learningRate = lr;
  try {
    const callbacks = make();
    if (stop !== undefined) callbacks.push(stopAt(first, stop[0], stop[1]));
    const history = await first.fit(DATA.x, DATA.y, { ...BASE, epochs, callbacks, checkpointDir: dir, checkpointOnStop: true });
    if (stop === undefined) return { weights: first.flatWeights.slice(), history: history.history, epochs: history.epoch };
  } finally {
    await first.dispose();
  }
  const second = tinyModel('sgd');
  try {
    const history = await second.fit(DATA.x, DATA.y, { ...BASE, epochs, callbacks: make(), resumeFrom: dir });
    return { weights: second.flatWeights.slice(), history: history.history, epochs: history.epoch };
  } finally {
    await second.dispose();
  }
}

function assertSameRun(actual: Run, expected: Run): void {
  assert.equal(firstDifference(actual.weights, expected.weights), null);
  assert.deepEqual(actual.epochs, expected.epochs);
  assert.deepEqual(actual.history, expected.history);
}

describe('callback state across a resume', () => {
  it('EarlyStopping stops and restores as one run', async () => {
    // With this rate val_loss flattens after epoch 4, so the callback waits, stops and restores.
    const make = () => [new EarlyStopping({ patience: 2, minDelta: 0.01, restoreBestWeights: true })];
    const full = await train(make, 12, undefined, 0.5);
    assert.ok(full.epochs.length < 12, `EarlyStopping did not stop: ${full.epochs.length} epochs`);
    for (const epoch of [1, full.epochs.length - 2, full.epochs.length - 1]) {
      const resumed = await train(make, 12, [epoch, 2], 0.5);
      assertSameRun(resumed, full);
    }
  });

  it('a stopped run resumes stopped', async () => {
    const dir = freshDir();
    const model = tinyModel('sgd');
    if (model.optimizer !== null) model.optimizer.learningRate = 0.5;
    let stoppedWeights: Float32Array;
    try {
      const stopper = new EarlyStopping({ patience: 2, minDelta: 0.01, restoreBestWeights: true });
      const history = await model.fit(DATA.x, DATA.y, { ...BASE, epochs: 12, callbacks: [stopper], checkpointDir: dir });
      assert.ok(stopper.stoppedEpoch >= 0, 'the callback stopped training');
      assert.ok(history.epoch.length < 12);
      stoppedWeights = model.flatWeights.slice();
    } finally {
      await model.dispose();
    }
    const again = tinyModel('sgd');
    try {
      const history = await again.fit(DATA.x, DATA.y, { ...BASE, epochs: 20, callbacks: [new EarlyStopping({ patience: 2, minDelta: 0.01, restoreBestWeights: true })], resumeFrom: dir });
      assert.equal(firstDifference(again.flatWeights, stoppedWeights), null);
      assert.equal(history.epoch.length, (await readCheckpoint(dir)).meta.history.epoch.length, 'no epoch was trained');
    } finally {
      await again.dispose();
    }
  });

  it('ReduceLROnPlateau reduces at the same epochs', async () => {
    const make = () => [new ReduceLROnPlateau({ factor: 0.5, patience: 1, cooldown: 1 })];
    // The rate drops at the ends of epochs 5 and 6; the resume starts within epoch 5.
    const full = await train(make, 8, undefined, 0.5);
    const rates = full.history.learning_rate;
    assert.ok(new Set(rates).size > 1, `the rate never changed: ${rates}`);
    assertSameRun(await train(make, 8, [5, 1], 0.5), full);
  });

  it('ModelCheckpoint saves at the same epochs', async () => {
    let saves: number[] = [];
    const make = () => {
      const saver = new ModelCheckpoint(join(freshDir(), 'best-{epoch}'), { saveBestOnly: true });
      let last: string | null = null;
      const recorder: Callback = {
        onEpochEnd: (epoch) => {
          // lastSaved names the epoch, so it changes exactly when this epoch saved.
          if (saver.lastSaved !== last) saves.push(epoch);
          last = saver.lastSaved;
        },
      };
      return [saver, recorder];
    };
    // Epoch 5 does not improve, so it saves only when the resumed callback forgot the best value.
    await train(make, 8, undefined, 0.5);
    const uninterrupted = saves;
    assert.ok(!uninterrupted.includes(5), `epoch 5 saved: ${uninterrupted}`);
    saves = [];
    await train(make, 8, [5, 1], 0.5);
    assert.deepEqual(saves, uninterrupted);
  });

  it('rejects other stateful callbacks', async () => {
    const dir = freshDir();
    const model = tinyModel('sgd');
    try {
      await model.fit(DATA.x, DATA.y, { ...BASE, epochs: 1, callbacks: [new EarlyStopping({ patience: 3 })], checkpointDir: dir });
    } finally {
      await model.dispose();
    }
    const again = tinyModel('sgd');
    try {
      await assert.rejects(again.fit(DATA.x, DATA.y, { ...BASE, epochs: 2, resumeFrom: dir }), (error: Error) => {
        assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${String(error)}`);
        assert.match(error.message, /the callbacks with state are \[\] but the checkpoint has \["EarlyStopping"\]/);
        return true;
      });
    } finally {
      await again.dispose();
    }
  });

  it('logs an interrupted epoch once', async () => {
    const dir = freshDir();
    const csv = join(dir, 'log.csv');
    const make = () => [new CSVLogger(csv, { append: true })];
    await train(make, 3, [1, 2]);
    const lines = readFileSync(csv, 'utf8').trimEnd().split('\n');
    const epochs = lines.slice(1).map((line) => line.split(',')[0]);
    assert.deepEqual(epochs, ['0', '1', '2']);
  });
});
