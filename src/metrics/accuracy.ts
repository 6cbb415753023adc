/**
 * Accuracy: the number of rows whose prediction matches the target.
 *
 * With one output per row it is binary accuracy (output > 0.5 against target > 0.5);
 * otherwise the predicted class is the argmax of the row (the first on ties), compared with
 * an integer label (targetWidth 1) or with the argmax of a one-hot row.
 */
import type { FloatArray } from '../gemm/types.js';

function argmaxRow(values: FloatArray, offset: number, width: number): number {
  let best = 0;
  let bestValue = values[offset];
  for (let j = 1; j < width; j++) {
    if (values[offset + j] > bestValue) {
      bestValue = values[offset + j];
      best = j;
    }
  }
  return best;
}

/**
 * @param output [n, width]
 * @param targets [n, targetWidth]
 */
export function countCorrect(output: FloatArray, targets: FloatArray, n: number, width: number, targetWidth: number): number {
  let correct = 0;
  for (let r = 0; r < n; r++) {
    if (width === 1) {
      if (output[r] > 0.5 === targets[r] > 0.5) correct++;
    } else if (targetWidth === 1) {
      if (argmaxRow(output, r * width, width) === targets[r]) correct++;
    } else if (argmaxRow(output, r * width, width) === argmaxRow(targets, r * targetWidth, targetWidth)) {
      correct++;
    }
  }
  return correct;
}
