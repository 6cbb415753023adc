import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Arena } from '../../src/core/arena.js';
import { arenaGemm } from '../../src/gemm/backend.js';
import { gemmBlocked } from '../../src/gemm/blocked.js';
import { gemmNaive } from '../../src/gemm/naive.js';
import type { FloatArray, GemmFn } from '../../src/gemm/types.js';
import { type ConvGeometry, convGeometry } from '../../src/kernels/conv2d.js';
import { conv2dBackwardFilterNaive, conv2dBackwardInputNaive, conv2dForwardNaive } from '../../src/kernels/conv2d-naive.js';
import {
  WINOGRAD_POSITIONS,
  type WinogradLayout,
  winogradBackward,
  winogradFilterTransform,
  winogradForward,
  winogradForwardKeepingInput,
  winogradScratchLengths,
  winogradSupports,
  winogradTiling,
} from '../../src/kernels/winograd.js';

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

/** Values uniform in [-1, 1) from a seed, as float64. */
function seededValues(length: number, seed: number): Float64Array {
  const next = mulberry32(seed);
  return Float64Array.from({ length }, () => 2 * next() - 1);
}

interface Shape {
  n: number;
  h: number;
  w: number;
  c: number;
  k: number;
}

const SHAPES: Shape[] = [
  { n: 1, h: 4, w: 4, c: 2, k: 1 },
  { n: 3, h: 4, w: 4, c: 3, k: 5 },
  { n: 3, h: 6, w: 8, c: 3, k: 5 },
  { n: 1, h: 6, w: 8, c: 32, k: 64 },
  { n: 3, h: 6, w: 8, c: 2, k: 64 },
  { n: 1, h: 26, w: 26, c: 32, k: 64 },
  { n: 3, h: 26, w: 26, c: 2, k: 1 },
];

function describe(s: Shape): string {
  return `n${s.n} ${s.h}x${s.w}x${s.c} k${s.k}`;
}

/** The exact gradients and outputs in float64, and the sums of absolute terms behind each value. */
interface Reference {
  g: ConvGeometry;
  x: Float64Array;
  w: Float64Array;
  dY: Float64Array;
  /** dW starts from these values, to check that the filter gradient adds. */
  dWStart: Float64Array;
  y: Float64Array;
  dX: Float64Array;
  dW: Float64Array;
  yScale: Float64Array;
  dXScale: Float64Array;
  dWScale: Float64Array;
}

function reference(s: Shape, seed: number): Reference {
  const g = convGeometry(s.h, s.w, s.c, 3, 3, s.k, 1, 1, 'valid');
  const x = seededValues(s.n * s.h * s.w * s.c, seed);
  const w = seededValues(9 * s.c * s.k, seed + 1);
  const dY = seededValues(s.n * g.outH * g.outW * s.k, seed + 2);
  const dWStart = seededValues(w.length, seed + 3);
  const y = new Float64Array(dY.length);
  const dX = new Float64Array(x.length);
  const dW = Float64Array.from(dWStart);
  conv2dForwardNaive(y, x, w, s.n, g);
  conv2dBackwardInputNaive(dX, dY, w, s.n, g);
  conv2dBackwardFilterNaive(dW, dY, x, s.n, g);
  const abs = (a: Float64Array): Float64Array => a.map(Math.abs);
  const yScale = new Float64Array(y.length);
  const dXScale = new Float64Array(dX.length);
  const dWScale = abs(dWStart);
  conv2dForwardNaive(yScale, abs(x), abs(w), s.n, g);
  conv2dBackwardInputNaive(dXScale, abs(dY), abs(w), s.n, g);
  conv2dBackwardFilterNaive(dWScale, abs(dY), abs(x), s.n, g);
  return { g, x, w, dY, dWStart, y, dX, dW, yScale, dXScale, dWScale };
}

/**
 * Asserts |actual - expected| <= relative * scale + 1e-30 elementwise, where scale is the sum
 * of the absolute values of the terms that make up each expected value.
 */
