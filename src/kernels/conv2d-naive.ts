/**
 * Reference 2-D convolution over channels-last (NHWC) tensors as direct loops, with no im2col
 * and no GEMM, plus element-by-element im2col and col2im. The tests compare the fast kernels
 * in conv2d.ts against these.
 *
 * Legend (channels-last, as Keras):
 *   N      batch
 *   H x W  input height and width
 *   C      input channels
 *   R x S  kernel height and width, with weights in Keras's [R, S, C, K] layout
 *   K      filters (output channels)
 *   P x Q  output height and width
 *
 * Input position (h, wi) = (p * strideH - padTop + r, q * strideW - padLeft + s) feeds output
 * (p, q) through kernel tap (r, s); the column is `wi` because `w` names the weights.
 * Positions outside the input are zero padding.
 * Every sum is a JS number (float64), rounded once when stored.
 */

import type { FloatArray } from '../gemm/types.js';
import type { ConvGeometry } from './conv2d.js';

/**
 * Computes y[n, p, q, k] = sum over (r, s, c) of x[n, h, wi, c] * w[r, s, c, k]. Overwrites y.
 *
 * @param y [N, P, Q, K], overwritten
 * @param x [N, H, W, C]
 * @param w [R, S, C, K]
 */
export function conv2dForwardNaive<T extends FloatArray>(
  y: T,
  x: T,
  w: T,
  n: number,
  g: ConvGeometry,
): void {
  const { inH, inW, inC, kH, kW, outC, strideH, strideW, padTop, padLeft, outH, outW } = g;

  for (let b = 0; b < n; b++) {
    for (let p = 0; p < outH; p++) {
      for (let q = 0; q < outW; q++) {
        const yPixel = ((b * outH + p) * outW + q) * outC;
        for (let k = 0; k < outC; k++) {
          let sum = 0;
          for (let r = 0; r < kH; r++) {
            const h = p * strideH - padTop + r;
            if (h < 0 || h >= inH) continue;
            for (let s = 0; s < kW; s++) {
              const wi = q * strideW - padLeft + s;
              if (wi < 0 || wi >= inW) continue;
              const xPixel = ((b * inH + h) * inW + wi) * inC;
              const wTap = (r * kW + s) * inC;
              for (let c = 0; c < inC; c++) {
                sum += x[xPixel + c] * w[(wTap + c) * outC + k];
              }
            }
          }
          y[yPixel + k] = sum;
        }
      }
    }
  }
}

/**
 * Computes the input gradient of the forward above by gathering, for every input position,
 * the outputs it fed: dX[n, h, wi, c] = sum over (r, s, k) of dY[n, p, q, k] * w[r, s, c, k],
 * over the taps where h = p * strideH - padTop + r and wi = q * strideW - padLeft + s hold for
 * some in-range output (p, q). Overwrites dX.
 *
 * @param dX [N, H, W, C], overwritten
 * @param dY [N, P, Q, K]
 * @param w [R, S, C, K]
 */
export function conv2dBackwardInputNaive<T extends FloatArray>(
  dX: T,
  dY: T,
  w: T,
  n: number,
  g: ConvGeometry,
): void {
  const { inH, inW, inC, kH, kW, outC, strideH, strideW, padTop, padLeft, outH, outW } = g;

  for (let b = 0; b < n; b++) {
    for (let h = 0; h < inH; h++) {
      for (let wi = 0; wi < inW; wi++) {
        const xPixel = ((b * inH + h) * inW + wi) * inC;
        for (let c = 0; c < inC; c++) {
          let sum = 0;
          for (let r = 0; r < kH; r++) {
            const pScaled = h + padTop - r;
            if (pScaled < 0 || pScaled % strideH !== 0) continue;
            const p = pScaled / strideH;
            if (p >= outH) continue;
            for (let s = 0; s < kW; s++) {
              const qScaled = wi + padLeft - s;
              if (qScaled < 0 || qScaled % strideW !== 0) continue;
              const q = qScaled / strideW;
              if (q >= outW) continue;
              const yPixel = ((b * outH + p) * outW + q) * outC;
              const wRow = ((r * kW + s) * inC + c) * outC;
              for (let k = 0; k < outC; k++) {
                sum += dY[yPixel + k] * w[wRow + k];
              }
            }
          }
          dX[xPixel + c] = sum;
        }
      }
    }
  }
}

