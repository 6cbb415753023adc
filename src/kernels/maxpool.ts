/**
 * 2-D max pooling over channels-last (NHWC) tensors.
 *
 * Legend (channels-last, as Keras):
 *   N      batch
 *   H x W  input height and width
 *   C      channels (the same in input and output)
 *   P x Q  output height and width
 * The pooling window is poolH x poolW. Output size and padding follow TensorFlow's rules,
 * computed by windowOutput in conv2d.ts. Padding positions are skipped, so they never win.
 *
 * The forward records the flat index into x of each winner in argmax, so the backward is one
 * scatter and the gradient of every output goes to exactly one input.
 */

import type { FloatArray } from '../gemm/types.js';
import { validateWindowGeometry, windowOutput, type Padding } from './conv2d.js';

/** Sizes of one pooling, with padding resolved to explicit top and left amounts. */
export interface PoolGeometry {
  inH: number;
  inW: number;
  channels: number;
  poolH: number;
  poolW: number;
  strideH: number;
  strideW: number;
  /** Padding rows above the input. Any extra padding row goes below, as in TensorFlow. */
  padTop: number;
  /** Padding columns left of the input. Any extra padding column goes right, as in TensorFlow. */
  padLeft: number;
  outH: number;
  outW: number;
}

/**
 * Builds the geometry of a pooling and validates it. Throws RangeError, naming `op`, when a size
 * is not a positive integer, when padding is unknown, or when the window does not fit a 'valid'
 * input.
 */
export function poolGeometry(
  inH: number,
  inW: number,
  channels: number,
  poolH: number,
  poolW: number,
  strideH: number,
  strideW: number,
  padding: Padding,
  op = 'maxPool2d',
): PoolGeometry {
  validateWindowGeometry(op, { inH, inW, channels, poolH, poolW, strideH, strideW }, padding);
  const [outH, padTop] = windowOutput(inH, poolH, strideH, padding);
  const [outW, padLeft] = windowOutput(inW, poolW, strideW, padding);
  if (outH < 1 || outW < 1) {
    throw new RangeError(
      `${op}: pool window must fit the input with 'valid' padding, got window ` +
        `${poolH}x${poolW} and input ${inH}x${inW}`,
    );
  }
  return { inH, inW, channels, poolH, poolW, strideH, strideW, padTop, padLeft, outH, outW };
}

/**
 * Computes y[n, p, q, c] = max of x over the in-range part of the window of (p, q), and stores
 * the flat index into x of the winner in argmax. On ties the first element in row-major
 * window order wins. Overwrites y and argmax. A 2x2 window with stride 2 and no padding
 * runs a loop specialized for it, with the same result.
 *
 * NOTE: NaN is selected only when it is the first in-range element of its window, because
 * later elements replace the running max only when strictly greater.
 *
 * @param y [N, P, Q, C], overwritten
 * @param argmax [N, P, Q, C], overwritten with indices into x
 * @param x [N, H, W, C]
 */
export function maxPoolForward<T extends FloatArray>(
  y: T,
  argmax: Int32Array,
  x: T,
  n: number,
  g: PoolGeometry,
): void {
  if (isInteriorPool2x2(g)) {
    maxPool2x2Forward(y, argmax, x, n, g);
    return;
  }
  const { inH, inW, channels, poolH, poolW, strideH, strideW, padTop, padLeft, outH, outW } = g;

  for (let b = 0; b < n; b++) {
    const imageStart = b * inH * inW * channels;
    for (let p = 0; p < outH; p++) {
      const hStart = p * strideH - padTop;
      const rBegin = Math.max(0, -hStart);
      const rEnd = Math.min(poolH, inH - hStart);
      for (let q = 0; q < outW; q++) {
        const wStart = q * strideW - padLeft;
        const sBegin = Math.max(0, -wStart);
        const sEnd = Math.min(poolW, inW - wStart);
        const yPixel = ((b * outH + p) * outW + q) * channels;

        // Start every channel's running max at the first in-range element, then scan the
        // whole window. The first element is compared again, which changes nothing.
        const firstPixel = imageStart + ((hStart + rBegin) * inW + wStart + sBegin) * channels;
        for (let c = 0; c < channels; c++) {
          y[yPixel + c] = x[firstPixel + c];
          argmax[yPixel + c] = firstPixel + c;
        }

        for (let r = rBegin; r < rEnd; r++) {
          for (let s = sBegin; s < sEnd; s++) {
            const xPixel = imageStart + ((hStart + r) * inW + wStart + s) * channels;
            for (let c = 0; c < channels; c++) {
              const value = x[xPixel + c];
              if (value > y[yPixel + c]) {
                y[yPixel + c] = value;
                argmax[yPixel + c] = xPixel + c;
              }
            }
          }
        }
      }
    }
  }
}

