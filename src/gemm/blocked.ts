/**
 * Cache-blocked single-precision matrix multiply: C = alpha * op(A) * op(B) + beta * C.
 *
 * Legend (row-major, as in types.ts):
 *   M  rows of op(A) and of C
 *   N  columns of op(B) and of C
 *   K  shared dimension: columns of op(A), rows of op(B)
 * Stored A is [M, K], or [K, M] with transA. Stored B is [K, N], or [N, K] with transB.
 *
 * Loop structure, outermost first (the usual layout of packed GEMMs):
 *   jc  steps over N in blocks of NC columns.
 *   pc  steps over K in blocks of KC, and packs a KC x NC block of op(B) into `packedB`.
 *   ic  steps over M in blocks of MC rows, and packs an MC x KC block of op(A) into `packedA`.
 *   jr  steps over the NR-column panels of the packed B block, so one panel stays in L1.
 *   ir  steps over the MR-row panels of the packed A block, which stream from L2.
 * The micro-kernel multiplies one MR x KC panel by one KC x NR panel with its MR x NR sums in
 * local variables. Packing reads A and B through strides, which is how all four transpose forms
 * share one micro-kernel. Panels that run past an edge of M or N are padded with zeros, and
 * only the valid part of such a tile is written back.
 *
 * Sums are float64 within a KC block and are rounded to float32 when added to C, so C is
 * rounded ceil(K / KC) times.
 *
 * The packing buffers are module-level and grow only when a call needs more than any earlier
 * call, so repeated calls with the same shapes allocate nothing. The module is not reentrant,
 * which is safe because JS runs one call at a time per thread (each worker has its own copy).
 */

import { gemmNaive } from './naive.js';
import type { GemmFn } from './types.js';

/** Rows of a micro-tile. The packing routine below is unrolled for MR == NR == 4. */
const MR = 4;
/** Columns of a micro-tile. */
const NR = 4;
/** K depth of a packed block. One 4 x KC panel of A or of B is 4 KiB, well inside L1. */
const KC = 256;
/** Rows of op(A) per packed block. MC x KC floats is 128 KiB, sized to stay in L2. */
const MC = 128;
/** Columns of op(B) per packed block. KC x NC floats is at most 1 MiB. */
const NC = 1024;

let packedA = new Float32Array(0);
let packedB = new Float32Array(0);

/** Spill space for the sums of a tile that crosses the edge of C. */
const edgeTile = new Float64Array(MR * NR);

/**
 * Multiplies row-major float32 matrices with packing and a 4 x 4 register-tiled micro-kernel.
 * Any transpose form, offset and leading dimension is accepted. When beta is 0 the old
 * content of C is not read, so NaN there does not propagate. When alpha is 0 or K is 0,
 * A and B are not read.
 *
 * @param a [M, K] or, with transA, [K, M], row stride lda
 * @param b [K, N] or, with transB, [N, K], row stride ldb
 * @param c [M, N], row stride ldc, overwritten with the result
 */
export const gemmBlocked: GemmFn<Float32Array> = (
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
  if (m <= 0 || n <= 0) return;
  scaleC(c, cOffset, ldc, m, n, beta);
  if (alpha === 0 || k <= 0) return;

  // Element (i, p) of op(A) sits at aOffset + i * aRowStride + p * aDepthStride, and element
  // (p, j) of op(B) sits at bOffset + j * bColStride + p * bDepthStride.
  const aRowStride = transA ? 1 : lda;
  const aDepthStride = transA ? lda : 1;
  const bColStride = transB ? ldb : 1;
  const bDepthStride = transB ? 1 : ldb;

  const blockRows = Math.min(m, MC);
  const blockCols = Math.min(n, NC);
  const blockDepth = Math.min(k, KC);
  growScratch(
    roundUp(blockRows, MR) * blockDepth,
    roundUp(blockCols, NR) * blockDepth,
  );
  const bufA = packedA;
  const bufB = packedB;

  for (let jc = 0; jc < n; jc += NC) {
    const nc = Math.min(NC, n - jc);

    for (let pc = 0; pc < k; pc += KC) {
      const kc = Math.min(KC, k - pc);
      const bBlock = bOffset + jc * bColStride + pc * bDepthStride;
      packPanels(bufB, b, bBlock, bColStride, bDepthStride, nc, kc);

      for (let ic = 0; ic < m; ic += MC) {
        const mc = Math.min(MC, m - ic);
        const aBlock = aOffset + ic * aRowStride + pc * aDepthStride;
        packPanels(bufA, a, aBlock, aRowStride, aDepthStride, mc, kc);

        for (let jr = 0; jr < nc; jr += NR) {
          const nr = Math.min(NR, nc - jr);
          const cPanel = cOffset + ic * ldc + jc + jr;

          for (let ir = 0; ir < mc; ir += MR) {
            const mr = Math.min(MR, mc - ir);
            const cTile = cPanel + ir * ldc;
            microKernel4x4(kc, bufA, ir * kc, bufB, jr * kc, alpha, c, cTile, ldc, mr, nr);
          }
        }
      }
    }
  }
};

/** Typed table of the GEMM kernels that accept float32, by name (used by the benchmark). */
export const gemmKernels = {
  naive: gemmNaive,
  blocked: gemmBlocked,
} satisfies Record<string, GemmFn<Float32Array>>;

