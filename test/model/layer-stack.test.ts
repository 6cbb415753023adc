/**
 * One small model built from AveragePooling2D, GlobalAveragePooling2D, Reshape and Activation
 * (with Conv2D and Dense around them): it trains bit-identically on the calling thread and on
 * worker threads, prints its summary, and round-trips through saveModel and loadModel.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { layers } from '../../src/layers/index.js';
import { loadModel, saveModel } from '../../src/model/save.js';
import { Sequential } from '../../src/model/sequential.js';

const SAMPLES = 96;

/** Returns seeded flat 64-value samples and labels 0..3. Label k brightens quarter k of the image. */
function syntheticData(count: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([count, 64]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    const label = rng.int(4);
    y.data[i] = label;
    for (let p = 0; p < 64; p++) x.data[i * 64 + p] = 0.5 * rng.next() + (Math.floor(p / 16) === label ? 0.5 : 0);
  }
  return { x, y };
}

const DATA = syntheticData(SAMPLES, 21);

/**
 * Reshape([8, -1, 1]) -> Conv2D(6, 3x3, relu) -> AveragePooling2D(3, stride 2, same)
 * -> GlobalAveragePooling2D(keepdims) -> Reshape([-1]) -> Dense(4) -> Activation(softmax).
 */
function stackModel(): Sequential {
  const model = new Sequential({ name: 'stack', seed: 3 });
  model.add(layers.reshape({ targetShape: [8, -1, 1], inputShape: [64] }));
  model.add(layers.conv2d({ filters: 6, kernelSize: 3, activation: 'relu' }));
  model.add(layers.averagePooling2d({ poolSize: 3, strides: 2, padding: 'same' }));
  model.add(layers.globalAveragePooling2d({ keepdims: true }));
  model.add(layers.reshape({ targetShape: [-1] }));
  model.add(layers.dense({ units: 4 }));
  model.add(layers.activation({ activation: 'softmax' }));
  return model;
}

async function trainStack(threads: number): Promise<{ initial: Float32Array; weights: Float32Array; loss: number[] }> {
  const model = stackModel();
  try {
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    const initial = model.flatWeights.slice();
    const history = await model.fit(DATA.x, DATA.y, { epochs: 2, batchSize: 32, seed: 5, threads });
    return { initial, weights: model.flatWeights.slice(), loss: history.history.loss };
  } finally {
    await model.dispose();
  }
}

function countDifferences(a: Float32Array, b: Float32Array): number {
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) count++;
  return count;
}

test('layer stack same weights on threads 0 and 2', async () => {
  const reference = await trainStack(0);
  assert.ok(countDifferences(reference.weights, reference.initial) > reference.weights.length / 2, 'training changed too few weights');
  const threaded = await trainStack(2);
  const same = Buffer.from(threaded.weights.buffer, threaded.weights.byteOffset, threaded.weights.byteLength).equals(
    Buffer.from(reference.weights.buffer, reference.weights.byteOffset, reference.weights.byteLength),
  );
  assert.ok(same, `weights on 2 threads differ from threads 0 in ${countDifferences(threaded.weights, reference.weights)} values`);
  assert.deepEqual(threaded.loss, reference.loss);
});

test('layer stack summary rows', () => {
  const lines: string[] = [];
  stackModel().summary((line) => lines.push(line));
  const expectedRows: [string, string, string][] = [
    ['reshape (Reshape)', '(None, 8, 8, 1)', '0'],
    ['conv2d (Conv2D)', '(None, 6, 6, 6)', '60'],
    ['average_pooling2d (AveragePooling2D)', '(None, 3, 3, 6)', '0'],
    ['global_average_pooling2d (GlobalAveragePooling2D)', '(None, 1, 1, 6)', '0'],
    ['reshape_1 (Reshape)', '(None, 6)', '0'],
    ['dense (Dense)', '(None, 4)', '28'],
    ['activation (Activation)', '(None, 4)', '0'],
  ];
  // Each cell starts at its header's column; the widest name widens the first column.
  const header = lines.find((l) => l.startsWith(' Layer (type)'));
  assert.ok(header !== undefined, `no header row:\n${lines.join('\n')}`);
  const shapeColumn = header.indexOf('Output Shape');
  const paramColumn = header.indexOf('Param #');
  for (const [layer, shape, params] of expectedRows) {
    const line = lines.find((l) => l.startsWith(` ${layer} `));
    assert.ok(line !== undefined, `no summary row for ${layer}:\n${lines.join('\n')}`);
    assert.deepEqual([line.slice(0, shapeColumn).trim(), line.slice(shapeColumn, paramColumn).trim(), line.slice(paramColumn).trim()], [layer, shape, params]);
  }
  assert.ok(lines.includes('Total params: 88'), lines.join('\n'));
});

test('layer stack save and load round-trip', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shardnet-stack-'));
  const model = stackModel();
  try {
    model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    await model.fit(DATA.x, DATA.y, { epochs: 1, batchSize: 32, seed: 1, threads: 0 });
    await saveModel(model, dir);

    const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
    const saved = json.modelTopology.config.layers as { class_name: string; config: Record<string, unknown> }[];
    assert.deepEqual(
      saved.map((l) => l.class_name),
      ['Reshape', 'Conv2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'Reshape', 'Dense', 'Activation'],
    );
    assert.deepEqual(saved[0].config.target_shape, [8, -1, 1]);
    assert.deepEqual(saved[2].config, { name: 'average_pooling2d', pool_size: [3, 3], strides: [2, 2], padding: 'same', data_format: 'channels_last' });
    assert.deepEqual(saved[3].config, { name: 'global_average_pooling2d', keepdims: true, data_format: 'channels_last' });
    assert.deepEqual(saved[6].config, { name: 'activation', activation: 'softmax' });

    const loaded = await loadModel(dir);
    try {
      assert.deepEqual(
        loaded.layers.map((l) => [l.className, l.getConfig()]),
        model.layers.map((l) => [l.className, l.getConfig()]),
      );
      assert.deepEqual(Array.from(loaded.flatWeights), Array.from(model.flatWeights));
      const x = DATA.x.slice(0, 8);
      const expected = await model.predict(x, { threads: 0 });
      const actual = await loaded.predict(x, { threads: 0 });
      assert.deepEqual(actual.shape, [8, 4]);
      assert.deepEqual(Array.from(actual.data), Array.from(expected.data));
    } finally {
      await loaded.dispose();
    }
  } finally {
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  }
});
