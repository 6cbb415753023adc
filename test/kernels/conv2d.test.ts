import assert from 'node:assert/strict';
import { test } from 'node:test';

import { gemmBlocked } from '../../src/gemm/blocked.js';
import { gemmNaive } from '../../src/gemm/naive.js';
import type { FloatArray, GemmFn } from '../../src/gemm/types.js';
import {
  col2im,
  conv2dBackwardFilter,
  conv2dBackwardInput,
  conv2dForward,
  convGeometry,
  im2col,
  type ConvGeometry,
  type Padding,
} from '../../src/kernels/conv2d.js';
import {
  col2imNaive,
  conv2dBackwardFilterNaive,
  conv2dBackwardInputNaive,
  conv2dForwardNaive,
  im2colNaive,
} from '../../src/kernels/conv2d-naive.js';

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

function fillRandom<T extends FloatArray>(values: T, random: () => number): T {
  for (let i = 0; i < values.length; i++) values[i] = random() * 2 - 1;
  return values;
}

/** Buffer sizes of one convolution over a batch of n. */
function sizes(n: number, g: ConvGeometry) {
  return {
    x: n * g.inH * g.inW * g.inC,
    w: g.kH * g.kW * g.inC * g.outC,
    y: n * g.outH * g.outW * g.outC,
    cols: n * g.outH * g.outW * g.kH * g.kW * g.inC,
  };
}

