/**
 * Activation: applies one element-wise activation (or softmax) to its input, y = f(x).
 *
 * The output has the input's shape. Softmax normalizes along the last axis, as in Keras, so a
 * [None, 3, 4] input gets 3 softmaxes of 4 values each per sample. The functions themselves
 * live in activations.ts, shared with Dense and Conv2D.
 */
import type { FloatArray } from '../gemm/types.js';
import { ACTIVATIONS, type ActivationName, activationBackward, activationForward, checkActivation } from './activations.js';
import { Layer, type LayerArgs, type LayerRuntime, type RuntimeContext } from './layer.js';

export interface ActivationArgs extends LayerArgs {
  /** One of the names in ACTIVATIONS, e.g. 'relu' or 'softmax'. */
  activation: ActivationName;
}

export class Activation extends Layer {
  readonly className = 'Activation';
  /** The activation this layer applies. The `activation` getter reports what a fused loss may assume. */
  readonly activationName: ActivationName;

  constructor(args: ActivationArgs) {
    super(args, 'activation');
    const where = `Activation '${this.name}'`;
    if (args.activation === undefined || args.activation === null) {
      throw new TypeError(`${where}: activation is required; use one of ${ACTIVATIONS.join(', ')}.`);
    }
    this.activationName = checkActivation(args.activation, where);
  }

  /**
   * The activation applied over each whole sample. The model fuses a last-layer softmax into
   * cross-entropy over the whole sample row, which matches this layer's last-axis softmax only
   * when the last axis contains every value of the sample. For any other input shape a softmax
   * reports 'linear', so the loss reads the probabilities and backward applies the softmax
   * Jacobian itself.
   */
  override get activation(): ActivationName {
    if (this.activationName === 'softmax' && !this.softmaxSpansSample()) return 'linear';
    return this.activationName;
  }

  computeOutputShape(inputShape: number[]): number[] {
    if (inputShape.length === 0) throw this.shapeError('needs an input of rank 1 or more per sample', inputShape);
    return inputShape.slice();
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, activation: this.activationName };
  }

  createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T> {
    if (!this.built) throw new Error(`Activation '${this.name}' must be built before it runs.`);
    const size = this.inputShape.reduce((a, b) => a * b, 1);
    // Softmax rows are the last axis; the element-wise activations treat a sample as one row.
    const width = this.activationName === 'softmax' ? this.inputShape[this.inputShape.length - 1] : size;
    const exposeLogits = this.activationName === 'softmax' && this.softmaxSpansSample();
    return new ActivationRuntime(this.activationName, size, width, exposeLogits, ctx);
  }

  private softmaxSpansSample(): boolean {
    return this.inputShape.length > 0 && this.inputShape.slice(0, -1).every((d) => d === 1);
  }
}

class ActivationRuntime<T extends FloatArray> implements LayerRuntime<T> {
  readonly y: T;
  readonly dX: T;
  /** The input of the last forward call when a fused loss may read it as logits, else null. */
  logits: T | null = null;

  constructor(
    private readonly name: ActivationName,
    private readonly size: number,
    private readonly width: number,
    private readonly exposeLogits: boolean,
    ctx: RuntimeContext<T>,
  ) {
    this.y = ctx.alloc(ctx.maxBatch * size);
    this.dX = ctx.alloc(ctx.maxBatch * size);
  }

  /** @param x [N, ...shape] */
  forward(x: T, n: number): void {
    activationForward(this.name, this.y, x, (n * this.size) / this.width, this.width);
    if (this.exposeLogits) this.logits = x;
  }

  /** @param dY [N, ...shape] */
  backward(_x: T, dY: T, n: number, computeDX: boolean, _grads: T, _gradBase: number, dYIsPreactivation: boolean): void {
    if (!computeDX) return;
    // y = f(x). A fused loss already gave dL/dx, which passes through unchanged.
    const name = dYIsPreactivation ? 'linear' : this.name;
    activationBackward(name, this.dX, dY, this.y, (n * this.size) / this.width, this.width);
  }
}
