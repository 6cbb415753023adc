/**
 * BatchNormalization over the channels axis, with Keras 3 semantics (Ioffe and Szegedy, 2015):
 *   y = gamma * (x - mean) / sqrt(variance + epsilon) + beta.
 *
 * Legend: N batch, C channels (the last axis), M = N * (values per sample / C) rows.
 * gamma and beta are [C] and trainable; moving_mean and moving_variance are [C] and
 * non-trainable (zeros and ones at first). In training, mean and variance are the biased
 * moments of the whole batch, and after each step the coordinator updates
 *   moving = moving * momentum + batch statistic * (1 - momentum).
 * In inference (evaluate, predict, validation) mean and variance are the moving statistics.
 *
 * A training batch is split into micro-batches that run on different threads, but the batch
 * moments and, in backward, the per-channel sums of dY and dY * xHat need every row of the
 * batch. The coordinator therefore runs extra passes before the gradient pass
 * (src/coordinator/batch-statistics.ts) and stores their results in a shared float64 buffer.
 * This layer's block there, at batchStatisticsOffset, is
 *   [count, mean[C], variance[C], sumDY[C], sumDYXHat[C]],
 * where count is the number of rows M of the whole batch. Training-mode forward reads mean and
 * variance, and backward reads all of it. writeMoments and writeGradientSums compute one
 * micro-batch's share of those values.
 */
import type { FloatArray } from '../gemm/types.js';
import { formatValue } from '../errors.js';
import {
  batchNormBackwardInput,
  batchNormForward,
  batchNormGradientSums,
  batchNormMoments,
  inverseStd,
  momentsLength,
} from '../kernels/batch-norm.js';
import { Layer, type LayerArgs, type LayerRuntime, type ParamSpec, type RuntimeContext, type StepContext } from './layer.js';

export interface BatchNormalizationArgs extends LayerArgs {
  /** The normalized axis; only the last one (-1, the channels of NHWC) is supported. */
  axis?: number;
  /** Weight of the old value in the moving-statistics update; default 0.99. */
  momentum?: number;
  /** Added to the variance before the square root; default 1e-3. */
  epsilon?: number;
  /** Add the learned offset beta; default true. */
  center?: boolean;
  /** Multiply by the learned scale gamma; default true. */
  scale?: boolean;
}

/** Offsets inside a layer's block of the batch-statistics buffer, for C channels. */
export function statisticsLayout(channels: number): { count: number; mean: number; variance: number; sumDY: number; sumDYXHat: number; length: number } {
  return { count: 0, mean: 1, variance: 1 + channels, sumDY: 1 + 2 * channels, sumDYXHat: 1 + 3 * channels, length: 1 + 4 * channels };
}

