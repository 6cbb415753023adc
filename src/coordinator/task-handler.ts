/**
 * The function every worker runs for each task (workers/train-worker.ts exports it); the
 * inline executor calls it on the main thread.
 *
 * A worker builds a session's replica and buffer views the first time it receives the session id
 * and keeps them, so the steady state of training allocates no tensors: tasks only gather
 * their rows into the replica's input buffer and run.
 */
import { isMainThread, threadId } from 'node:worker_threads';
import { Arena } from '../core/arena.js';
import { ImageAugmenter } from '../data/augment.js';
import { arenaGemm } from '../gemm/backend.js';
import { deserializeLayer } from '../layers/index.js';
import type { StepContext } from '../layers/layer.js';
import { getLoss } from '../losses/index.js';
import { buildLayers, totalParams, trainableParams } from '../model/build.js';
import { Replica } from '../model/replica.js';
import { createOptimizer } from '../optim/index.js';
import type { Optimizer } from '../optim/optimizer.js';
import { type ParamChunkViews, clipChunks, measureChunks, openParamChunks, regularizeChunks } from './param-chunks.js';
import type {
  BatchStatisticsTask,
  DatasetDescriptor,
  EvaluateResult,
  EvaluateTask,
  GradientTask,
  PredictTask,
  SessionDescriptor,
  Task,
  TaskFault,
  UpdateTask,
} from './messages.js';

interface WorkerSession {
  replica: Replica<Float32Array>;
  weights: Float32Array;
  grads: Float32Array;
  gradSlots: Float32Array;
  optimizerState: Float32Array;
  slotResults: Float64Array;
  /** Whole-batch statistics and per-micro-batch partials; empty without BatchNormalization. */
  batchStatistics: Float64Array;
  batchPartials: Float64Array;
  taskThreads: Int32Array;
  nonFiniteIndex: Int32Array;
  chunks: ParamChunkViews;
  optimizer: Optimizer | null;
  step: StepContext;
}

interface WorkerDataset {
  x: Float32Array;
  y: Float32Array | null;
  order: Int32Array | null;
  /** Augments the rows that gradient tasks gather; null when the dataset has no augmentation. */
  augmenter: ImageAugmenter | null;
}

/** How many sessions and datasets a worker keeps built; older ones are dropped first. */
const SESSION_CACHE_SIZE = 4;
const DATASET_CACHE_SIZE = 16;

const sessions = new Map<number, WorkerSession>();
const datasets = new Map<number, WorkerDataset>();

function remember<V>(cache: Map<number, V>, key: number, value: V, limit: number): V {
  cache.set(key, value);
  if (cache.size > limit) cache.delete(cache.keys().next().value as number);
  return value;
}

function openSession(desc: SessionDescriptor): WorkerSession {
  const cached = sessions.get(desc.id);
  if (cached !== undefined) return cached;
  const layers = desc.layers.map(deserializeLayer);
  const entries = buildLayers(layers, desc.inputShape);
  if (trainableParams(entries) !== desc.paramCount || totalParams(entries) !== desc.weights.length) {
    throw new Error(
      `Worker rebuilt ${trainableParams(entries)} trainable of ${totalParams(entries)} weights but the session has ${desc.paramCount} of ${desc.weights.length}.`,
    );
  }
  const arena = new Arena(desc.memory);
  const weights = arena.float32(desc.weights);
  const batchStatistics = desc.batchStatistics === null ? new Float64Array(0) : arena.float64(desc.batchStatistics);
  const replica = new Replica<Float32Array>({
    layers,
    loss: desc.loss === null ? null : getLoss(desc.loss),
    weights,
    paramCount: desc.paramCount,
    maxBatch: desc.microBatchSize,
    gemm: arenaGemm(desc.backend, arena),
    alloc: (length) => arena.allocFloat32(length),
    batchStatistics,
  });
  const session: WorkerSession = {
    replica,
    weights,
    grads: arena.float32(desc.grads),
    gradSlots: arena.float32(desc.gradSlots),
    optimizerState: arena.float32(desc.optimizerState),
    slotResults: arena.float64(desc.slotResults),
    batchStatistics,
    batchPartials: desc.batchPartials === null ? new Float64Array(0) : arena.float64(desc.batchPartials),
    taskThreads: new Int32Array(desc.taskThreads),
    nonFiniteIndex: new Int32Array(desc.nonFiniteIndex),
    chunks: openParamChunks(desc.paramChunks),
    optimizer: desc.optimizer === null ? null : createOptimizer(desc.optimizer.name, desc.optimizer.config),
    step: { training: true, seed: 0, epoch: 0, sampleIds: new Int32Array(0), sampleIdOffset: 0 },
  };
  return remember(sessions, desc.id, session, SESSION_CACHE_SIZE);
}

