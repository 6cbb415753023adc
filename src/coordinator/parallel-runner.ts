/**
 * ParallelRunner: the coordinator side of data parallelism for one model session.
 *
 * A training batch is cut into fixed-size micro-batches (the cut depends only on the batch
 * and microBatchSize, never on the thread count). Each micro-batch is one task: some worker
 * computes its gradient into its own slot of shared memory. Then `threads` update tasks each
 * sum the slots in slot order over a parameter range and apply the optimizer there. Because
 * every slot is computed by the same code from the same inputs and summed in the same order,
 * the weights after each step are bit-identical for any number of threads. Models with
 * BatchNormalization first run the whole-batch statistics passes of src/coordinator/batch-statistics.ts.
 */
import { type Arena, regionOf } from '../core/arena.js';
import { sharedFloat32 } from '../core/tensor.js';
import { WorkerError } from '../errors.js';
import { deserializeLayer } from '../layers/index.js';
import { buildLayers } from '../model/build.js';
import { BatchStatisticsPlan } from './batch-statistics.js';
import { type GradientClipping, clipsByNorm, computeClipScales } from '../optim/clipping.js';
import type { Executor } from './executor.js';
import { type ParamChunkViews, type ParamChunks, openParamChunks, splitChunks, totalPenalty, weightsPenalty } from './param-chunks.js';
import type { DatasetDescriptor, EvaluateResult, SessionDescriptor, Task, TaskFault, TestFaultKind } from './messages.js';

export interface SessionSpec {
  inputShape: number[];
  layers: SessionDescriptor['layers'];
  loss: string | null;
  optimizer: SessionDescriptor['optimizer'];
  backend: SessionDescriptor['backend'];
  microBatchSize: number;
  /** Largest batch the session will train on; sets the number of gradient slots. */
  maxBatchSize: number;
  /** Number of trainable weights: the length of gradients and optimizer state. */
  paramCount: number;
  /** The model's arena; weights and optimizer state are already in it. */
  arena: Arena;
  weights: Float32Array;
  optimizerState: Float32Array;
  /** Chunks of the trainable parameters (buildParamChunks); update ranges hold whole chunks. */
  paramChunks: ParamChunks;
  /** The optimizer's gradient clipping; NO_CLIPPING for none. */
  clipping: Readonly<GradientClipping>;
}

/**
 * Gradient slots per session. A batch with more micro-batches than this is reduced in rounds
 * of this many, so the slot memory stays bounded (16 x 4.8 MB for the MNIST CNN) for any
 * batch size. The rounds depend only on the batch and micro-batch sizes, not on threads.
 */
export const MAX_GRADIENT_SLOTS = 16;

/** Rows per evaluate or predict task: fixed, so sums are grouped the same for any thread count. */
const EVAL_ROWS_PER_TASK = 256;

let nextSessionId = 1;

/**
 * Loss sum and correct count of one trained batch, and where its gradient first is not finite.
 * With kernel regularizers, lossSum includes batchSize times the penalty of the weights the
 * batch was computed with, so lossSum / batchSize is the loss that Keras reports.
 */
export interface TrainBatchResult extends EvaluateResult {
  /**
   * First parameter index whose reduced gradient is NaN or infinite, or -1 when every one is
   * finite or the check was off. With the check on, the optimizer step was skipped when this is
   * not -1 or the loss sum is not finite.
   */
  firstNonFiniteParam: number;
}

/**
 * What an evaluate or predict call runs for. A failed task raises a WorkerError whose epoch is
 * the validation epoch, or -1 outside fit(), and whose batch is -1.
 */
export interface InferenceContext {
  /** 'validation': the pass after a training epoch inside fit(). */
  purpose: 'evaluate' | 'predict' | 'validation';
  /** For tests only: a fault that the first task raises. */
  fault?: TaskFault;
}

/** Builds the WorkerError for a task that failed on thread `threadId` (-1: not recorded). */
function workerError(reason: unknown, threadId: number, taskKind: string, epoch: number, batch: number): WorkerError {
  const where = `at epoch ${epoch}, batch ${batch} (counted from 0)`;
  return taskError(reason, threadId, taskKind, where, epoch, batch);
}

