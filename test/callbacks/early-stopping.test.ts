import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';

import { EarlyStopping } from '../../src/callbacks/early-stopping.js';
import { MISSING_MONITOR_WARNING } from '../../src/callbacks/monitor.js';
import { StateError, ValueError } from '../../src/errors.js';
import type { Callback, Logs } from '../../src/model/callbacks.js';
import { firstDifference, tinyData, tinyModel } from './tiny-model.js';

const model = tinyModel();
after(() => model.dispose());

/** Drives `callback` through epochs with the given val_loss values; returns the epoch it stopped at, or -1. */
function drive(callback: EarlyStopping, values: number[], key = 'val_loss'): number {
  model.stopTraining = false;
  callback.setModel(model);
  callback.onTrainBegin();
  for (let epoch = 0; epoch < values.length; epoch++) {
    callback.onEpochEnd(epoch, { loss: 1, [key]: values[epoch] });
    if (model.stopTraining) return epoch;
  }
  return -1;
}

describe('EarlyStopping on fake logs', () => {
  it('patience 0 stops at the first non-improving epoch', () => {
    assert.equal(drive(new EarlyStopping(), [3, 2, 2.5, 1]), 2);
  });

  it('patience 2 waits two epochs', () => {
    const callback = new EarlyStopping({ patience: 2 });
    assert.equal(drive(callback, [3, 2, 2.5, 2.1, 1]), 3);
    assert.equal(callback.bestEpoch, 1);
    assert.equal(callback.best, 2);
    assert.equal(callback.stoppedEpoch, 3);
  });

  it('minDelta ignores small gains', () => {
    assert.equal(drive(new EarlyStopping({ minDelta: 0.5, patience: 1 }), [3, 2.7, 2.6]), 1);
    assert.equal(drive(new EarlyStopping({ minDelta: 0.1, patience: 1 }), [3, 2.7, 2.5, 2.3]), -1);
    assert.equal(drive(new EarlyStopping({ minDelta: -0.1, patience: 1 }), [3, 2.7, 2.65, 2.6]), 2);
  });

  it('mode auto maximizes accuracy', () => {
    assert.equal(drive(new EarlyStopping({ monitor: 'val_accuracy' }), [0.5, 0.6, 0.55], 'val_accuracy'), 2);
  });

  it('mode min on accuracy stops on a rise', () => {
    assert.equal(drive(new EarlyStopping({ monitor: 'val_accuracy', mode: 'min' }), [0.5, 0.6], 'val_accuracy'), 1);
  });

  it('unbeaten baseline keeps the wait growing', () => {
    // Epoch 0 is the best so far but misses the baseline 1, so its wait of 1 is not reset.
    assert.equal(drive(new EarlyStopping({ baseline: 1, patience: 2 }), [3, 3.5, 4]), 1);
    assert.equal(drive(new EarlyStopping({ baseline: 5, patience: 2 }), [3, 3.5, 4]), 2);
  });

  it('missing monitor warns once and never stops', async () => {
    const warnings: Error[] = [];
    const listener = (warning: Error & { code?: string }) => {
      if (warning.code === MISSING_MONITOR_WARNING) warnings.push(warning);
    };
    process.on('warning', listener);
    try {
      const callback = new EarlyStopping({ monitor: 'val_loss' });
      callback.setModel(model);
      model.stopTraining = false;
      callback.onTrainBegin();
      for (let epoch = 0; epoch < 4; epoch++) callback.onEpochEnd(epoch, { loss: 4 - epoch });
      // process warnings are emitted on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(model.stopTraining, false);
      assert.equal(warnings.length, 1);
      assert.match(warnings[0].message, /EarlyStopping monitors "val_loss", which is not in the epoch logs.*Available keys: loss/);
    } finally {
      process.off('warning', listener);
    }
  });
});

