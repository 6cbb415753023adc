/**
 * Layer: the base class of every layer, and the runtime interface that executes it.
 *
 * A `Layer` is configuration and shape logic only: Keras-style options, the output shape for
 * an input shape, the parameters it owns and where they sit in the model's flat weight
 * buffer. A `LayerRuntime` is created from a layer once per executing thread (main thread or
 * worker); it owns that thread's activation buffers, sized for `maxBatch` samples, and
 * computes forward and backward over them without allocating.
 *
 * Shapes here are per sample (no batch dimension), channels-last as in Keras.
 */
import type { FloatArray, GemmFn } from '../gemm/types.js';
import { ShapeError, formatShape, formatValue } from '../errors.js';
import type { ActivationName } from './activations.js';

export type InitializerName = 'glorotUniform' | 'zeros' | 'ones';

/** One weight array of a layer. */
export interface ParamSpec {
  /** Keras weight name, e.g. 'kernel' or 'bias'. */
  name: string;
  shape: number[];
  initializer: InitializerName;
  /** Fan-in and fan-out used by Glorot initialization. */
  fanIn: number;
  fanOut: number;
  /**
   * False for a weight that the optimizer never updates and that has no gradient, such as
   * BatchNormalization's moving statistics; default true.
   */
  trainable?: boolean;
}

/** Options every layer accepts, as TensorFlow.js spells them. */
export interface LayerArgs {
  name?: string;
  /** Per-sample input shape of the first layer, e.g. [28, 28, 1]. */
  inputShape?: number[];
}

/** Buffers and kernels a runtime receives from the thread that executes it. */
export interface RuntimeContext<T extends FloatArray> {
  /** Allocates a zeroed float array of the runtime's dtype. */
  alloc(length: number): T;
  gemm: GemmFn<T>;
  /** The model's flat weight buffer; layers read their parameters at their offsets. */
  weights: T;
  /** The largest number of samples one forward call receives. */
  maxBatch: number;
  /**
   * Whole-batch statistics of the current training step, written by the coordinator
   * (src/coordinator/batch-statistics.ts) and read at each layer's batchStatisticsOffset.
   * Needed only by layers whose batchStatisticsLength() is not 0.
   */
  batchStatistics?: Float64Array;
}

/** Per-call information for layers whose behaviour depends on the step (Dropout). */
export interface StepContext {
  training: boolean;
  seed: number;
  epoch: number;
  /** Dataset index of each sample of the call, at sampleIds[sampleIdOffset + row]. */
  sampleIds: Int32Array;
  sampleIdOffset: number;
}

export interface LayerRuntime<T extends FloatArray> {
  /** Output of the last forward call, [maxBatch, ...outputShape]. */
  readonly y: T;
  /** Gradient with respect to the input from the last backward call with computeDX. */
  readonly dX: T;
  /** Pre-activation output, kept by layers ending in softmax for a fused loss. */
  readonly logits?: T | null;
  forward(x: T, n: number, step: StepContext): void;
  /**
   * Adds this layer's parameter gradients into grads (at gradBase plus the parameter offsets)
   * and, when computeDX is set, writes the input gradient into dX. dY may be overwritten.
   * With dYIsPreactivation, dY already is the gradient before the activation (a fused loss).
   */
  backward(x: T, dY: T, n: number, computeDX: boolean, grads: T, gradBase: number, dYIsPreactivation: boolean): void;
  /**
   * Whole-batch layers only: writes the row count, then the per-channel mean and sum of squared
   * deviations (M2) of the n rows of the input x, at partials[offset...].
   */
  writeMoments?(x: T, n: number, partials: Float64Array, offset: number): void;
  /**
   * Whole-batch layers only: writes the per-channel sums of dY and of dY times the normalized
   * input over the n rows, at partials[offset...]. Reads the batch statistics but not dY's
   * later contents, and overwrites nothing.
   */
  writeGradientSums?(x: T, dY: T, n: number, partials: Float64Array, offset: number): void;
}