/** Builds the WorkerError for a failed task of an evaluate, predict or validation call. */
function inferenceError(reason: unknown, threadId: number, purpose: InferenceContext['purpose'], epoch: number): WorkerError {
  const taskKind = purpose === 'predict' ? 'predict' : 'evaluate';
  const where = purpose === 'validation' ? `during validation after epoch ${epoch} (counted from 0)` : `during ${purpose}()`;
  return taskError(reason, threadId, taskKind, where, purpose === 'validation' ? epoch : -1, -1);
}

function taskError(reason: unknown, threadId: number, taskKind: string, where: string, epoch: number, batch: number): WorkerError {
  const detail = (reason instanceof Error ? reason.message : String(reason)).replace(/\s*\n\s*/g, ' ');
  const article = taskKind.startsWith('e') ? 'an' : 'a';
  const message =
    threadId < 0
      ? `${article === 'an' ? 'An' : 'A'} ${taskKind} task failed ${where} before its worker thread recorded its id: ${detail}`
      : `Worker thread ${threadId} failed in ${article} ${taskKind} task ${where}: ${detail}`;
  return new WorkerError(message, threadId, epoch, batch, { cause: reason });
}

export class ParallelRunner {
  readonly session: SessionDescriptor;
  private readonly slotResults: Float64Array;
  private readonly grads: Float32Array;
  private readonly taskThreads: Int32Array;
  private readonly nonFiniteIndex: Int32Array;
  private readonly weights: Float32Array;
  private readonly chunks: ParamChunkViews;
  /** Update part p covers chunks [updateBounds[p], updateBounds[p + 1]). */
  private readonly updateBounds: number[];
  private readonly clipping: Readonly<GradientClipping>;
  /** Scratch of computeClipScales, [tensorCount]. */
  private readonly tensorNorms: Float64Array;
  /** Whole-batch statistics passes; null for a model without BatchNormalization. */
  private readonly batchStatistics: BatchStatisticsPlan | null;
  private readonly tasks: Promise<EvaluateResult | null>[] = [];
  /** Epoch of the last trainBatch() call, which a validation pass reports; -1 before any. */
  private lastEpoch = -1;

  constructor(
    private readonly executor: Executor,
    spec: SessionSpec,
  ) {
    const slotCount = Math.min(MAX_GRADIENT_SLOTS, Math.ceil(spec.maxBatchSize / spec.microBatchSize));
    const { arena } = spec;
    const grads = arena.allocFloat32(spec.paramCount);
    const gradSlots = arena.allocFloat32(slotCount * spec.paramCount);
    const slotResults = arena.allocFloat64(slotCount * 2);
    const chunks = openParamChunks(spec.paramChunks);
    if (chunks.starts[chunks.chunkCount] !== spec.paramCount) {
      throw new Error(`The parameter chunks cover ${chunks.starts[chunks.chunkCount]} parameters but the session has ${spec.paramCount}.`);
    }
    const updateBounds = splitChunks(chunks.starts, chunks.chunkCount, executor.concurrency);
    const updateParts = Math.max(1, updateBounds.length - 1);
    const taskThreads = new Int32Array(new SharedArrayBuffer((slotCount + updateParts) * Int32Array.BYTES_PER_ELEMENT));
    const nonFiniteIndex = new Int32Array(new SharedArrayBuffer(updateParts * Int32Array.BYTES_PER_ELEMENT));
    const layers = spec.layers.map(deserializeLayer);
    buildLayers(layers, spec.inputShape);
    const lengths = BatchStatisticsPlan.lengths(layers);
    const batchStatistics = lengths.statistics > 0 ? arena.allocFloat64(lengths.statistics) : null;
    const batchPartials = lengths.statistics > 0 ? arena.allocFloat64(slotCount * lengths.partialStride) : null;
    this.batchStatistics =
      batchStatistics === null || batchPartials === null ? null : new BatchStatisticsPlan(layers, batchStatistics, batchPartials, lengths.partialStride);
    this.session = {
      id: nextSessionId++,
      inputShape: spec.inputShape,
      layers: spec.layers,
      loss: spec.loss,
      optimizer: spec.optimizer,
      backend: spec.backend,
      microBatchSize: spec.microBatchSize,
      paramCount: spec.paramCount,
      memory: arena.memory,
      weights: regionOf(spec.weights),
      grads: regionOf(grads),
      gradSlots: regionOf(gradSlots),
      slotCount,
      optimizerState: regionOf(spec.optimizerState),
      slotResults: regionOf(slotResults),
      batchStatistics: batchStatistics === null ? null : regionOf(batchStatistics),
      batchPartials: batchPartials === null ? null : regionOf(batchPartials),
      partialStride: lengths.partialStride,
      updateParts,
      taskThreads: taskThreads.buffer as SharedArrayBuffer,
      nonFiniteIndex: nonFiniteIndex.buffer as SharedArrayBuffer,
      paramChunks: spec.paramChunks,
    };
    this.chunks = chunks;
    this.updateBounds = updateBounds;
    this.clipping = spec.clipping;
    this.tensorNorms = new Float64Array(spec.paramChunks.tensorCount);
    this.taskThreads = taskThreads;
    this.nonFiniteIndex = nonFiniteIndex;
    this.grads = grads;
    this.slotResults = slotResults;
    this.weights = spec.weights;
  }

