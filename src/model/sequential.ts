/**
 * Sequential: a linear stack of layers with the Keras / TensorFlow.js model API
 * (add, compile, fit, evaluate, predict, summary, getWeights, setWeights).
 *
 * All parameters live in one Float32Array in the model's arena (a shared WebAssembly.Memory),
 * laid out by `buildLayers`; optimizer state and gradients are arena arrays with the same
 * offsets, and workers allocate their activation buffers in the same arena. Training, evaluation
 * and prediction run on a worker pool (see src/coordinator) or, with `threads: 0`, on the
 * calling thread.
 */
import { InlineExecutor, type Executor } from '../coordinator/executor.js';
import { ParallelRunner } from '../coordinator/parallel-runner.js';
import { buildParamChunks } from '../coordinator/param-chunks.js';
import { WorkerPool, checkThreads } from '../coordinator/pool.js';
import type { TestFaultKind } from '../coordinator/messages.js';
import { Rng } from '../core/random.js';
import { getBackend } from '../gemm/backend.js';
import { Arena } from '../core/arena.js';
import { Tensor } from '../core/tensor.js';
import { ShapeError, StateError, ValueError, WorkerError, formatShape, formatValue } from '../errors.js';
import { Dropout, serializeLayer } from '../layers/index.js';
import { initializeParam } from '../layers/initializers.js';
import type { Layer } from '../layers/layer.js';
import { type Loss, getLoss } from '../losses/index.js';
import { OPTIMIZER_NAMES, createOptimizer, fillInitialState } from '../optim/index.js';
import type { Optimizer } from '../optim/optimizer.js';
import { NO_CLIPPING } from '../optim/clipping.js';
import { type ParamEntry, buildLayers, totalParams, trainableParams } from './build.js';
import { checkInputs, describeDataset, prepareTargets } from './dataset.js';
import { type FitArgs, runFit } from './fit.js';
import type { History } from './callbacks.js';
import { summaryLines } from './summary.js';
import { saveModel } from './save.js';

export interface SequentialArgs {
  name?: string;
  layers?: Layer[];
  /** Seed of the weight initialization; the default 0 makes runs reproducible. */
  seed?: number;
}

export interface CompileArgs {
  optimizer: string | Optimizer;
  loss: string;
  /** Only 'accuracy' (alias 'acc') is supported. */
  metrics?: string[];
}

export interface EvaluateArgs {
  /** Accepted for Keras compatibility; results do not depend on it. */
  batchSize?: number;
  threads?: number;
  /**
   * For tests only: a fault that the first worker task raises, to exercise the WorkerError
   * path. Never set it in real use.
   */
  testFault?: TestFaultKind;
}

/** Checks EvaluateArgs.testFault and returns it as the runner's context field. */
function checkInferenceFault(value: unknown, method: string): { fault?: TestFaultKind } {
  if (value === undefined) return {};
  if (value !== 'throw' && value !== 'exit') {
    throw new TypeError(`${method}(): testFault must be 'throw' or 'exit', got ${formatValue(value)}.`);
  }
  return { fault: value };
}

/** Result of evaluate(): the mean loss and the accuracy over all samples. */
export interface EvaluateOutput {
  loss: number;
  accuracy: number;
}

/** Default number of samples per micro-batch. */
export const DEFAULT_MICRO_BATCH_SIZE = 16;

let modelCount = 0;

export class Sequential {
  readonly name: string;
  readonly layers: Layer[] = [];
  /** Set by a callback to end fit() after the current batch. */
  stopTraining = false;
  private seed: number;
  private entries: ParamEntry[] = [];
  private arena: Arena | null = null;
  private weightsArray: Float32Array | null = null;
  /** Arena marks: the end of the weights, and the end of the optimizer state. */
  private weightsMark = 0;
  private sessionMark = 0;
  private lossFn: Loss | null = null;
  private optimizerObject: Optimizer | null = null;
  private optimizerState: Float32Array | null = null;
  private optimizerStep = 0;
  private executor: Executor | null = null;
  private runner: ParallelRunner | null = null;
  private fitting = false;
  private disposals = 0;
  private sharedPool: WorkerPool | null = null;

  constructor(args: SequentialArgs = {}) {
    this.name = args.name ?? (modelCount++ === 0 ? 'sequential' : `sequential_${modelCount - 1}`);
    this.seed = args.seed ?? 0;
    for (const layer of args.layers ?? []) this.add(layer);
  }

