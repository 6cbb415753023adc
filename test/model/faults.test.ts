import assert from 'node:assert/strict';
import { test } from 'node:test';

import { WorkerPool } from '../../src/coordinator/pool.js';
import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { NonFiniteError, WorkerError } from '../../src/errors.js';
import { layers } from '../../src/layers/index.js';
import type { FitArgs } from '../../src/model/fit.js';
import { Sequential } from '../../src/model/sequential.js';

/** Conv2D(4, 3x3, relu) -> MaxPooling2D -> Flatten -> Dense(10, softmax), compiled with SGD. */
function smallNet(): Sequential {
  const model = new Sequential({ seed: 5 });
  model.add(layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1], name: 'conv' }));
  model.add(layers.maxPooling2d({ poolSize: 2 }));
  model.add(layers.flatten());
  model.add(layers.dense({ units: 10, activation: 'softmax', name: 'classifier' }));
  model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

function data(count: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(21);
  const x = Tensor.zeros([count, 8, 8, 1]);
  for (let i = 0; i < x.size; i++) x.data[i] = rng.next();
  const y = new Tensor(Float32Array.from({ length: count }, (_, i) => i % 10), [count]);
  return { x, y };
}

const DATA = data(256);

/** Runs fit and returns the error it rejects with and the milliseconds until it did. */
async function fitError(model: Sequential, args: FitArgs): Promise<{ error: unknown; elapsedMs: number }> {
  const start = performance.now();
  try {
    await model.fit(DATA.x, DATA.y, { epochs: 3, batchSize: 64, ...args });
  } catch (error) {
    return { error, elapsedMs: performance.now() - start };
  }
  assert.fail('fit() resolved, expected it to reject');
}

for (const kind of ['throw', 'exit'] as const) {
  test(`worker ${kind} rejects fit with WorkerError`, async () => {
    const model = smallNet();
    try {
      // Warm the pool first so the measured time covers only the failing run.
      await model.fit(DATA.x, DATA.y, { epochs: 1, batchSize: 64, threads: 2 });
      const { error, elapsedMs } = await fitError(model, { threads: 2, testFault: { kind, epoch: 1, batch: 2 } });
      assert.ok(error instanceof WorkerError, `expected a WorkerError, got ${String(error)}`);
      assert.equal(error.name, 'WorkerError');
      assert.equal(error.epoch, 1);
      assert.equal(error.batch, 2);
      assert.ok(error.threadId > 0, `thread id ${error.threadId} is a worker's`);
      assert.match(error.message, new RegExp(`^Worker thread ${error.threadId} failed in a gradient task at epoch 1, batch 2 `));
      assert.match(error.message, kind === 'throw' ? /Test fault 'throw'/ : /exited with code: 70/);
      assert.ok(elapsedMs < 5000, `fit rejected after ${elapsedMs.toFixed(0)} ms`);
      // fit() closed the failed pool, so the next fit starts a new one.
      const history = await model.fit(DATA.x, DATA.y, { epochs: 1, batchSize: 64, threads: 2 });
      assert.equal(history.epoch.length, 1);
    } finally {
      await model.dispose();
    }
  });
}

test('worker exit on shared pool leaves pool usable', async () => {
  const pool = new WorkerPool({ threads: 2, concurrency: 2, warn: () => {} });
  const model = smallNet();
  model.usePool(pool);
  try {
    const { error, elapsedMs } = await fitError(model, { testFault: { kind: 'exit', epoch: 0, batch: 1 } });
    assert.ok(error instanceof WorkerError, `expected a WorkerError, got ${String(error)}`);
    assert.equal(error.epoch, 0);
    assert.equal(error.batch, 1);
    assert.ok(elapsedMs < 5000, `fit rejected after ${elapsedMs.toFixed(0)} ms`);
    const history = await model.fit(DATA.x, DATA.y, { epochs: 1, batchSize: 64 });
    assert.equal(history.epoch.length, 1);
  } finally {
    await model.dispose();
    await pool.close();
  }
});

test('test fault exit on calling thread is rejected', async () => {
  const model = smallNet();
  const { error } = await fitError(model, { threads: 0, testFault: { kind: 'exit', epoch: 0, batch: 0 } });
  assert.ok(error instanceof WorkerError);
  assert.equal(error.threadId, 0);
  assert.match(error.message, /needs a worker thread/);
});

test('invalid testFault is a TypeError', async () => {
  const model = smallNet();
  await assert.rejects(model.fit(DATA.x, DATA.y, { threads: 0, testFault: { kind: 'hang' as 'exit', epoch: 0, batch: 0 } }), {
    name: 'TypeError',
    message: /testFault must be/,
  });
});

/** Sets element `index` of weight `weightIndex` (in getWeights() order) to `value`. */
function poisonWeight(model: Sequential, weightIndex: number, index: number, value: number): void {
  const weights = model.getWeights();
  weights[weightIndex].data[index] = value;
  model.setWeights(weights);
}

