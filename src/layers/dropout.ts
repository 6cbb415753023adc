/**
 * Dropout: during training, zeroes each value with probability `rate` and scales the rest by
 * 1 / (1 - rate) (inverted dropout, as in Keras); at inference it passes values through.
 *
 * The mask of a value is a hash of (seed, epoch, sample index, layer and element), so it
 * depends on the sample, not on which worker or micro-batch computes it: training gives the
 * same weights for any thread count.
 */
import { formatValue } from '../errors.js';
import { hashUniform } from '../core/random.js';
import type { FloatArray } from '../gemm/types.js';
import { Layer, type LayerArgs, type LayerRuntime, type RuntimeContext, type StepContext } from './layer.js';

export interface DropoutArgs extends LayerArgs {
  rate: number;
  /**
   * Mixed into the fit seed so that two Dropout layers draw different masks. Defaults to the
   * layer's index in its model, so identically built models train identically.
   */
  seed?: number;
}

export class Dropout extends Layer {
  readonly className = 'Dropout';
  readonly rate: number;
  /** Set from the layer's index by Sequential.add() when not given. */
  seed: number | null;

  constructor(args: DropoutArgs) {
    super(args, 'dropout');
    if (typeof args.rate !== 'number' || !(args.rate >= 0 && args.rate < 1)) {
      throw new RangeError(`Dropout '${this.name}': rate must be a number in [0, 1), got ${formatValue(args.rate)}.`);
    }
    this.rate = args.rate;
    if (args.seed !== undefined && args.seed !== null && !Number.isInteger(args.seed)) {
      throw new RangeError(`Dropout '${this.name}': seed must be an integer, got ${formatValue(args.seed)}.`);
    }
    this.seed = args.seed ?? null;
  }

  computeOutputShape(inputShape: number[]): number[] {
    return inputShape.slice();
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, rate: this.rate, seed: this.seed };
  }

  createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T> {
    return new DropoutRuntime(this, ctx);
  }
}

class DropoutRuntime<T extends FloatArray> implements LayerRuntime<T> {
  readonly y: T;
  readonly dX: T;
  /** Per-value multiplier of the last training forward: 0 or 1 / (1 - rate). */
  private readonly scale: T;
  private readonly width: number;
  private applied = false;

  constructor(
    private readonly layer: Dropout,
    ctx: RuntimeContext<T>,
  ) {
    this.width = layer.inputShape.reduce((a, b) => a * b, 1);
    this.y = ctx.alloc(ctx.maxBatch * this.width);
    this.dX = ctx.alloc(ctx.maxBatch * this.width);
    this.scale = ctx.alloc(ctx.maxBatch * this.width);
  }

  forward(x: T, n: number, step: StepContext): void {
    const width = this.width;
    const size = n * width;
    this.applied = step.training && this.layer.rate > 0;
    if (!this.applied) {
      for (let i = 0; i < size; i++) this.y[i] = x[i];
      return;
    }
    const rate = this.layer.rate;
    const keepScale = 1 / (1 - rate);
    const seed = (step.seed ^ Math.imul((this.layer.seed ?? 0) + 1, 0x9e3779b1)) >>> 0;
    for (let r = 0; r < n; r++) {
      const sample = step.sampleIds[step.sampleIdOffset + r];
      const rowOffset = r * width;
      for (let j = 0; j < width; j++) {
        const keep = hashUniform(seed, step.epoch, sample, j) >= rate ? keepScale : 0;
        this.scale[rowOffset + j] = keep;
        this.y[rowOffset + j] = x[rowOffset + j] * keep;
      }
    }
  }

  backward(_x: T, dY: T, n: number, computeDX: boolean): void {
    if (!computeDX) return;
    const size = n * this.width;
    // y = x * scale, so dX = dY * scale.
    if (!this.applied) for (let i = 0; i < size; i++) this.dX[i] = dY[i];
    else for (let i = 0; i < size; i++) this.dX[i] = dY[i] * this.scale[i];
  }
}
