import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { LearningRateScheduler } from '../../src/callbacks/learning-rate-scheduler.js';
import { ReduceLROnPlateau } from '../../src/callbacks/reduce-lr-on-plateau.js';
import { cosineDecay, stepDecay } from '../../src/callbacks/schedules.js';
import { ValueError } from '../../src/errors.js';
import type { FitArgs } from '../../src/model/fit.js';
import type { Sequential } from '../../src/model/sequential.js';
import { firstDifference, tinyData, tinyModel } from './tiny-model.js';

const DATA = tinyData(64);
// No dropout and no shuffling, so separate one-epoch fits continue one run exactly.
const BASE: FitArgs = { batchSize: 16, shuffle: false, microBatchSize: 8 };
const RATES = [0.01, 0.005, 0.0025];

describe('schedule helpers', () => {
  it('stepDecay halves every 2 epochs', () => {
    const schedule = stepDecay(0.1, 2, 0.5);
    assert.deepEqual([0, 1, 2, 3, 4].map((epoch) => schedule(epoch, 1)), [0.1, 0.1, 0.05, 0.05, 0.025]);
  });

  it('cosineDecay runs from initial to minLr', () => {
    const schedule = cosineDecay(0.2, 4, 0.02);
    assert.equal(schedule(0, 1), 0.2);
    assert.ok(Math.abs(schedule(2, 1) - 0.11) < 1e-15, `midpoint ${schedule(2, 1)}`);
    assert.equal(schedule(4, 1), 0.02);
    assert.equal(schedule(9, 1), 0.02);
  });

  it('schedule arguments are checked', () => {
    assert.throws(() => stepDecay(0.1, 0, 0.5), /stepDecay: dropEvery must be an integer >= 1, got 0\./);
    assert.throws(() => stepDecay(-1, 1, 0.5), /stepDecay: initial must be a finite number >= 0, got -1\./);
    assert.throws(() => cosineDecay(0.1, 0), /cosineDecay: totalEpochs must be an integer >= 1, got 0\./);
    assert.throws(() => cosineDecay(0.1, 5, 0.2), /cosineDecay: minLr 0\.2 must not exceed initial 0\.1/);
  });
});

