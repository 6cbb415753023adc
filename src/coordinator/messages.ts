/**
 * Typed messages between the coordinator (main thread) and the workers.
 *
 * Every SharedArrayBuffer and WebAssembly.Memory field is shared: the worker reads the same
 * memory, nothing is copied. Every other field is cloned (structured clone), and all of them
 * are small. ArenaRegion fields locate a buffer inside the session's arena memory. Workers
 * cache what they build from a session or dataset by its id, so repeating a descriptor in
 * each task costs only the clone of a few numbers and buffer handles.
 */
import type { ArenaRegion } from '../core/arena.js';
import type { AugmentSpec } from '../data/augment.js';
import type { ResolvedBackend } from '../gemm/backend.js';
import type { WasmMemory } from '../wasm/webassembly-api.js';
import type { LayerConfig } from '../layers/index.js';
import type { ParamChunks } from './param-chunks.js';

/** A model as workers rebuild it, with the shared buffers of one training session. */
export interface SessionDescriptor {
  id: number;
  inputShape: number[];
  layers: LayerConfig[];
  /** Loss name, or null for a model that only predicts. */
  loss: string | null;
  optimizer: { name: string; config: Record<string, unknown> } | null;
  /** Kernel backend every worker of the session uses. */
  backend: ResolvedBackend;
  /** Samples per micro-batch: the size of each worker's activation buffers. */
  microBatchSize: number;
  /** Number of trainable weights: the length of gradients and optimizer state. */
  paramCount: number;
  /** Shared. The model's arena (src/core/arena.ts); workers allocate their buffers in it too. */
  memory: WasmMemory;
  /** Float32 weights, trainable ones first: [paramCount + non-trainable weights]. */
  weights: ArenaRegion;
  /** Float32 reduced gradient of the last batch [paramCount]. */
  grads: ArenaRegion;
  /** Float32 per-micro-batch gradients [slotCount, paramCount]. */
  gradSlots: ArenaRegion;
  slotCount: number;
  /** Float32 optimizer state [slotsPerParam, paramCount]. */
  optimizerState: ArenaRegion;
  /** Float64 [slotCount, 2]: loss sum and correct count of each micro-batch. */
  slotResults: ArenaRegion;
  /**
   * Float64 whole-batch statistics of the BatchNormalization layers (src/coordinator/batch-statistics.ts),
   * or null for a model without them.
   */
  batchStatistics: ArenaRegion | null;
  /** Float64 [slotCount, partialStride]: each micro-batch's share of one statistic, or null. */
  batchPartials: ArenaRegion | null;
  partialStride: number;
  /** Number of parameter ranges an update splits into. */
  updateParts: number;
  /**
   * Shared. Int32 [slotCount + updateParts]: the threadId of the worker that last started each
   * gradient slot, then each update range, so a failed task can be traced to its thread.
   */
  taskThreads: SharedArrayBuffer;
  /** Shared. Int32 [updateParts]: first index whose reduced gradient is not finite, or -1. */
  nonFiniteIndex: SharedArrayBuffer;
  /** Shared. Fixed chunks of the parameters that norms and penalties are summed over. */
  paramChunks: ParamChunks;
}

/**
 * Fault that a gradient task raises on purpose, for tests only: 'throw' throws an Error,
 * 'exit' calls process.exit(70), which ends the worker thread.
 */
export type TestFaultKind = 'throw' | 'exit';

/**
 * Fault that a task raises on purpose, for tests only. Besides the TestFaultKind values,
 * 'hang' stores the worker's threadId in element 0 of `signal`, notifies waiters on it, and then
 * blocks the worker in Atomics.wait until the thread is terminated.
 */
export type TaskFault = TestFaultKind | { kind: 'hang'; signal: SharedArrayBuffer };

/** Rows of a dataset in shared memory. */
export interface DatasetDescriptor {
  id: number;
  /** Shared. Float32 inputs; rows start at xByteOffset, each inputSize values. */
  x: SharedArrayBuffer;
  xByteOffset: number;
  inputSize: number;
  /** Shared. Float32 targets [count, targetWidth], or null for prediction. */
  y: SharedArrayBuffer | null;
  yByteOffset: number;
  targetWidth: number;
  count: number;
  /** Shared. Int32 order of the rows for this epoch (indices into the dataset), or null. */
  order: SharedArrayBuffer | null;
  /** Random affine augmentation that gradient tasks apply to each gathered row; absent or null: none. */
  augment?: AugmentSpec | null;
}

