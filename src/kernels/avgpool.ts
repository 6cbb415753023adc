/**
 * 2-D average pooling over channels-last (NHWC) tensors.
 *
 * Legend (channels-last, as Keras):
 *   N      batch
 *   H x W  input height and width
 *   C      channels (the same in input and output)
 *   P x Q  output height and width
 * The pooling window is poolH x poolW. Output size and padding follow TensorFlow's rules,
 * computed by windowOutput in conv2d.ts.
 *
 * Each output is the mean of the in-range elements of its window: padding positions are not
 * counted, so a border window that covers 2 of its 4 positions divides by 2. TensorFlow and
 * TensorFlow.js average 'same' windows this way (checked against tf.layers.averagePooling2d
 * of @tensorflow/tfjs 4.22.0 on its CPU backend).
 *
 * Global average pooling is the special case of one window covering the whole input.
 */

import type { FloatArray } from '../gemm/types.js';
import type { Padding } from './conv2d.js';
import { type PoolGeometry, poolGeometry } from './maxpool.js';

export type { PoolGeometry };

/**
 * Builds the geometry of an average pooling and validates it (see poolGeometry); errors name
 * avgPool2d.
 */
export function avgPoolGeometry(
  inH: number,
  inW: number,
  channels: number,
  poolH: number,
  poolW: number,
  strideH: number,
  strideW: number,
  padding: Padding,
): PoolGeometry {
  return poolGeometry(inH, inW, channels, poolH, poolW, strideH, strideW, padding, 'avgPool2d');
}

/** Returns the geometry of global average pooling: one window over the whole H x W input. */
export function globalAvgPoolGeometry(inH: number, inW: number, channels: number): PoolGeometry {
  return avgPoolGeometry(inH, inW, channels, inH, inW, inH, inW, 'valid');
}

/**
 * Computes y[n, p, q, c] = mean of x over the in-range part of the window of (p, q).
 * Overwrites y. The window bounds are clipped once per output pixel, and the channel loop is
 * innermost, so each window row is read contiguously.
 *
 * @param y [N, P, Q, C], overwritten
 * @param x [N, H, W, C]
 */
export function avgPoolForward<T extends FloatArray>(y: T, x: T, n: number, g: PoolGeometry): void {
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

        y.fill(0, yPixel, yPixel + channels);
        for (let r = rBegin; r < rEnd; r++) {
          const xRowStart = imageStart + ((hStart + r) * inW + wStart) * channels;
          for (let s = sBegin; s < sEnd; s++) {
            const xPixel = xRowStart + s * channels;
            for (let c = 0; c < channels; c++) y[yPixel + c] += x[xPixel + c];
          }
        }

        const inverseCount = 1 / ((rEnd - rBegin) * (sEnd - sBegin));
        for (let c = 0; c < channels; c++) y[yPixel + c] *= inverseCount;
      }
    }
  }
}

/**
 * Spreads each output gradient evenly over the in-range elements of its window:
 * y = sum(window) / count, so dX[window element] += dY / count. Overwrites dX.
 *
 * @param dX [N, H, W, C], overwritten
 * @param dY [N, P, Q, C]
 */
export function avgPoolBackward<T extends FloatArray>(dX: T, dY: T, n: number, g: PoolGeometry): void {
  const { inH, inW, channels, poolH, poolW, strideH, strideW, padTop, padLeft, outH, outW } = g;
  dX.fill(0, 0, n * inH * inW * channels);

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
        const inverseCount = 1 / ((rEnd - rBegin) * (sEnd - sBegin));

        for (let r = rBegin; r < rEnd; r++) {
          const xRowStart = imageStart + ((hStart + r) * inW + wStart) * channels;
          for (let s = sBegin; s < sEnd; s++) {
            const xPixel = xRowStart + s * channels;
            for (let c = 0; c < channels; c++) dX[xPixel + c] += dY[yPixel + c] * inverseCount;
          }
        }
      }
    }
  }
}

/**
 * Reference average pooling: one output element at a time, one bounds check per window
 * element, the sum kept in a float64 local. Same contract as avgPoolForward.
 *
 * @param y [N, P, Q, C], overwritten
 * @param x [N, H, W, C]
 */
export function avgPoolForwardNaive<T extends FloatArray>(y: T, x: T, n: number, g: PoolGeometry): void {
  const { inH, inW, channels, poolH, poolW, strideH, strideW, padTop, padLeft, outH, outW } = g;

  for (let b = 0; b < n; b++) {
    for (let p = 0; p < outH; p++) {
      for (let q = 0; q < outW; q++) {
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          let count = 0;
          for (let r = 0; r < poolH; r++) {
            const h = p * strideH - padTop + r;
            if (h < 0 || h >= inH) continue;
            for (let s = 0; s < poolW; s++) {
              const w = q * strideW - padLeft + s;
              if (w < 0 || w >= inW) continue;
              sum += x[((b * inH + h) * inW + w) * channels + c];
              count++;
            }
          }
          y[((b * outH + p) * outW + q) * channels + c] = sum / count;
        }
      }
    }
  }
}

/**
 * Reference backward: each input element gathers dY / count from every window that contains
 * it, checking all P x Q windows. Same contract as avgPoolBackward.
 *
 * @param dX [N, H, W, C], overwritten
 * @param dY [N, P, Q, C]
 */
export function avgPoolBackwardNaive<T extends FloatArray>(dX: T, dY: T, n: number, g: PoolGeometry): void {
  const { inH, inW, channels, poolH, poolW, strideH, strideW, padTop, padLeft, outH, outW } = g;

  for (let b = 0; b < n; b++) {
    for (let h = 0; h < inH; h++) {
      for (let w = 0; w < inW; w++) {
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          for (let p = 0; p < outH; p++) {
            const hStart = p * strideH - padTop;
            if (h < hStart || h >= hStart + poolH) continue;
            const rows = Math.min(hStart + poolH, inH) - Math.max(hStart, 0);
            for (let q = 0; q < outW; q++) {
              const wStart = q * strideW - padLeft;
              if (w < wStart || w >= wStart + poolW) continue;
              const columns = Math.min(wStart + poolW, inW) - Math.max(wStart, 0);
              sum += dY[((b * outH + p) * outW + q) * channels + c] / (rows * columns);
            }
          }
          dX[((b * inH + h) * inW + w) * channels + c] = sum;
        }
      }
    }
  }
}
