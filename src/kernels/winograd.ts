/**
 * Winograd F(2x2, 3x3) convolution (Lavin and Gray, 2015) over channels-last (NHWC) tensors:
 * forward, filter gradient and input gradient. Conv2D uses it for the geometries that
 * winogradSupports accepts; bench/winograd.bench.ts compares it with im2col + GEMM.
 *
 * Only 3x3 kernels with stride 1, 'valid' padding and an even output height and width are
 * handled: the output splits exactly into 2x2 tiles, each computed from a 4x4 input tile, and
 * neighboring input tiles overlap by 2 rows or columns.
 *
 * The 1-D transforms, derived for the correlation y0 = d0 g0 + d1 g1 + d2 g2 and
 * y1 = d1 g0 + d2 g1 + d3 g2, with four products
 *   m0 = (d0 - d2) g0           m1 = (d1 + d2) (g0 + g1 + g2) / 2
 *   m3 = (d1 - d3) g2           m2 = (d2 - d1) (g0 - g1 + g2) / 2
 * so that y0 = m0 + m1 + m2 and y1 = m1 - m2 - m3, are
 *   B^T = [1  0 -1  0]     G = [ 1    0    0 ]     A^T = [1  1  1  0]
 *         [0  1  1  0]         [1/2  1/2  1/2]           [0  1 -1 -1]
 *         [0 -1  1  0]         [1/2 -1/2  1/2]
 *         [0  1  0 -1]         [ 0    0    1 ]
 * and the 2-D tile is Y = A^T [(G g G^T) .* (B^T d B)] A. Summed over the C input channels,
 * the element-wise product at each of the 16 positions xi of the 4x4 transformed tile is a
 * matrix product: M[xi] [tiles, K] = V[xi] [tiles, C] * U[xi] [C, K].
 *
 * Like the im2col kernels, these are generic over Float32Array and Float64Array, take offsets
 * instead of views where a caller keeps one buffer for several parts, and allocate nothing.
 */

import type { FloatArray, GemmFn } from '../gemm/types.js';
import type { ConvGeometry } from './conv2d.js';

/** Number of positions in a transformed 4x4 tile, and so of GEMMs per forward pass. */
export const WINOGRAD_POSITIONS = 16;

/**
 * How V [16 positions, tiles, C] and M [16 positions, tiles, K] are laid out in memory.
 * 'planar' stores each position's matrix whole ([16][tiles][C]). 'interleaved' stores each
 * tile's 16 rows together ([tiles][16][C]), so a transform touches one contiguous block per
 * tile, and each GEMM reads its matrix with a row stride of 16 * C (or writes with 16 * K).
 */
export type WinogradLayout = 'planar' | 'interleaved';

/** Element strides of one matrix row (a tile) and one matrix (a position) for `width` columns. */
function layoutStrides(layout: WinogradLayout, tileCount: number, width: number): { tile: number; position: number } {
  return layout === 'planar'
    ? { tile: width, position: tileCount * width }
    : { tile: WINOGRAD_POSITIONS * width, position: width };
}

/** Output tile counts of a geometry that winogradForward handles. */
export interface WinogradTiling {
  tilesH: number;
  tilesW: number;
  /** Tiles per image: tilesH * tilesW. */
  tilesPerImage: number;
}

/**
 * Reports whether these kernels handle the geometry: a 3x3 kernel, stride 1, 'valid' padding
 * and an even output height and width. winogradTiling throws for the others.
 */
export function winogradSupports(g: ConvGeometry): boolean {
  const kernel = g.kH === 3 && g.kW === 3;
  const stride = g.strideH === 1 && g.strideW === 1;
  const valid = g.padTop === 0 && g.padLeft === 0 && g.outH === g.inH - 2 && g.outW === g.inW - 2;
  return kernel && stride && valid && g.outH % 2 === 0 && g.outW % 2 === 0;
}

/**
 * Checks that winogradForward handles the geometry and returns its tiling. Throws RangeError
 * for any kernel other than 3x3, a stride other than 1, padding, or an odd output size.
 */
