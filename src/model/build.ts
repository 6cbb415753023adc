/**
 * Shape inference and parameter layout of a layer stack.
 *
 * Every parameter gets an offset in one flat buffer, in layer order and then in each layer's
 * Keras weight order (kernel, bias). The main thread and every worker run this same function
 * over the same configuration, so all of them agree on the layout.
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

/** Builds each layer on its predecessor's output shape and assigns parameter offsets. */
export function buildLayers(layers: readonly Layer[], inputShape: readonly number[]): ParamEntry[] {
  const entries: ParamEntry[] = [];
  let shape = inputShape.slice();
  let offset = 0;
  for (const layer of layers) {
    layer.build(shape);
    layer.paramOffsets = [];
    for (const spec of layer.paramSpecs()) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      layer.paramOffsets.push(offset);
      entries.push({ layer, spec, name: `${layer.name}/${spec.name}`, offset, size });
      offset += size;
    }
    shape = layer.outputShape;
  }
  return entries;
}

export function totalParams(entries: readonly ParamEntry[]): number {
  let count = 0;
  for (const entry of entries) count += entry.size;
  return count;
}
