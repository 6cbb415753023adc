import assert from 'node:assert/strict';
import { test } from 'node:test';

import { AveragePooling2D, type AveragePooling2DArgs } from '../../src/layers/average-pooling2d.js';
import type { Padding } from '../../src/layers/layer.js';
import { buildLayers } from '../../src/model/build.js';
import { checkLayerGradients, forwardFloat64 } from '../helpers/gradient-check.js';

/** 1, 2, ..., h*w as one single-channel image, row by row. */
function rampImage(h: number, w: number): number[] {
  return Array.from({ length: h * w }, (_, i) => i + 1);
}

/** Mean of the ramp image's values at the given rows and columns. */
function rampMean(w: number, rows: number[], columns: number[]): number {
  let sum = 0;
  for (const r of rows) for (const c of columns) sum += r * w + c + 1;
  return sum / (rows.length * columns.length);
}

test('AveragePooling2D 4x4 pool 2 forward by hand', () => {
  const y = forwardFloat64(new AveragePooling2D({ poolSize: 2 }), [4, 4, 1], rampImage(4, 4), 1, []);
  assert.deepEqual(Array.from(y), [3.5, 5.5, 11.5, 13.5]);
});

test('AveragePooling2D 5x5 pool 2 same averages in-range values', () => {
  // out = ceil(5 / 2) = 3; the padding row and column go below and right, so the last
  // windows hold 2 values (or 1 at the corner) and divide by that count.
  const y = forwardFloat64(new AveragePooling2D({ poolSize: 2, padding: 'same' }), [5, 5, 1], rampImage(5, 5), 1, []);
  const expected: number[] = [];
  for (const rows of [[0, 1], [2, 3], [4]]) {
    for (const columns of [[0, 1], [2, 3], [4]]) expected.push(rampMean(5, rows, columns));
  }
  assert.deepEqual(Array.from(y), expected);
  assert.equal(y[2], 7.5);
  assert.equal(y[8], 25);
});

test('AveragePooling2D 5x5 pool 3 stride 2 same pads top and left', () => {
  // Total padding (3 - 1) * 2 + 3 - 5 = 2 per axis: one row above, one column left.
  const y = forwardFloat64(new AveragePooling2D({ poolSize: 3, strides: 2, padding: 'same' }), [5, 5, 1], rampImage(5, 5), 1, []);
  const spans = [[0, 1], [1, 2, 3], [3, 4]];
  const expected = spans.flatMap((rows) => spans.map((columns) => rampMean(5, rows, columns)));
  assert.deepEqual(Array.from(y), expected);
});

test('AveragePooling2D pools 2 channels separately', () => {
  const x = [1, -10, 2, -20, 3, -30, 4, -40];
  const y = forwardFloat64(new AveragePooling2D({ poolSize: 2 }), [2, 2, 2], x, 1, []);
  assert.deepEqual(Array.from(y), [2.5, -25]);
});

interface PoolCase {
  inputShape: [number, number, number];
  poolSize: number | [number, number];
  strides: number;
  padding: Padding;
}

const GRADIENT_CASES: PoolCase[] = [
  { inputShape: [4, 4, 1], poolSize: 2, strides: 2, padding: 'valid' },
  { inputShape: [5, 5, 2], poolSize: 2, strides: 2, padding: 'same' },
  { inputShape: [5, 4, 3], poolSize: 3, strides: 1, padding: 'valid' },
  { inputShape: [5, 6, 2], poolSize: 3, strides: 2, padding: 'same' },
  { inputShape: [6, 5, 1], poolSize: [2, 3], strides: 3, padding: 'same' },
];

for (const [index, c] of GRADIENT_CASES.entries()) {
  const pool = Array.isArray(c.poolSize) ? c.poolSize.join('x') : c.poolSize;
  test(`AveragePooling2D ${c.inputShape.join('x')} pool ${pool} stride ${c.strides} ${c.padding} gradients`, () => {
    checkLayerGradients({
      layer: new AveragePooling2D({ poolSize: c.poolSize, strides: c.strides, padding: c.padding }),
      inputShape: c.inputShape,
      batch: 2,
      seed: 60 + index,
    });
  });
}

const SHAPE_CASES: { args: AveragePooling2DArgs; input: number[]; output: number[] }[] = [
  { args: {}, input: [24, 24, 64], output: [12, 12, 64] },
  { args: { poolSize: 2, padding: 'same' }, input: [5, 5, 3], output: [3, 3, 3] },
  { args: { poolSize: 3, strides: 1 }, input: [5, 6, 1], output: [3, 4, 1] },
  { args: { poolSize: [2, 3], strides: [2, 1] }, input: [6, 6, 2], output: [3, 4, 2] },
];

for (const { args, input, output } of SHAPE_CASES) {
  test(`AveragePooling2D shape [${input}] ${JSON.stringify(args)} is [${output}]`, () => {
    const layer = new AveragePooling2D(args);
    buildLayers([layer], input);
    assert.deepEqual(layer.outputShape, output);
    assert.equal(layer.countParams(), 0);
  });
}

test('AveragePooling2D config uses Keras keys and defaults', () => {
  const layer = new AveragePooling2D({ poolSize: 3 });
  assert.deepEqual(layer.getConfig(), { name: 'average_pooling2d', poolSize: [3, 3], strides: [3, 3], padding: 'valid', dataFormat: 'channels_last' });
});

const WHERE = "AveragePooling2D 'average_pooling2d'";

const OPTION_ERRORS: { title: string; args: Record<string, unknown>; message: string }[] = [
  { title: 'poolSize 0', args: { poolSize: 0 }, message: `${WHERE}: poolSize must be a positive integer, got 0.` },
  { title: 'poolSize [2, 2, 2]', args: { poolSize: [2, 2, 2] }, message: `${WHERE}: poolSize must be a positive integer or a pair of them, got [2,2,2].` },
  { title: 'strides 1.5', args: { strides: 1.5 }, message: `${WHERE}: strides must be a positive integer, got 1.5.` },
  { title: "padding 'causal'", args: { padding: 'causal' }, message: `${WHERE}: padding must be 'valid' or 'same', got "causal".` },
  {
    title: "dataFormat 'channels_first'",
    args: { dataFormat: 'channels_first' },
    message: `${WHERE}: dataFormat must be 'channels_last' (channels-first data is not supported), got "channels_first".`,
  },
];

for (const { title, args, message } of OPTION_ERRORS) {
  test(`AveragePooling2D ${title} rejected`, () => {
    assert.throws(() => new AveragePooling2D(args as AveragePooling2DArgs), { name: 'RangeError', message });
  });
}

test('AveragePooling2D rank-2 input rejected', () => {
  assert.throws(() => buildLayers([new AveragePooling2D()], [4, 4]), {
    name: 'ShapeError',
    message: "Layer 'average_pooling2d' (AveragePooling2D) expects a rank-3 input per sample [None, height, width, channels]; got input shape [None, 4, 4].",
  });
});

test('AveragePooling2D pool 3 valid on 2x4 input rejected', () => {
  assert.throws(() => buildLayers([new AveragePooling2D({ poolSize: 3 })], [2, 4, 1]), {
    name: 'ShapeError',
    message: "Layer 'average_pooling2d' (AveragePooling2D) with padding 'valid' needs an input at least as large as its 3x3 pool; got input shape [None, 2, 4, 1].",
  });
});