export abstract class Layer {
  /** Keras class name, e.g. 'Conv2D'. */
  abstract readonly className: string;
  name: string;
  /** Per-sample input shape given by the user (first layer only). */
  readonly declaredInputShape: number[] | undefined;
  /** Per-sample shapes, set by build(). */
  inputShape: number[] = [];
  outputShape: number[] = [];
  /** Offset of each parameter in the flat weight buffer, assigned by the model. */
  paramOffsets: number[] = [];
  /** Offset of this layer's block in the batch-statistics buffer, assigned by buildLayers; -1 when it has none. */
  batchStatisticsOffset = -1;
  built = false;

  constructor(args: LayerArgs, defaultName: string) {
    this.name = args.name ?? defaultName;
    if (args.inputShape !== undefined) {
      const shape = args.inputShape;
      if (!Array.isArray(shape) || shape.length === 0 || shape.some((d) => !Number.isInteger(d) || d <= 0)) {
        throw new RangeError(`inputShape ${formatValue(shape)} is invalid: give positive integer dimensions without the batch, e.g. [28, 28, 1].`);
      }
      this.declaredInputShape = shape.slice();
    }
  }

  /** The activation applied at the end of forward; 'linear' for layers without one. */
  get activation(): ActivationName {
    return 'linear';
  }

  /** Sets the input shape, checks it, and computes the output shape and parameters. */
  build(inputShape: number[]): void {
    this.inputShape = inputShape.slice();
    this.outputShape = this.computeOutputShape(inputShape);
    this.built = true;
  }

  /** Returns the per-sample output shape for a per-sample input shape, or throws ShapeError. */
  abstract computeOutputShape(inputShape: number[]): number[];

  /** Returns the parameters this layer owns, in the order of its Keras weights. Valid after build(). */
  paramSpecs(): ParamSpec[] {
    return [];
  }

  /** Keras-style configuration of this layer (the options it was built with). */
  abstract getConfig(): Record<string, unknown>;

  abstract createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T>;

  /**
   * Number of float64 values this layer needs in the shared batch-statistics buffer: 0 for
   * layers that compute each sample on its own, more for layers that normalize over the whole
   * training batch (BatchNormalization).
   */
  batchStatisticsLength(): number {
    return 0;
  }

  /** Number of float64 values one micro-batch writes with writeMoments or writeGradientSums. */
  partialStatisticsLength(): number {
    return 0;
  }

  /** Number of scalar weights, trainable or not. */
  countParams(): number {
    let count = 0;
    for (const spec of this.paramSpecs()) count += spec.shape.reduce((a, b) => a * b, 1);
    return count;
  }

  /** Number of scalar weights that the optimizer updates. */
  countTrainableParams(): number {
    let count = 0;
    for (const spec of this.paramSpecs()) if (spec.trainable !== false) count += spec.shape.reduce((a, b) => a * b, 1);
    return count;
  }

  protected shapeError(rule: string, inputShape: number[]): ShapeError {
    return new ShapeError(
      `Layer '${this.name}' (${this.className}) ${rule}; got input shape ${formatShape([null, ...inputShape])}.`,
    );
  }
}

/** Checks a positive integer option and returns it. */
export function positiveInt(value: unknown, option: string, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new RangeError(`${where}: ${option} must be a positive integer, got ${formatValue(value)}.`);
  }
  return value;
}

/** Normalizes a Keras size option (a number or a [height, width] pair) to a pair. */
export function intPair(value: unknown, option: string, where: string): [number, number] {
  if (typeof value === 'number') {
    const v = positiveInt(value, option, where);
    return [v, v];
  }
  if (Array.isArray(value) && value.length === 2) {
    return [positiveInt(value[0], option, where), positiveInt(value[1], option, where)];
  }
  throw new RangeError(`${where}: ${option} must be a positive integer or a pair of them, got ${formatValue(value)}.`);
}

export type Padding = 'valid' | 'same';

export function checkPadding(value: unknown, where: string): Padding {
  if (value === undefined) return 'valid';
  if (value !== 'valid' && value !== 'same') {
    throw new RangeError(`${where}: padding must be 'valid' or 'same', got ${formatValue(value)}.`);
  }
  return value;
}