  get threads(): number {
    return this.executor.threads;
  }

  /** The reduced gradient of the last trained batch, [paramCount] (a view into the arena). */
  get gradients(): Float32Array {
    return this.grads;
  }

  /**
   * Trains on the batch at epoch-order positions [orderOffset, orderOffset + batchSize) and
   * applies one optimizer step. Returns the batch's loss sum and correct count.
   *
   * With `stopOnNonFinite`, the reduced gradient is checked before the step, and the step is
   * skipped when the gradient or the loss is not finite (see TrainBatchResult). A failed task
   * raises a WorkerError naming its thread, after every other task of its round has settled,
   * so no task still writes to the session's memory.
   */
  async trainBatch(args: {
    dataset: DatasetDescriptor;
    orderOffset: number;
    batchSize: number;
    epoch: number;
    /** Batch index in the epoch, for error messages. */
    batch: number;
    seed: number;
    step: number;
    learningRate: number;
    stopOnNonFinite: boolean;
    /** For tests only: a fault that the first gradient task raises. */
    fault?: TestFaultKind;
  }): Promise<TrainBatchResult> {
    const { session } = this;
    this.lastEpoch = args.epoch;
    const micro = session.microBatchSize;
    const microCount = Math.ceil(args.batchSize / micro);
    let lossSum = 0;
    let correct = 0;
    if (this.batchStatistics !== null) await this.computeBatchStatistics(this.batchStatistics, args);
    for (let first = 0; first < microCount; first += session.slotCount) {
      const slotsUsed = Math.min(session.slotCount, microCount - first);
      await this.runRound(args, first, slotsUsed, 'gradient', (slot, orderOffset, count) => ({
        kind: 'gradient',
        session,
        dataset: args.dataset,
        slot,
        orderOffset,
        count,
        batchSize: args.batchSize,
        epoch: args.epoch,
        seed: args.seed,
        ...(args.fault !== undefined && first === 0 && slot === 0 ? { fault: args.fault } : {}),
      }));
      for (let slot = 0; slot < slotsUsed; slot++) {
        lossSum += this.slotResults[slot * 2];
        correct += this.slotResults[slot * 2 + 1];
      }
      const round = { slotsUsed, accumulate: first > 0, step: args.step, learningRate: args.learningRate, epoch: args.epoch, batch: args.batch };
      const last = first + slotsUsed >= microCount;
      const none = { apply: false, check: false, regularize: false, measure: false };
      if (!last) {
        await this.update({ ...round, ...none });
        continue;
      }
      const regularize = session.paramChunks.regularized;
      const measure = clipsByNorm(this.clipping);
      if (!args.stopOnNonFinite && !measure) {
        // One round reduces, regularizes and applies; each task reads its weights before it updates them.
        await this.update({ ...round, ...none, regularize, apply: true });
        if (regularize) lossSum += totalPenalty(this.chunks) * args.batchSize;
        break;
      }
      // Reduce, check and measure first; then apply only a finite gradient, clipped by the combined norms.
      await this.update({ ...round, ...none, regularize, measure, check: args.stopOnNonFinite });
      if (regularize) lossSum += totalPenalty(this.chunks) * args.batchSize;
      if (args.stopOnNonFinite) {
        const firstNonFiniteParam = this.firstNonFiniteParam();
        if (firstNonFiniteParam >= 0 || !Number.isFinite(lossSum)) return { lossSum, correct, firstNonFiniteParam };
      }
      if (measure) {
        const { clipScale, gradSquares, tensors, chunkCount } = this.chunks;
        computeClipScales(clipScale, gradSquares, tensors, this.tensorNorms, chunkCount, this.clipping);
      }
      await this.update({ ...round, ...none, slotsUsed: 0, apply: true });
    }
    // The step was applied; no task runs now, so the main thread may write the weights.
    this.batchStatistics?.updateMovingStatistics(this.weights);
    return { lossSum, correct, firstNonFiniteParam: -1 };
  }

