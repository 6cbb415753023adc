import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import {
  avgPoolBackward,
  avgPoolBackwardNaive,
  avgPoolForward,
  avgPoolForwardNaive,
  avgPoolGeometry,
  globalAvgPoolGeometry,
  type PoolGeometry,
} from '../../src/kernels/avgpool.js';
import type { Padding } from '../../src/kernels/conv2d.js';

function inputLength(n: number, g: PoolGeometry): number {
  return n * g.inH * g.inW * g.channels;
}

function outputLength(n: number, g: PoolGeometry): number {
  return n * g.outH * g.outW * g.channels;
}

/** Largest |a - b| / max(1, |b|) over two arrays of the same length. */
function maxScaledDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'arrays differ in length');
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

test('avgPoolGeometry 5x7 pool 3 stride 2 same', () => {
  // Rows: out 3, total padding (3 - 1) * 2 + 3 - 5 = 2, one above. Columns: out 4, padding 2, one left.
  const g = avgPoolGeometry(5, 7, 2, 3, 3, 2, 2, 'same');
  assert.deepEqual([g.outH, g.outW, g.padTop, g.padLeft], [3, 4, 1, 1]);
});

test('avgPoolGeometry window larger than valid input', () => {
  assert.throws(() => avgPoolGeometry(2, 3, 1, 3, 3, 1, 1, 'valid'), {
    name: 'RangeError',
    message: "avgPool2d: pool window must fit the input with 'valid' padding, got window 3x3 and input 2x3",
  });
});

test('avgPoolGeometry invalid stride', () => {
  assert.throws(() => avgPoolGeometry(4, 4, 1, 2, 2, 0, 2, 'valid'), {
    name: 'RangeError',
    message: 'avgPool2d: invalid geometry: strideH must be a positive integer, got 0',
  });
});

test('globalAvgPoolGeometry is one whole-input window', () => {
  const g = globalAvgPoolGeometry(3, 5, 4);
  assert.deepEqual([g.outH, g.outW, g.poolH, g.poolW, g.padTop, g.padLeft], [1, 1, 3, 5, 0, 0]);
});

test('avgPoolForward 4x4 pool 2 by hand', () => {
  //    1  3 |  2  0
  //    4 -1 |  7  5
  //   ------+------
  //    0  0 | -2 -3
  //    9  8 | -4 -1
  const g = avgPoolGeometry(4, 4, 1, 2, 2, 2, 2, 'valid');
  const x = new Float64Array([1, 3, 2, 0, 4, -1, 7, 5, 0, 0, -2, -3, 9, 8, -4, -1]);
  const y = new Float64Array(4);
  avgPoolForward(y, x, 1, g);
  assert.deepEqual(Array.from(y), [(1 + 3 + 4 - 1) / 4, (2 + 0 + 7 + 5) / 4, (0 + 0 + 9 + 8) / 4, (-2 - 3 - 4 - 1) / 4]);
});

test('avgPoolForward same padding excludes padding from count', () => {
  // 3x3 input 1..9, pool 2, stride 2, 'same': out 2x2 and one padding row and column go
  // below and right. The border windows hold 2, 2 and 1 inputs.
  const g = avgPoolGeometry(3, 3, 1, 2, 2, 2, 2, 'same');
  const x = new Float64Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const y = new Float64Array(4);
  avgPoolForward(y, x, 1, g);
  assert.deepEqual(Array.from(y), [(1 + 2 + 4 + 5) / 4, (3 + 6) / 2, (7 + 8) / 2, 9]);
});

test('avgPoolBackward spreads dY over in-range inputs', () => {
  const g = avgPoolGeometry(3, 3, 1, 2, 2, 2, 2, 'same');
  const dX = new Float64Array(9).fill(Number.NaN);
  avgPoolBackward(dX, new Float64Array([4, 10, 20, 7]), 1, g);
  assert.deepEqual(Array.from(dX), [1, 1, 5, 1, 1, 5, 10, 10, 7]);
});