/**
 * Reports whether the pooling is 2x2 with stride 2 and every window lies inside the input:
 * 'valid' padding, or 'same' padding on an even size, which pads nothing.
 */
function isInteriorPool2x2(g: PoolGeometry): boolean {
  const window2x2 = g.poolH === 2 && g.poolW === 2 && g.strideH === 2 && g.strideW === 2;
  return window2x2 && g.padTop === 0 && g.padLeft === 0 && 2 * g.outH <= g.inH && 2 * g.outW <= g.inW;
}

/**
 * maxPoolForward for a 2x2 window with stride 2 whose windows all lie inside the input. The
 * four window elements are compared in scan order with a strict >, so ties and NaN behave as
 * in the general loop.
 */
function maxPool2x2Forward<T extends FloatArray>(y: T, argmax: Int32Array, x: T, n: number, g: PoolGeometry): void {
  const { inH, inW, channels, outH, outW } = g;
  const inputRowLength = inW * channels;
  let yIndex = 0;

  for (let b = 0; b < n; b++) {
    const imageStart = b * inH * inputRowLength;
    for (let p = 0; p < outH; p++) {
      const topRowStart = imageStart + 2 * p * inputRowLength;
      for (let q = 0; q < outW; q++) {
        const topLeft = topRowStart + 2 * q * channels;
        for (let c = 0; c < channels; c++) {
          const i00 = topLeft + c;
          const i01 = i00 + channels;
          const i10 = i00 + inputRowLength;
          const i11 = i10 + channels;
          let best = x[i00];
          let bestIndex = i00;
          if (x[i01] > best) {
            best = x[i01];
            bestIndex = i01;
          }
          if (x[i10] > best) {
            best = x[i10];
            bestIndex = i10;
          }
          if (x[i11] > best) {
            best = x[i11];
            bestIndex = i11;
          }
          y[yIndex] = best;
          argmax[yIndex] = bestIndex;
          yIndex++;
        }
      }
    }
  }
}

/**
 * Routes each output gradient to the input that won the forward: dX is zeroed over its
 * N*H*W*C extent, then dX[argmax[i]] += dY[i]. Overwrites dX.
 *
 * @param dX [N, H, W, C], overwritten
 * @param dY [N, P, Q, C]
 * @param argmax [N, P, Q, C], as maxPoolForward left it
 */
export function maxPoolBackward<T extends FloatArray>(
  dX: T,
  dY: T,
  argmax: Int32Array,
  n: number,
  g: PoolGeometry,
): void {
  dX.fill(0, 0, n * g.inH * g.inW * g.channels);
  const outputLength = n * g.outH * g.outW * g.channels;
  for (let i = 0; i < outputLength; i++) {
    dX[argmax[i]] += dY[i];
  }
}

/**
 * Reference max pooling with one bounds check per window element and one running max per
 * output element. Same contract as maxPoolForward, ties included.
 *
 * @param y [N, P, Q, C], overwritten
 * @param argmax [N, P, Q, C], overwritten with indices into x
 * @param x [N, H, W, C]
 */
export function maxPoolForwardNaive<T extends FloatArray>(
  y: T,
  argmax: Int32Array,
  x: T,
  n: number,
  g: PoolGeometry,
): void {
  const { inH, inW, channels, poolH, poolW, strideH, strideW, padTop, padLeft, outH, outW } = g;

  for (let b = 0; b < n; b++) {
    for (let p = 0; p < outH; p++) {
      for (let q = 0; q < outW; q++) {
        for (let c = 0; c < channels; c++) {
          let best = 0;
          let bestIndex = -1;
          for (let r = 0; r < poolH; r++) {
            const h = p * strideH - padTop + r;
            if (h < 0 || h >= inH) continue;
            for (let s = 0; s < poolW; s++) {
              const wi = q * strideW - padLeft + s;
              if (wi < 0 || wi >= inW) continue;
              const xIndex = ((b * inH + h) * inW + wi) * channels + c;
              if (bestIndex < 0 || x[xIndex] > best) {
                best = x[xIndex];
                bestIndex = xIndex;
              }
            }
          }
          const yIndex = ((b * outH + p) * outW + q) * channels + c;
          y[yIndex] = best;
          argmax[yIndex] = bestIndex;
        }
      }
    }
  }
}
