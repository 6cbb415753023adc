import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { Padding } from '../../src/kernels/conv2d.js';
import {
  maxPoolBackward,
  maxPoolForward,
  maxPoolForwardNaive,
  poolGeometry,
  type PoolGeometry,
} from '../../src/kernels/maxpool.js';

/** mulberry32: a 32-bit seeded PRNG returning floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function inputLength(n: number, g: PoolGeometry): number {
  return n * g.inH * g.inW * g.channels;
}

function outputLength(n: number, g: PoolGeometry): number {
  return n * g.outH * g.outW * g.channels;
}

test('poolGeometry 4x4 pool 2 valid', () => {
  const g = poolGeometry(4, 4, 1, 2, 2, 2, 2, 'valid');
  assert.deepEqual([g.outH, g.outW, g.padTop, g.padLeft], [2, 2, 0, 0]);
});

test('poolGeometry 5x5 pool 2 same', () => {
  // Total padding (3 - 1) * 2 + 2 - 5 = 1, which goes below and right.
  const g = poolGeometry(5, 5, 1, 2, 2, 2, 2, 'same');
  assert.deepEqual([g.outH, g.outW, g.padTop, g.padLeft], [3, 3, 0, 0]);
});

test('poolGeometry 5x7 pool 3 same stride 2', () => {
  // Rows pad (3 - 1) * 2 + 3 - 5 = 2 in total. Columns give out 4 and pad (4 - 1) * 2 + 3 - 7 = 2.
  const g = poolGeometry(5, 7, 2, 3, 3, 2, 2, 'same');
  assert.deepEqual([g.outH, g.outW, g.padTop, g.padLeft], [3, 4, 1, 1]);
});

test('poolGeometry window larger than valid input', () => {
  assert.throws(
    () => poolGeometry(2, 3, 1, 3, 3, 1, 1, 'valid'),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        "maxPool2d: pool window must fit the input with 'valid' padding, got window 3x3 and input 2x3",
  );
});

test('poolGeometry invalid stride', () => {
  assert.throws(
    () => poolGeometry(4, 4, 1, 2, 2, 0, 2, 'valid'),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message === 'maxPool2d: invalid geometry: strideH must be a positive integer, got 0',
  );
});

test('maxPoolForward 4x4 pool 2 by hand', () => {
  // One channel:
  //    1  3 |  2  0
  //    4 -1 |  7  5
  //   ------+------
  //    0  0 | -2 -3
  //    9  8 | -4 -1
  const g = poolGeometry(4, 4, 1, 2, 2, 2, 2, 'valid');
  const x = new Float32Array([1, 3, 2, 0, 4, -1, 7, 5, 0, 0, -2, -3, 9, 8, -4, -1]);
  const y = new Float32Array(4);
  const argmax = new Int32Array(4);
  maxPoolForward(y, argmax, x, 1, g);
  assert.deepEqual(Array.from(y), [4, 7, 9, -1]);
  assert.deepEqual(Array.from(argmax), [4, 6, 12, 15]);
});

test('maxPoolForward two channels by hand', () => {
  // 2x2 input with channels interleaved: channel 0 is [1, 5, 2, 3], channel 1 is [8, 6, 7, 9].
  const g = poolGeometry(2, 2, 2, 2, 2, 2, 2, 'valid');
  const x = new Float64Array([1, 8, 5, 6, 2, 7, 3, 9]);
  const y = new Float64Array(2);
  const argmax = new Int32Array(2);
  maxPoolForward(y, argmax, x, 1, g);
  assert.deepEqual(Array.from(y), [5, 9]);
  assert.deepEqual(Array.from(argmax), [2, 7]);
});

test('maxPool tie sends gradient to first input', () => {
  // Every window of pool 2 stride 1 over a constant 3x3 input is a four-way tie, so each
  // output picks its top-left element and the gradient reaches exactly one input per window.
  const g = poolGeometry(3, 3, 1, 2, 2, 1, 1, 'valid');
  const x = new Float32Array(9).fill(2);
  const y = new Float32Array(4);
  const argmax = new Int32Array(4);
  maxPoolForward(y, argmax, x, 1, g);
  assert.deepEqual(Array.from(argmax), [0, 1, 3, 4]);

  const argmaxNaive = new Int32Array(4);
  maxPoolForwardNaive(new Float32Array(4), argmaxNaive, x, 1, g);
  assert.deepEqual(Array.from(argmaxNaive), [0, 1, 3, 4]);

  const dX = new Float32Array(9).fill(Number.NaN);
  maxPoolBackward(dX, new Float32Array([1, 10, 100, 1000]), argmax, 1, g);
  assert.deepEqual(Array.from(dX), [1, 10, 0, 100, 1000, 0, 0, 0, 0]);
});

test('maxPool same padding never wins', () => {
  // All inputs are negative, so a padding value of 0 would win if padding were scanned.
  // 5x5, pool 3, stride 2, 'same': padTop = padLeft = 1, output 3x3.
  const g = poolGeometry(5, 5, 1, 3, 3, 2, 2, 'same');
  const x = new Float32Array(25);
  for (let i = 0; i < 25; i++) x[i] = -1 - i;
  const y = new Float32Array(9);
  const argmax = new Int32Array(9);
  maxPoolForward(y, argmax, x, 1, g);
  // Output (p, q) covers input rows 2p - 1 .. 2p + 1 and columns 2q - 1 .. 2q + 1, and its
  // largest value is the in-range element nearest the top-left corner.
  assert.deepEqual(Array.from(y), [-1, -2, -4, -6, -7, -9, -16, -17, -19]);
  assert.deepEqual(Array.from(argmax), [0, 1, 3, 5, 6, 8, 15, 16, 18]);
});

const poolCases: Array<{ n: number; h: number; w: number; c: number; pool: number; stride: number; padding: Padding }> = [
  { n: 2, h: 7, w: 5, c: 3, pool: 3, stride: 2, padding: 'same' },
  { n: 2, h: 7, w: 5, c: 3, pool: 3, stride: 2, padding: 'valid' },
  { n: 1, h: 9, w: 9, c: 1, pool: 2, stride: 2, padding: 'same' },
  { n: 3, h: 6, w: 4, c: 4, pool: 2, stride: 1, padding: 'valid' },
  { n: 1, h: 5, w: 8, c: 2, pool: 1, stride: 3, padding: 'same' },
  // 2x2 windows with stride 2 and no padding take the specialized loop.
  { n: 2, h: 7, w: 9, c: 3, pool: 2, stride: 2, padding: 'valid' },
  { n: 3, h: 6, w: 4, c: 5, pool: 2, stride: 2, padding: 'valid' },
  { n: 2, h: 6, w: 8, c: 1, pool: 2, stride: 2, padding: 'same' },
  { n: 1, h: 7, w: 6, c: 2, pool: 2, stride: 2, padding: 'same' },
];

for (const c of poolCases) {
  const label = `n${c.n} ${c.h}x${c.w}x${c.c} pool ${c.pool} s${c.stride} ${c.padding}`;
  test(`maxPoolForward ${label} matches naive`, () => {
    const random = mulberry32(c.h * 100 + c.w * 10 + c.pool);
    const g = poolGeometry(c.h, c.w, c.c, c.pool, c.pool, c.stride, c.stride, c.padding);
    // Values come from a small set so that ties occur and the first-wins rule is compared.
    const x = new Float32Array(inputLength(c.n, g));
    for (let i = 0; i < x.length; i++) x[i] = Math.floor(random() * 7) - 3;

    const y = new Float32Array(outputLength(c.n, g)).fill(Number.NaN);
    const argmax = new Int32Array(y.length).fill(-1);
    const yNaive = new Float32Array(y.length);
    const argmaxNaive = new Int32Array(y.length);
    maxPoolForward(y, argmax, x, c.n, g);
    maxPoolForwardNaive(yNaive, argmaxNaive, x, c.n, g);
    assert.deepEqual(Array.from(y), Array.from(yNaive));
    assert.deepEqual(Array.from(argmax), Array.from(argmaxNaive));
  });
}

test('maxPoolBackward matches central differences', () => {
  // For L = sum(y * dY), dL/dx[i] is the sum of dY over the outputs that x[i] wins. Inputs
  // are distinct multiples of 0.01, so a step of 1e-6 changes no winner.
  const random = mulberry32(29);
  const n = 2;
  const g = poolGeometry(5, 6, 2, 3, 2, 2, 1, 'same');
  const x = new Float64Array(inputLength(n, g));
  for (let i = 0; i < x.length; i++) x[i] = i * 0.01;
  for (let i = x.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [x[i], x[j]] = [x[j], x[i]];
  }
  const dY = new Float64Array(outputLength(n, g));
  for (let i = 0; i < dY.length; i++) dY[i] = random() * 2 - 1;

  const y = new Float64Array(dY.length);
  const argmax = new Int32Array(dY.length);
  const loss = (): number => {
    maxPoolForward(y, argmax, x, n, g);
    let sum = 0;
    for (let i = 0; i < y.length; i++) sum += y[i] * dY[i];
    return sum;
  };

  loss();
  const dX = new Float64Array(x.length);
  maxPoolBackward(dX, dY, argmax, n, g);

  const step = 1e-6;
  let nonZero = 0;
  for (let i = 0; i < x.length; i++) {
    const saved = x[i];
    x[i] = saved + step;
    const up = loss();
    x[i] = saved - step;
    const down = loss();
    x[i] = saved;
    const numeric = (up - down) / (2 * step);
    assert.ok(Math.abs(numeric - dX[i]) <= 1e-8, `dX[${i}] is ${dX[i]}, numeric ${numeric}`);
    if (dX[i] !== 0) nonZero++;
  }
  assert.ok(nonZero > 0, 'gradient is all zero');
});

test('maxPoolForward 2x2 stride 2 ties pick scan order', () => {
  // One 2x2 window per case; the first element in scan order (top-left, top-right,
  // bottom-left, bottom-right) among the maxima wins.
  const g = poolGeometry(2, 2, 1, 2, 2, 2, 2, 'valid');
  const cases: Array<[number[], number]> = [
    [[3, 3, 3, 3], 0],
    [[1, 3, 3, 3], 1],
    [[1, 2, 3, 3], 2],
    [[1, 2, 0, 3], 3],
    [[-1, -1, -2, -1], 0],
  ];
  for (const [values, winner] of cases) {
    const y = new Float32Array(1);
    const argmax = new Int32Array(1);
    maxPoolForward(y, argmax, new Float32Array(values), 1, g);
    assert.equal(argmax[0], winner, `argmax of [${values}]`);
    assert.equal(y[0], values[winner], `max of [${values}]`);
  }
});

test('maxPoolForward 2x2 stride 2 NaN matches naive', () => {
  // NaN wins only as the first element of its window, in both loops.
  const g = poolGeometry(4, 4, 2, 2, 2, 2, 2, 'valid');
  const x = new Float64Array(32);
  for (let i = 0; i < 32; i++) x[i] = (i * 7) % 5;
  for (const i of [0, 3, 11, 30]) x[i] = Number.NaN;
  const y = new Float64Array(8);
  const argmax = new Int32Array(8);
  const yNaive = new Float64Array(8);
  const argmaxNaive = new Int32Array(8);
  maxPoolForward(y, argmax, x, 1, g);
  maxPoolForwardNaive(yNaive, argmaxNaive, x, 1, g);
  assert.deepEqual(Array.from(argmax), Array.from(argmaxNaive));
  assert.deepEqual(Array.from(y), Array.from(yNaive));
  assert.ok(Number.isNaN(y[0]), 'NaN first in its window is selected');
});