export function winogradTiling(g: ConvGeometry): WinogradTiling {
  const problems: string[] = [];
  if (g.kH !== 3 || g.kW !== 3) problems.push(`kernel must be 3x3, got ${g.kH}x${g.kW}`);
  if (g.strideH !== 1 || g.strideW !== 1) problems.push(`stride must be 1, got ${g.strideH}x${g.strideW}`);
  if (g.padTop !== 0 || g.padLeft !== 0) problems.push("padding must be 'valid'");
  if (g.outH % 2 !== 0 || g.outW % 2 !== 0) problems.push(`output size must be even, got ${g.outH}x${g.outW}`);
  if (problems.length > 0) throw new RangeError(`winograd F(2x2,3x3): unsupported geometry: ${problems.join('; ')}`);
  const tilesH = g.outH / 2;
  const tilesW = g.outW / 2;
  return { tilesH, tilesW, tilesPerImage: tilesH * tilesW };
}

/**
 * Returns the offset of the top-left element of a tile in a channels-last [N, height, width,
 * channels] array. Tiles step by 2 in each direction, image by image.
 */
function tileCorner(tile: number, tiling: WinogradTiling, height: number, width: number, channels: number): number {
  const image = Math.floor(tile / tiling.tilesPerImage);
  const inImage = tile - image * tiling.tilesPerImage;
  const tileRow = Math.floor(inImage / tiling.tilesW);
  const tileColumn = inImage - tileRow * tiling.tilesW;
  return ((image * height + 2 * tileRow) * width + 2 * tileColumn) * channels;
}

/**
 * Transforms every 3x3 filter: U[xi][c][k] = (G g G^T)[xi] for g = w[:, :, c, k]. Conv2D runs
 * it at the start of every forward pass, so that U follows the current weights.
 *
 * @param u [16, C, K], overwritten
 * @param w [3, 3, C, K] (Keras layout) at wOffset
 */
export function winogradFilterTransform<T extends FloatArray>(u: T, w: T, inC: number, outC: number, wOffset = 0): void {
  const tapStride = inC * outC;
  const positionStride = inC * outC;
  for (let index = 0; index < tapStride; index++) {
    const at = wOffset + index;
    const g00 = w[at], g01 = w[at + tapStride], g02 = w[at + 2 * tapStride];
    const g10 = w[at + 3 * tapStride], g11 = w[at + 4 * tapStride], g12 = w[at + 5 * tapStride];
    const g20 = w[at + 6 * tapStride], g21 = w[at + 7 * tapStride], g22 = w[at + 8 * tapStride];
    // t = G g, a 4x3 matrix.
    const t00 = g00, t01 = g01, t02 = g02;
    const t10 = (g00 + g10 + g20) / 2, t11 = (g01 + g11 + g21) / 2, t12 = (g02 + g12 + g22) / 2;
    const t20 = (g00 - g10 + g20) / 2, t21 = (g01 - g11 + g21) / 2, t22 = (g02 - g12 + g22) / 2;
    const t30 = g20, t31 = g21, t32 = g22;
    // U = t G^T: row [a, b, c] becomes [a, (a + b + c) / 2, (a - b + c) / 2, c].
    let o = index;
    u[o] = t00; o += positionStride;
    u[o] = (t00 + t01 + t02) / 2; o += positionStride;
    u[o] = (t00 - t01 + t02) / 2; o += positionStride;
    u[o] = t02; o += positionStride;
    u[o] = t10; o += positionStride;
    u[o] = (t10 + t11 + t12) / 2; o += positionStride;
    u[o] = (t10 - t11 + t12) / 2; o += positionStride;
    u[o] = t12; o += positionStride;
    u[o] = t20; o += positionStride;
    u[o] = (t20 + t21 + t22) / 2; o += positionStride;
    u[o] = (t20 - t21 + t22) / 2; o += positionStride;
    u[o] = t22; o += positionStride;
    u[o] = t30; o += positionStride;
    u[o] = (t30 + t31 + t32) / 2; o += positionStride;
    u[o] = (t30 - t31 + t32) / 2; o += positionStride;
    u[o] = t32;
  }
}

/**
 * Transforms the input tiles [tileStart, tileStart + tileCount) of the batch, numbered
 * (image * tilesH + tileRow) * tilesW + tileColumn: V[xi][t][c] = (B^T d B)[xi] for the 4x4
 * tile d of channel c whose top-left input pixel is (2 * tileRow, 2 * tileColumn).
 *
 * @param v [16, tileCount, C] in `layout` at vOffset, overwritten
 * @param x [N, H, W, C]
 */
