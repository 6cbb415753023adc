/**
 * Element-wise activations applied at the end of Dense and Conv2D (or by an Activation layer).
 *
 * Each forward maps the pre-activation z to y over `rows` rows of `width` values. Each backward
 * turns dY into dZ using only y, which every activation here allows: relu' = [y > 0],
 * sigmoid' = y (1 - y), tanh' = 1 - y^2, and softmax's Jacobian-vector product
 * dZ_i = y_i (dY_i - sum_j dY_j y_j). Softmax works along the last axis.
 */
import { formatValue } from '../errors.js';
import type { FloatArray } from '../gemm/types.js';

export const ACTIVATIONS = ['linear', 'relu', 'sigmoid', 'tanh', 'softmax'] as const;
export type ActivationName = (typeof ACTIVATIONS)[number];

export function checkActivation(name: unknown, where: string): ActivationName {
  if (name === undefined || name === null) return 'linear';
  if (typeof name !== 'string' || !(ACTIVATIONS as readonly string[]).includes(name)) {
    throw new RangeError(`${where}: activation ${formatValue(name)} is not supported; use one of ${ACTIVATIONS.join(', ')}.`);
  }
  return name as ActivationName;
}

/**
 * Writes y = activation(z) for `rows` rows of `width` values. z and y may be the same array.
 * @param y [rows, width]
 * @param z [rows, width]
 */
export function activationForward(name: ActivationName, y: FloatArray, z: FloatArray, rows: number, width: number): void {
  const size = rows * width;
  switch (name) {
    case 'linear':
      if (y !== z) for (let i = 0; i < size; i++) y[i] = z[i];
      return;
    case 'relu':
      for (let i = 0; i < size; i++) {
        const v = z[i];
        y[i] = v > 0 ? v : 0;
      }
      return;
    case 'sigmoid':
      for (let i = 0; i < size; i++) {
        const v = z[i];
        // Both branches avoid exp overflow: exp is only taken of a non-positive number.
        if (v >= 0) y[i] = 1 / (1 + Math.exp(-v));
        else {
          const e = Math.exp(v);
          y[i] = e / (1 + e);
        }
      }
      return;
    case 'tanh':
      for (let i = 0; i < size; i++) y[i] = Math.tanh(z[i]);
      return;
    case 'softmax':
      for (let r = 0; r < rows; r++) softmaxRow(y, z, r * width, width);
      return;
  }
}

/** Stable softmax of one row: subtracting the row maximum keeps exp from overflowing. */
export function softmaxRow(y: FloatArray, z: FloatArray, offset: number, width: number): void {
  let max = -Infinity;
  for (let j = 0; j < width; j++) if (z[offset + j] > max) max = z[offset + j];
  let sum = 0;
  for (let j = 0; j < width; j++) {
    const e = Math.exp(z[offset + j] - max);
    y[offset + j] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let j = 0; j < width; j++) y[offset + j] *= inv;
}

/**
 * Writes dZ from dY and the forward output y. dZ and dY may be the same array.
 * @param dZ [rows, width]
 * @param dY [rows, width]
 * @param y [rows, width]
 */
export function activationBackward(
  name: ActivationName,
  dZ: FloatArray,
  dY: FloatArray,
  y: FloatArray,
  rows: number,
  width: number,
): void {
  const size = rows * width;
  switch (name) {
    case 'linear':
      if (dZ !== dY) for (let i = 0; i < size; i++) dZ[i] = dY[i];
      return;
    case 'relu':
      // y = max(z, 0), so dZ = dY where y > 0.
      for (let i = 0; i < size; i++) dZ[i] = y[i] > 0 ? dY[i] : 0;
      return;
    case 'sigmoid':
      for (let i = 0; i < size; i++) dZ[i] = dY[i] * y[i] * (1 - y[i]);
      return;
    case 'tanh':
      for (let i = 0; i < size; i++) dZ[i] = dY[i] * (1 - y[i] * y[i]);
      return;
    case 'softmax':
      for (let r = 0; r < rows; r++) {
        const offset = r * width;
        let dot = 0;
        for (let j = 0; j < width; j++) dot += dY[offset + j] * y[offset + j];
        for (let j = 0; j < width; j++) dZ[offset + j] = y[offset + j] * (dY[offset + j] - dot);
      }
      return;
  }
}
