import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import type { Padding } from '../../src/layers/layer.js';
import { MaxPooling2D, type MaxPooling2DArgs } from '../../src/layers/max-pooling2d.js';
import { buildLayers } from '../../src/model/build.js';
import { INFERENCE_STEP, checkLayerGradients, createFloat64Layer, forwardFloat64 } from '../helpers/gradient-check.js';

/** 1, 2, ..., h*w as one single-channel image, row by row. */
function rampImage(h: number, w: number): number[] {
  return Array.from({ length: h * w }, (_, i) => i + 1);
}

/**
 * Returns `length` distinct values in a seeded random order, 0.1 apart and centred on 0, so
 * every pooling window has a unique maximum that a step of eps cannot change.
 */
function distinctShuffled(length: number, seed: number): Float64Array {
  const order = Array.from({ length }, (_, i) => i);
  new Rng(seed).shuffle(order);
  return Float64Array.from(order, (v) => (v - length / 2) * 0.1);
}

test('MaxPooling2D 4x4 pool 2 forward by hand', () => {
  const y = forwardFloat64(new MaxPooling2D({ poolSize: 2 }), [4, 4, 1], rampImage(4, 4), 1, []);
  assert.deepEqual(Array.from(y), [6, 8, 14, 16]);
});

test('MaxPooling2D 5x5 pool 2 same forward by hand', () => {
  // out = ceil(5 / 2) = 3; the one padding row and column go below and right, so the last
  // windows hold only row 4 or column 4.
  const y = forwardFloat64(new MaxPooling2D({ poolSize: 2, padding: 'same' }), [5, 5, 1], rampImage(5, 5), 1, []);
  assert.deepEqual(Array.from(y), [7, 9, 10, 17, 19, 20, 22, 24, 25]);
});

test('MaxPooling2D same padding never wins over negatives', () => {
  // Windows {0,1}x{0,1}, {0,1}x{2}, {2}x{0,1}, {2}x{2} of -1 .. -9: padding must not act as 0.
  const x = rampImage(3, 3).map((v) => -v);
  const y = forwardFloat64(new MaxPooling2D({ poolSize: 2, padding: 'same' }), [3, 3, 1], x, 1, []);
  assert.deepEqual(Array.from(y), [-1, -3, -7, -9]);
});

test('MaxPooling2D 4x4 pool 3 stride 1 forward by hand', () => {
  const y = forwardFloat64(new MaxPooling2D({ poolSize: 3, strides: 1 }), [4, 4, 1], rampImage(4, 4), 1, []);
  assert.deepEqual(Array.from(y), [11, 12, 15, 16]);
});

test('MaxPooling2D 5x5 pool 2 stride 3 forward by hand', () => {
  // Windows start at rows/columns 0 and 3: {0,1} and {3,4}.
  const y = forwardFloat64(new MaxPooling2D({ poolSize: 2, strides: 3 }), [5, 5, 1], rampImage(5, 5), 1, []);
  assert.deepEqual(Array.from(y), [7, 10, 22, 25]);
});

test('MaxPooling2D pools 2 channels separately', () => {
  // Channel 0 is the ramp 1..4, channel 1 the ramp negated, interleaved channels-last.
  const x = [1, -1, 2, -2, 3, -3, 4, -4];
  const y = forwardFloat64(new MaxPooling2D({ poolSize: 2 }), [2, 2, 2], x, 1, []);
  assert.deepEqual(Array.from(y), [4, -1]);
});

test('MaxPooling2D backward routes dY to each winner', () => {
  const layer = new MaxPooling2D({ poolSize: 2 });
  const built = createFloat64Layer(layer, [4, 4, 1], new Float64Array(0), 1);
  // Winners of the windows: 9 at (0,1), 8 at (1,3), 7 at (2,0), 6 at (3,3).
  const x = Float64Array.from([0, 9, 1, 2, 3, 4, 5, 8, 7, 1, 2, 3, 4, 5, 0, 6]);
  built.runtime.forward(x, 1, INFERENCE_STEP);
  assert.deepEqual(Array.from(built.runtime.y.slice(0, 4)), [9, 8, 7, 6]);
  built.runtime.backward(x, Float64Array.from([10, 20, 30, 40]), 1, true, new Float64Array(0), 0, false);
  assert.deepEqual(Array.from(built.runtime.dX.slice(0, 16)), [0, 10, 0, 0, 0, 0, 0, 20, 30, 0, 0, 0, 0, 0, 0, 40]);
});

test('MaxPooling2D tie sends gradient to first in scan order', () => {
  const layer = new MaxPooling2D({ poolSize: 2 });
  const built = createFloat64Layer(layer, [2, 2, 1], new Float64Array(0), 1);
  const x = Float64Array.from([1, 5, 5, 5]);
  built.runtime.forward(x, 1, INFERENCE_STEP);
  built.runtime.backward(x, Float64Array.from([1]), 1, true, new Float64Array(0), 0, false);
  assert.deepEqual(Array.from(built.runtime.dX.slice(0, 4)), [0, 1, 0, 0]);
});