for (const threads of [0, 2]) {
  test(`NaN dense bias raises NonFiniteError on ${threads} threads`, async () => {
    const model = smallNet();
    try {
      // A NaN bias makes every output, the loss and the dense gradient NaN. The conv layer's
      // gradient flows back through the NaN outputs too, so it is the first non-finite layer.
      poisonWeight(model, 3, 0, Number.NaN);
      const before = model.flatWeights.slice();
      const { error } = await fitError(model, { threads });
      assert.ok(error instanceof NonFiniteError, `expected a NonFiniteError, got ${String(error)}`);
      assert.equal(error.name, 'NonFiniteError');
      assert.equal(error.epoch, 0);
      assert.equal(error.batch, 0);
      assert.equal(error.layer, 'conv');
      assert.ok(Number.isNaN(error.loss));
      assert.match(error.message, /epoch 0, batch 0 .*the loss is NaN and the first layer with a non-finite gradient is 'conv' \(conv\/kernel, element 0\)/);
      assert.deepEqual(model.flatWeights, before, 'no optimizer step was applied');
      assert.equal(model.optimizerStepCount, 0, 'the skipped step is not counted');
    } finally {
      await model.dispose();
    }
  });
}

test('NaN behind dead relu names classifier', async () => {
  const model = smallNet();
  try {
    // A conv bias of -1e6 makes every conv output 0 after relu, so relu masks the NaN gradient
    // that flows back and conv's gradient stays 0. The NaN classifier bias makes its own gradient NaN.
    const weights = model.getWeights();
    weights[1].data.fill(-1e6);
    weights[3].data[0] = Number.NaN;
    model.setWeights(weights);
    const { error } = await fitError(model, { threads: 0 });
    assert.ok(error instanceof NonFiniteError, `expected a NonFiniteError, got ${String(error)}`);
    assert.equal(error.layer, 'classifier');
    assert.match(error.message, /'classifier' \(classifier\/kernel, element 0\)/);
  } finally {
    await model.dispose();
  }
});

test('stopOnNonFinite false records NaN loss', async () => {
  const model = smallNet();
  try {
    poisonWeight(model, 3, 0, Number.NaN);
    const history = await model.fit(DATA.x, DATA.y, { epochs: 2, batchSize: 64, threads: 0, stopOnNonFinite: false });
    assert.deepEqual(history.epoch, [0, 1]);
    assert.ok(Number.isNaN(history.history.loss[0]), `loss ${history.history.loss[0]}`);
    assert.ok(Number.isNaN(history.history.loss[1]), `loss ${history.history.loss[1]}`);
  } finally {
    await model.dispose();
  }
});

test('finite training unaffected by check', async () => {
  // The check splits reduce and apply into two task rounds; the weights must not change.
  const checked = smallNet();
  const unchecked = smallNet();
  try {
    await checked.fit(DATA.x, DATA.y, { epochs: 1, batchSize: 64, threads: 2 });
    await unchecked.fit(DATA.x, DATA.y, { epochs: 1, batchSize: 64, threads: 0, stopOnNonFinite: false });
    assert.deepEqual(checked.flatWeights, unchecked.flatWeights);
  } finally {
    await checked.dispose();
    await unchecked.dispose();
  }
});

/** Runs `call` and returns the error it rejects with and the milliseconds until it did. */
async function callError(call: () => Promise<unknown>): Promise<{ error: unknown; elapsedMs: number }> {
  const start = performance.now();
  try {
    await call();
  } catch (error) {
    return { error, elapsedMs: performance.now() - start };
  }
  assert.fail('the call resolved, expected it to reject');
}

/** Returns the model's executor, which is null once the model closed its pool. */
function ownExecutor(model: Sequential): unknown {
  return (model as unknown as { executor: unknown }).executor;
}

test('evaluate task fault raises WorkerError', async () => {
  const model = smallNet();
  try {
    await model.evaluate(DATA.x, DATA.y, { threads: 2 });
    const { error, elapsedMs } = await callError(() => model.evaluate(DATA.x, DATA.y, { threads: 2, testFault: 'throw' }));
    assert.ok(error instanceof WorkerError, `expected a WorkerError, got ${String(error)}`);
    assert.ok(error.threadId > 0, `thread id ${error.threadId} is a worker's`);
    assert.equal(error.epoch, -1);
    assert.equal(error.batch, -1);
    assert.match(error.message, new RegExp(`^Worker thread ${error.threadId} failed in an evaluate task during evaluate\\(\\): `));
    assert.match(error.message, /Test fault 'throw' raised in an evaluate task/);
    assert.ok(elapsedMs < 5000, `evaluate rejected after ${elapsedMs.toFixed(0)} ms`);
    assert.equal(ownExecutor(model), null, 'evaluate closed the model pool');
    const result = await model.evaluate(DATA.x, DATA.y, { threads: 2 });
    assert.ok(Number.isFinite(result.loss));
  } finally {
    await model.dispose();
  }
});