/** Forward and backward of one micro-batch into gradient slot `slot`. */
export interface GradientTask {
  kind: 'gradient';
  session: SessionDescriptor;
  dataset: DatasetDescriptor;
  slot: number;
  /** Position in the epoch order of the micro-batch's first sample. */
  orderOffset: number;
  count: number;
  /** Size of the whole batch; the micro-batch's gradient is scaled by 1 / batchSize. */
  batchSize: number;
  epoch: number;
  seed: number;
  /** For tests only: a fault to raise instead of computing the gradient. */
  fault?: TaskFault;
}

/**
 * One micro-batch's share of a whole-batch statistic of the BatchNormalization layer at
 * `layerIndex`, written into batchPartials slot `slot`: with 'moments' the count, mean and M2
 * of the layer's input, with 'gradientSums' the sums of dY and dY * xHat at its output. The
 * sample fields are those of the GradientTask of the same micro-batch.
 */
export interface BatchStatisticsTask {
  kind: 'batchStatistics';
  session: SessionDescriptor;
  dataset: DatasetDescriptor;
  slot: number;
  orderOffset: number;
  count: number;
  batchSize: number;
  epoch: number;
  seed: number;
  layerIndex: number;
  reduction: 'moments' | 'gradientSums';
  /** For tests only: a fault to raise instead of computing the statistic. */
  fault?: TaskFault;
}

/**
 * Sums the gradient slots into the gradient over [start, end), and applies the optimizer there
 * after the last round of a batch.
 */
export interface UpdateTask {
  kind: 'update';
  session: SessionDescriptor;
  /** Index of the range [start, end) among the session's updateParts. */
  part: number;
  start: number;
  end: number;
  /** The range is parameter chunks [firstChunk, endChunk) of session.paramChunks. */
  firstChunk: number;
  endChunk: number;
  /** Number of filled gradient slots, summed in slot order; 0 leaves the gradient as it is. */
  slotsUsed: number;
  /** Add the slot sum to the gradient of earlier rounds instead of replacing it. */
  accumulate: boolean;
  /** Clip the gradient as the optimizer's clipping options specify, then apply the optimizer step (the batch's last round). */
  apply: boolean;
  /** Store the first index in [start, end) whose summed gradient is not finite in nonFiniteIndex[part]. */
  check: boolean;
  /**
   * Add the kernel regularizers' gradient to the summed gradient and store each chunk's penalty
   * in the CHUNK_PENALTY row (the batch's last round, once per batch).
   */
  regularize: boolean;
  /** Store each chunk's sum of squared gradients in the CHUNK_GRAD_SQUARES row, for clipping by norm. */
  measure: boolean;
  step: number;
  learningRate: number;
}

/** Loss sum and correct count over dataset rows [start, start + count). */
export interface EvaluateTask {
  kind: 'evaluate';
  session: SessionDescriptor;
  dataset: DatasetDescriptor;
  start: number;
  count: number;
  /** Shared. Int32 [tasks of the call]: the threadId of the worker that started each task. */
  taskThreads: SharedArrayBuffer;
  /** This task's element of taskThreads. */
  taskIndex: number;
  /** For tests only: a fault to raise instead of evaluating. */
  fault?: TaskFault;
}

/** Model outputs for dataset rows [start, start + count), written into `output`. */
export interface PredictTask {
  kind: 'predict';
  session: SessionDescriptor;
  dataset: DatasetDescriptor;
  start: number;
  count: number;
  /** Shared. Float32 outputs [dataset.count, outputWidth]. */
  output: SharedArrayBuffer;
  /** Shared. Int32 [tasks of the call]: the threadId of the worker that started each task. */
  taskThreads: SharedArrayBuffer;
  /** This task's element of taskThreads. */
  taskIndex: number;
  /** For tests only: a fault to raise instead of predicting. */
  fault?: TaskFault;
}

export type Task = GradientTask | BatchStatisticsTask | UpdateTask | EvaluateTask | PredictTask;

export interface EvaluateResult {
  lossSum: number;
  correct: number;
}
