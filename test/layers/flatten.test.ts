import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Dense } from '../../src/layers/dense.js';
import { Flatten } from '../../src/layers/flatten.js';
import { buildLayers } from '../../src/model/build.js';
import { INFERENCE_STEP, checkLayerGradients, createFloat64Layer, forwardFloat64 } from '../helpers/gradient-check.js';

test('Flatten 2x2x2 forward keeps row-major order', () => {
  const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const y = forwardFloat64(new Flatten(), [2, 2, 2], x, 2, []);
  assert.deepEqual(Array.from(y), x);
});

test('Flatten backward passes dY through', () => {
  const built = createFloat64Layer(new Flatten(), [2, 3], new Float64Array(0), 1);
  const x = Float64Array.from([1, 2, 3, 4, 5, 6]);
  built.runtime.forward(x, 1, INFERENCE_STEP);
  const dY = Float64Array.from([6, 5, 4, 3, 2, 1]);
  built.runtime.backward(x, dY, 1, true, new Float64Array(0), 0, false);
  assert.deepEqual(Array.from(built.runtime.dX.slice(0, 6)), [6, 5, 4, 3, 2, 1]);
});

test('Flatten 3x2x2 batch 2 gradients', () => {
  checkLayerGradients({ layer: new Flatten(), inputShape: [3, 2, 2], batch: 2, seed: 50 });
});

const SHAPE_CASES: { input: number[]; output: number[] }[] = [
  { input: [12, 12, 64], output: [9216] },
  { input: [3, 4], output: [12] },
  { input: [5], output: [5] },
];

for (const { input, output } of SHAPE_CASES) {
  test(`Flatten shape [${input}] is [${output}]`, () => {
    const layer = new Flatten();
    buildLayers([layer], input);
    assert.deepEqual(layer.outputShape, output);
    assert.equal(layer.countParams(), 0);
  });
}

test('Flatten lets Dense follow a rank-3 input', () => {
  const flatten = new Flatten();
  const dense = new Dense({ units: 10 });
  const entries = buildLayers([flatten, dense], [4, 4, 8]);
  assert.deepEqual(dense.inputShape, [128]);
  assert.deepEqual(
    entries.map((e) => [e.name, e.offset, e.size]),
    [
      ['dense/kernel', 0, 1280],
      ['dense/bias', 1280, 10],
    ],
  );
});

test('Flatten inputShape [4, -1] rejected', () => {
  assert.throws(() => new Flatten({ inputShape: [4, -1] }), {
    name: 'RangeError',
    message: 'inputShape [4,-1] is invalid: give positive integer dimensions without the batch, e.g. [28, 28, 1].',
  });
});
