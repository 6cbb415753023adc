/**
 * Replica: one thread's executable copy of a model.
 *
 * It owns the activation and gradient buffers of every layer, sized for `maxBatch` samples
 * and allocated once, and reads the weights from the model's flat buffer (shared with all
 * other replicas). A training call zeroes one gradient slot, runs forward, the loss and
 * backward, and adds every parameter gradient into that slot. Nothing is allocated per call.
 *
 * Models with BatchNormalization also need the whole batch's statistics before a training call:
 * writeMoments and writeGradientSums compute one micro-batch's share of them, and the
 * coordinator combines the shares into the shared batchStatistics buffer
 * (src/coordinator/batch-statistics.ts).
 */
import type { FloatArray, GemmFn } from '../gemm/types.js';
import type { Layer, LayerRuntime, StepContext } from '../layers/layer.js';
import type { Loss } from '../losses/loss.js';
import { countCorrect } from '../metrics/accuracy.js';

export interface ReplicaOptions<T extends FloatArray> {
  layers: readonly Layer[];
  loss: Loss | null;
  weights: T;
  paramCount: number;
  maxBatch: number;
  gemm: GemmFn<T>;
  alloc: (length: number) => T;
  /** Shared whole-batch statistics; needed for training models with BatchNormalization. */
  batchStatistics?: Float64Array;
}

const INFERENCE_STEP: StepContext = { training: false, seed: 0, epoch: 0, sampleIds: new Int32Array(0), sampleIdOffset: 0 };

export class Replica<T extends FloatArray> {
  /** Input rows of the next call, [maxBatch, ...inputShape]. */
  readonly input: T;
  /** Targets of the next call, [maxBatch, targetWidth]. */
  readonly targets: T;
  readonly inputSize: number;
  readonly outputWidth: number;
  readonly targetWidth: number;
  readonly maxBatch: number;
  readonly paramCount: number;
  /** Sum of per-sample losses and number of correct rows of the last train or evaluate call. */
  lossSum = 0;
  correct = 0;
  private readonly runtimes: LayerRuntime<T>[];
  private readonly dOut: T;
  private readonly fusedSoftmax: boolean;
  private readonly loss: Loss | null;

  constructor(options: ReplicaOptions<T>) {
    const { layers, loss, maxBatch } = options;
    const first = layers[0];
    const last = layers[layers.length - 1];
    this.loss = loss;
    this.maxBatch = maxBatch;
    this.paramCount = options.paramCount;
    this.inputSize = first.inputShape.reduce((a, b) => a * b, 1);
    this.outputWidth = last.outputShape.reduce((a, b) => a * b, 1);
    this.targetWidth = loss === null ? 0 : loss.targetWidth(this.outputWidth);
    const ctx = { alloc: options.alloc, gemm: options.gemm, weights: options.weights, maxBatch, batchStatistics: options.batchStatistics };
    this.runtimes = layers.map((layer) => layer.createRuntime(ctx));
    this.input = options.alloc(maxBatch * this.inputSize);
    this.targets = options.alloc(maxBatch * Math.max(this.targetWidth, 1));
    this.dOut = options.alloc(maxBatch * this.outputWidth);
    // The fused loss treats each sample's whole output as one softmax row, which is right only
    // when the layer's softmax covers all of it: a Conv2D softmax runs per pixel, for example.
    const oneRow = last.outputShape.slice(0, -1).every((d) => d === 1);
    this.fusedSoftmax = loss !== null && loss.fusesSoftmax && last.activation === 'softmax' && oneRow;
  }

  /** Output of the last forward call, [maxBatch, outputWidth]. */
  get output(): T {
    return this.runtimes[this.runtimes.length - 1].y;
  }

  /** Runs forward over the first n rows of `input`. */
  forward(n: number, step: StepContext = INFERENCE_STEP): T {
    let x = this.input;
    for (const runtime of this.runtimes) {
      runtime.forward(x, n, step);
      x = runtime.y;
    }
    return x;
  }