  /** Appends a layer; the first layer must declare inputShape. */
  add(layer: Layer): void {
    if (this.weightsArray !== null) throw new StateError(`Cannot add layer '${layer.name}' to model '${this.name}' after it was built.`);
    if (this.layers.length === 0 && layer.declaredInputShape === undefined) {
      throw new ShapeError(`The first layer of model '${this.name}' ('${layer.name}') needs an inputShape, e.g. inputShape: [28, 28, 1].`);
    }
    const taken = new Set(this.layers.map((l) => l.name));
    if (taken.has(layer.name)) {
      let i = 1;
      while (taken.has(`${layer.name}_${i}`)) i++;
      layer.name = `${layer.name}_${i}`;
    }
    this.layers.push(layer);
    if (layer instanceof Dropout && layer.seed === null) layer.seed = this.layers.length - 1;
    // Build eagerly so that shape errors point at the layer just added.
    const inputShape = this.layers[0].declaredInputShape as number[];
    buildLayers(this.layers, inputShape);
  }

  /** Builds shapes and initializes weights (Glorot uniform kernels, zero biases). */
  build(): void {
    if (this.weightsArray !== null) return;
    if (this.layers.length === 0) throw new StateError(`Model '${this.name}' has no layers; add() some before using it.`);
    this.entries = buildLayers(this.layers, this.inputShape);
    const paramCount = totalParams(this.entries);
    const arena = new Arena(undefined, { initialBytes: paramCount * 4 + 4096 });
    const weights = arena.allocFloat32(paramCount);
    const rng = new Rng(this.seed);
    for (const entry of this.entries) initializeParam(entry.spec, weights, entry.offset, rng);
    this.arena = arena;
    this.weightsArray = weights;
    this.weightsMark = arena.mark();
    this.optimizerState = arena.allocFloat32(1);
    this.sessionMark = arena.mark();
  }

  get inputShape(): number[] {
    if (this.layers.length === 0) throw new StateError(`Model '${this.name}' has no layers.`);
    return (this.layers[0].declaredInputShape as number[]).slice();
  }

  get outputShape(): number[] {
    return this.layers[this.layers.length - 1].outputShape.slice();
  }

  countParams(): number {
    this.build();
    return totalParams(this.entries);
  }

  compile(args: CompileArgs): void {
    this.build();
    if (args === null || typeof args !== 'object') throw new TypeError('compile() needs { optimizer, loss }.');
    this.lossFn = getLoss(args.loss);
    for (const metric of args.metrics ?? []) {
      if (metric !== 'accuracy' && metric !== 'acc') {
        throw new RangeError(`Unknown metric ${formatValue(metric)}; only 'accuracy' is supported.`);
      }
    }
    this.optimizerObject = typeof args.optimizer === 'string' ? createOptimizer(args.optimizer) : args.optimizer;
    if (typeof this.optimizerObject?.applyRange !== 'function') {
      throw new TypeError(`compile(): optimizer must be a name (${OPTIMIZER_NAMES.join(', ')}) or an Optimizer, got ${String(args.optimizer)}.`);
    }
    // Gradients and optimizer state cover the trainable weights only (see buildLayers).
    const paramCount = trainableParams(this.entries);
    const arena = this.arena as Arena;
    // Everything after the weights belonged to the previous compile; start over from there.
    arena.release(this.weightsMark);
    this.optimizerState = arena.allocFloat32(Math.max(1, this.optimizerObject.slotsPerParam * paramCount));
    fillInitialState(this.optimizerObject, this.optimizerState, paramCount);
    this.sessionMark = arena.mark();
    this.optimizerStep = 0;
    this.runner = null;
  }

  get optimizer(): Optimizer | null {
    return this.optimizerObject;
  }

  get loss(): Loss | null {
    return this.lossFn;
  }

  /** Prints the Keras-style summary table. */
  summary(printFn: (line: string) => void = console.log): void {
    this.build();
    for (const line of summaryLines(this.name, this.layers)) printFn(line);
  }

  /** The flat weight buffer, a view into the model's arena, [countParams()]. */
  get flatWeights(): Float32Array {
    this.build();
    return this.weightsArray as Float32Array;
  }

  /** Allocations and bytes in use in the model's arena, counted across all threads. */
  get arenaUsage(): { allocations: number; usedBytes: number } {
    this.build();
    const arena = this.arena as Arena;
    return { allocations: arena.allocationCount, usedBytes: arena.usedBytes };
  }

  /** Parameter names, shapes and offsets in the flat weight buffer. */
  get paramEntries(): readonly ParamEntry[] {
    this.build();
    return this.entries;
  }

  /** Copies of the weights, one tensor per parameter, in Keras order. */
  getWeights(): Tensor[] {
    const flat = this.flatWeights;
    return this.entries.map((e) => new Tensor(flat.slice(e.offset, e.offset + e.size), e.spec.shape));
  }

