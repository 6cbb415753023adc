import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { TerminateOnNaN } from '../../src/callbacks/terminate-on-nan.js';
import type { Callback, Logs } from '../../src/model/callbacks.js';
import type { Sequential } from '../../src/model/sequential.js';
import { tinyData, tinyModel } from './tiny-model.js';

const DATA = tinyData(48);

async function withModel<T>(run: (model: Sequential) => Promise<T>): Promise<T> {
  const model = tinyModel();
  try {
    return await run(model);
  } finally {
    await model.dispose();
  }
}

/** Records every hook call as 'hook:epoch-or-batch'. */
function recorder(events: string[]): Callback {
  return {
    onTrainBegin: () => void events.push('trainBegin'),
    onEpochBegin: (epoch) => void events.push(`epochBegin:${epoch}`),
    onBatchBegin: (batch) => void events.push(`batchBegin:${batch}`),
    onBatchEnd: (batch) => void events.push(`batchEnd:${batch}`),
    onEpochEnd: (epoch) => void events.push(`epochEnd:${epoch}`),
    onTrainEnd: () => void events.push('trainEnd'),
  };
}

describe('fit callbacks', () => {
  it('hooks run in order with TF.js logs', async () => {
    const events: string[] = [];
    const epochLogs: Logs[] = [];
    const batchLogs: Logs[] = [];
    let endLogs: Logs | undefined;
    await withModel((model) =>
      model.fit(DATA.x, DATA.y, {
        epochs: 2,
        batchSize: 24,
        validationSplit: 0.5,
        threads: 0,
        callbacks: [recorder(events), { onBatchEnd: (_b, logs) => void batchLogs.push({ ...logs }), onEpochEnd: (_e, logs) => void epochLogs.push({ ...logs }), onTrainEnd: (logs) => void (endLogs = logs) }],
      }),
    );
    assert.deepEqual(events, ['trainBegin', 'epochBegin:0', 'batchBegin:0', 'batchEnd:0', 'epochEnd:0', 'epochBegin:1', 'batchBegin:0', 'batchEnd:0', 'epochEnd:1', 'trainEnd']);
    assert.deepEqual(Object.keys(batchLogs[0]).sort(), ['accuracy', 'batch', 'loss', 'size']);
    assert.deepEqual(Object.keys(epochLogs[1]).sort(), ['accuracy', 'loss', 'val_accuracy', 'val_loss']);
    assert.deepEqual(endLogs, epochLogs[1]);
  });

  it('stopTraining in onBatchEnd stops after that batch', async () => {
    const events: string[] = [];
    const history = await withModel((model) => {
      const stop: Callback = { onBatchEnd: (batch) => void (batch === 1 && (model.stopTraining = true)) };
      return model.fit(DATA.x, DATA.y, { epochs: 3, batchSize: 8, threads: 0, callbacks: [recorder(events), stop] });
    });
    assert.deepEqual(events, ['trainBegin', 'epochBegin:0', 'batchBegin:0', 'batchEnd:0', 'batchBegin:1', 'batchEnd:1', 'epochEnd:0', 'trainEnd']);
    assert.deepEqual(history.epoch, [0]);
  });

  it('stopTraining in onEpochBegin skips the epoch', async () => {
    const events: string[] = [];
    const history = await withModel((model) => {
      const stop: Callback = { onEpochBegin: (epoch) => void (epoch === 1 && (model.stopTraining = true)) };
      return model.fit(DATA.x, DATA.y, { epochs: 3, batchSize: 24, threads: 0, callbacks: [recorder(events), stop] });
    });
    assert.deepEqual(events, ['trainBegin', 'epochBegin:0', 'batchBegin:0', 'batchEnd:0', 'batchBegin:1', 'batchEnd:1', 'epochEnd:0', 'epochBegin:1', 'trainEnd']);
    assert.deepEqual(history.epoch, [0]);
  });

  it('rejects a callback that is not an object', async () => {
    await withModel(async (model) => {
      await assert.rejects(model.fit(DATA.x, DATA.y, { threads: 0, callbacks: [{}, 3 as unknown as Callback] }), /fit\(\): callbacks\[1\] must be an object with hooks such as onEpochEnd, got 3\./);
    });
  });
});

describe('TerminateOnNaN', () => {
  it('stops after the first NaN batch', async () => {
    const terminate = new TerminateOnNaN();
    const events: string[] = [];
    const history = await withModel(async (model) => {
      // A NaN output bias (the last weight) makes every loss from the first batch on NaN.
      model.flatWeights[model.flatWeights.length - 1] = NaN;
      return model.fit(DATA.x, DATA.y, { epochs: 3, batchSize: 8, threads: 0, stopOnNonFinite: false, callbacks: [recorder(events), terminate] });
    });
    assert.equal(terminate.stoppedEpoch, 0);
    assert.equal(terminate.stoppedBatch, 0);
    assert.deepEqual(events, ['trainBegin', 'epochBegin:0', 'batchBegin:0', 'batchEnd:0', 'epochEnd:0', 'trainEnd']);
    assert.ok(Number.isNaN(history.history.loss[0]));
  });

  it('leaves finite training alone', async () => {
    const terminate = new TerminateOnNaN();
    const history = await withModel((model) => model.fit(DATA.x, DATA.y, { epochs: 2, batchSize: 8, threads: 0, stopOnNonFinite: false, callbacks: terminate }));
    assert.equal(terminate.stoppedBatch, -1);
    assert.deepEqual(history.epoch, [0, 1]);
  });

  it('stops on an infinite loss from fake logs', async () => {
    await withModel(async (model) => {
      const terminate = new TerminateOnNaN();
      terminate.setModel(model);
      terminate.onTrainBegin();
      terminate.onEpochBegin(2);
      terminate.onBatchEnd(5, { loss: Infinity });
      assert.equal(model.stopTraining, true);
      assert.deepEqual([terminate.stoppedEpoch, terminate.stoppedBatch], [2, 5]);
    });
  });
});
