/**
 * Reference matrix multiply: C = alpha * op(A) * op(B) + beta * C as a plain triple loop.
 *
 * Legend (row-major, as in types.ts):
 *   M  rows of op(A) and of C
 *   N  columns of op(B) and of C
 *   K  shared dimension: columns of op(A), rows of op(B)
 * Stored A is [M, K], or [K, M] with transA. Stored B is [K, N], or [N, K] with transB.
 *
 * Each dot product is summed in a JS number (float64) and rounded once when stored, so this
 * kernel is the accuracy baseline that the fast kernels are tested against.
 */

import type { FloatArray, GemmFn } from './types.js';

/**
 * Multiplies row-major matrices with a triple loop, for any transpose form.
 * When beta is 0 the old content of C is not read, so NaN there does not propagate. When
 * alpha is 0 or K is 0, A and B are not read.
 *
 * @param a [M, K] or, with transA, [K, M], row stride lda
 * @param b [K, N] or, with transB, [N, K], row stride ldb
 * @param c [M, N], row stride ldc, overwritten with the result
 */
export const gemmNaive: GemmFn<FloatArray> = (
  transA,
  transB,
  m,
  n,
  k,
  alpha,
  a,
  aOffset,
  lda,
  b,
  bOffset,
  ldb,
  beta,
  c,
  cOffset,
  ldc,
) => {
  // Element (i, p) of op(A) sits at aOffset + i * aRowStep + p * aColStep.
  const aRowStep = transA ? 1 : lda;
  const aColStep = transA ? lda : 1;
  // Element (p, j) of op(B) sits at bOffset + p * bRowStep + j * bColStep.
  const bRowStep = transB ? 1 : ldb;
  const bColStep = transB ? ldb : 1;
  const skipProduct = alpha === 0 || k === 0;

  for (let i = 0; i < m; i++) {
    const aRow = aOffset + i * aRowStep;
    const cRow = cOffset + i * ldc;
    for (let j = 0; j < n; j++) {
      let sum = 0;
      if (!skipProduct) {
        const bCol = bOffset + j * bColStep;
        for (let p = 0; p < k; p++) {
          sum += a[aRow + p * aColStep] * b[bCol + p * bRowStep];
        }
      }
      const scaledOld = beta === 0 ? 0 : beta * c[cRow + j];
      c[cRow + j] = alpha * sum + scaledOld;
    }
  }
};