describe('LearningRateScheduler', () => {
  async function withModel<T>(run: (model: Sequential) => Promise<T>): Promise<T> {
    const model = tinyModel();
    try {
      return await run(model);
    } finally {
      await model.dispose();
    }
  }

  /** Three epochs with the scheduler; returns the weights, the rates seen per batch and the history. */
  function scheduled(threads: number) {
    return withModel(async (model) => {
      const seen: number[] = [];
      const history = await model.fit(DATA.x, DATA.y, {
        ...BASE,
        epochs: 3,
        threads,
        callbacks: [new LearningRateScheduler((epoch) => RATES[epoch]), { onBatchBegin: () => void seen.push((model.optimizer as { learningRate: number }).learningRate) }],
      });
      return { weights: model.flatWeights.slice(), seen, history: history.history };
    });
  }

  /** The same three epochs as separate fits, setting the rate by hand before each. */
  function manual(threads: number) {
    return withModel(async (model) => {
      for (const rate of RATES) {
        (model.optimizer as { learningRate: number }).learningRate = rate;
        await model.fit(DATA.x, DATA.y, { ...BASE, epochs: 1, threads });
      }
      return model.flatWeights.slice();
    });
  }

  for (const threads of [0, 2]) {
    it(`scheduled rates reach the optimizer on ${threads} threads`, async () => {
      const run = await scheduled(threads);
      assert.deepEqual(run.seen, [...Array(4).fill(RATES[0]), ...Array(4).fill(RATES[1]), ...Array(4).fill(RATES[2])]);
      assert.deepEqual(run.history.learning_rate, RATES);
      assert.equal(firstDifference(run.weights, await manual(threads)), null);
    });
  }

  it('threads 0 and 2 give bit-identical weights', async () => {
    const [inline, pooled] = [await scheduled(0), await scheduled(2)];
    assert.equal(firstDifference(pooled.weights, inline.weights), null);
    const constant = await withModel(async (model) => {
      await model.fit(DATA.x, DATA.y, { ...BASE, epochs: 3, threads: 0 });
      return model.flatWeights.slice();
    });
    assert.notEqual(firstDifference(inline.weights, constant), null, 'the schedule changed training');
  });

  it('history has no learning_rate without a scheduler', async () => {
    const history = await withModel((model) => model.fit(DATA.x, DATA.y, { ...BASE, epochs: 1, threads: 0 }));
    assert.deepEqual(Object.keys(history.history).sort(), ['accuracy', 'loss']);
  });

  it('rejects a non-finite scheduled rate', async () => {
    await withModel(async (model) => {
      await assert.rejects(model.fit(DATA.x, DATA.y, { ...BASE, epochs: 2, threads: 0, callbacks: new LearningRateScheduler((epoch) => (epoch === 1 ? NaN : 0.01)) }), /LearningRateScheduler: the schedule returned NaN for epoch 1; it must return a finite number >= 0\./);
    });
  });

  it('fit rejects a rate a callback broke', async () => {
    await withModel(async (model) => {
      const callbacks = { onBatchEnd: () => void ((model.optimizer as { learningRate: number }).learningRate = -1) };
      await assert.rejects(model.fit(DATA.x, DATA.y, { ...BASE, epochs: 1, threads: 0, callbacks }), (error: unknown) => error instanceof ValueError && /learningRate is -1 at epoch 0, batch 1/.test(error.message));
    });
  });

  it('resume mid-epoch is bit-identical with a schedule', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardnet-lr-resume-'));
    try {
      const schedule = stepDecay(0.01, 1, 0.5);
      const full = await withModel(async (model) => {
        const history = await model.fit(DATA.x, DATA.y, { ...BASE, shuffle: true, seed: 4, epochs: 3, threads: 0, callbacks: new LearningRateScheduler(schedule) });
        return { weights: model.flatWeights.slice(), history: history.history };
      });
      await withModel(async (model) => {
        let epochNow = 0;
        const stop = {
          onEpochBegin: (epoch: number) => void (epochNow = epoch),
          onBatchEnd: (batch: number) => void (epochNow === 1 && batch === 1 && (model.stopTraining = true)),
        };
        await model.fit(DATA.x, DATA.y, { ...BASE, shuffle: true, seed: 4, epochs: 3, threads: 0, checkpointDir: dir, checkpointOnStop: true, callbacks: [new LearningRateScheduler(schedule), stop] });
      });
      const resumed = await withModel(async (model) => {
        const history = await model.fit(DATA.x, DATA.y, { ...BASE, shuffle: true, seed: 4, epochs: 3, threads: 0, resumeFrom: dir, callbacks: new LearningRateScheduler(schedule) });
        return { weights: model.flatWeights.slice(), history: history.history };
      });
      assert.equal(firstDifference(resumed.weights, full.weights), null);
      assert.deepEqual(resumed.history, full.history);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('ReduceLROnPlateau', () => {
  const model = tinyModel('sgd');
  after(() => model.dispose());

  /** Feeds val_loss values; returns the learning rate after each epoch. */
  function drive(callback: ReduceLROnPlateau, values: number[], start = 0.1): number[] {
    const optimizer = model.optimizer as { learningRate: number };
    optimizer.learningRate = start;
    callback.setModel(model);
    callback.onTrainBegin();
    return values.map((value, epoch) => {
      callback.onEpochEnd(epoch, { val_loss: value });
      return optimizer.learningRate;
    });
  }

  it('reduces after patience epochs', () => {
    const rates = drive(new ReduceLROnPlateau({ factor: 0.5, patience: 2 }), [1, 1, 1, 0.5, 0.5, 0.5]);
    assert.deepEqual(rates, [0.1, 0.1, 0.05, 0.05, 0.05, 0.025]);
  });

  it('cooldown delays the next reduction', () => {
    const rates = drive(new ReduceLROnPlateau({ factor: 0.5, patience: 1, cooldown: 2 }), [1, 1, 1, 1, 1, 1]);
    assert.deepEqual(rates, [0.1, 0.05, 0.05, 0.025, 0.025, 0.0125]);
  });

  it('minDelta and minLr bound the changes', () => {
    const rates = drive(new ReduceLROnPlateau({ factor: 0.1, patience: 1, minDelta: 0.1, minLr: 0.005 }), [1, 0.95, 0.9, 0.85]);
    assert.deepEqual(rates, [0.1, 0.010000000000000002, 0.005, 0.005]);
  });

  it('mode auto maximizes accuracy keys', () => {
    const callback = new ReduceLROnPlateau({ monitor: 'val_accuracy', factor: 0.5, patience: 1 });
    callback.setModel(model);
    (model.optimizer as { learningRate: number }).learningRate = 0.1;
    callback.onTrainBegin();
    callback.onEpochEnd(0, { val_accuracy: 0.5 });
    callback.onEpochEnd(1, { val_accuracy: 0.6 });
    assert.equal((model.optimizer as { learningRate: number }).learningRate, 0.1);
    callback.onEpochEnd(2, { val_accuracy: 0.55 });
    assert.equal((model.optimizer as { learningRate: number }).learningRate, 0.05);
  });

  it('rejects a factor of 1', () => {
    assert.throws(() => new ReduceLROnPlateau({ factor: 1 }), /ReduceLROnPlateau: factor must be a number in \(0, 1\), the multiplier of the learning rate, got 1\./);
  });

  it('records learning_rate in fit history', async () => {
    const net = tinyModel('sgd');
    try {
      const history = await net.fit(DATA.x, DATA.y, { ...BASE, epochs: 3, threads: 0, validationSplit: 0.25, callbacks: new ReduceLROnPlateau({ monitor: 'loss', mode: 'max', factor: 0.5, patience: 0 }) });
      // With mode 'max' on a falling loss, every epoch after the first reduces the rate.
      assert.deepEqual(history.history.learning_rate, [0.01, 0.01, 0.005]);
    } finally {
      await net.dispose();
    }
  });
});
