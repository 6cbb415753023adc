/**
 * Layer registry: one typed table from Keras class name to constructor, used to rebuild a
 * model from its configuration (in workers and when loading a saved model), plus the
 * factory functions TensorFlow.js users know (`layers.dense({...})`).
 */
import { Activation, type ActivationArgs } from './activation.js';
import { AveragePooling2D, type AveragePooling2DArgs } from './average-pooling2d.js';
import { BatchNormalization, type BatchNormalizationArgs } from './batch-normalization.js';
import { Conv2D, type Conv2DArgs } from './conv2d.js';
import { Dense, type DenseArgs } from './dense.js';
import { Dropout, type DropoutArgs } from './dropout.js';
import { Flatten } from './flatten.js';
import { GlobalAveragePooling2D, type GlobalAveragePooling2DArgs } from './global-average-pooling2d.js';
import { Layer, type LayerArgs } from './layer.js';
import { MaxPooling2D, type MaxPooling2DArgs } from './max-pooling2d.js';
import { Reshape, type ReshapeArgs } from './reshape.js';

export { Activation, AveragePooling2D, BatchNormalization, Conv2D, Dense, Dropout, Flatten, GlobalAveragePooling2D, Layer, MaxPooling2D, Reshape };
export type {
  ActivationArgs,
  AveragePooling2DArgs,
  BatchNormalizationArgs,
  Conv2DArgs,
  DenseArgs,
  DropoutArgs,
  GlobalAveragePooling2DArgs,
  LayerArgs,
  MaxPooling2DArgs,
  ReshapeArgs,
};

/** A serialized layer: its Keras class name and the options it was built with. */
export interface LayerConfig {
  className: string;
  config: Record<string, unknown>;
}

type LayerFactory<A> = (args: A) => Layer;

const LAYER_CLASSES: Record<string, LayerFactory<never>> = {
  Activation: (args: ActivationArgs) => new Activation(args),
  AveragePooling2D: (args: AveragePooling2DArgs) => new AveragePooling2D(args),
  BatchNormalization: (args: BatchNormalizationArgs) => new BatchNormalization(args),
  Conv2D: (args: Conv2DArgs) => new Conv2D(args),
  Dense: (args: DenseArgs) => new Dense(args),
  Dropout: (args: DropoutArgs) => new Dropout(args),
  Flatten: (args: LayerArgs) => new Flatten(args),
  GlobalAveragePooling2D: (args: GlobalAveragePooling2DArgs) => new GlobalAveragePooling2D(args),
  MaxPooling2D: (args: MaxPooling2DArgs) => new MaxPooling2D(args),
  Reshape: (args: ReshapeArgs) => new Reshape(args),
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
  activation: (args: ActivationArgs) => new Activation(args),
  averagePooling2d: (args: AveragePooling2DArgs = {}) => new AveragePooling2D(args),
  batchNormalization: (args: BatchNormalizationArgs = {}) => new BatchNormalization(args),
  conv2d: (args: Conv2DArgs) => new Conv2D(args),
  dense: (args: DenseArgs) => new Dense(args),
  dropout: (args: DropoutArgs) => new Dropout(args),
  flatten: (args: LayerArgs = {}) => new Flatten(args),
  globalAveragePooling2d: (args: GlobalAveragePooling2DArgs = {}) => new GlobalAveragePooling2D(args),
  maxPooling2d: (args: MaxPooling2DArgs = {}) => new MaxPooling2D(args),
  reshape: (args: ReshapeArgs) => new Reshape(args),
};