  setWeights(tensors: Tensor[]): void {
    const flat = this.flatWeights;
    if (!Array.isArray(tensors) || tensors.length !== this.entries.length) {
      throw new ValueError(`setWeights() needs ${this.entries.length} tensors for model '${this.name}', got ${Array.isArray(tensors) ? tensors.length : typeof tensors}.`);
    }
    const problems: string[] = [];
    this.entries.forEach((e, i) => {
      const t = tensors[i];
      if (!(t instanceof Tensor) || t.size !== e.size || t.shape.join() !== e.spec.shape.join()) {
        problems.push(`${e.name} expects ${formatShape(e.spec.shape)}, got ${t instanceof Tensor ? formatShape(t.shape) : typeof t}`);
      }
    });
    if (problems.length > 0) throw new ShapeError(`setWeights() on model '${this.name}': ${problems.join('; ')}.`);
    this.entries.forEach((e, i) => flat.set(tensors[i].data, e.offset));
  }

  /** Trains the model; see FitArgs for the options. */
  async fit(x: Tensor, y: Tensor, args: FitArgs = {}): Promise<History> {
    return runFit(this, x, y, args);
  }

  /** Mean loss and accuracy over all samples of x and y. */
  async evaluate(x: Tensor, y: Tensor, args: EvaluateArgs = {}): Promise<EvaluateOutput> {
    const loss = this.requireCompiled('evaluate');
    const count = checkInputs(x, this.layers[0]);
    const targets = prepareTargets(y, count, this.layers[this.layers.length - 1], loss);
    const fault = checkInferenceFault(args.testFault, 'evaluate');
    const runner = this.getRunner(args.threads, args.batchSize ?? 32, DEFAULT_MICRO_BATCH_SIZE, 'infer');
    const dataset = describeDataset(x, targets, targets.length / count, null);
    const result = await this.closeOnWorkerError(runner.evaluate(dataset, { purpose: 'evaluate', ...fault }));
    return { loss: result.lossSum / count, accuracy: result.correct / count };
  }

  /** Model outputs for every sample of x, [N, ...outputShape]. */
  async predict(x: Tensor, args: EvaluateArgs = {}): Promise<Tensor> {
    this.build();
    const count = checkInputs(x, this.layers[0]);
    const fault = checkInferenceFault(args.testFault, 'predict');
    const runner = this.getRunner(args.threads, args.batchSize ?? 32, DEFAULT_MICRO_BATCH_SIZE, 'infer');
    const width = this.outputShape.reduce((a, b) => a * b, 1);
    const output = await this.closeOnWorkerError(runner.predict(describeDataset(x, null, 0, null), width, { purpose: 'predict', ...fault }));
    return new Tensor(output, [count, ...this.outputShape]);
  }

  /**
   * Writes model.json and weights.bin in the TensorFlow.js layers format to `dir`, creating it
   * if needed. loadModel(dir) reads them back, and so does tf.loadLayersModel.
   */
  async save(dir: string): Promise<void> {
    await saveModel(this, dir);
  }

  /**
   * Awaits an evaluate or predict call, and closes the model's own pool when a worker failed,
   * as fit() does, so the next call starts a new one. A pool given to usePool() stays open, and
   * during fit() the pool is left for fit() to handle.
   */
  private async closeOnWorkerError<T>(call: Promise<T>): Promise<T> {
    try {
      return await call;
    } catch (error) {
      if (error instanceof WorkerError && !this.fitting) await this.dispose();
      throw error;
    }
  }

  /**
   * Runs this model's training, evaluation and prediction on `pool`, which the caller owns:
   * several models may share it, dispose() leaves it open, and pool.close() ends it. With a
   * pool set, a `threads` option other than pool.threads is rejected. usePool(null) detaches
   * the model, which then starts its own pool when it needs one.
   */
  usePool(pool: WorkerPool | null): void {
    if (this.fitting) throw new StateError(`Cannot change the pool of model '${this.name}' while fit() is running.`);
    if (this.executor !== null && this.executor !== this.sharedPool) void this.executor.close();
    this.sharedPool = pool;
    this.executor = pool;
    this.runner = null;
  }

  /** Closes the model's own worker pool (not one given to usePool). A later call starts a new pool. */
  async dispose(): Promise<void> {
    this.disposals++;
    const executor = this.executor;
    this.executor = null;
    this.runner = null;
    if (executor !== null && executor !== this.sharedPool) await executor.close();
  }

  /** @internal Used by fit(). */
  requireCompiled(method: string): Loss {
    if (this.lossFn === null || this.optimizerObject === null) {
      throw new StateError(`Model '${this.name}' must be compiled before ${method}(); call compile({ optimizer, loss }).`);
    }
    return this.lossFn;
  }