export function winogradInputTransform<T extends FloatArray>(
  v: T,
  x: T,
  g: ConvGeometry,
  tiling: WinogradTiling,
  tileStart: number,
  tileCount: number,
  layout: WinogradLayout,
  vOffset = 0,
): void {
  const { inH, inW, inC } = g;
  const rowStride = inW * inC;
  const strides = layoutStrides(layout, tileCount, inC);
  const positionStride = strides.position;
  for (let local = 0; local < tileCount; local++) {
    const tile = tileStart + local;
    const r0 = tileCorner(tile, tiling, inH, inW, inC);
    const r1 = r0 + rowStride;
    const r2 = r1 + rowStride;
    const r3 = r2 + rowStride;
    const out = vOffset + local * strides.tile;
    for (let c = 0; c < inC; c++) {
      const d00 = x[r0 + c], d01 = x[r0 + inC + c], d02 = x[r0 + 2 * inC + c], d03 = x[r0 + 3 * inC + c];
      const d10 = x[r1 + c], d11 = x[r1 + inC + c], d12 = x[r1 + 2 * inC + c], d13 = x[r1 + 3 * inC + c];
      const d20 = x[r2 + c], d21 = x[r2 + inC + c], d22 = x[r2 + 2 * inC + c], d23 = x[r2 + 3 * inC + c];
      const d30 = x[r3 + c], d31 = x[r3 + inC + c], d32 = x[r3 + 2 * inC + c], d33 = x[r3 + 3 * inC + c];
      // t = B^T d
      const t00 = d00 - d20, t01 = d01 - d21, t02 = d02 - d22, t03 = d03 - d23;
      const t10 = d10 + d20, t11 = d11 + d21, t12 = d12 + d22, t13 = d13 + d23;
      const t20 = d20 - d10, t21 = d21 - d11, t22 = d22 - d12, t23 = d23 - d13;
      const t30 = d10 - d30, t31 = d11 - d31, t32 = d12 - d32, t33 = d13 - d33;
      // V = t B: row i becomes [t_i0 - t_i2, t_i1 + t_i2, t_i2 - t_i1, t_i1 - t_i3].
      let o = out + c;
      v[o] = t00 - t02; o += positionStride;
      v[o] = t01 + t02; o += positionStride;
      v[o] = t02 - t01; o += positionStride;
      v[o] = t01 - t03; o += positionStride;
      v[o] = t10 - t12; o += positionStride;
      v[o] = t11 + t12; o += positionStride;
      v[o] = t12 - t11; o += positionStride;
      v[o] = t11 - t13; o += positionStride;
      v[o] = t20 - t22; o += positionStride;
      v[o] = t21 + t22; o += positionStride;
      v[o] = t22 - t21; o += positionStride;
      v[o] = t21 - t23; o += positionStride;
      v[o] = t30 - t32; o += positionStride;
      v[o] = t31 + t32; o += positionStride;
      v[o] = t32 - t31; o += positionStride;
      v[o] = t31 - t33;
    }
  }
}

/**
 * Runs the 16 products M[xi] [tileCount, K] = V[xi] [tileCount, C] * U[xi] [C, K].
 *
 * @param m [16, tileCount, K] in `layout`, overwritten
 * @param v [16, tileCount, C] in `layout` at vOffset
 * @param u [16, C, K]
 */
export function winogradMultiply<T extends FloatArray>(
  m: T,
  v: T,
  u: T,
  inC: number,
  outC: number,
  tileCount: number,
  layout: WinogradLayout,
  gemm: GemmFn<T>,
  vOffset = 0,
): void {
  const vStrides = layoutStrides(layout, tileCount, inC);
  const mStrides = layoutStrides(layout, tileCount, outC);
  for (let xi = 0; xi < WINOGRAD_POSITIONS; xi++) {
    gemm(
      false, false, tileCount, outC, inC, 1,
      v, vOffset + xi * vStrides.position, vStrides.tile,
      u, xi * inC * outC, outC,
      0, m, xi * mStrides.position, mStrides.tile,
    );
  }
}

