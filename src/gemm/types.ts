/**
 * Shared types of the matrix-multiply kernels.
 *
 * All matrices are row-major. A GEMM computes C = alpha * op(A) * op(B) + beta * C, where
 * op(A) is [M, K] and op(B) is [K, N]. With transA, A is stored as [K, M]; with transB, B is
 * stored as [N, K]. lda, ldb and ldc are the row strides of the stored matrices, and the
 * offsets give the position of element (0, 0) in each array.
 */

/** A float buffer: the fast kernels take Float32Array, the reference kernels either type. */
export type FloatArray = Float32Array | Float64Array;

/** BLAS-style single-call matrix multiply over row-major matrices. */
export type GemmFn<T extends FloatArray = FloatArray> = (
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: T,
  aOffset: number,
  lda: number,
  b: T,
  bOffset: number,
  ldb: number,
  beta: number,
  c: T,
  cOffset: number,
  ldc: number,
) => void;
