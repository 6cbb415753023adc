/**
 * Cross-entropy losses for classification: sparse (integer class targets) and categorical
 * (one-hot or probability targets).
 *
 * With softmax logits z, the loss of a row is logsumexp(z) - sum_j t_j z_j, computed after
 * subtracting the row maximum, so even a logit gap of 1000 gives a finite loss; its gradient
 * is softmax(z) - t. Without logits (an output that did not come from a softmax), the loss is
 * -sum_j t_j log(clip(p_j)) with p clipped to [1e-7, 1 - 1e-7], Keras's epsilon.
 */
import type { FloatArray } from '../gemm/types.js';
import type { Loss } from './loss.js';

export const PROBABILITY_EPSILON = 1e-7;

function clipProbability(p: number): number {
  if (p < PROBABILITY_EPSILON) return PROBABILITY_EPSILON;
  if (p > 1 - PROBABILITY_EPSILON) return 1 - PROBABILITY_EPSILON;
  return p;
}

/** log(sum_j exp(z_j)) of one row, computed stably around the row maximum. */
function logSumExp(z: FloatArray, offset: number, width: number): number {
  let max = -Infinity;
  for (let j = 0; j < width; j++) if (z[offset + j] > max) max = z[offset + j];
  let sum = 0;
  for (let j = 0; j < width; j++) sum += Math.exp(z[offset + j] - max);
  return max + Math.log(sum);
}

export class SparseCategoricalCrossentropy implements Loss {
  readonly name = 'sparseCategoricalCrossentropy';
  readonly fusesSoftmax = true;

  targetWidth(_outputWidth: number): number {
    return 1;
  }

  compute(dOut: FloatArray | null, output: FloatArray, logits: FloatArray | null, targets: FloatArray, n: number, width: number, scale: number): number {
    let total = 0;
    for (let r = 0; r < n; r++) {
      const offset = r * width;
      const label = targets[r];
      if (logits !== null) {
        total += logSumExp(logits, offset, width) - logits[offset + label];
        if (dOut !== null) {
          // d/dz (logsumexp(z) - z_label) = softmax(z) - onehot(label), and output is softmax(z).
          for (let j = 0; j < width; j++) dOut[offset + j] = scale * output[offset + j];
          dOut[offset + label] -= scale;
        }
      } else {
        const p = output[offset + label];
        const clipped = clipProbability(p);
        total -= Math.log(clipped);
        if (dOut !== null) {
          for (let j = 0; j < width; j++) dOut[offset + j] = 0;
          // d/dp (-log p) = -1 / p, and zero where the clip is active.
          dOut[offset + label] = clipped === p ? -scale / p : 0;
        }
      }
    }
    return total;
  }
}

export class CategoricalCrossentropy implements Loss {
  readonly name = 'categoricalCrossentropy';
  readonly fusesSoftmax = true;

  targetWidth(outputWidth: number): number {
    return outputWidth;
  }

  compute(dOut: FloatArray | null, output: FloatArray, logits: FloatArray | null, targets: FloatArray, n: number, width: number, scale: number): number {
    let total = 0;
    for (let r = 0; r < n; r++) {
      const offset = r * width;
      if (logits !== null) {
        let targetSum = 0;
        let dot = 0;
        for (let j = 0; j < width; j++) {
          targetSum += targets[offset + j];
          dot += targets[offset + j] * logits[offset + j];
        }
        total += targetSum * logSumExp(logits, offset, width) - dot;
        if (dOut !== null) {
          // d/dz (sum(t) logsumexp(z) - t.z) = sum(t) softmax(z) - t.
          for (let j = 0; j < width; j++) dOut[offset + j] = scale * (targetSum * output[offset + j] - targets[offset + j]);
        }
      } else {
        for (let j = 0; j < width; j++) {
          const p = output[offset + j];
          const clipped = clipProbability(p);
          const t = targets[offset + j];
          total -= t * Math.log(clipped);
          if (dOut !== null) dOut[offset + j] = clipped === p ? (-scale * t) / p : 0;
        }
      }
    }
    return total;
  }
}