/**
 * Writes the 2x2 output tiles Y = A^T m A of tiles [tileStart, tileStart + tileCount) into y.
 *
 * @param y [N, P, Q, K], the tiles' pixels overwritten
 * @param m [16, tileCount, K] in `layout`
 */
export function winogradOutputTransform<T extends FloatArray>(
  y: T,
  m: T,
  g: ConvGeometry,
  tiling: WinogradTiling,
  tileStart: number,
  tileCount: number,
  layout: WinogradLayout,
): void {
  const { outH, outW, outC } = g;
  const strides = layoutStrides(layout, tileCount, outC);
  const positionStride = strides.position;
  const rowStride = outW * outC;
  for (let local = 0; local < tileCount; local++) {
    const tile = tileStart + local;
    const y0 = tileCorner(tile, tiling, outH, outW, outC);
    const y1 = y0 + rowStride;
    const source = local * strides.tile;
    for (let k = 0; k < outC; k++) {
      let o = source + k;
      const m00 = m[o]; o += positionStride;
      const m01 = m[o]; o += positionStride;
      const m02 = m[o]; o += positionStride;
      const m03 = m[o]; o += positionStride;
      const m10 = m[o]; o += positionStride;
      const m11 = m[o]; o += positionStride;
      const m12 = m[o]; o += positionStride;
      const m13 = m[o]; o += positionStride;
      const m20 = m[o]; o += positionStride;
      const m21 = m[o]; o += positionStride;
      const m22 = m[o]; o += positionStride;
      const m23 = m[o]; o += positionStride;
      const m30 = m[o]; o += positionStride;
      const m31 = m[o]; o += positionStride;
      const m32 = m[o]; o += positionStride;
      const m33 = m[o];
      // t = A^T m, a 2x4 matrix.
      const t00 = m00 + m10 + m20, t01 = m01 + m11 + m21, t02 = m02 + m12 + m22, t03 = m03 + m13 + m23;
      const t10 = m10 - m20 - m30, t11 = m11 - m21 - m31, t12 = m12 - m22 - m32, t13 = m13 - m23 - m33;
      // Y = t A: row i becomes [t_i0 + t_i1 + t_i2, t_i1 - t_i2 - t_i3].
      y[y0 + k] = t00 + t01 + t02;
      y[y0 + outC + k] = t01 - t02 - t03;
      y[y1 + k] = t10 + t11 + t12;
      y[y1 + outC + k] = t11 - t12 - t13;
    }
  }
}

/** Scratch sizes, in floats, for winogradForward with a given chunk of tiles. */
export function winogradScratchLengths(g: ConvGeometry, chunkTiles: number): { v: number; m: number } {
  return { v: WINOGRAD_POSITIONS * chunkTiles * g.inC, m: WINOGRAD_POSITIONS * chunkTiles * g.outC };
}

/**
 * Computes y = conv(x, w) from the transformed filters u, chunkTiles tiles at a time, so that
 * V and M of one chunk can stay in cache between the transforms and the GEMMs. Overwrites y.
 * With operands in the GEMM's own memory (arenaGemm), 'interleaved' is faster. With the
 * copying GEMM of gemmFor('wasm'), 'planar' is, because that GEMM copies strided rows slowly.
 *
 * @param y [N, P, Q, K], overwritten
 * @param x [N, H, W, C]
 * @param u [16, C, K], from winogradFilterTransform
 * @param v scratch of winogradScratchLengths(g, chunkTiles).v floats
 * @param m scratch of winogradScratchLengths(g, chunkTiles).m floats
 */
export function winogradForward<T extends FloatArray>(
  y: T,
  x: T,
  u: T,
  v: T,
  m: T,
  n: number,
  g: ConvGeometry,
  tiling: WinogradTiling,
  chunkTiles: number,
  layout: WinogradLayout,
  gemm: GemmFn<T>,
): void {
  const totalTiles = n * tiling.tilesPerImage;
  for (let start = 0; start < totalTiles; start += chunkTiles) {
    const count = Math.min(chunkTiles, totalTiles - start);
    winogradInputTransform(v, x, g, tiling, start, count, layout);
    winogradMultiply(m, v, u, g.inC, g.outC, count, layout, gemm);
    winogradOutputTransform(y, m, g, tiling, start, count, layout);
  }
}

