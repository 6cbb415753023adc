/**
 * The loss interface. A loss reduces a batch to the mean of per-sample losses; kernels here
 * return the SUM over the rows they see, and write the gradient of `scale` times that sum, so
 * micro-batches of one batch, each scaled by 1 / batchSize, add up to the gradient of the
 * batch mean.
 */
import type { FloatArray } from '../gemm/types.js';

export type LossName = 'sparseCategoricalCrossentropy' | 'categoricalCrossentropy' | 'meanSquaredError';

export interface Loss {
  readonly name: LossName;
  /** Number of target values per sample for an output of `outputWidth` values. */
  targetWidth(outputWidth: number): number;
  /** True when the loss can take the softmax logits and fuse the softmax gradient. */
  readonly fusesSoftmax: boolean;
  /**
   * Returns the sum of per-sample losses over n rows. When dOut is given, writes the gradient
   * of scale * sum into it: with respect to `logits` when they are given (the softmax is fused),
   * else with respect to `output`.
   * @param dOut [n, width] or null
   * @param output [n, width], the model output (probabilities after a softmax)
   * @param logits [n, width] or null: the pre-softmax values, when fused
   * @param targets [n, targetWidth]
   */
  compute(
    dOut: FloatArray | null,
    output: FloatArray,
    logits: FloatArray | null,
    targets: FloatArray,
    n: number,
    width: number,
    scale: number,
  ): number;
}