function openDataset(desc: DatasetDescriptor): WorkerDataset {
  const cached = datasets.get(desc.id);
  if (cached !== undefined) return cached;
  const dataset: WorkerDataset = {
    x: new Float32Array(desc.x, desc.xByteOffset, desc.count * desc.inputSize),
    y: desc.y === null ? null : new Float32Array(desc.y, desc.yByteOffset, desc.count * desc.targetWidth),
    order: desc.order === null ? null : new Int32Array(desc.order),
    augmenter: desc.augment === undefined || desc.augment === null ? null : new ImageAugmenter(desc.augment),
  };
  return remember(datasets, desc.id, dataset, DATASET_CACHE_SIZE);
}

/**
 * Copies dataset row `row` into position `position` of the replica's input and targets. With an
 * augmenter (training only), the input is the row's augmented image instead of a copy.
 */
function gatherRow(replica: Replica<Float32Array>, dataset: WorkerDataset, row: number, position: number, targetWidth: number, augmenter: ImageAugmenter | null = null): void {
  const inputSize = replica.inputSize;
  const input = replica.input;
  const x = dataset.x;
  const src = row * inputSize;
  const dst = position * inputSize;
  if (augmenter !== null) augmenter.augment(input, dst, x, src, row);
  else for (let i = 0; i < inputSize; i++) input[dst + i] = x[src + i];
  const y = dataset.y;
  if (y !== null) {
    const targets = replica.targets;
    for (let j = 0; j < targetWidth; j++) targets[position * targetWidth + j] = y[row * targetWidth + j];
  }
}

/** Raises a fault requested by a test in a task of kind `taskKind`. */
function injectFault(fault: TaskFault, taskKind: Task['kind']): never {
  const kind = typeof fault === 'string' ? fault : fault.kind;
  // On the main thread process.exit would end the whole program, and a blocked thread could
  // never be terminated, so both faults need a worker.
  if (kind !== 'throw' && isMainThread) throw new Error(`The test fault '${kind}' needs a worker thread; use threads >= 1.`);
  if (kind === 'exit') process.exit(70);
  if (typeof fault !== 'string') {
    const signal = new Int32Array(fault.signal);
    Atomics.store(signal, 0, threadId);
    Atomics.notify(signal, 0);
    // Nothing stores a value other than threadId here, so the wait ends only with the thread.
    for (;;) Atomics.wait(signal, 0, threadId);
  }
  throw new Error(`Test fault '${kind}' raised in ${taskKind === 'evaluate' ? 'an' : 'a'} ${taskKind} task.`);
}

/** Gathers a training micro-batch into the replica's input and returns its training step context. */
function gatherMicroBatch(session: WorkerSession, task: GradientTask | BatchStatisticsTask): StepContext {
  const dataset = openDataset(task.dataset);
  const { replica } = session;
  const order = dataset.order;
  if (order === null) throw new Error(`A ${task.kind} task needs a dataset with an epoch order.`);
  dataset.augmenter?.setEpoch(task.seed, task.epoch);
  for (let i = 0; i < task.count; i++) {
    gatherRow(replica, dataset, order[task.orderOffset + i], i, task.dataset.targetWidth, dataset.augmenter);
  }
  const step = session.step;
  step.training = true;
  step.seed = task.seed;
  step.epoch = task.epoch;
  step.sampleIds = order;
  step.sampleIdOffset = task.orderOffset;
  return step;
}

function runGradient(task: GradientTask): void {
  const session = openSession(task.session);
  session.taskThreads[task.slot] = threadId;
  if (task.fault !== undefined) injectFault(task.fault, 'gradient');
  const step = gatherMicroBatch(session, task);
  const { replica } = session;
  replica.trainStep(task.count, step, session.gradSlots, task.slot * replica.paramCount, 1 / task.batchSize);
  session.slotResults[task.slot * 2] = replica.lossSum;
  session.slotResults[task.slot * 2 + 1] = replica.correct;
}

