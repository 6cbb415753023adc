import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Dense } from '../../src/layers/dense.js';
import { Reshape, type ReshapeArgs } from '../../src/layers/reshape.js';
import { buildLayers } from '../../src/model/build.js';
import { INFERENCE_STEP, checkLayerGradients, createFloat64Layer, forwardFloat64 } from '../helpers/gradient-check.js';

test('Reshape 2x3 to 3x2 keeps row-major order', () => {
  const x = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const y = forwardFloat64(new Reshape({ targetShape: [3, 2] }), [2, 3], x, 2, []);
  assert.deepEqual(Array.from(y), x);
});

test('Reshape backward passes dY through', () => {
  const built = createFloat64Layer(new Reshape({ targetShape: [6] }), [3, 2], new Float64Array(0), 1);
  const x = Float64Array.from([1, 2, 3, 4, 5, 6]);
  built.runtime.forward(x, 1, INFERENCE_STEP);
  built.runtime.backward(x, Float64Array.from([6, 5, 4, 3, 2, 1]), 1, true, new Float64Array(0), 0, false);
  assert.deepEqual(Array.from(built.runtime.dX.slice(0, 6)), [6, 5, 4, 3, 2, 1]);
});

test('Reshape 4x3 to 2x-1x3 batch 2 gradients', () => {
  checkLayerGradients({ layer: new Reshape({ targetShape: [2, -1, 3] }), inputShape: [4, 3], batch: 2, seed: 80 });
});

const SHAPE_CASES: { targetShape: (number | null)[]; input: number[]; output: number[] }[] = [
  { targetShape: [7, 7, 64], input: [3136], output: [7, 7, 64] },
  { targetShape: [-1], input: [4, 4, 2], output: [32] },
  { targetShape: [4, -1], input: [2, 3, 4], output: [4, 6] },
  { targetShape: [-1, 2, 1], input: [6], output: [3, 2, 1] },
  { targetShape: [null, 3], input: [3, 3], output: [3, 3] },
];

for (const { targetShape, input, output } of SHAPE_CASES) {
  test(`Reshape [${input}] to ${JSON.stringify(targetShape)} is [${output}]`, () => {
    const layer = new Reshape({ targetShape });
    buildLayers([layer], input);
    assert.deepEqual(layer.outputShape, output);
    assert.equal(layer.countParams(), 0);
  });
}

test('Reshape config writes an unknown size as -1', () => {
  assert.deepEqual(new Reshape({ targetShape: [null, 4] }).getConfig(), { name: 'reshape', targetShape: [-1, 4] });
});

test('Reshape lets Dense follow a rank-1 target', () => {
  const dense = new Dense({ units: 3 });
  const entries = buildLayers([new Reshape({ targetShape: [-1] }), dense], [2, 2, 2]);
  assert.deepEqual(dense.inputShape, [8]);
  assert.equal(entries[0].size, 24);
});

test('Reshape size mismatch names both shapes', () => {
  assert.throws(() => buildLayers([new Reshape({ targetShape: [5, 6] })], [4, 4, 2]), {
    name: 'ShapeError',
    message: "Layer 'reshape' (Reshape) cannot reshape 32 values per sample to target shape [None, 5, 6] (30 values); got input shape [None, 4, 4, 2].",
  });
});

test('Reshape unknown size that does not divide rejected', () => {
  assert.throws(() => buildLayers([new Reshape({ targetShape: [-1, 5] })], [3, 4]), {
    name: 'ShapeError',
    message:
      "Layer 'reshape' (Reshape) cannot reshape 12 values per sample to target shape [None, -1, 5], because 12 is not a multiple of 5; got input shape [None, 3, 4].",
  });
});

const RULE = "Reshape 'reshape': targetShape must be a non-empty array of positive integers, with at most one -1 for a size to infer";

const OPTION_ERRORS: { title: string; targetShape: unknown; shown: string }[] = [
  { title: 'two unknown sizes', targetShape: [-1, 2, -1], shown: '[-1,2,-1]' },
  { title: 'size 0', targetShape: [0, 4], shown: '[0,4]' },
  { title: 'size -2', targetShape: [-2, 4], shown: '[-2,4]' },
  { title: 'size 2.5', targetShape: [2.5, 2], shown: '[2.5,2]' },
  { title: 'empty array', targetShape: [], shown: '[]' },
  { title: 'a number', targetShape: 6, shown: '6' },
  { title: 'missing', targetShape: undefined, shown: 'undefined' },
];

for (const { title, targetShape, shown } of OPTION_ERRORS) {
  test(`Reshape targetShape ${title} rejected`, () => {
    assert.throws(() => new Reshape({ targetShape } as ReshapeArgs), { name: 'RangeError', message: `${RULE}, got ${shown}.` });
  });
}