/**
 * Computes y = conv(x, w) like winogradForward with the interleaved layout, but writes the
 * input transform of the whole batch into vWhole ([tiles, 16, C], tiles = N * tilesPerImage)
 * and keeps it there for winogradBackward, as conv2dForward keeps cols. Each chunk's V is a
 * contiguous range of vWhole, so chunking works as in winogradForward. Overwrites y.
 *
 * @param vWhole [N * tilesPerImage, 16, C], overwritten
 * @param m scratch of winogradScratchLengths(g, chunkTiles).m floats
 */
export function winogradForwardKeepingInput<T extends FloatArray>(
  y: T,
  x: T,
  u: T,
  vWhole: T,
  m: T,
  n: number,
  g: ConvGeometry,
  tiling: WinogradTiling,
  chunkTiles: number,
  gemm: GemmFn<T>,
): void {
  const totalTiles = n * tiling.tilesPerImage;
  const tileFloats = WINOGRAD_POSITIONS * g.inC;
  for (let start = 0; start < totalTiles; start += chunkTiles) {
    const count = Math.min(chunkTiles, totalTiles - start);
    const vOffset = start * tileFloats;
    winogradInputTransform(vWhole, x, g, tiling, start, count, 'interleaved', vOffset);
    winogradMultiply(m, vWhole, u, g.inC, g.outC, count, 'interleaved', gemm, vOffset);
    winogradOutputTransform(y, m, g, tiling, start, count, 'interleaved');
  }
}

/**
 * Transforms the output gradient of tiles [tileStart, tileStart + tileCount): dM = A dY A^T,
 * the adjoint of the output transform, for each 2x2 tile of dY and each filter k.
 *
 * @param dM [16, tileCount, K] in `layout`, overwritten
 * @param dY [N, P, Q, K]
 */
export function winogradOutputGradientTransform<T extends FloatArray>(
  dM: T,
  dY: T,
  g: ConvGeometry,
  tiling: WinogradTiling,
  tileStart: number,
  tileCount: number,
  layout: WinogradLayout,
): void {
  const { outH, outW, outC } = g;
  const strides = layoutStrides(layout, tileCount, outC);
  const positionStride = strides.position;
  const rowStride = outW * outC;
  for (let local = 0; local < tileCount; local++) {
    const tile = tileStart + local;
    const y0 = tileCorner(tile, tiling, outH, outW, outC);
    const y1 = y0 + rowStride;
    const target = local * strides.tile;
    for (let k = 0; k < outC; k++) {
      const e00 = dY[y0 + k], e01 = dY[y0 + outC + k];
      const e10 = dY[y1 + k], e11 = dY[y1 + outC + k];
      // t = A e, a 4x2 matrix: rows e0, e0 + e1, e0 - e1, -e1.
      const t10 = e00 + e10, t11 = e01 + e11;
      const t20 = e00 - e10, t21 = e01 - e11;
      // dM = t A^T: row [a, b] becomes [a, a + b, a - b, -b].
      let o = target + k;
      dM[o] = e00; o += positionStride;
      dM[o] = e00 + e01; o += positionStride;
      dM[o] = e00 - e01; o += positionStride;
      dM[o] = -e01; o += positionStride;
      dM[o] = t10; o += positionStride;
      dM[o] = t10 + t11; o += positionStride;
      dM[o] = t10 - t11; o += positionStride;
      dM[o] = -t11; o += positionStride;
      dM[o] = t20; o += positionStride;
      dM[o] = t20 + t21; o += positionStride;
      dM[o] = t20 - t21; o += positionStride;
      dM[o] = -t21; o += positionStride;
      dM[o] = -e10; o += positionStride;
      dM[o] = -e10 - e11; o += positionStride;
      dM[o] = e11 - e10; o += positionStride;
      dM[o] = e11;
    }
  }
}

/**
 * Adds B dV B^T, the adjoint of the input transform, of tiles [tileStart, tileStart + tileCount)
 * onto the 4x4 input tiles of dX. Neighboring tiles overlap, so the caller zeroes dX first.
 *
 * @param dX [N, H, W, C], accumulated into
 * @param dV [16, tileCount, C] in `layout`
 */
