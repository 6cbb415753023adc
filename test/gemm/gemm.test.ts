import assert from 'node:assert/strict';
import { test } from 'node:test';

import { gemmBlocked } from '../../src/gemm/blocked.js';
import { gemmNaive } from '../../src/gemm/naive.js';
import type { FloatArray, GemmFn } from '../../src/gemm/types.js';

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

function randomArray(length: number, random: () => number): Float32Array {
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) values[i] = random() * 2 - 1;
  return values;
}

interface GemmCase {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  /** Extra elements at the end of every stored row, so lda, ldb and ldc exceed the row length. */
  rowPadding: number;
  /** Elements before element (0, 0) of every matrix. */
  offset: number;
}

function describeCase(c: GemmCase): string {
  const form = `${c.transA ? 'T' : 'N'}${c.transB ? 'T' : 'N'}`;
  return `${form} m=${c.m} n=${c.n} k=${c.k} alpha=${c.alpha} beta=${c.beta} pad=${c.rowPadding} offset=${c.offset}`;
}

/**
 * Runs gemmBlocked and gemmNaive on the same random float32 inputs and checks that they
 * agree inside the matrix and that neither touches C outside it.
 */
function checkAgainstNaive(c: GemmCase, random: () => number): void {
  const { transA, transB, m, n, k, alpha, beta, rowPadding, offset } = c;
  const aRows = transA ? k : m;
  const aCols = transA ? m : k;
  const bRows = transB ? n : k;
  const bCols = transB ? k : n;
  const lda = aCols + rowPadding;
  const ldb = bCols + rowPadding;
  const ldc = n + rowPadding;

  const a = randomArray(offset + aRows * lda, random);
  const b = randomArray(offset + bRows * ldb, random);
  const cStart = randomArray(offset + m * ldc, random);
  if (beta === 0) cStart.fill(Number.NaN);
  const cBlocked = cStart.slice();
  const cNaive = cStart.slice();

  gemmBlocked(transA, transB, m, n, k, alpha, a, offset, lda, b, offset, ldb, beta, cBlocked, offset, ldc);
  gemmNaive(transA, transB, m, n, k, alpha, a, offset, lda, b, offset, ldb, beta, cNaive, offset, ldc);

  // Each float32 rounding of a partial sum is at most 2^-24 of it, and a partial sum is at
  // most |alpha| * K + |beta| because inputs lie in [-1, 1]. The bound allows K + 1 roundings,
  // so it holds for any blocking of K.
  const tolerance = 4 * 2 ** -24 * (k + 1) * (Math.abs(alpha) * k + Math.abs(beta) + 1);
  const label = describeCase(c);
  for (let index = 0; index < cStart.length; index++) {
    const local = index - offset;
    const row = Math.floor(local / ldc);
    const col = local - row * ldc;
    const inside = local >= 0 && row < m && col < n;
    if (inside) {
      const error = Math.abs(cBlocked[index] - cNaive[index]);
      assert.ok(error <= tolerance, `${label}: C[${row}, ${col}] blocked ${cBlocked[index]} naive ${cNaive[index]}`);
    } else {
      assert.ok(Object.is(cBlocked[index], cStart[index]), `${label}: blocked wrote outside C at ${index}`);
      assert.ok(Object.is(cNaive[index], cStart[index]), `${label}: naive wrote outside C at ${index}`);
    }
  }
}

const transposeForms: Array<[boolean, boolean]> = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];
const oddSizes = [1, 3, 5, 7, 13, 17, 31, 33, 65, 130];
const alphas = [1, -0.5, 2.25];
const betas = [0, 1, 0.75, -1.5];

