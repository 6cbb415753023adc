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
export { ShapeError, ValueError, StateError, WorkerError, NonFiniteError } from './errors.js';
export { Conv2D, Dense, Dropout, Flatten, Layer, MaxPooling2D, layers } from './layers/index.js';
export type { Conv2DArgs, DenseArgs, DropoutArgs, LayerArgs, MaxPooling2DArgs } from './layers/index.js';
export type { ActivationName } from './layers/activations.js';
export { Adam, SGD, Optimizer, createOptimizer } from './optim/index.js';
export type { AdamArgs } from './optim/adam.js';
export type { SGDArgs } from './optim/sgd.js';
export { getLoss } from './losses/index.js';
export type { Loss, LossName } from './losses/index.js';
export { Sequential } from './model/sequential.js';
export type { SequentialArgs, CompileArgs, EvaluateArgs, EvaluateOutput } from './model/sequential.js';
export type { FitArgs, TestFault } from './model/fit.js';
export { History } from './model/callbacks.js';
export { saveModel, loadModel } from './model/save.js';
export type { Callback, Logs } from './model/callbacks.js';
export { WorkerPool } from './coordinator/pool.js';
export type { WorkerPoolOptions } from './coordinator/pool.js';
export { loadMnist, loadIdxPair, resolveMnistDir } from './data/mnist.js';
export { DataFormatError, DatasetMissingError } from './data/errors.js';