/**
 * Adds the filter gradient of the forward above to dW:
 * dW[r, s, c, k] += sum over (n, p, q) of x[n, h, wi, c] * dY[n, p, q, k]. Accumulates.
 *
 * @param dW [R, S, C, K], accumulated into
 * @param dY [N, P, Q, K]
 * @param x [N, H, W, C]
 */
export function conv2dBackwardFilterNaive<T extends FloatArray>(
  dW: T,
  dY: T,
  x: T,
  n: number,
  g: ConvGeometry,
): void {
  const { inH, inW, inC, kH, kW, outC, strideH, strideW, padTop, padLeft, outH, outW } = g;

  for (let r = 0; r < kH; r++) {
    for (let s = 0; s < kW; s++) {
      for (let c = 0; c < inC; c++) {
        const wRow = ((r * kW + s) * inC + c) * outC;
        for (let k = 0; k < outC; k++) {
          let sum = 0;
          for (let b = 0; b < n; b++) {
            for (let p = 0; p < outH; p++) {
              const h = p * strideH - padTop + r;
              if (h < 0 || h >= inH) continue;
              for (let q = 0; q < outW; q++) {
                const wi = q * strideW - padLeft + s;
                if (wi < 0 || wi >= inW) continue;
                const xIndex = ((b * inH + h) * inW + wi) * inC + c;
                const yIndex = ((b * outH + p) * outW + q) * outC + k;
                sum += x[xIndex] * dY[yIndex];
              }
            }
          }
          dW[wRow + k] += sum;
        }
      }
    }
  }
}

/**
 * Reference im2col: cols[(n, p, q), (r, s, c)] = x[n, h, wi, c], or 0 where (h, wi) is
 * padding, with one index computation per element. Overwrites cols.
 *
 * @param cols [N*P*Q, R*S*C], overwritten
 * @param x [N, H, W, C]
 */
export function im2colNaive<T extends FloatArray>(cols: T, x: T, n: number, g: ConvGeometry): void {
  const { inH, inW, inC, kH, kW, strideH, strideW, padTop, padLeft, outH, outW } = g;
  const depth = kH * kW * inC;

  for (let b = 0; b < n; b++) {
    for (let p = 0; p < outH; p++) {
      for (let q = 0; q < outW; q++) {
        const colRow = ((b * outH + p) * outW + q) * depth;
        for (let r = 0; r < kH; r++) {
          const h = p * strideH - padTop + r;
          for (let s = 0; s < kW; s++) {
            const wi = q * strideW - padLeft + s;
            const inside = h >= 0 && h < inH && wi >= 0 && wi < inW;
            for (let c = 0; c < inC; c++) {
              const colIndex = colRow + (r * kW + s) * inC + c;
              cols[colIndex] = inside ? x[((b * inH + h) * inW + wi) * inC + c] : 0;
            }
          }
        }
      }
    }
  }
}

/**
 * Reference col2im, the adjoint of im2colNaive: dX is zeroed over its N*H*W*C extent, then
 * every element of dCols that im2colNaive would copy from x is added back at its source.
 * The additions run in row-major order of dCols.
 *
 * @param dX [N, H, W, C], overwritten
 * @param dCols [N*P*Q, R*S*C]
 */
export function col2imNaive<T extends FloatArray>(dX: T, dCols: T, n: number, g: ConvGeometry): void {
  const { inH, inW, inC, kH, kW, strideH, strideW, padTop, padLeft, outH, outW } = g;
  const depth = kH * kW * inC;
  dX.fill(0, 0, n * inH * inW * inC);

  for (let b = 0; b < n; b++) {
    for (let p = 0; p < outH; p++) {
      for (let q = 0; q < outW; q++) {
        const colRow = ((b * outH + p) * outW + q) * depth;
        for (let r = 0; r < kH; r++) {
          const h = p * strideH - padTop + r;
          if (h < 0 || h >= inH) continue;
          for (let s = 0; s < kW; s++) {
            const wi = q * strideW - padLeft + s;
            if (wi < 0 || wi >= inW) continue;
            for (let c = 0; c < inC; c++) {
              dX[((b * inH + h) * inW + wi) * inC + c] += dCols[colRow + (r * kW + s) * inC + c];
            }
          }
        }
      }
    }
  }
}