function checkBoolean(value: unknown, option: string, where: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${where}: ${option} must be a boolean, got ${formatValue(value)}.`);
  return value;
}

export class BatchNormalization extends Layer {
  readonly className = 'BatchNormalization';
  readonly axis: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;

  constructor(args: BatchNormalizationArgs = {}) {
    super(args, 'batch_normalization');
    const where = `BatchNormalization '${this.name}'`;
    this.axis = args.axis ?? -1;
    if (!Number.isInteger(this.axis)) throw new TypeError(`${where}: axis must be an integer, got ${formatValue(args.axis)}.`);
    this.momentum = args.momentum ?? 0.99;
    if (typeof this.momentum !== 'number' || !(this.momentum >= 0 && this.momentum <= 1)) {
      throw new RangeError(`${where}: momentum must be a number in [0, 1], got ${formatValue(args.momentum)}.`);
    }
    this.epsilon = args.epsilon ?? 1e-3;
    if (typeof this.epsilon !== 'number' || !(this.epsilon > 0 && Number.isFinite(this.epsilon))) {
      throw new RangeError(`${where}: epsilon must be a positive finite number, got ${formatValue(args.epsilon)}.`);
    }
    this.center = checkBoolean(args.center ?? true, 'center', where);
    this.scale = checkBoolean(args.scale ?? true, 'scale', where);
  }

  /** Number of channels, the size of the last input axis. Valid after build(). */
  get channels(): number {
    return this.inputShape[this.inputShape.length - 1];
  }

  computeOutputShape(inputShape: number[]): number[] {
    // Keras counts the batch axis, so the last axis of a rank-r sample is r (or -1).
    if (this.axis !== -1 && this.axis !== inputShape.length) {
      throw this.shapeError(`normalizes only the last axis (axis -1, or ${inputShape.length} for this input), got axis ${this.axis}`, inputShape);
    }
    return inputShape.slice();
  }

  override paramSpecs(): ParamSpec[] {
    const channels = this.channels;
    const shape = [channels];
    const specs: ParamSpec[] = [];
    if (this.scale) specs.push({ name: 'gamma', shape, initializer: 'ones', fanIn: channels, fanOut: channels });
    if (this.center) specs.push({ name: 'beta', shape, initializer: 'zeros', fanIn: channels, fanOut: channels });
    specs.push({ name: 'moving_mean', shape, initializer: 'zeros', fanIn: channels, fanOut: channels, trainable: false });
    specs.push({ name: 'moving_variance', shape, initializer: 'ones', fanIn: channels, fanOut: channels, trainable: false });
    return specs;
  }

  override batchStatisticsLength(): number {
    return statisticsLayout(this.channels).length;
  }

  override partialStatisticsLength(): number {
    // A moments record [count, mean[C], m2[C]] is longer than the two gradient sums [2C].
    return momentsLength(this.channels);
  }

  /** Offset of moving_mean in the flat weight buffer; moving_variance follows in paramOffsets. */
  get movingMeanOffset(): number {
    return this.paramOffsets[this.paramOffsets.length - 2];
  }

  get movingVarianceOffset(): number {
    return this.paramOffsets[this.paramOffsets.length - 1];
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, axis: this.axis, momentum: this.momentum, epsilon: this.epsilon, center: this.center, scale: this.scale };
  }

  createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T> {
    return new BatchNormalizationRuntime(this, ctx);
  }
}

class BatchNormalizationRuntime<T extends FloatArray> implements LayerRuntime<T> {
  readonly y: T;
  readonly dX: T;
  private readonly channels: number;
  /** Rows per sample: the values of one sample divided by C (H * W for an image). */
  private readonly rowsPerSample: number;
  private readonly gammaOffset: number;
  private readonly betaOffset: number;
  private readonly statistics: Float64Array | null;
  private readonly block: ReturnType<typeof statisticsLayout>;
  private readonly blockOffset: number;
  // Per-channel float64 scratch [C], filled from the weights or the batch statistics per call.
  private readonly mean: Float64Array;
  private readonly invStd: Float64Array;
  private readonly gamma: Float64Array;
  private readonly beta: Float64Array;
  private readonly meanDY: Float64Array;
  private readonly meanDYXHat: Float64Array;
  /** This call's sums of dY and dY * xHat [2C]: the micro-batch's beta and gamma gradients. */
  private readonly sums: Float64Array;

  constructor(
    private readonly layer: BatchNormalization,
    private readonly ctx: RuntimeContext<T>,
  ) {
    const channels = layer.channels;
    const size = layer.inputShape.reduce((a, b) => a * b, 1);
    this.channels = channels;
    this.rowsPerSample = size / channels;
    const offsets = layer.paramOffsets;
    this.gammaOffset = layer.scale ? offsets[0] : -1;
    // beta follows gamma when both are present.
    const betaIndex = layer.scale ? 1 : 0;
    this.betaOffset = layer.center ? offsets[betaIndex] : -1;
    this.statistics = ctx.batchStatistics ?? null;
    this.block = statisticsLayout(channels);
    this.blockOffset = layer.batchStatisticsOffset;
    this.y = ctx.alloc(ctx.maxBatch * size);
    this.dX = ctx.alloc(ctx.maxBatch * size);
    this.mean = new Float64Array(channels);
    this.invStd = new Float64Array(channels);
    this.gamma = new Float64Array(channels).fill(1);
    this.beta = new Float64Array(channels);
    this.meanDY = new Float64Array(channels);
    this.meanDYXHat = new Float64Array(channels);
    this.sums = new Float64Array(2 * channels);
  }

  /** @param x [N, ..., C] */
  forward(x: T, n: number, step: StepContext): void {
    this.loadScaleAndOffset();
    if (step.training) {
      this.loadBatchStatistics();
    } else {
      const weights = this.ctx.weights;
      const meanOffset = this.layer.movingMeanOffset;
      for (let c = 0; c < this.channels; c++) this.mean[c] = weights[meanOffset + c];
      inverseStd(this.invStd, weights, this.layer.movingVarianceOffset, this.channels, this.layer.epsilon);
    }
    batchNormForward(this.y, x, n * this.rowsPerSample, this.channels, this.mean, this.invStd, this.gamma, this.beta);
  }

  /** Training mode only: forward must have normalized with the batch statistics. @param x [N, ..., C] @param dY [N, ..., C] */
  backward(x: T, dY: T, n: number, computeDX: boolean, grads: T, gradBase: number): void {
    const { channels, sums } = this;
    const rows = n * this.rowsPerSample;
    const statistics = this.loadBatchStatistics();
    const count = statistics[this.blockOffset + this.block.count];
    for (let c = 0; c < channels; c++) {
      this.meanDY[c] = statistics[this.blockOffset + this.block.sumDY + c] / count;
      this.meanDYXHat[c] = statistics[this.blockOffset + this.block.sumDYXHat + c] / count;
    }
    // y = gamma * xHat + beta: dBeta += sum of dY, dGamma += sum of dY * xHat over this call's rows.
    batchNormGradientSums(sums, 0, x, dY, rows, channels, this.mean, this.invStd);
    if (this.gammaOffset >= 0) for (let c = 0; c < channels; c++) grads[gradBase + this.gammaOffset + c] += sums[channels + c];
    if (this.betaOffset >= 0) for (let c = 0; c < channels; c++) grads[gradBase + this.betaOffset + c] += sums[c];
    if (computeDX) {
      batchNormBackwardInput(this.dX, x, dY, rows, channels, this.mean, this.invStd, this.gamma, this.meanDY, this.meanDYXHat);
    }
  }

  /** @param x [N, ..., C] */
  writeMoments(x: T, n: number, partials: Float64Array, offset: number): void {
    batchNormMoments(partials, offset, x, n * this.rowsPerSample, this.channels);
  }

  /** @param x [N, ..., C] @param dY [N, ..., C] */
  writeGradientSums(x: T, dY: T, n: number, partials: Float64Array, offset: number): void {
    this.loadBatchStatistics();
    batchNormGradientSums(partials, offset, x, dY, n * this.rowsPerSample, this.channels, this.mean, this.invStd);
  }

  /** Copies gamma and beta from the weights, which change after every step; 1 and 0 when absent. */
  private loadScaleAndOffset(): void {
    const weights = this.ctx.weights;
    if (this.gammaOffset >= 0) for (let c = 0; c < this.channels; c++) this.gamma[c] = weights[this.gammaOffset + c];
    if (this.betaOffset >= 0) for (let c = 0; c < this.channels; c++) this.beta[c] = weights[this.betaOffset + c];
  }

  /** Fills mean and invStd from the whole batch's statistics and returns the statistics buffer. */
  private loadBatchStatistics(): Float64Array {
    const statistics = this.statistics;
    if (statistics === null) {
      throw new Error(
        `BatchNormalization '${this.layer.name}' needs the batch statistics buffer in training mode; run it through Sequential.fit() or give the runtime context a batchStatistics buffer.`,
      );
    }
    const meanBase = this.blockOffset + this.block.mean;
    for (let c = 0; c < this.channels; c++) this.mean[c] = statistics[meanBase + c];
    inverseStd(this.invStd, statistics, this.blockOffset + this.block.variance, this.channels, this.layer.epsilon);
    return statistics;
  }
}