export function winogradInputGradientTransform<T extends FloatArray>(
  dX: T,
  dV: T,
  g: ConvGeometry,
  tiling: WinogradTiling,
  tileStart: number,
  tileCount: number,
  layout: WinogradLayout,
): void {
  const { inH, inW, inC } = g;
  const rowStride = inW * inC;
  const strides = layoutStrides(layout, tileCount, inC);
  const positionStride = strides.position;
  for (let local = 0; local < tileCount; local++) {
    const tile = tileStart + local;
    const r0 = tileCorner(tile, tiling, inH, inW, inC);
    const r1 = r0 + rowStride;
    const r2 = r1 + rowStride;
    const r3 = r2 + rowStride;
    const source = local * strides.tile;
    for (let c = 0; c < inC; c++) {
      let o = source + c;
      const a00 = dV[o]; o += positionStride;
      const a01 = dV[o]; o += positionStride;
      const a02 = dV[o]; o += positionStride;
      const a03 = dV[o]; o += positionStride;
      const a10 = dV[o]; o += positionStride;
      const a11 = dV[o]; o += positionStride;
      const a12 = dV[o]; o += positionStride;
      const a13 = dV[o]; o += positionStride;
      const a20 = dV[o]; o += positionStride;
      const a21 = dV[o]; o += positionStride;
      const a22 = dV[o]; o += positionStride;
      const a23 = dV[o]; o += positionStride;
      const a30 = dV[o]; o += positionStride;
      const a31 = dV[o]; o += positionStride;
      const a32 = dV[o]; o += positionStride;
      const a33 = dV[o];
      // t = B a: rows a0, a1 - a2 + a3, a1 + a2 - a0, -a3.
      const t00 = a00, t01 = a01, t02 = a02, t03 = a03;
      const t10 = a10 - a20 + a30, t11 = a11 - a21 + a31, t12 = a12 - a22 + a32, t13 = a13 - a23 + a33;
      const t20 = a10 + a20 - a00, t21 = a11 + a21 - a01, t22 = a12 + a22 - a02, t23 = a13 + a23 - a03;
      const t30 = -a30, t31 = -a31, t32 = -a32, t33 = -a33;
      // dd = t B^T: row [p, q, r, s] becomes [p, q - r + s, q + r - p, -s].
      dX[r0 + c] += t00;
      dX[r0 + inC + c] += t01 - t02 + t03;
      dX[r0 + 2 * inC + c] += t01 + t02 - t00;
      dX[r0 + 3 * inC + c] -= t03;
      dX[r1 + c] += t10;
      dX[r1 + inC + c] += t11 - t12 + t13;
      dX[r1 + 2 * inC + c] += t11 + t12 - t10;
      dX[r1 + 3 * inC + c] -= t13;
      dX[r2 + c] += t20;
      dX[r2 + inC + c] += t21 - t22 + t23;
      dX[r2 + 2 * inC + c] += t21 + t22 - t20;
      dX[r2 + 3 * inC + c] -= t23;
      dX[r3 + c] += t30;
      dX[r3 + inC + c] += t31 - t32 + t33;
      dX[r3 + 2 * inC + c] += t31 + t32 - t30;
      dX[r3 + 3 * inC + c] -= t33;
    }
  }
}

/**
 * Adds G^T dU G, the adjoint of the filter transform, to the filter gradient.
 *
 * @param dW [3, 3, C, K] at dWOffset, accumulated into
 * @param dU [16, C, K]
 */