interface PoolCase {
  inputShape: [number, number, number];
  poolSize: number;
  strides: number;
  padding: Padding;
}

const GRADIENT_CASES: PoolCase[] = [
  { inputShape: [4, 4, 1], poolSize: 2, strides: 2, padding: 'valid' },
  { inputShape: [5, 5, 2], poolSize: 2, strides: 2, padding: 'valid' },
  { inputShape: [5, 5, 2], poolSize: 2, strides: 2, padding: 'same' },
  { inputShape: [5, 4, 3], poolSize: 3, strides: 1, padding: 'valid' },
  { inputShape: [5, 6, 2], poolSize: 3, strides: 2, padding: 'same' },
  { inputShape: [6, 6, 1], poolSize: 2, strides: 3, padding: 'valid' },
];

for (const [index, c] of GRADIENT_CASES.entries()) {
  const title = `${c.inputShape.join('x')} pool ${c.poolSize} stride ${c.strides} ${c.padding}`;
  test(`MaxPooling2D ${title} batch 2 gradients`, () => {
    const size = 2 * c.inputShape[0] * c.inputShape[1] * c.inputShape[2];
    checkLayerGradients({
      layer: new MaxPooling2D({ poolSize: c.poolSize, strides: c.strides, padding: c.padding }),
      inputShape: c.inputShape,
      batch: 2,
      seed: 40 + index,
      x: distinctShuffled(size, 40 + index),
    });
  });
}

const SHAPE_CASES: { args: MaxPooling2DArgs; input: number[]; output: number[] }[] = [
  { args: {}, input: [24, 24, 64], output: [12, 12, 64] },
  { args: { poolSize: 2 }, input: [5, 5, 3], output: [2, 2, 3] },
  { args: { poolSize: 2, padding: 'same' }, input: [5, 5, 3], output: [3, 3, 3] },
  { args: { poolSize: 3, strides: 1 }, input: [5, 6, 1], output: [3, 4, 1] },
  { args: { poolSize: [2, 3], strides: [2, 1] }, input: [6, 6, 2], output: [3, 4, 2] },
  { args: { poolSize: 3, strides: 2, padding: 'same' }, input: [7, 8, 1], output: [4, 4, 1] },
];

for (const { args, input, output } of SHAPE_CASES) {
  const pool = Array.isArray(args.poolSize) ? args.poolSize.join('x') : (args.poolSize ?? 'default');
  const strides = Array.isArray(args.strides) ? args.strides.join('x') : (args.strides ?? 'default');
  test(`MaxPooling2D shape [${input}] pool ${pool} stride ${strides} ${args.padding ?? 'valid'} is [${output}]`, () => {
    const layer = new MaxPooling2D(args);
    buildLayers([layer], input);
    assert.deepEqual(layer.outputShape, output);
    assert.equal(layer.countParams(), 0);
  });
}

const WHERE = "MaxPooling2D 'max_pooling2d'";

const OPTION_ERRORS: { title: string; args: Record<string, unknown>; message: string }[] = [
  { title: 'poolSize 0', args: { poolSize: 0 }, message: `${WHERE}: poolSize must be a positive integer, got 0.` },
  { title: 'poolSize 1.5', args: { poolSize: 1.5 }, message: `${WHERE}: poolSize must be a positive integer, got 1.5.` },
  { title: 'strides -1', args: { strides: -1 }, message: `${WHERE}: strides must be a positive integer, got -1.` },
  { title: "padding 'full'", args: { padding: 'full' }, message: `${WHERE}: padding must be 'valid' or 'same', got "full".` },
];

for (const { title, args, message } of OPTION_ERRORS) {
  test(`MaxPooling2D ${title} rejected`, () => {
    assert.throws(() => new MaxPooling2D(args as MaxPooling2DArgs), { name: 'RangeError', message });
  });
}

test('MaxPooling2D rank-1 input rejected', () => {
  assert.throws(() => buildLayers([new MaxPooling2D()], [10]), {
    name: 'ShapeError',
    message: "Layer 'max_pooling2d' (MaxPooling2D) expects a rank-3 input per sample [None, height, width, channels]; got input shape [None, 10].",
  });
});

test('MaxPooling2D pool 3 valid on 2x4 input rejected', () => {
  assert.throws(() => buildLayers([new MaxPooling2D({ poolSize: 3 })], [2, 4, 1]), {
    name: 'ShapeError',
    message: "Layer 'max_pooling2d' (MaxPooling2D) with padding 'valid' needs an input at least as large as its 3x3 pool; got input shape [None, 2, 4, 1].",
  });
});