  /**
   * Runs every whole-batch statistics pass of the plan over the batch's micro-batches, in rounds
   * of at most slotCount tasks, and leaves the results in the session's batch-statistics buffer.
   */
  private async computeBatchStatistics(
    plan: BatchStatisticsPlan,
    args: { dataset: DatasetDescriptor; orderOffset: number; batchSize: number; epoch: number; batch: number; seed: number },
  ): Promise<void> {
    const { session } = this;
    const micro = session.microBatchSize;
    const microCount = Math.ceil(args.batchSize / micro);
    for (const phase of plan.phases) {
      plan.begin(phase);
      for (let first = 0; first < microCount; first += session.slotCount) {
        const slotsUsed = Math.min(session.slotCount, microCount - first);
        await this.runRound(args, first, slotsUsed, 'batch statistics', (slot, orderOffset, count) => ({
          kind: 'batchStatistics',
          session,
          dataset: args.dataset,
          slot,
          orderOffset,
          count,
          batchSize: args.batchSize,
          epoch: args.epoch,
          seed: args.seed,
          layerIndex: phase.layerIndex,
          reduction: phase.reduction,
        }));
        plan.absorb(phase, slotsUsed);
      }
      plan.finish(phase);
    }
  }

  /**
   * Runs the micro-batches [first, first + slotsUsed) of a batch as one task each, in slots 0 to
   * slotsUsed - 1, with tasks built by `task` from the slot and the micro-batch's rows, and
   * waits for all of them.
   */
  private async runRound(
    args: { orderOffset: number; batchSize: number; epoch: number; batch: number },
    first: number,
    slotsUsed: number,
    taskKind: string,
    task: (slot: number, orderOffset: number, count: number) => Task,
  ): Promise<void> {
    const micro = this.session.microBatchSize;
    this.tasks.length = 0;
    this.taskThreads.fill(-1);
    for (let slot = 0; slot < slotsUsed; slot++) {
      const start = (first + slot) * micro;
      this.tasks.push(this.executor.run(task(slot, args.orderOffset + start, Math.min(micro, args.batchSize - start))));
    }
    await this.settle(0, taskKind, args.epoch, args.batch);
  }

  /** Returns whether this session's buffers serve batches of up to `batchSize` samples. */
  fits(batchSize: number): boolean {
    return this.session.slotCount >= Math.min(MAX_GRADIENT_SLOTS, Math.ceil(batchSize / this.session.microBatchSize));
  }

  private async update(round: {
    slotsUsed: number;
    accumulate: boolean;
    apply: boolean;
    check: boolean;
    regularize: boolean;
    measure: boolean;
    step: number;
    learningRate: number;
    epoch: number;
    batch: number;
  }): Promise<void> {
    const { epoch, batch, ...fields } = round;
    const bounds = this.updateBounds;
    const starts = this.chunks.starts;
    this.tasks.length = 0;
    this.taskThreads.fill(-1);
    this.nonFiniteIndex.fill(-1);
    for (let part = 0; part + 1 < bounds.length; part++) {
      this.tasks.push(
        this.executor.run({
          kind: 'update',
          session: this.session,
          part,
          start: starts[bounds[part]],
          end: starts[bounds[part + 1]],
          firstChunk: bounds[part],
          endChunk: bounds[part + 1],
          ...fields,
        }),
      );
    }
    await this.settle(this.session.slotCount, 'update', epoch, batch);
  }

  /** Returns the smallest parameter index that the last check found not finite, or -1. */
  private firstNonFiniteParam(): number {
    // Parts cover increasing ranges, so the first flagged part contains the smallest index.
    for (let part = 0; part < this.nonFiniteIndex.length; part++) {
      if (this.nonFiniteIndex[part] >= 0) return this.nonFiniteIndex[part];
    }
    return -1;
  }