const POOL_CASES: { n: number; h: number; w: number; c: number; poolH: number; poolW: number; stride: number; padding: Padding }[] = [
  { n: 2, h: 7, w: 5, c: 3, poolH: 3, poolW: 3, stride: 2, padding: 'same' },
  { n: 2, h: 7, w: 5, c: 3, poolH: 3, poolW: 3, stride: 2, padding: 'valid' },
  { n: 1, h: 9, w: 9, c: 1, poolH: 2, poolW: 2, stride: 2, padding: 'same' },
  { n: 3, h: 6, w: 4, c: 4, poolH: 2, poolW: 2, stride: 1, padding: 'valid' },
  { n: 1, h: 5, w: 8, c: 2, poolH: 1, poolW: 1, stride: 3, padding: 'same' },
  { n: 2, h: 6, w: 7, c: 5, poolH: 3, poolW: 2, stride: 1, padding: 'same' },
  { n: 2, h: 8, w: 6, c: 3, poolH: 4, poolW: 3, stride: 3, padding: 'same' },
  { n: 2, h: 5, w: 6, c: 7, poolH: 5, poolW: 6, stride: 1, padding: 'valid' },
];

for (const [index, c] of POOL_CASES.entries()) {
  const label = `n${c.n} ${c.h}x${c.w}x${c.c} pool ${c.poolH}x${c.poolW} s${c.stride} ${c.padding}`;

  test(`avgPoolForward ${label} matches naive`, () => {
    const rng = new Rng(300 + index);
    const g = avgPoolGeometry(c.h, c.w, c.c, c.poolH, c.poolW, c.stride, c.stride, c.padding);
    const x = new Float32Array(inputLength(c.n, g));
    for (let i = 0; i < x.length; i++) x[i] = rng.uniform(-2, 2);
    const y = new Float32Array(outputLength(c.n, g)).fill(Number.NaN);
    const yNaive = new Float32Array(y.length).fill(Number.NaN);
    avgPoolForward(y, x, c.n, g);
    avgPoolForwardNaive(yNaive, x, c.n, g);
    // The fast loop sums in float32 and multiplies by 1 / count. The naive one sums in float64
    // and divides, so the two agree to float32 rounding, not bit for bit.
    assert.ok(maxScaledDifference(y, yNaive) < 1e-5, `forward differs by ${maxScaledDifference(y, yNaive)}`);
  });

  test(`avgPoolBackward ${label} matches naive`, () => {
    const rng = new Rng(400 + index);
    const g = avgPoolGeometry(c.h, c.w, c.c, c.poolH, c.poolW, c.stride, c.stride, c.padding);
    const dY = new Float32Array(outputLength(c.n, g));
    for (let i = 0; i < dY.length; i++) dY[i] = rng.uniform(-2, 2);
    const dX = new Float32Array(inputLength(c.n, g)).fill(Number.NaN);
    const dXNaive = new Float32Array(dX.length).fill(Number.NaN);
    avgPoolBackward(dX, dY, c.n, g);
    avgPoolBackwardNaive(dXNaive, dY, c.n, g);
    assert.ok(maxScaledDifference(dX, dXNaive) < 1e-5, `backward differs by ${maxScaledDifference(dX, dXNaive)}`);
  });
}

test('avgPool fast and naive agree in float64 on a rectangular same pool', () => {
  const rng = new Rng(77);
  const n = 2;
  const g = avgPoolGeometry(7, 6, 3, 3, 2, 2, 3, 'same');
  const x = Float64Array.from({ length: inputLength(n, g) }, () => rng.uniform(-1, 1));
  const y = new Float64Array(outputLength(n, g));
  const yNaive = new Float64Array(y.length);
  avgPoolForward(y, x, n, g);
  avgPoolForwardNaive(yNaive, x, n, g);
  assert.ok(maxScaledDifference(y, yNaive) < 1e-14, `forward differs by ${maxScaledDifference(y, yNaive)}`);
  const dX = new Float64Array(x.length);
  const dXNaive = new Float64Array(x.length);
  avgPoolBackward(dX, yNaive, n, g);
  avgPoolBackwardNaive(dXNaive, yNaive, n, g);
  assert.ok(maxScaledDifference(dX, dXNaive) < 1e-14, `backward differs by ${maxScaledDifference(dX, dXNaive)}`);
});
