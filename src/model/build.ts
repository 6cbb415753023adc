/**
 * Shape inference and parameter layout of a layer stack.
 *
 * Every weight gets an offset in one flat buffer, in layer order and then in each layer's
 * Keras weight order (kernel, bias). Trainable weights come first and non-trainable ones
 * (BatchNormalization's moving statistics) after all of them, so gradients, gradient slots
 * and optimizer state cover the first trainableParams() values only, and the optimizer never
 * reaches a non-trainable weight. The entries stay in Keras order (per layer: gamma, beta,
 * moving_mean, moving_variance), which getWeights and the saved manifest follow. The main
 * thread and every worker run this same function over the same configuration, so all of them
 * agree on the layout.
 */
import type { Layer } from '../layers/layer.js';
import type { ParamSpec } from '../layers/layer.js';

export interface ParamEntry {
  layer: Layer;
  spec: ParamSpec;
  /** Keras-style weight name, e.g. 'conv2d/kernel'. */
  name: string;
  offset: number;
  size: number;
}

/** Builds each layer on its predecessor's output shape and assigns weight and batch-statistics offsets. */
export function buildLayers(layers: readonly Layer[], inputShape: readonly number[]): ParamEntry[] {
  const entries: ParamEntry[] = [];
  let shape = inputShape.slice();
  let statisticsOffset = 0;
  for (const layer of layers) {
    layer.build(shape);
    layer.paramOffsets = [];
    for (const spec of layer.paramSpecs()) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      entries.push({ layer, spec, name: `${layer.name}/${spec.name}`, offset: -1, size });
    }
    const statisticsLength = layer.batchStatisticsLength();
    layer.batchStatisticsOffset = statisticsLength > 0 ? statisticsOffset : -1;
    statisticsOffset += statisticsLength;
    shape = layer.outputShape;
  }
  let offset = 0;
  for (const trainable of [true, false]) {
    for (const entry of entries) {
      if ((entry.spec.trainable !== false) !== trainable) continue;
      entry.offset = offset;
      offset += entry.size;
    }
  }
  for (const entry of entries) entry.layer.paramOffsets.push(entry.offset);
  return entries;
}

export function totalParams(entries: readonly ParamEntry[]): number {
  let count = 0;
  for (const entry of entries) count += entry.size;
  return count;
}

/** Number of weights the optimizer updates: the length of gradients and optimizer state. */
export function trainableParams(entries: readonly ParamEntry[]): number {
  let count = 0;
  for (const entry of entries) if (entry.spec.trainable !== false) count += entry.size;
  return count;
}

/** Length of the float64 batch-statistics buffer the layers need (0 without BatchNormalization). */
export function batchStatisticsLength(layers: readonly Layer[]): number {
  let length = 0;
  for (const layer of layers) length += layer.batchStatisticsLength();
  return length;
}
