import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { layers } from '../../src/layers/index.js';
import { Sequential } from '../../src/model/sequential.js';

function smallNet(): Sequential {
  const model = new Sequential({ seed: 3 });
  model.add(layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: [8, 8, 1] }));
  model.add(layers.maxPooling2d({ poolSize: 2 }));
  model.add(layers.flatten());
  model.add(layers.dropout({ rate: 0.2 }));
  model.add(layers.dense({ units: 10, activation: 'softmax' }));
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

function data(count: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(11);
  const x = Tensor.zeros([count, 8, 8, 1]);
  for (let i = 0; i < x.size; i++) x.data[i] = rng.next();
  const y = new Tensor(Float32Array.from({ length: count }, (_, i) => i % 10), [count]);
  return { x, y };
}

for (const threads of [0, 2]) {
  test(`arena allocations stop after warm-up on ${threads} threads`, async () => {
    const model = smallNet();
    const { x, y } = data(400);
    try {
      await model.fit(x, y, { epochs: 1, batchSize: 64, threads });
      const warm = model.arenaUsage;
      // 4 epochs of 7 steps each, plus an evaluation per epoch.
      await model.fit(x, y, { epochs: 4, batchSize: 64, threads, validationSplit: 0.25 });
      await model.evaluate(x, y, { threads });
      const after = model.arenaUsage;
      assert.equal(after.allocations, warm.allocations, 'no new arena allocations');
      assert.equal(after.usedBytes, warm.usedBytes, 'no arena growth');
      assert.ok(warm.allocations > 5, `the warm-up allocated the session buffers (${warm.allocations})`);
    } finally {
      await model.dispose();
    }
  });
}

test('new session reuses released arena bytes', async () => {
  const { x, y } = data(300);
  const grown = smallNet();
  const fresh = smallNet();
  try {
    // Batch 32 needs 2 gradient slots; batch 256 needs 16, so the second fit builds a new session.
    await grown.fit(x, y, { epochs: 1, batchSize: 32, threads: 0 });
    await grown.fit(x, y, { epochs: 1, batchSize: 256, threads: 0 });
    await fresh.fit(x, y, { epochs: 1, batchSize: 256, threads: 0 });
    assert.equal(grown.arenaUsage.usedBytes, fresh.arenaUsage.usedBytes, 'the first session\'s bytes were released');
  } finally {
    await grown.dispose();
    await fresh.dispose();
  }
});

test('batch of 600 reduces in rounds', async () => {
  // 600 / 16 = 38 micro-batches: three rounds of at most 16 slots.
  const { x, y } = data(600);
  const inline = smallNet();
  const pooled = smallNet();
  try {
    const history = await inline.fit(x, y, { epochs: 1, batchSize: 600, threads: 0 });
    await pooled.fit(x, y, { epochs: 1, batchSize: 600, threads: 3 });
    assert.deepEqual(pooled.flatWeights, inline.flatWeights);
    assert.ok(Number.isFinite(history.history.loss[0]));
    const oneBatchBytes = inline.arenaUsage.usedBytes;
    const wide = smallNet();
    await wide.fit(x, y, { epochs: 1, batchSize: 256, threads: 0 });
    assert.equal(oneBatchBytes, wide.arenaUsage.usedBytes, 'batches of 256 and 600 both use 16 slots');
    await wide.dispose();
  } finally {
    await inline.dispose();
    await pooled.dispose();
  }
});

test('concurrent fit on one model rejected', async () => {
  const { x, y } = data(64);
  const model = smallNet();
  try {
    const first = model.fit(x, y, { epochs: 1, batchSize: 32, threads: 0 });
    await assert.rejects(model.fit(x, y, { epochs: 1, threads: 0 }), { name: 'StateError', message: /already running/ });
    await first;
  } finally {
    await model.dispose();
  }
});

test('dispose during fit gives StateError', async () => {
  const { x, y } = data(256);
  const model = smallNet();
  const running = model.fit(x, y, {
    epochs: 3,
    batchSize: 32,
    threads: 2,
    callbacks: {
      onBatchEnd: async (batch) => {
        if (batch === 1) await model.dispose();
      },
    },
  });
  await assert.rejects(running, { name: 'StateError', message: /dispose\(\) was called/ });
});