export type GemmKernelName = keyof typeof gemmKernels;

/** Replaces packedA and packedB with larger arrays when a call needs more than they contain. */
function growScratch(sizeA: number, sizeB: number): void {
  if (packedA.length < sizeA) packedA = new Float32Array(sizeA);
  if (packedB.length < sizeB) packedB = new Float32Array(sizeB);
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/**
 * Sets C = beta * C over an M x N block. With beta 0 it writes zeros without reading C.
 *
 * @param c [M, N], row stride ldc
 */
function scaleC(c: Float32Array, cOffset: number, ldc: number, m: number, n: number, beta: number): void {
  if (beta === 1) return;
  for (let i = 0; i < m; i++) {
    const rowStart = cOffset + i * ldc;
    const rowEnd = rowStart + n;
    if (beta === 0) {
      c.fill(0, rowStart, rowEnd);
    } else {
      for (let index = rowStart; index < rowEnd; index++) c[index] *= beta;
    }
  }
}

/**
 * Copies `lines` lines of `depth` values each into panels of 4 lines, so panel q contains
 * [depth, 4] values starting at dst[q * 4 * depth]: for every depth step, the values of its 4
 * lines are adjacent, which is the order the micro-kernel reads them in. The last panel is
 * padded with zeros when `lines` is not a multiple of 4.
 *
 * Value (line l, depth step p) is read from src[srcOffset + l * lineStride + p * depthStride].
 * For A the lines are rows of op(A); for B they are columns of op(B).
 *
 * @param dst [ceil(lines / 4), depth, 4]
 */
function packPanels(
  dst: Float32Array,
  src: Float32Array,
  srcOffset: number,
  lineStride: number,
  depthStride: number,
  lines: number,
  depth: number,
): void {
  for (let line = 0; line < lines; line += 4) {
    let d = line * depth;
    const validLines = lines - line;
    let s = srcOffset + line * lineStride;

    if (validLines >= 4) {
      const stride2 = 2 * lineStride;
      const stride3 = 3 * lineStride;
      for (let p = 0; p < depth; p++) {
        dst[d] = src[s];
        dst[d + 1] = src[s + lineStride];
        dst[d + 2] = src[s + stride2];
        dst[d + 3] = src[s + stride3];
        d += 4;
        s += depthStride;
      }
    } else {
      for (let p = 0; p < depth; p++) {
        for (let l = 0; l < 4; l++) {
          dst[d + l] = l < validLines ? src[s + l * lineStride] : 0;
        }
        d += 4;
        s += depthStride;
      }
    }
  }
}

/**
 * Adds alpha times the product of one packed 4 x depth panel of A and one packed depth x 4
 * panel of B to a tile of C. Only the top-left rows x cols of the tile are written, which
 * is how tiles that cross the edge of C are handled.
 *
 * @param aPanel [depth, 4] starting at aStart
 * @param bPanel [depth, 4] starting at bStart
 * @param c [rows, cols] tile starting at cStart, row stride ldc
 */
function microKernel4x4(
  depth: number,
  aPanel: Float32Array,
  aStart: number,
  bPanel: Float32Array,
  bStart: number,
  alpha: number,
  c: Float32Array,
  cStart: number,
  ldc: number,
  rows: number,
  cols: number,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;

  let ia = aStart;
  let ib = bStart;
  const aEnd = aStart + 4 * depth;
  while (ia < aEnd) {
    const a0 = aPanel[ia];
    const a1 = aPanel[ia + 1];
    const a2 = aPanel[ia + 2];
    const a3 = aPanel[ia + 3];
    const b0 = bPanel[ib];
    const b1 = bPanel[ib + 1];
    const b2 = bPanel[ib + 2];
    const b3 = bPanel[ib + 3];
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
    ia += 4;
    ib += 4;
  }

  if (rows === 4 && cols === 4) {
    let row = cStart;
    c[row] += alpha * c00; c[row + 1] += alpha * c01; c[row + 2] += alpha * c02; c[row + 3] += alpha * c03;
    row += ldc;
    c[row] += alpha * c10; c[row + 1] += alpha * c11; c[row + 2] += alpha * c12; c[row + 3] += alpha * c13;
    row += ldc;
    c[row] += alpha * c20; c[row + 1] += alpha * c21; c[row + 2] += alpha * c22; c[row + 3] += alpha * c23;
    row += ldc;
    c[row] += alpha * c30; c[row + 1] += alpha * c31; c[row + 2] += alpha * c32; c[row + 3] += alpha * c33;
    return;
  }

  const tile = edgeTile;
  tile[0] = c00; tile[1] = c01; tile[2] = c02; tile[3] = c03;
  tile[4] = c10; tile[5] = c11; tile[6] = c12; tile[7] = c13;
  tile[8] = c20; tile[9] = c21; tile[10] = c22; tile[11] = c23;
  tile[12] = c30; tile[13] = c31; tile[14] = c32; tile[15] = c33;
  for (let i = 0; i < rows; i++) {
    const row = cStart + i * ldc;
    for (let j = 0; j < cols; j++) c[row + j] += alpha * tile[i * 4 + j];
  }
}