function runBatchStatistics(task: BatchStatisticsTask): void {
  const session = openSession(task.session);
  session.taskThreads[task.slot] = threadId;
  if (task.fault !== undefined) injectFault(task.fault, 'batchStatistics');
  const step = gatherMicroBatch(session, task);
  const { replica } = session;
  const offset = task.slot * task.session.partialStride;
  if (task.reduction === 'moments') {
    replica.writeMoments(task.layerIndex, task.count, step, session.batchPartials, offset);
  } else {
    // The gradient slot only serves as scratch here: the gradient task of this slot zeroes it.
    const gradBase = task.slot * replica.paramCount;
    replica.writeGradientSums(task.layerIndex, task.count, step, session.gradSlots, gradBase, 1 / task.batchSize, session.batchPartials, offset);
  }
}

function runUpdate(task: UpdateTask): void {
  const session = openSession(task.session);
  const { grads, gradSlots, optimizer } = session;
  if (optimizer === null) throw new Error('An update task needs a session with an optimizer.');
  session.taskThreads[task.session.slotCount + task.part] = threadId;
  const paramCount = session.replica.paramCount;
  // Sum the slots in slot order, so the result does not depend on which worker filled which.
  if (task.slotsUsed > 0) {
    for (let i = task.start; i < task.end; i++) {
      let sum = gradSlots[i];
      for (let s = 1; s < task.slotsUsed; s++) sum += gradSlots[s * paramCount + i];
      grads[i] = task.accumulate ? grads[i] + sum : sum;
    }
  }
  // The range contains whole chunks, so per-chunk sums do not depend on how the ranges were cut.
  if (task.regularize) regularizeChunks(session.chunks, grads, session.weights, task.firstChunk, task.endChunk);
  if (task.check) {
    let firstNonFinite = -1;
    // g - g is 0 for every finite g and NaN for NaN and +-Infinity.
    for (let i = task.start; i < task.end; i++) {
      if (grads[i] - grads[i] !== 0) {
        firstNonFinite = i;
        break;
      }
    }
    session.nonFiniteIndex[task.part] = firstNonFinite;
  }
  if (task.measure) measureChunks(session.chunks, grads, task.firstChunk, task.endChunk);
  if (!task.apply) return;
  clipChunks(session.chunks, grads, task.firstChunk, task.endChunk, optimizer.clipping);
  optimizer.applyRange({
    weights: session.weights,
    grads,
    state: session.optimizerState,
    paramCount,
    start: task.start,
    end: task.end,
    step: task.step,
    learningRate: task.learningRate,
  });
}

function runEvaluate(task: EvaluateTask): EvaluateResult {
  const session = openSession(task.session);
  new Int32Array(task.taskThreads)[task.taskIndex] = threadId;
  if (task.fault !== undefined) injectFault(task.fault, 'evaluate');
  const dataset = openDataset(task.dataset);
  const { replica } = session;
  let lossSum = 0;
  let correct = 0;
  for (let chunkStart = 0; chunkStart < task.count; chunkStart += replica.maxBatch) {
    const n = Math.min(replica.maxBatch, task.count - chunkStart);
    for (let i = 0; i < n; i++) gatherRow(replica, dataset, task.start + chunkStart + i, i, task.dataset.targetWidth);
    replica.evaluate(n);
    lossSum += replica.lossSum;
    correct += replica.correct;
  }
  return { lossSum, correct };
}

function runPredict(task: PredictTask): void {
  const session = openSession(task.session);
  new Int32Array(task.taskThreads)[task.taskIndex] = threadId;
  if (task.fault !== undefined) injectFault(task.fault, 'predict');
  const dataset = openDataset(task.dataset);
  const { replica } = session;
  const width = replica.outputWidth;
  const out = new Float32Array(task.output);
  for (let chunkStart = 0; chunkStart < task.count; chunkStart += replica.maxBatch) {
    const n = Math.min(replica.maxBatch, task.count - chunkStart);
    for (let i = 0; i < n; i++) gatherRow(replica, dataset, task.start + chunkStart + i, i, 0);
    const output = replica.forward(n);
    const base = (task.start + chunkStart) * width;
    for (let i = 0; i < n * width; i++) out[base + i] = output[i];
  }
}

export function handleTask(task: Task): EvaluateResult | null {
  switch (task.kind) {
    case 'gradient':
      runGradient(task);
      return null;
    case 'batchStatistics':
      runBatchStatistics(task);
      return null;
    case 'update':
      runUpdate(task);
      return null;
    case 'evaluate':
      return runEvaluate(task);
    case 'predict':
      runPredict(task);
      return null;
  }
}
