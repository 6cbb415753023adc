import assert from 'node:assert/strict';
import { test } from 'node:test';

import { layers } from '../../src/layers/index.js';
import { Sequential } from '../../src/model/sequential.js';

/** Builds the Keras MNIST convnet: conv 32, conv 64, max-pool, flatten, dense 128, dense 10. */
function mnistModel(): Sequential {
  const model = new Sequential({ name: 'mnist_cnn', seed: 1 });
  model.add(layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }));
  model.add(layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
  model.add(layers.maxPooling2d({ poolSize: 2 }));
  model.add(layers.flatten());
  model.add(layers.dense({ units: 128, activation: 'relu' }));
  model.add(layers.dense({ units: 10, activation: 'softmax' }));
  return model;
}

function summaryOf(model: Sequential): string[] {
  const lines: string[] = [];
  model.summary((line) => lines.push(line));
  return lines;
}

test('MNIST model params per layer', () => {
  const model = mnistModel();
  // conv 3*3*1*32 + 32, conv 3*3*32*64 + 64, pool 0, flatten 0, dense 9216*128 + 128, dense 128*10 + 10.
  assert.deepEqual(
    model.layers.map((layer) => layer.countParams()),
    [320, 18_496, 0, 0, 1_179_776, 1_290],
  );
  assert.equal(model.countParams(), 1_199_882);
  assert.equal(model.flatWeights.length, 1_199_882);
});

test('MNIST model output shapes', () => {
  const model = mnistModel();
  assert.deepEqual(
    model.layers.map((layer) => layer.outputShape),
    [[26, 26, 32], [24, 24, 64], [12, 12, 64], [9216], [128], [10]],
  );
});

test('MNIST model layer names are made unique', () => {
  assert.deepEqual(
    mnistModel().layers.map((layer) => layer.name),
    ['conv2d', 'conv2d_1', 'max_pooling2d', 'flatten', 'dense', 'dense_1'],
  );
});

test('MNIST model summary totals', () => {
  const lines = summaryOf(mnistModel());
  assert.equal(lines[0], 'Model: "mnist_cnn"');
  for (const expected of ['Total params: 1,199,882', 'Trainable params: 1,199,882', 'Non-trainable params: 0']) {
    assert.ok(lines.includes(expected), `no line '${expected}' in:\n${lines.join('\n')}`);
  }
});

test('MNIST model summary rows', () => {
  const lines = summaryOf(mnistModel());
  const expectedRows: [string, string, string][] = [
    ['conv2d (Conv2D)', '(None, 26, 26, 32)', '320'],
    ['conv2d_1 (Conv2D)', '(None, 24, 24, 64)', '18,496'],
    ['max_pooling2d (MaxPooling2D)', '(None, 12, 12, 64)', '0'],
    ['flatten (Flatten)', '(None, 9216)', '0'],
    ['dense (Dense)', '(None, 128)', '1,179,776'],
    ['dense_1 (Dense)', '(None, 10)', '1,290'],
  ];
  const header = lines.find((line) => line.includes('Output Shape'));
  assert.ok(header !== undefined, 'no header line');
  const shapeColumn = header.indexOf('Output Shape');
  const countColumn = header.indexOf('Param #');
  for (const [layer, shape, count] of expectedRows) {
    const row = lines.find((line) => line.trimStart().startsWith(`${layer} `));
    assert.ok(row !== undefined, `no row for ${layer}`);
    // Every cell starts in its header's column, so the table lines up.
    assert.equal(row.indexOf(shape), shapeColumn, `shape column of ${layer}: ${JSON.stringify(row)}`);
    assert.equal(row.indexOf(count, shapeColumn + shape.length), countColumn, `count column of ${layer}: ${JSON.stringify(row)}`);
  }
});

test('MNIST model summary rules span the table', () => {
  const lines = summaryOf(mnistModel());
  const width = Math.max(...lines.slice(1).map((line) => line.length));
  const rules = lines.filter((line) => /^[_=]+$/.test(line));
  assert.equal(rules.length, 4);
  for (const rule of rules) assert.equal(rule.length, width);
});

test('Sequential first layer without inputShape rejected', () => {
  const model = new Sequential({ name: 'no_input' });
  assert.throws(() => model.add(layers.dense({ units: 3, name: 'first' })), {
    name: 'ShapeError',
    message: "The first layer of model 'no_input' ('first') needs an inputShape, e.g. inputShape: [28, 28, 1].",
  });
});

test('Sequential add after build rejected', () => {
  const model = new Sequential({ name: 'built' });
  model.add(layers.dense({ units: 3, inputShape: [4] }));
  model.build();
  assert.throws(() => model.add(layers.dense({ units: 2, name: 'late' })), {
    name: 'StateError',
    message: "Cannot add layer 'late' to model 'built' after it was built.",
  });
});

test('Sequential compile metric mse rejected', () => {
  const model = new Sequential();
  model.add(layers.dense({ units: 3, inputShape: [4] }));
  assert.throws(() => model.compile({ optimizer: 'sgd', loss: 'mse', metrics: ['mse'] }), {
    name: 'RangeError',
    message: `Unknown metric "mse"; only 'accuracy' is supported.`,
  });
});

test('Sequential compile loss hinge rejected', () => {
  const model = new Sequential();
  model.add(layers.dense({ units: 3, inputShape: [4] }));
  assert.throws(() => model.compile({ optimizer: 'sgd', loss: 'hinge' }), { name: 'RangeError', message: /^Unknown loss "hinge"/ });
});

test('Sequential weights seed 1 reproducible, seed 2 differs', () => {
  const first = mnistModel().flatWeights;
  const second = mnistModel().flatWeights;
  assert.ok(Buffer.from(first.buffer).equals(Buffer.from(second.buffer)), 'two models with seed 1 have different weights');
  const other = new Sequential({ seed: 2 });
  other.add(layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }));
  assert.notDeepEqual(Array.from(other.flatWeights.subarray(0, 288)), Array.from(first.subarray(0, 288)));
});

test('Sequential biases start at 0, kernels Glorot uniform', () => {
  const model = mnistModel();
  const weights = model.getWeights();
  assert.deepEqual(
    weights.map((w) => w.shape),
    [[3, 3, 1, 32], [32], [3, 3, 32, 64], [64], [9216, 128], [128], [128, 10], [10]],
  );
  for (const bias of [weights[1], weights[3], weights[5], weights[7]]) assert.ok(bias.data.every((v) => v === 0));
  // Glorot limit sqrt(6 / (fanIn + fanOut)) with fan = 3*3*1 and 3*3*32 for the first kernel.
  const limit = Math.sqrt(6 / (9 + 288));
  const kernel = weights[0].data;
  assert.ok(kernel.every((v) => Math.abs(v) <= limit), 'first kernel exceeds the Glorot limit');
  assert.ok(Math.max(...kernel.map(Math.abs)) > 0.8 * limit, 'first kernel uses less than 80% of the Glorot range');
});
