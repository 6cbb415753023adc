/**
 * Whole-batch statistics for BatchNormalization under micro-batch data parallelism.
 *
 * A BatchNormalization layer normalizes with the mean and variance of the whole training batch,
 * and its backward needs per-channel sums of dY and dY * xHat over the whole batch, but each
 * gradient task computes one micro-batch. So before the gradient pass, the runner runs one
 * statistics pass per reduction, each over every micro-batch of the batch:
 *
 * 1. For each BatchNormalization layer, first to last, a 'moments' pass: every micro-batch
 *    task runs training-mode forward up to the layer's input, using the statistics of the
 *    earlier layers, and writes its count, mean and M2 into its partials slot. The runner
 *    merges the slots in micro-batch order (combineMoments) and stores mean and biased variance.
 * 2. For each BatchNormalization layer, last to first, a 'gradientSums' pass: every task runs
 *    forward, the loss and backward down to the layer's output, through the later layers'
 *    backward, which use the sums already stored, and writes its sums of dY and dY * xHat. The
 *    runner adds the slots in micro-batch order.
 * 3. The usual gradient pass, in which each layer reads those statistics.
 *
 * Every task recomputes the forward pass instead of keeping activations per micro-batch, which
 * keeps memory at one micro-batch per worker: a model with B BatchNormalization layers runs
 * 2B + 1 forward passes per micro-batch (B of them partial) and B + 1 backward passes (B of
 * them partial). Partials use slots [0, slotCount) like gradients, in rounds of at most
 * slotCount micro-batches, and the merge carries over between rounds. Slot contents depend only
 * on the micro-batch, and the merge order is fixed, so the statistics, and with them the
 * weights, are the same bits for any thread count. After the optimizer step, the runner
 * updates each layer's moving mean and variance from the batch statistics.
 *
 * Models without BatchNormalization have no plan, and their training runs the gradient pass only.
 */
import { combineMoments, updateMovingStatistics } from '../kernels/batch-norm.js';
import { BatchNormalization, statisticsLayout } from '../layers/batch-normalization.js';
import type { Layer } from '../layers/layer.js';

/** One statistics pass: the reduction and the index of its layer in the model. */
export interface BatchStatisticsPhase {
  reduction: 'moments' | 'gradientSums';
  layerIndex: number;
}

export class BatchStatisticsPlan {
  /** Passes in the order they must run. */
  readonly phases: readonly BatchStatisticsPhase[];
  private readonly layers: readonly Layer[];

  /**
   * @param layers the model's built layers (offsets assigned by buildLayers)
   * @param statistics the shared batch-statistics buffer [batchStatisticsLength(layers)]
   * @param partials the shared partials [slotCount, partialStride]
   * @param partialStride values per partials slot, from BatchStatisticsPlan.lengths(layers)
   */
  constructor(
    layers: readonly Layer[],
    private readonly statistics: Float64Array,
    private readonly partials: Float64Array,
    private readonly partialStride: number,
  ) {
    this.layers = layers;
    const indices = layers.flatMap((layer, i) => (layer.batchStatisticsLength() > 0 ? [i] : []));
    for (const i of indices) {
      if (!(layers[i] instanceof BatchNormalization)) {
        throw new Error(`Layer '${layers[i].name}' (${layers[i].className}) needs batch statistics, which only BatchNormalization provides here.`);
      }
    }
    this.phases = [
      ...indices.map((layerIndex) => ({ reduction: 'moments' as const, layerIndex })),
      ...indices.reverse().map((layerIndex) => ({ reduction: 'gradientSums' as const, layerIndex })),
    ];
  }

  /** Returns the length of the statistics buffer and of one partials slot; both 0 without BatchNormalization. */
  static lengths(layers: readonly Layer[]): { statistics: number; partialStride: number } {
    let statistics = 0;
    let partialStride = 0;
    for (const layer of layers) {
      statistics += layer.batchStatisticsLength();
      partialStride = Math.max(partialStride, layer.partialStatisticsLength());
    }
    return { statistics, partialStride };
  }

  /** Offset of slot `slot` in the partials buffer. */
  slotOffset(slot: number): number {
    return slot * this.partialStride;
  }

  /** Clears the layer's accumulator for the pass. */
  begin(phase: BatchStatisticsPhase): void {
    const layer = this.layer(phase);
    const block = statisticsLayout(layer.channels);
    const base = layer.batchStatisticsOffset;
    if (phase.reduction === 'moments') this.statistics.fill(0, base, base + block.sumDY);
    else this.statistics.fill(0, base + block.sumDY, base + block.length);
  }

  /** Merges partial slots [0, slotsUsed) into the layer's accumulator, in slot order. */
  absorb(phase: BatchStatisticsPhase, slotsUsed: number): void {
    const layer = this.layer(phase);
    const channels = layer.channels;
    const block = statisticsLayout(channels);
    const base = layer.batchStatisticsOffset;
    for (let slot = 0; slot < slotsUsed; slot++) {
      const offset = this.slotOffset(slot);
      if (phase.reduction === 'moments') {
        // The block's [count, mean[C], variance[C]] holds M2 in place of variance until finish().
        combineMoments(this.statistics, base, this.partials, offset, channels);
      } else {
        for (let i = 0; i < 2 * channels; i++) this.statistics[base + block.sumDY + i] += this.partials[offset + i];
      }
    }
  }

  /** Completes the pass: turns M2 into the biased variance M2 / count. */
  finish(phase: BatchStatisticsPhase): void {
    if (phase.reduction !== 'moments') return;
    const layer = this.layer(phase);
    const block = statisticsLayout(layer.channels);
    const base = layer.batchStatisticsOffset;
    const count = this.statistics[base + block.count];
    for (let c = 0; c < layer.channels; c++) this.statistics[base + block.variance + c] /= count;
  }

  /** Moves every layer's moving mean and variance towards the last batch's statistics. */
  updateMovingStatistics(weights: Float32Array): void {
    for (const phase of this.phases) {
      if (phase.reduction !== 'moments') continue;
      const layer = this.layer(phase);
      const block = statisticsLayout(layer.channels);
      const base = layer.batchStatisticsOffset;
      updateMovingStatistics(
        weights,
        layer.movingMeanOffset,
        layer.movingVarianceOffset,
        this.statistics,
        base + block.mean,
        this.statistics,
        base + block.variance,
        layer.channels,
        layer.momentum,
      );
    }
  }

  private layer(phase: BatchStatisticsPhase): BatchNormalization {
    return this.layers[phase.layerIndex] as BatchNormalization;
  }
}
