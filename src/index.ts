/**
 * shardnet: a multi-threaded, pure-TypeScript deep-learning engine for Node.js.
 *
 * The public API follows Keras as TensorFlow.js spells it: build a `Sequential` from
 * `layers`, `compile` it, then `fit`, `evaluate` and `predict` on `Tensor`s.
 */
export { Tensor, tensor, shapeSize } from './core/tensor.js';
export { Rng } from './core/random.js';
export { setBackend, getBackend } from './gemm/backend.js';
export type { BackendName } from './gemm/backend.js';
export { CheckpointError, ShapeError, ValueError, StateError, WorkerError, NonFiniteError } from './errors.js';
export {
  Activation,
  AveragePooling2D,
  BatchNormalization,
  Conv2D,
  Dense,
  Dropout,
  Flatten,
  GlobalAveragePooling2D,
  Layer,
  MaxPooling2D,
  Reshape,
  layers,
} from './layers/index.js';
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
} from './layers/index.js';
export type { ActivationName } from './layers/activations.js';
export { Adadelta, Adagrad, Adam, AdamW, RMSprop, SGD, Optimizer, createOptimizer } from './optim/index.js';
export type { AdadeltaArgs } from './optim/adadelta.js';
export type { AdagradArgs } from './optim/adagrad.js';
export type { AdamArgs } from './optim/adam.js';
export type { AdamWArgs } from './optim/adamw.js';
export type { RMSpropArgs } from './optim/rmsprop.js';
export type { SGDArgs } from './optim/sgd.js';
export type { ClippingArgs } from './optim/clipping.js';
export { L1L2, regularizers } from './layers/regularizers.js';
export type { RegularizerSpec } from './layers/regularizers.js';
export { trainValidationSplit } from './data/split.js';
export type { TrainValidationSplit } from './data/split.js';
export { getLoss } from './losses/index.js';
export type { Loss, LossName } from './losses/index.js';
export { Sequential } from './model/sequential.js';
export type { SequentialArgs, CompileArgs, EvaluateArgs, EvaluateOutput } from './model/sequential.js';
export type { FitArgs, TestFault } from './model/fit.js';
export { History } from './model/callbacks.js';
export { saveModel, loadModel } from './model/save.js';
export type { Callback, Logs } from './model/callbacks.js';
export {
  BaseCallback,
  CSVLogger,
  EarlyStopping,
  LearningRateScheduler,
  MISSING_MONITOR_WARNING,
  ModelCheckpoint,
  ReduceLROnPlateau,
  TerminateOnNaN,
  cosineDecay,
  stepDecay,
} from './callbacks/index.js';
export type { CSVLoggerArgs, EarlyStoppingArgs, ModelCheckpointArgs, MonitorMode, ReduceLROnPlateauArgs, Schedule } from './callbacks/index.js';
export { WorkerPool } from './coordinator/pool.js';
export type { WorkerPoolOptions } from './coordinator/pool.js';
export { loadMnist, loadIdxPair, resolveMnistDir } from './data/mnist.js';
export { DataFormatError, DatasetMissingError } from './data/errors.js';