  /** @internal Marks the start of fit(); a second concurrent fit() is rejected. */
  beginFit(): number {
    if (this.fitting) {
      throw new StateError(`fit() is already running on model '${this.name}'; await it before calling fit() again.`);
    }
    this.fitting = true;
    return this.disposals;
  }

  /** @internal Marks the end of fit(); returns whether dispose() was called since beginFit. */
  endFit(disposalsAtStart: number): boolean {
    this.fitting = false;
    return this.disposals !== disposalsAtStart;
  }

  /** @internal The optimizer state buffer, a view into the arena; for checkpoints. */
  get optimizerStateArray(): Float32Array {
    this.requireCompiled('optimizerStateArray');
    return this.optimizerState as Float32Array;
  }

  /** @internal Optimizer updates applied since compile(); set when resuming from a checkpoint. */
  get optimizerStepCount(): number {
    return this.optimizerStep;
  }

  set optimizerStepCount(step: number) {
    this.optimizerStep = step;
  }

  /** @internal The next optimizer step number (1-based), advanced by fit(). */
  nextOptimizerStep(): number {
    return ++this.optimizerStep;
  }

  /**
   * @internal Returns a runner on a pool of `threads` workers (0: the calling thread) whose
   * gradient slots fit batches of `maxBatchSize`, reusing the current one when it fits.
   */
  getRunner(threads: number | undefined, maxBatchSize: number, microBatchSize = DEFAULT_MICRO_BATCH_SIZE, purpose: 'train' | 'infer' = 'train'): ParallelRunner {
    this.build();
    // Inference inside a running fit() (from a callback) must not replace the training
    // session, whose buffers the new one would reuse.
    if (purpose === 'infer' && this.fitting && this.runner !== null) return this.runner;
    let requested: number | undefined;
    if (threads === 0) requested = 0;
    else if (threads !== undefined) requested = checkThreads(threads);
    const shared = this.sharedPool;
    if (shared !== null) {
      if (shared.isClosed) {
        throw new StateError(`The worker pool that model '${this.name}' uses (usePool) is closed; give it an open pool with usePool(), or call usePool(null) to let the model start its own.`);
      }
      if (requested !== undefined && requested !== shared.threads) {
        throw new ValueError(`Model '${this.name}' runs on a shared pool of ${shared.threads} threads; threads ${requested} would need another pool.`);
      }
      requested = shared.threads;
      this.executor = shared;
    }
    const executorKind = requested === 0 ? 'inline' : `pool:${requested ?? 'default'}`;

    if (this.executor !== null) {
      const current = this.executor instanceof InlineExecutor ? 'inline' : `pool:${this.executor.threads}`;
      if (requested !== undefined && current !== executorKind) {
        void this.executor.close();
        this.executor = null;
        this.runner = null;
      }
    }
    if (this.executor === null) {
      this.executor = requested === 0 ? new InlineExecutor() : new WorkerPool(requested === undefined ? {} : { threads: requested });
      this.runner = null;
    }
    // A micro-batch larger than the batch would only size buffers that are never filled.
    microBatchSize = Math.min(microBatchSize, maxBatchSize);
    const backend = getBackend();
    const runner = this.runner;
    // Any session of the current backend can evaluate and predict; only training needs slots.
    if (runner !== null && runner.session.backend === backend) {
      if (purpose === 'infer') return runner;
      if (runner.session.microBatchSize === microBatchSize && runner.fits(maxBatchSize)) return runner;
    }
    const optimizer = this.optimizerObject;
    const arena = this.arena as Arena;
    // The old runner's gradient slots and its workers' buffers sit after sessionMark.
    arena.release(this.sessionMark);
    this.runner = new ParallelRunner(this.executor, {
      inputShape: this.inputShape,
      layers: this.layers.map(serializeLayer),
      loss: this.lossFn?.name ?? null,
      optimizer: optimizer === null ? null : { name: optimizer.className, config: optimizer.configWithClipping() },
      backend,
      microBatchSize,
      maxBatchSize: Math.max(maxBatchSize, (runner?.session.slotCount ?? 0) * microBatchSize),
      paramCount: trainableParams(this.entries),
      arena,
      weights: this.flatWeights,
      optimizerState: this.optimizerState as Float32Array,
      // Chunks cover the gradient's range, so only the trainable weights, which come first.
      paramChunks: buildParamChunks(this.entries.filter((e) => e.spec.trainable !== false)),
      clipping: optimizer?.clipping ?? NO_CLIPPING,
    });
    return this.runner;
  }
}
