/**
 * Layer registry: one typed table from Keras class name to constructor, used to rebuild a
 * model from its configuration (in workers and when loading a saved model), plus the
 * factory functions TensorFlow.js users know (`layers.dense({...})`).
 */
import { Conv2D, type Conv2DArgs } from './conv2d.js';
import { Dense, type DenseArgs } from './dense.js';
import { Dropout, type DropoutArgs } from './dropout.js';
import { Flatten } from './flatten.js';
import { Layer, type LayerArgs } from './layer.js';
import { MaxPooling2D, type MaxPooling2DArgs } from './max-pooling2d.js';

export { Conv2D, Dense, Dropout, Flatten, Layer, MaxPooling2D };
export type { Conv2DArgs, DenseArgs, DropoutArgs, LayerArgs, MaxPooling2DArgs };

/** A serialized layer: its Keras class name and the options it was built with. */
export interface LayerConfig {
  className: string;
  config: Record<string, unknown>;
}

type LayerFactory<A> = (args: A) => Layer;

const LAYER_CLASSES: Record<string, LayerFactory<never>> = {
  Conv2D: (args: Conv2DArgs) => new Conv2D(args),
  Dense: (args: DenseArgs) => new Dense(args),
  Dropout: (args: DropoutArgs) => new Dropout(args),
  Flatten: (args: LayerArgs) => new Flatten(args),
  MaxPooling2D: (args: MaxPooling2DArgs) => new MaxPooling2D(args),
};

export const LAYER_CLASS_NAMES = Object.keys(LAYER_CLASSES);

export function serializeLayer(layer: Layer): LayerConfig {
  return { className: layer.className, config: layer.getConfig() };
}

/** Rebuilds a layer from its configuration; unknown class names are rejected. */
export function deserializeLayer(entry: LayerConfig): Layer {
  if (entry === null || typeof entry !== 'object' || typeof entry.className !== 'string' || !Object.hasOwn(LAYER_CLASSES, entry.className)) {
    const name = entry !== null && typeof entry === 'object' ? entry.className : entry;
    throw new RangeError(`Unknown layer class ${JSON.stringify(name)}; supported: ${LAYER_CLASS_NAMES.join(', ')}.`);
  }
  const factory = LAYER_CLASSES[entry.className] as LayerFactory<Record<string, unknown>>;
  return factory({ ...entry.config });
}

/** Factory functions in the TensorFlow.js style: `layers.conv2d({ filters: 32, ... })`. */
export const layers = {
  conv2d: (args: Conv2DArgs) => new Conv2D(args),
  dense: (args: DenseArgs) => new Dense(args),
  dropout: (args: DropoutArgs) => new Dropout(args),
  flatten: (args: LayerArgs = {}) => new Flatten(args),
  maxPooling2d: (args: MaxPooling2DArgs = {}) => new MaxPooling2D(args),
};