  /**
   * Waits for every task in `tasks`, then raises a WorkerError for the first one that failed.
   * Task i recorded its thread in taskThreads[threadBase + i].
   */
  private async settle(threadBase: number, taskKind: string, epoch: number, batch: number): Promise<void> {
    const outcomes = await Promise.allSettled(this.tasks);
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i];
      if (outcome.status === 'rejected') throw workerError(outcome.reason, this.taskThreads[threadBase + i], taskKind, epoch, batch);
    }
  }

  /**
   * Loss sum and correct count over every row of the dataset; with kernel regularizers the loss
   * sum includes count times the weights' penalty. Without a context the call is
   * the validation pass of the epoch that trainBatch() last trained, because fit() calls it so.
   * A failed task raises a WorkerError after every task of the call has settled.
   */
  async evaluate(dataset: DatasetDescriptor, context: InferenceContext = { purpose: 'validation' }): Promise<EvaluateResult> {
    const taskCount = Math.ceil(dataset.count / EVAL_ROWS_PER_TASK);
    const taskThreads = new Int32Array(new SharedArrayBuffer(Math.max(1, taskCount) * Int32Array.BYTES_PER_ELEMENT)).fill(-1);
    const tasks: Promise<EvaluateResult | null>[] = [];
    for (let index = 0; index < taskCount; index++) {
      const start = index * EVAL_ROWS_PER_TASK;
      tasks.push(
        this.executor.run({
          kind: 'evaluate',
          session: this.session,
          dataset,
          start,
          count: Math.min(EVAL_ROWS_PER_TASK, dataset.count - start),
          taskThreads: taskThreads.buffer as SharedArrayBuffer,
          taskIndex: index,
          ...(context.fault !== undefined && index === 0 ? { fault: context.fault } : {}),
        }),
      );
    }
    const results = await this.settleInference(tasks, taskThreads, context.purpose);
    let lossSum = 0;
    let correct = 0;
    for (const result of results) {
      if (result === null) throw new Error('An evaluate task returned no result.');
      lossSum += result.lossSum;
      correct += result.correct;
    }
    // Keras adds the regularization penalty to the evaluated loss too; no task runs now.
    if (this.session.paramChunks.regularized) lossSum += weightsPenalty(this.chunks, this.weights) * dataset.count;
    return { lossSum, correct };
  }

  /**
   * Model outputs for every row of the dataset, [count, outputWidth]. A failed task raises a
   * WorkerError after every task of the call has settled.
   */
  async predict(dataset: DatasetDescriptor, outputWidth: number, context: InferenceContext = { purpose: 'predict' }): Promise<Float32Array> {
    const output = sharedFloat32(dataset.count * outputWidth);
    const taskCount = Math.ceil(dataset.count / EVAL_ROWS_PER_TASK);
    const taskThreads = new Int32Array(new SharedArrayBuffer(Math.max(1, taskCount) * Int32Array.BYTES_PER_ELEMENT)).fill(-1);
    const tasks: Promise<EvaluateResult | null>[] = [];
    for (let index = 0; index < taskCount; index++) {
      const start = index * EVAL_ROWS_PER_TASK;
      tasks.push(
        this.executor.run({
          kind: 'predict',
          session: this.session,
          dataset,
          start,
          count: Math.min(EVAL_ROWS_PER_TASK, dataset.count - start),
          output: output.buffer as SharedArrayBuffer,
          taskThreads: taskThreads.buffer as SharedArrayBuffer,
          taskIndex: index,
          ...(context.fault !== undefined && index === 0 ? { fault: context.fault } : {}),
        }),
      );
    }
    await this.settleInference(tasks, taskThreads, context.purpose);
    return output;
  }

  /** Waits for every task, then raises a WorkerError for the first one that failed. */
  private async settleInference(
    tasks: Promise<EvaluateResult | null>[],
    taskThreads: Int32Array,
    purpose: InferenceContext['purpose'],
  ): Promise<(EvaluateResult | null)[]> {
    const outcomes = await Promise.allSettled(tasks);
    const results: (EvaluateResult | null)[] = [];
    for (let i = 0; i < outcomes.length; i++) {
      const outcome = outcomes[i];
      if (outcome.status === 'rejected') throw inferenceError(outcome.reason, taskThreads[i], purpose, this.lastEpoch);
      results.push(outcome.value);
    }
    return results;
  }
}