function assertClose(actual: FloatArray, expected: FloatArray, tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < actual.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    assert.ok(error <= tolerance, `${label}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

test('convGeometry 28x28 3x3 valid', () => {
  const g = convGeometry(28, 28, 1, 3, 3, 8, 1, 1, 'valid');
  assert.deepEqual([g.outH, g.outW, g.padTop, g.padLeft], [26, 26, 0, 0]);
});

test('convGeometry 5x5 3x3 same stride 2', () => {
  // Total padding (3 - 1) * 2 + 3 - 5 = 2, one row on each side.
  const g = convGeometry(5, 5, 3, 3, 3, 4, 2, 2, 'same');
  assert.deepEqual([g.outH, g.outW, g.padTop, g.padLeft], [3, 3, 1, 1]);
});

test('convGeometry 7x6 3x3 valid stride 2', () => {
  // ceil((7 - 3 + 1) / 2) = 3 rows, ceil((6 - 3 + 1) / 2) = 2 columns.
  const g = convGeometry(7, 6, 1, 3, 3, 1, 2, 2, 'valid');
  assert.deepEqual([g.outH, g.outW, g.padTop, g.padLeft], [3, 2, 0, 0]);
});

test('convGeometry same even kernel pads bottom', () => {
  // Total padding is 5 - 1 + 4 - 5 = 3 rows, 1 above and 2 below, and 2 columns, 1 on each side.
  const g = convGeometry(5, 6, 2, 4, 3, 1, 1, 1, 'same');
  assert.deepEqual([g.outH, g.outW, g.padTop, g.padLeft], [5, 6, 1, 1]);
});

test('convGeometry same with stride past kernel', () => {
  // in 6, kernel 1, stride 4: out = 2 and (2 - 1) * 4 + 1 - 6 < 0, so no padding.
  const g = convGeometry(6, 6, 1, 1, 1, 1, 4, 4, 'same');
  assert.deepEqual([g.outH, g.outW, g.padTop, g.padLeft], [2, 2, 0, 0]);
});

test('convGeometry kernel larger than valid input', () => {
  assert.throws(
    () => convGeometry(3, 3, 1, 5, 5, 1, 1, 1, 'valid'),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message === "conv2d: kernel must fit the input with 'valid' padding, got kernel 5x5 and input 3x3",
  );
});

test('convGeometry reports every invalid size', () => {
  assert.throws(
    () => convGeometry(0, 4, 1.5, 3, 3, 1, 1, 1, 'valid'),
    (error: unknown) =>
      error instanceof RangeError &&
      error.message ===
        'conv2d: invalid geometry: inH must be a positive integer, got 0; ' +
          'inC must be a positive integer, got 1.5',
  );
});

test('convGeometry unknown padding', () => {
  assert.throws(
    () => convGeometry(4, 4, 1, 3, 3, 1, 1, 1, 'full' as Padding),
    /padding must be 'valid' or 'same', got 'full'/,
  );
});

test('conv2d 3x3 input 2x2 kernel by hand', () => {
  // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]] and w = [[1, 2], [3, 4]]. y[p, q] sums
  // w[r, s] * x[p + r, q + s], e.g. y[0, 0] = 1 + 4 + 12 + 20 = 37.
  const g = convGeometry(3, 3, 1, 2, 2, 1, 1, 1, 'valid');
  const x = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const w = new Float32Array([1, 2, 3, 4]);
  const expected = [37, 47, 67, 77];

  const yNaive = new Float32Array(4);
  conv2dForwardNaive(yNaive, x, w, 1, g);
  assert.deepEqual(Array.from(yNaive), expected);

  const yFast = new Float32Array(4);
  conv2dForward(yFast, x, w, new Float32Array(sizes(1, g).cols), 1, g, gemmBlocked);
  assert.deepEqual(Array.from(yFast), expected);
});

test('conv2d same padding 3x3 ones by hand', () => {
  // A 3x3 kernel of ones sums each 3x3 neighbourhood, with zeros outside the input.
  const g = convGeometry(3, 3, 1, 3, 3, 1, 1, 1, 'same');
  const x = new Float32Array([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const w = new Float32Array(9).fill(1);
  const expected = [12, 21, 16, 27, 45, 33, 24, 39, 28];

  const yNaive = new Float32Array(9);
  conv2dForwardNaive(yNaive, x, w, 1, g);
  assert.deepEqual(Array.from(yNaive), expected);

  const yFast = new Float32Array(9);
  conv2dForward(yFast, x, w, new Float32Array(sizes(1, g).cols), 1, g, gemmBlocked);
  assert.deepEqual(Array.from(yFast), expected);
});

test('im2col and col2im are adjoint', () => {
  // <im2col(x), z> must equal <x, col2im(z)> for any x and z.
  const random = mulberry32(7);
  const n = 2;
  const g = convGeometry(5, 4, 3, 3, 2, 1, 2, 1, 'same');
  const size = sizes(n, g);
  const x = fillRandom(new Float64Array(size.x), random);
  const z = fillRandom(new Float64Array(size.cols), random);
  const cols = new Float64Array(size.cols);
  const xBack = new Float64Array(size.x).fill(Number.NaN);
  im2col(cols, x, n, g);
  col2im(xBack, z, n, g);

  let left = 0;
  let right = 0;
  for (let i = 0; i < cols.length; i++) left += cols[i] * z[i];
  for (let i = 0; i < x.length; i++) right += x[i] * xBack[i];
  assert.ok(Math.abs(left - right) <= 1e-12 * cols.length, `${left} vs ${right}`);
});

interface ConvCase {
  n: number;
  inH: number;
  inW: number;
  inC: number;
  kH: number;
  kW: number;
  outC: number;
  stride: number;
  padding: Padding;
}

const convCases: ConvCase[] = [
  { n: 2, inH: 7, inW: 5, inC: 1, kH: 3, kW: 3, outC: 5, stride: 1, padding: 'valid' },
  { n: 2, inH: 7, inW: 5, inC: 3, kH: 3, kW: 3, outC: 5, stride: 1, padding: 'same' },
  { n: 1, inH: 9, inW: 8, inC: 3, kH: 3, kW: 2, outC: 5, stride: 2, padding: 'valid' },
  { n: 3, inH: 9, inW: 7, inC: 1, kH: 4, kW: 3, outC: 5, stride: 2, padding: 'same' },
  { n: 2, inH: 6, inW: 6, inC: 3, kH: 5, kW: 5, outC: 5, stride: 2, padding: 'same' },
  { n: 2, inH: 4, inW: 5, inC: 3, kH: 1, kW: 1, outC: 5, stride: 1, padding: 'same' },
  { n: 1, inH: 5, inW: 5, inC: 3, kH: 1, kW: 1, outC: 5, stride: 2, padding: 'valid' },
];

function describeConv(c: ConvCase): string {
  return `n${c.n} ${c.inH}x${c.inW}x${c.inC} k${c.kH}x${c.kW}x${c.outC} s${c.stride} ${c.padding}`;
}

/**
 * Runs the im2col kernels and the direct-loop references on the same inputs and compares
 * y, dX and dW. dW starts from the same non-zero values in both, so the comparison also
 * checks that the filter gradient accumulates.
 */
function checkConvCase<T extends FloatArray>(
  c: ConvCase,
  make: (length: number) => T,
  gemm: GemmFn<T>,
  tolerance: number,
  seed: number,
): void {
  const random = mulberry32(seed);
  const g = convGeometry(c.inH, c.inW, c.inC, c.kH, c.kW, c.outC, c.stride, c.stride, c.padding);
  const size = sizes(c.n, g);
  const x = fillRandom(make(size.x), random);
  const w = fillRandom(make(size.w), random);
  const dY = fillRandom(make(size.y), random);
  const dWStart = fillRandom(make(size.w), random);
  const label = describeConv(c);

  const yRef = make(size.y);
  const dXRef = make(size.x);
  const dWRef = make(size.w);
  dWRef.set(dWStart);
  conv2dForwardNaive(yRef, x, w, c.n, g);
  conv2dBackwardInputNaive(dXRef, dY, w, c.n, g);
  conv2dBackwardFilterNaive(dWRef, dY, x, c.n, g);

  // Stale NaN in the outputs and scratch must be overwritten.
  const y = make(size.y);
  const dX = make(size.x);
  const cols = make(size.cols);
  const dCols = make(size.cols);
  for (const stale of [y, dX, cols, dCols]) stale.fill(Number.NaN);
  const dW = make(size.w);
  dW.set(dWStart);
  conv2dForward(y, x, w, cols, c.n, g, gemm);
  conv2dBackwardInput(dX, dY, w, dCols, c.n, g, gemm);
  conv2dBackwardFilter(dW, dY, cols, c.n, g, gemm);

  assertClose(y, yRef, tolerance, `${label} y`);
  assertClose(dX, dXRef, tolerance, `${label} dX`);
  assertClose(dW, dWRef, tolerance, `${label} dW`);
}

convCases.forEach((c, index) => {
  test(`conv2d float64 ${describeConv(c)} matches naive`, () => {
    checkConvCase(c, (length) => new Float64Array(length), gemmNaive, 1e-12, 100 + index);
  });

  test(`conv2d float32 ${describeConv(c)} matches naive`, () => {
    checkConvCase(c, (length) => new Float32Array(length), gemmBlocked, 1e-4, 200 + index);
  });
});

test('conv2dBackwardFilter accumulates into dW', () => {
  const random = mulberry32(11);
  const n = 2;
  const g = convGeometry(6, 5, 3, 3, 3, 4, 1, 1, 'same');
  const size = sizes(n, g);
  const x = fillRandom(new Float64Array(size.x), random);
  const w = fillRandom(new Float64Array(size.w), random);
  const dY = fillRandom(new Float64Array(size.y), random);
  const cols = new Float64Array(size.cols);
  conv2dForward(new Float64Array(size.y), x, w, cols, n, g, gemmNaive);

  const once = new Float64Array(size.w);
  conv2dBackwardFilter(once, dY, cols, n, g, gemmNaive);
  const twice = new Float64Array(size.w);
  conv2dBackwardFilter(twice, dY, cols, n, g, gemmNaive);
  conv2dBackwardFilter(twice, dY, cols, n, g, gemmNaive);

  assert.ok(once.some((value) => value !== 0), 'gradient is all zero');
  assertClose(twice, once.map((value) => 2 * value), 1e-12, 'dW after two calls');
});

test('conv2d naive gradients match central differences', () => {
  // For L = sum(y * dY), dL/dx is the input gradient and dL/dw the filter gradient.
  const random = mulberry32(13);
  const n = 2;
  const g = convGeometry(5, 4, 2, 3, 2, 3, 2, 2, 'same');
  const size = sizes(n, g);
  const x = fillRandom(new Float64Array(size.x), random);
  const w = fillRandom(new Float64Array(size.w), random);
  const dY = fillRandom(new Float64Array(size.y), random);
  const y = new Float64Array(size.y);
  const loss = (): number => {
    conv2dForwardNaive(y, x, w, n, g);
    let sum = 0;
    for (let i = 0; i < y.length; i++) sum += y[i] * dY[i];
    return sum;
  };

  const dX = new Float64Array(size.x);
  const dW = new Float64Array(size.w);
  conv2dBackwardInputNaive(dX, dY, w, n, g);
  conv2dBackwardFilterNaive(dW, dY, x, n, g);

  const step = 1e-6;
  for (const [values, gradient, name] of [
    [x, dX, 'dX'],
    [w, dW, 'dW'],
  ] as const) {
    for (let i = 0; i < values.length; i++) {
      const saved = values[i];
      values[i] = saved + step;
      const up = loss();
      values[i] = saved - step;
      const down = loss();
      values[i] = saved;
      const numeric = (up - down) / (2 * step);
      assert.ok(Math.abs(numeric - gradient[i]) <= 1e-6, `${name}[${i}] is ${gradient[i]}, numeric ${numeric}`);
    }
  }
});

/** Cases for im2col and col2im, including stride past the kernel and several channels. */
const loweringCases: ConvCase[] = [
  ...convCases,
  { n: 2, inH: 6, inW: 7, inC: 4, kH: 3, kW: 3, outC: 1, stride: 1, padding: 'valid' },
  { n: 1, inH: 5, inW: 9, inC: 2, kH: 2, kW: 4, outC: 1, stride: 3, padding: 'same' },
  { n: 2, inH: 3, inW: 3, inC: 5, kH: 3, kW: 3, outC: 1, stride: 1, padding: 'same' },
  { n: 1, inH: 8, inW: 5, inC: 3, kH: 1, kW: 2, outC: 1, stride: 4, padding: 'valid' },
];

for (const [index, c] of loweringCases.entries()) {
  test(`im2col ${describeConv(c)} matches naive`, () => {
    const random = mulberry32(300 + index);
    const g = convGeometry(c.inH, c.inW, c.inC, c.kH, c.kW, c.outC, c.stride, c.stride, c.padding);
    const size = sizes(c.n, g);
    const x = fillRandom(new Float32Array(size.x), random);
    const cols = new Float32Array(size.cols).fill(Number.NaN);
    const colsNaive = new Float32Array(size.cols);
    im2col(cols, x, c.n, g);
    im2colNaive(colsNaive, x, c.n, g);
    assert.deepEqual(Array.from(cols), Array.from(colsNaive));
  });

  test(`col2im ${describeConv(c)} matches naive`, () => {
    // Same additions in the same order, so the sums must agree to the bit.
    const random = mulberry32(400 + index);
    const g = convGeometry(c.inH, c.inW, c.inC, c.kH, c.kW, c.outC, c.stride, c.stride, c.padding);
    const size = sizes(c.n, g);
    const dCols = fillRandom(new Float32Array(size.cols), random);
    const dX = new Float32Array(size.x).fill(Number.NaN);
    const dXNaive = new Float32Array(size.x).fill(Number.NaN);
    col2im(dX, dCols, c.n, g);
    col2imNaive(dXNaive, dCols, c.n, g);
    assert.deepEqual(Array.from(dX), Array.from(dXNaive));
  });
}

test('im2col same padding writes zeros by hand', () => {
  // 2x2 single-channel input [[1, 2], [3, 4]], 2x2 kernel, 'same': the padding row and column
  // go below and right, so the window of output (p, q) covers rows p..p+1, columns q..q+1.
  const g = convGeometry(2, 2, 1, 2, 2, 1, 1, 1, 'same');
  const cols = new Float32Array(16).fill(Number.NaN);
  im2col(cols, new Float32Array([1, 2, 3, 4]), 1, g);
  assert.deepEqual(Array.from(cols), [1, 2, 3, 4, 2, 0, 4, 0, 3, 4, 0, 0, 4, 0, 0, 0]);
});