  /**
   * Zeroes grads[gradBase, gradBase + paramCount), then adds the gradient of
   * scale * (sum of the n rows' losses) into it; sets lossSum and correct.
   */
  trainStep(n: number, step: StepContext, grads: T, gradBase: number, scale: number): void {
    grads.fill(0, gradBase, gradBase + this.paramCount);
    this.forwardAndBackward(n, step, grads, gradBase, scale, 0);
  }

  /**
   * Runs training-mode forward through the layers before `layerIndex` and writes the moments
   * of that layer's input at partials[offset...] (see LayerRuntime.writeMoments).
   */
  writeMoments(layerIndex: number, n: number, step: StepContext, partials: Float64Array, offset: number): void {
    let x = this.input;
    for (let i = 0; i < layerIndex; i++) {
      this.runtimes[i].forward(x, n, step);
      x = this.runtimes[i].y;
    }
    this.wholeBatchRuntime(layerIndex).writeMoments?.(x, n, partials, offset);
  }

  /**
   * Runs training-mode forward, the loss (scaled by `scale`) and backward through the layers
   * after `layerIndex`, then writes the gradient sums of that layer at partials[offset...] (see
   * LayerRuntime.writeGradientSums). Backward adds the later layers' parameter gradients into
   * grads at gradBase, so pass a slot that trainStep zeroes later.
   */
  writeGradientSums(layerIndex: number, n: number, step: StepContext, grads: T, gradBase: number, scale: number, partials: Float64Array, offset: number): void {
    const dY = this.forwardAndBackward(n, step, grads, gradBase, scale, layerIndex + 1);
    const x = layerIndex === 0 ? this.input : this.runtimes[layerIndex - 1].y;
    this.wholeBatchRuntime(layerIndex).writeGradientSums?.(x, dY, n, partials, offset);
  }

  /**
   * Runs forward, the loss and backward down to layer `stopIndex`; sets lossSum and correct, and
   * returns the gradient with respect to the output of layer stopIndex - 1.
   */
  private forwardAndBackward(n: number, step: StepContext, grads: T, gradBase: number, scale: number, stopIndex: number): T {
    const loss = this.requireLoss();
    const output = this.forward(n, step);
    const lastIndex = this.runtimes.length - 1;
    const logits = this.fusedSoftmax ? (this.runtimes[lastIndex].logits ?? null) : null;
    this.lossSum = loss.compute(this.dOut, output, logits, this.targets, n, this.outputWidth, scale);
    this.correct = countCorrect(output, this.targets, n, this.outputWidth, this.targetWidth);
    let dY = this.dOut;
    for (let i = lastIndex; i >= stopIndex; i--) {
      const x = i === 0 ? this.input : this.runtimes[i - 1].y;
      const runtime = this.runtimes[i];
      runtime.backward(x, dY, n, i > 0, grads, gradBase, this.fusedSoftmax && i === lastIndex);
      dY = runtime.dX;
    }
    return dY;
  }

  private wholeBatchRuntime(layerIndex: number): LayerRuntime<T> {
    const runtime = this.runtimes[layerIndex];
    if (runtime?.writeMoments === undefined || runtime.writeGradientSums === undefined) {
      throw new RangeError(`Layer ${layerIndex} of this replica does not normalize over the batch, so it has no batch statistics.`);
    }
    return runtime;
  }

  /** Runs inference over n rows and sets lossSum and correct. */
  evaluate(n: number): void {
    const loss = this.requireLoss();
    const output = this.forward(n);
    const logits = this.fusedSoftmax ? (this.runtimes[this.runtimes.length - 1].logits ?? null) : null;
    this.lossSum = loss.compute(null, output, logits, this.targets, n, this.outputWidth, 1);
    this.correct = countCorrect(output, this.targets, n, this.outputWidth, this.targetWidth);
  }

  private requireLoss(): Loss {
    if (this.loss === null) throw new Error('This replica was created without a loss; it can only predict.');
    return this.loss;
  }
}