describe('EarlyStopping arguments', () => {
  const cases: [string, () => unknown, RegExp][] = [
    ['negative patience', () => new EarlyStopping({ patience: -1 }), /EarlyStopping: patience must be an integer >= 0, got -1\./],
    ['fractional patience', () => new EarlyStopping({ patience: 1.5 }), /patience must be an integer >= 0, got 1\.5/],
    ['unknown mode', () => new EarlyStopping({ mode: 'up' as 'min' }), /mode must be 'auto', 'min' or 'max', got "up"/],
    ['unknown metric in auto mode', () => new EarlyStopping({ monitor: 'f1' }), /cannot tell whether monitor "f1".*mode: 'min' or mode: 'max'/],
    ['snake_case option', () => new EarlyStopping({ restore_best_weights: true } as object), /unknown option "restore_best_weights"; the options are monitor, minDelta/],
    ['NaN minDelta', () => new EarlyStopping({ minDelta: NaN }), /minDelta must be a finite number, got NaN/],
    ['non-boolean restore', () => new EarlyStopping({ restoreBestWeights: 1 as unknown as boolean }), /restoreBestWeights must be a boolean, got 1/],
  ];
  for (const [name, create, pattern] of cases) {
    it(`rejects ${name}`, () => assert.throws(create, pattern));
  }

  it('unknown option is a ValueError', () => assert.throws(() => new EarlyStopping({ patience_: 1 } as object), ValueError));

  it('hook before fit names the fix', () => {
    assert.throws(() => new EarlyStopping({ restoreBestWeights: true }).onEpochEnd(0, { val_loss: 1 }), (error: unknown) => error instanceof StateError && /pass it to model\.fit/.test(error.message));
  });
});

describe('EarlyStopping in fit', () => {
  const data = tinyData(60);

  /** A callback that forces val_loss to the scripted values and keeps a copy of the weights per epoch. */
  function scripted(values: number[], snapshots: Float32Array[], net: ReturnType<typeof tinyModel>): Callback {
    return {
      onEpochEnd: (epoch: number, logs?: Logs) => {
        (logs as Logs).val_loss = values[epoch];
        snapshots[epoch] = net.flatWeights.slice();
      },
    };
  }

  it('stops at the right epoch and restores the best weights', async () => {
    const net = tinyModel();
    try {
      const snapshots: Float32Array[] = [];
      const stopper = new EarlyStopping({ patience: 2, restoreBestWeights: true });
      // The scripted callback runs first, so EarlyStopping reads the scripted val_loss.
      const history = await net.fit(data.x, data.y, { epochs: 10, batchSize: 16, validationSplit: 0.25, threads: 0, callbacks: [scripted([5, 4, 3, 3.5, 3.2, 1], snapshots, net), stopper] });
      assert.deepEqual(history.epoch, [0, 1, 2, 3, 4]);
      assert.equal(stopper.stoppedEpoch, 4);
      assert.equal(stopper.bestEpoch, 2);
      assert.equal(firstDifference(net.flatWeights, snapshots[2]), null);
      assert.notEqual(firstDifference(snapshots[4], snapshots[2]), null, 'training changed the weights after the best epoch');
    } finally {
      await net.dispose();
    }
  });

  it('restores the best weights without stopping', async () => {
    const net = tinyModel();
    try {
      const snapshots: Float32Array[] = [];
      const stopper = new EarlyStopping({ patience: 5, restoreBestWeights: true });
      const history = await net.fit(data.x, data.y, { epochs: 3, batchSize: 16, validationSplit: 0.25, threads: 0, callbacks: [scripted([2, 1, 1.5], snapshots, net), stopper] });
      assert.equal(history.epoch.length, 3);
      assert.equal(stopper.stoppedEpoch, -1);
      assert.equal(firstDifference(net.flatWeights, snapshots[1]), null);
    } finally {
      await net.dispose();
    }
  });

  it('keeps the last weights without restoreBestWeights', async () => {
    const net = tinyModel();
    try {
      const snapshots: Float32Array[] = [];
      await net.fit(data.x, data.y, { epochs: 4, batchSize: 16, validationSplit: 0.25, threads: 0, callbacks: [scripted([2, 1, 1.5, 1.6], snapshots, net), new EarlyStopping({ patience: 1 })] });
      assert.equal(snapshots.length, 3);
      assert.equal(firstDifference(net.flatWeights, snapshots[2]), null);
    } finally {
      await net.dispose();
    }
  });
});