for (const [transA, transB] of transposeForms) {
  const form = `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;

  test(`gemmBlocked ${form} odd sizes match naive`, () => {
    const random = mulberry32(1000 + Number(transA) * 2 + Number(transB));
    let caseIndex = 0;
    for (const m of oddSizes) {
      for (const n of oddSizes) {
        // Cycle k through the sizes so every size appears as m, n and k.
        const k = oddSizes[caseIndex % oddSizes.length];
        checkAgainstNaive(
          {
            transA,
            transB,
            m,
            n,
            k,
            alpha: alphas[caseIndex % alphas.length],
            beta: betas[caseIndex % betas.length],
            rowPadding: caseIndex % 3,
            offset: caseIndex % 5,
          },
          random,
        );
        caseIndex++;
      }
    }
  });

  test(`gemmBlocked ${form} multi-block sizes match naive`, () => {
    const random = mulberry32(2000 + Number(transA) * 2 + Number(transB));
    // 129 rows cross the 128-row A block, 301 and 513 the 256-deep K block, 1030 the
    // 1024-column B block.
    const shapes: Array<[number, number, number]> = [
      [129, 67, 301],
      [130, 1030, 9],
      [5, 1031, 260],
      [33, 17, 513],
    ];
    for (const [m, n, k] of shapes) {
      checkAgainstNaive({ transA, transB, m, n, k, alpha: 0.5, beta: 0.25, rowPadding: 3, offset: 7 }, random);
      checkAgainstNaive({ transA, transB, m, n, k, alpha: 1, beta: 0, rowPadding: 0, offset: 0 }, random);
    }
  });
}

test('gemmBlocked beta 0 ignores NaN in C', () => {
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new Float32Array([1, 0, 0, 1, 1, 1]);
  const c = new Float32Array(4).fill(Number.NaN);
  gemmBlocked(false, false, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 0, c, 0, 2);
  assert.deepEqual(Array.from(c), [4, 5, 10, 11]);
});

test('gemmNaive beta 0 ignores NaN in C', () => {
  const a = new Float64Array([1, 2, 3, 4, 5, 6]);
  const b = new Float64Array([1, 0, 0, 1, 1, 1]);
  const c = new Float64Array(4).fill(Number.NaN);
  gemmNaive(false, false, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 0, c, 0, 2);
  assert.deepEqual(Array.from(c), [4, 5, 10, 11]);
});

test('gemmBlocked K 0 scales C by beta', () => {
  const empty = new Float32Array(0);
  const c = new Float32Array([1, -2, 3, 4]);
  gemmBlocked(false, false, 2, 2, 0, 1, empty, 0, 1, empty, 0, 2, 0.5, c, 0, 2);
  assert.deepEqual(Array.from(c), [0.5, -1, 1.5, 2]);
});

test('gemmBlocked alpha 0 does not read A or B', () => {
  const a = new Float32Array(6).fill(Number.NaN);
  const b = new Float32Array(6).fill(Number.NaN);
  const c = new Float32Array([1, 2, 3, 4]);
  gemmBlocked(false, false, 2, 2, 3, 0, a, 0, 3, b, 0, 2, 2, c, 0, 2);
  assert.deepEqual(Array.from(c), [2, 4, 6, 8]);
});

/**
 * Checks all four transpose forms on A = [[1, 2, 3], [4, 5, 6]] and
 * B = [[7, 8], [9, 10], [11, 12]], whose product is [[58, 64], [139, 154]]. Each form stores
 * A or B transposed where its flag is set, so every form must produce that product.
 */
function checkHandProduct<T extends FloatArray>(gemm: GemmFn<T>, make: (values: number[]) => T): void {
  const aRowMajor = make([1, 2, 3, 4, 5, 6]);
  const aTransposed = make([1, 4, 2, 5, 3, 6]);
  const bRowMajor = make([7, 8, 9, 10, 11, 12]);
  const bTransposed = make([7, 9, 11, 8, 10, 12]);
  for (const [transA, transB] of transposeForms) {
    const a = transA ? aTransposed : aRowMajor;
    const b = transB ? bTransposed : bRowMajor;
    const c = make([0, 0, 0, 0]);
    gemm(transA, transB, 2, 2, 3, 1, a, 0, transA ? 2 : 3, b, 0, transB ? 3 : 2, 0, c, 0, 2);
    assert.deepEqual(Array.from(c), [58, 64, 139, 154], `transA=${transA} transB=${transB}`);
  }
}

test('gemmNaive 2x3 by 3x2 by hand', () => {
  checkHandProduct(gemmNaive, (values) => new Float64Array(values));
});

test('gemmBlocked 2x3 by 3x2 by hand', () => {
  checkHandProduct(gemmBlocked, (values) => new Float32Array(values));
});

test('gemmBlocked alpha and beta by hand', () => {
  // C = 2 * A * B - 1 * C with A * B = [[58, 64], [139, 154]].
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new Float32Array([7, 8, 9, 10, 11, 12]);
  const c = new Float32Array([1, 2, 3, 4]);
  gemmBlocked(false, false, 2, 2, 3, 2, a, 0, 3, b, 0, 2, -1, c, 0, 2);
  assert.deepEqual(Array.from(c), [115, 126, 275, 304]);
});