test('predict task exit raises WorkerError', async () => {
  const model = smallNet();
  try {
    await model.predict(DATA.x, { threads: 2 });
    const { error, elapsedMs } = await callError(() => model.predict(DATA.x, { threads: 2, testFault: 'exit' }));
    assert.ok(error instanceof WorkerError, `expected a WorkerError, got ${String(error)}`);
    assert.ok(error.threadId > 0, `thread id ${error.threadId} is a worker's`);
    assert.equal(error.epoch, -1);
    assert.match(error.message, new RegExp(`^Worker thread ${error.threadId} failed in a predict task during predict\\(\\): `));
    assert.match(error.message, /exited with code: 70/);
    assert.ok(elapsedMs < 5000, `predict rejected after ${elapsedMs.toFixed(0)} ms`);
    assert.equal(ownExecutor(model), null, 'predict closed the model pool');
    const output = await model.predict(DATA.x, { threads: 2 });
    assert.deepEqual(output.shape, [256, 10]);
  } finally {
    await model.dispose();
  }
});

test('predict fault on shared pool keeps pool', async () => {
  const pool = new WorkerPool({ threads: 2, concurrency: 2, warn: () => {} });
  const model = smallNet();
  model.usePool(pool);
  try {
    const { error } = await callError(() => model.predict(DATA.x, { testFault: 'throw' }));
    assert.ok(error instanceof WorkerError, `expected a WorkerError, got ${String(error)}`);
    // A closed pool would reject this predict with 'The worker pool is closed.'
    const output = await model.predict(DATA.x);
    assert.deepEqual(output.shape, [256, 10]);
  } finally {
    await model.dispose();
    await pool.close();
  }
});

test('invalid evaluate testFault is a TypeError', async () => {
  const model = smallNet();
  await assert.rejects(model.evaluate(DATA.x, DATA.y, { threads: 0, testFault: 'hang' as 'exit' }), {
    name: 'TypeError',
    message: /evaluate\(\): testFault must be/,
  });
});

test('validation failure names epoch', async () => {
  const pool = new WorkerPool({ threads: 2, concurrency: 2, warn: () => {} });
  const model = smallNet();
  model.usePool(pool);
  try {
    const callbacks = {
      onEpochBegin: (epoch: number): void => {
        if (epoch === 1) pool.injectTestFault('evaluate', 'throw');
      },
    };
    const { error, elapsedMs } = await fitError(model, { validationSplit: 0.25, callbacks });
    assert.ok(error instanceof WorkerError, `expected a WorkerError, got ${String(error)}`);
    assert.ok(error.threadId > 0, `thread id ${error.threadId} is a worker's`);
    assert.equal(error.epoch, 1);
    assert.equal(error.batch, -1);
    assert.match(error.message, new RegExp(`^Worker thread ${error.threadId} failed in an evaluate task during validation after epoch 1 `));
    assert.ok(elapsedMs < 5000, `fit rejected after ${elapsedMs.toFixed(0)} ms`);
  } finally {
    await model.dispose();
    await pool.close();
  }
});

/** Atomics.waitAsync (Node 16+), which the TypeScript lib of this project does not declare. */
const waitAsync = (Atomics as unknown as { waitAsync(array: Int32Array, index: number, value: number): { async: boolean; value: Promise<string> | string } })
  .waitAsync;

// The timeout turns a fit that never settles after the kill into a failure, not a hang.
test('killed worker rejects fit with WorkerError', { timeout: 20_000 }, async () => {
  const pool = new WorkerPool({ threads: 2, concurrency: 2, warn: () => {} });
  const model = smallNet();
  model.usePool(pool);
  try {
    // The hang fault stores the blocked worker's threadId in signal[0] and notifies.
    const signal = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
    let currentEpoch = -1;
    const callbacks = {
      onEpochBegin: (epoch: number): void => {
        currentEpoch = epoch;
      },
      onBatchBegin: (batch: number): void => {
        if (currentEpoch === 1 && batch === 2) pool.injectTestFault('gradient', { kind: 'hang', signal: signal.buffer as SharedArrayBuffer });
      },
    };
    const waiting = waitAsync(signal, 0, 0);
    assert.equal(waiting.async, true);
    const fitting = fitError(model, { callbacks });
    assert.equal(await waiting.value, 'ok');
    const hungThread = Atomics.load(signal, 0);
    const killedAt = performance.now();
    await pool.terminateThread(hungThread);
    const { error } = await fitting;
    const afterKillMs = performance.now() - killedAt;
    assert.ok(error instanceof WorkerError, `expected a WorkerError, got ${String(error)}`);
    assert.equal(error.threadId, hungThread);
    assert.equal(error.epoch, 1);
    assert.equal(error.batch, 2);
    assert.match(error.message, new RegExp(`^Worker thread ${hungThread} failed in a gradient task at epoch 1, batch 2 `));
    assert.match(error.message, /exited with code: 1/);
    assert.ok(afterKillMs < 1000, `fit rejected ${afterKillMs.toFixed(0)} ms after the kill`);
    // Piscina replaced the terminated worker, so the shared pool still trains.
    const history = await model.fit(DATA.x, DATA.y, { epochs: 1, batchSize: 64 });
    assert.equal(history.epoch.length, 1);
  } finally {
    await model.dispose();
    await pool.close();
  }
});