export function winogradFilterGradientTransform<T extends FloatArray>(dW: T, dU: T, inC: number, outC: number, dWOffset = 0): void {
  const tapStride = inC * outC;
  const positionStride = inC * outC;
  for (let index = 0; index < tapStride; index++) {
    let o = index;
    const a00 = dU[o]; o += positionStride;
    const a01 = dU[o]; o += positionStride;
    const a02 = dU[o]; o += positionStride;
    const a03 = dU[o]; o += positionStride;
    const a10 = dU[o]; o += positionStride;
    const a11 = dU[o]; o += positionStride;
    const a12 = dU[o]; o += positionStride;
    const a13 = dU[o]; o += positionStride;
    const a20 = dU[o]; o += positionStride;
    const a21 = dU[o]; o += positionStride;
    const a22 = dU[o]; o += positionStride;
    const a23 = dU[o]; o += positionStride;
    const a30 = dU[o]; o += positionStride;
    const a31 = dU[o]; o += positionStride;
    const a32 = dU[o]; o += positionStride;
    const a33 = dU[o];
    // t = G^T a, a 3x4 matrix: rows a0 + (a1 + a2) / 2, (a1 - a2) / 2, (a1 + a2) / 2 + a3.
    const h0 = (a10 + a20) / 2, h1 = (a11 + a21) / 2, h2 = (a12 + a22) / 2, h3 = (a13 + a23) / 2;
    const t00 = a00 + h0, t01 = a01 + h1, t02 = a02 + h2, t03 = a03 + h3;
    const t10 = (a10 - a20) / 2, t11 = (a11 - a21) / 2, t12 = (a12 - a22) / 2, t13 = (a13 - a23) / 2;
    const t20 = h0 + a30, t21 = h1 + a31, t22 = h2 + a32, t23 = h3 + a33;
    // dg = t G: row [p, q, r, s] becomes [p + (q + r) / 2, (q - r) / 2, (q + r) / 2 + s].
    const tap = dWOffset + index;
    const k0 = (t01 + t02) / 2, k1 = (t11 + t12) / 2, k2 = (t21 + t22) / 2;
    dW[tap] += t00 + k0;
    dW[tap + tapStride] += (t01 - t02) / 2;
    dW[tap + 2 * tapStride] += k0 + t03;
    dW[tap + 3 * tapStride] += t10 + k1;
    dW[tap + 4 * tapStride] += (t11 - t12) / 2;
    dW[tap + 5 * tapStride] += k1 + t13;
    dW[tap + 6 * tapStride] += t20 + k2;
    dW[tap + 7 * tapStride] += (t21 - t22) / 2;
    dW[tap + 8 * tapStride] += k2 + t23;
  }
}

/**
 * Computes both gradients of y = conv(x, w) with the interleaved layout, chunkTiles tiles at a
 * time: dX is overwritten (only with computeDX; otherwise dX and dV are untouched), and dW is
 * accumulated into at dWOffset, as conv2dBackwardFilter does.
 *   dM[xi] = A dY A^T per tile         (output gradient transform)
 *   dU[xi] = sum over tiles V[xi]^T dM[xi]   then dW += G^T dU G
 *   dV[xi] = dM[xi] U[xi]^T                  then dX += B dV B^T per tile
 *
 * @param vWhole [N * tilesPerImage, 16, C], as winogradForwardKeepingInput left it for x
 * @param dM scratch of winogradScratchLengths(g, chunkTiles).m floats
 * @param dV scratch of winogradScratchLengths(g, chunkTiles).v floats
 * @param dU scratch of 16 * C * K floats, overwritten
 */
export function winogradBackward<T extends FloatArray>(
  dX: T,
  dW: T,
  dY: T,
  vWhole: T,
  u: T,
  dM: T,
  dV: T,
  dU: T,
  n: number,
  g: ConvGeometry,
  tiling: WinogradTiling,
  chunkTiles: number,
  gemm: GemmFn<T>,
  computeDX = true,
  dWOffset = 0,
): void {
  const { inC, outC } = g;
  const totalTiles = n * tiling.tilesPerImage;
  const vTile = WINOGRAD_POSITIONS * inC;
  const mTile = WINOGRAD_POSITIONS * outC;
  if (computeDX) dX.fill(0, 0, n * g.inH * g.inW * inC);
  for (let start = 0; start < totalTiles; start += chunkTiles) {
    const count = Math.min(chunkTiles, totalTiles - start);
    winogradOutputGradientTransform(dM, dY, g, tiling, start, count, 'interleaved');
    const beta = start === 0 ? 0 : 1;
    for (let xi = 0; xi < WINOGRAD_POSITIONS; xi++) {
      gemm(true, false, inC, outC, count, 1, vWhole, start * vTile + xi * inC, vTile, dM, xi * outC, mTile, beta, dU, xi * inC * outC, outC);
      if (computeDX) gemm(false, true, count, inC, outC, 1, dM, xi * outC, mTile, u, xi * inC * outC, outC, 0, dV, xi * inC, vTile);
    }
    if (computeDX) winogradInputGradientTransform(dX, dV, g, tiling, start, count, 'interleaved');
  }
  winogradFilterGradientTransform(dW, dU, inC, outC, dWOffset);
}