function assertClose(label: string, actual: ArrayLike<number>, expected: Float64Array, scale: Float64Array, relative: number): void {
  assert.equal(actual.length >= expected.length, true, `${label}: ${actual.length} values, expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    if (!(error <= relative * scale[i] + 1e-30)) {
      assert.fail(`${label}[${i}] is ${actual[i]}, expected ${expected[i]} (error ${error}, allowed ${relative * scale[i]})`);
    }
  }
}

interface Run {
  y: FloatArray;
  dX: FloatArray;
  dW: FloatArray;
}

/** Runs winogradForwardKeepingInput then winogradBackward in chunks of chunkTiles tiles. */
function runWinograd<T extends FloatArray>(
  r: Reference,
  n: number,
  chunkTiles: number,
  make: (length: number) => T,
  from: (values: Float64Array) => T,
  gemm: GemmFn<T>,
): Run {
  const g = r.g;
  const tiling = winogradTiling(g);
  const x = from(r.x);
  const w = from(r.w);
  const dY = from(r.dY);
  const u = make(WINOGRAD_POSITIONS * g.inC * g.outC);
  winogradFilterTransform(u, w, g.inC, g.outC);
  const v = make(winogradScratchLengths(g, n * tiling.tilesPerImage).v);
  const chunk = winogradScratchLengths(g, chunkTiles);
  const m = make(chunk.m);
  const dV = make(chunk.v);
  const dU = make(u.length);
  const y = make(r.y.length);
  y.fill(Number.NaN);
  winogradForwardKeepingInput(y, x, u, v, m, n, g, tiling, chunkTiles, gemm);
  const dX = make(r.x.length);
  dX.fill(7);
  const dW = from(r.dWStart);
  winogradBackward(dX, dW, dY, v, u, m, dV, dU, n, g, tiling, chunkTiles, gemm);
  return { y, dX, dW };
}

function chunkSizes(s: Shape): number[] {
  const tilesPerImage = ((s.h - 2) / 2) * ((s.w - 2) / 2);
  // One image's tiles, all tiles, and a count that splits images across chunks.
  return [...new Set([tilesPerImage, s.n * tilesPerImage, 5])];
}

for (const [index, s] of SHAPES.entries()) {
  const seed = 100 + 10 * index;

  test(`winograd ${describe(s)} float64`, () => {
    const r = reference(s, seed);
    for (const chunkTiles of chunkSizes(s)) {
      const out = runWinograd(r, s.n, chunkTiles, (length) => new Float64Array(length), (values) => Float64Array.from(values), gemmNaive);
      assertClose(`chunk ${chunkTiles} y`, out.y, r.y, r.yScale, 1e-13);
      assertClose(`chunk ${chunkTiles} dX`, out.dX, r.dX, r.dXScale, 1e-13);
      assertClose(`chunk ${chunkTiles} dW (added to its start values)`, out.dW, r.dW, r.dWScale, 1e-13);
    }
  });

  test(`winograd ${describe(s)} float32`, () => {
    const r = reference(s, seed);
    for (const chunkTiles of chunkSizes(s)) {
      const out = runWinograd(r, s.n, chunkTiles, (length) => new Float32Array(length), (values) => Float32Array.from(values), gemmBlocked);
      assertClose(`chunk ${chunkTiles} y`, out.y, r.y, r.yScale, 1e-5);
      assertClose(`chunk ${chunkTiles} dX`, out.dX, r.dX, r.dXScale, 1e-5);
      assertClose(`chunk ${chunkTiles} dW (added to its start values)`, out.dW, r.dW, r.dWScale, 1e-5);
    }
  });
}

test('winograd n3 26x26x32 k64 float32 arena wasm GEMM', () => {
  const s: Shape = { n: 3, h: 26, w: 26, c: 32, k: 64 };
  const r = reference(s, 7);
  const arena = new Arena(undefined, { initialBytes: 64 << 20 });
  const gemm = arenaGemm('wasm', arena);
  const make = (length: number): Float32Array => arena.allocFloat32(length);
  const from = (values: Float64Array): Float32Array => {
    const copy = make(values.length);
    copy.set(values);
    return copy;
  };
  const out = runWinograd(r, s.n, 144, make, from, gemm);
  assertClose('y', out.y, r.y, r.yScale, 1e-5);
  assertClose('dX', out.dX, r.dX, r.dXScale, 1e-5);
  assertClose('dW (added to its start values)', out.dW, r.dW, r.dWScale, 1e-5);
});

test('winograd batch below buffer size', () => {
  const s: Shape = { n: 3, h: 6, w: 8, c: 3, k: 5 };
  const r = reference(s, 41);
  const firstImage = reference({ ...s, n: 1 }, 41);
  const out = runWinograd(r, 1, 6, (length) => new Float64Array(length), (values) => Float64Array.from(values), gemmNaive);
  assertClose('y of image 0', out.y, firstImage.y, firstImage.yScale, 1e-13);
  assert.ok(Number.isNaN(out.y[firstImage.y.length]), 'forward wrote past image 0');
  assertClose('dX of image 0', out.dX, firstImage.dX, firstImage.dXScale, 1e-13);
  assert.equal(out.dX[firstImage.dX.length], 7, 'backward wrote dX past image 0');
});

test('winogradBackward without computeDX', () => {
  const s: Shape = { n: 3, h: 6, w: 8, c: 3, k: 5 };
  const r = reference(s, 53);
  const g = r.g;
  const tiling = winogradTiling(g);
  const u = new Float64Array(WINOGRAD_POSITIONS * g.inC * g.outC);
  winogradFilterTransform(u, r.w, g.inC, g.outC);
  const v = new Float64Array(winogradScratchLengths(g, s.n * tiling.tilesPerImage).v);
  const chunk = winogradScratchLengths(g, 6);
  const m = new Float64Array(chunk.m);
  const dV = new Float64Array(chunk.v);
  const dU = new Float64Array(u.length);
  winogradForwardKeepingInput(new Float64Array(r.y.length), r.x, u, v, m, s.n, g, tiling, 6, gemmNaive);
  // The gradient slot sits at offset 4 of a larger buffer, as in a model's gradient array.
  const grads = new Float64Array(4 + r.w.length + 3).fill(-2);
  grads.set(r.dWStart, 4);
  const dX = new Float64Array(r.x.length).fill(7);
  winogradBackward(dX, grads, Float64Array.from(r.dY), v, u, m, dV, dU, s.n, g, tiling, 6, gemmNaive, false, 4);
  assert.ok(dX.every((value) => value === 7), 'dX was written');
  assertClose('dW', grads.subarray(4), r.dW, r.dWScale, 1e-13);
  assert.deepEqual(Array.from(grads.subarray(0, 4)), [-2, -2, -2, -2]);
  assert.deepEqual(Array.from(grads.subarray(4 + r.w.length)), [-2, -2, -2]);
});

test('winogradFilterTransform kernel offset', () => {
  const g = convGeometry(4, 4, 2, 3, 3, 3, 1, 1, 'valid');
  const w = seededValues(9 * 2 * 3, 61);
  const padded = new Float64Array(5 + w.length);
  padded.set(w, 5);
  const expected = new Float64Array(WINOGRAD_POSITIONS * g.inC * g.outC);
  const actual = new Float64Array(expected.length);
  winogradFilterTransform(expected, w, g.inC, g.outC);
  winogradFilterTransform(actual, padded, g.inC, g.outC, 5);
  assert.deepEqual(actual, expected);
  // U at position (0, 0) is the kernel's top-left tap g00 itself.
  assert.deepEqual(Array.from(actual.subarray(0, 6)), Array.from(w.subarray(0, 6)));
});

for (const layout of ['planar', 'interleaved'] as WinogradLayout[]) {
  test(`winogradForward ${layout} chunks`, () => {
    const s: Shape = { n: 3, h: 6, w: 8, c: 3, k: 5 };
    const r = reference(s, 71);
    const g = r.g;
    const tiling = winogradTiling(g);
    const u = new Float64Array(WINOGRAD_POSITIONS * g.inC * g.outC);
    winogradFilterTransform(u, r.w, g.inC, g.outC);
    for (const chunkTiles of [5, 6, 18]) {
      const lengths = winogradScratchLengths(g, chunkTiles);
      const y = new Float64Array(r.y.length).fill(Number.NaN);
      winogradForward(y, r.x, u, new Float64Array(lengths.v), new Float64Array(lengths.m), s.n, g, tiling, chunkTiles, layout, gemmNaive);
      assertClose(`chunk ${chunkTiles} y`, y, r.y, r.yScale, 1e-13);
    }
  });
}

const UNSUPPORTED: { title: string; g: ConvGeometry; message: RegExp }[] = [
  { title: '2x2 kernel', g: convGeometry(5, 5, 2, 2, 2, 3, 1, 1, 'valid'), message: /kernel must be 3x3, got 2x2/ },
  { title: 'stride 2', g: convGeometry(7, 7, 2, 3, 3, 3, 2, 2, 'valid'), message: /stride must be 1, got 2x2/ },
  { title: "'same' padding", g: convGeometry(4, 4, 2, 3, 3, 3, 1, 1, 'same'), message: /padding must be 'valid'/ },
  { title: 'odd output width', g: convGeometry(6, 7, 2, 3, 3, 3, 1, 1, 'valid'), message: /output size must be even, got 4x5/ },
  { title: 'odd output height', g: convGeometry(5, 6, 2, 3, 3, 3, 1, 1, 'valid'), message: /output size must be even, got 3x4/ },
];

for (const { title, g, message } of UNSUPPORTED) {
  test(`winograd rejects a ${title}`, () => {
    assert.equal(winogradSupports(g), false);
    assert.throws(() => winogradTiling(g), { name: 'RangeError', message });
  });
}

test('winograd accepts 26x26x32 k3x3', () => {
  const g = convGeometry(26, 26, 32, 3, 3, 64, 1, 1, 'valid');
  assert.equal(winogradSupports(g), true);
  assert.deepEqual(winogradTiling(g), { tilesH: 12, tilesW: 12, tilesPerImage: 144 });
});
