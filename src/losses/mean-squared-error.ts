/**
 * Mean squared error: the loss of a row is mean_j (y_j - t_j)^2, as Keras averages over the
 * last axis; its gradient is 2 (y_j - t_j) / width.
 */
import type { FloatArray } from '../gemm/types.js';
import type { Loss } from './loss.js';

export class MeanSquaredError implements Loss {
  readonly name = 'meanSquaredError';
  readonly fusesSoftmax = false;

  targetWidth(outputWidth: number): number {
    return outputWidth;
  }

  compute(dOut: FloatArray | null, output: FloatArray, _logits: FloatArray | null, targets: FloatArray, n: number, width: number, scale: number): number {
    let total = 0;
    const size = n * width;
    for (let i = 0; i < size; i++) {
      const diff = output[i] - targets[i];
      total += diff * diff;
      if (dOut !== null) dOut[i] = (2 * scale * diff) / width;
    }
    return total / width;
  }
}
