/**
 * Dense: fully connected layer, y = activation(x W + b).
 *
 * Legend: N batch, I input features, U units. W is [I, U] as in Keras, b is [U].
 * The input must be rank 1 per sample; put a Flatten before a Dense that follows a
 * convolution.
 */
import type { FloatArray } from '../gemm/types.js';
import { activationBiasBackward, biasActivationForward } from '../kernels/bias-activation.js';
import { type ActivationName, checkActivation } from './activations.js';
import { type L1L2, type RegularizerSpec, parseRegularizer, serializeRegularizer } from './regularizers.js';
import { Layer, type LayerArgs, type LayerRuntime, type ParamSpec, type RuntimeContext, positiveInt } from './layer.js';

export interface DenseArgs extends LayerArgs {
  units: number;
  activation?: ActivationName;
  useBias?: boolean;
  /** Penalty on the kernel added to the loss; see src/layers/regularizers.ts. Default none. */
  kernelRegularizer?: RegularizerSpec | null;
}

export class Dense extends Layer {
  readonly className = 'Dense';
  readonly units: number;
  readonly useBias: boolean;
  readonly kernelRegularizer: L1L2 | null;
  private readonly activationName: ActivationName;

  constructor(args: DenseArgs) {
    super(args, 'dense');
    const where = `Dense '${this.name}'`;
    this.units = positiveInt(args.units, 'units', where);
    this.activationName = checkActivation(args.activation, where);
    this.useBias = args.useBias ?? true;
    this.kernelRegularizer = parseRegularizer(args.kernelRegularizer, 'kernelRegularizer', where);
  }

  override get activation(): ActivationName {
    return this.activationName;
  }

  computeOutputShape(inputShape: number[]): number[] {
    if (inputShape.length !== 1) {
      throw this.shapeError('expects a rank-1 input per sample [None, features]; add a Flatten layer before it', inputShape);
    }
    return [this.units];
  }

  override paramSpecs(): ParamSpec[] {
    const inputs = this.inputShape[0];
    const specs: ParamSpec[] = [
      { name: 'kernel', shape: [inputs, this.units], initializer: 'glorotUniform', fanIn: inputs, fanOut: this.units },
    ];
    if (this.useBias) specs.push({ name: 'bias', shape: [this.units], initializer: 'zeros', fanIn: inputs, fanOut: this.units });
    return specs;
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, units: this.units, activation: this.activationName, useBias: this.useBias, ...this.regularizerConfig() };
  }

  /** Returns the kernelRegularizer entry of getConfig(), empty without one, so configs and checkpoints of unregularized models keep their old form. */
  private regularizerConfig(): Record<string, unknown> {
    return this.kernelRegularizer === null ? {} : { kernelRegularizer: serializeRegularizer(this.kernelRegularizer) };
  }

  createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T> {
    return new DenseRuntime(this, ctx);
  }
}

class DenseRuntime<T extends FloatArray> implements LayerRuntime<T> {
  readonly y: T;
  readonly dX: T;
  /** Pre-activation x W + b, kept only for softmax, whose fused loss reads the logits. */
  readonly logits: T | null;
  private readonly inputs: number;
  private readonly units: number;
  private readonly kernelOffset: number;
  private readonly biasOffset: number;
  private readonly biasScratch: Float64Array;

  constructor(
    private readonly layer: Dense,
    private readonly ctx: RuntimeContext<T>,
  ) {
    this.inputs = layer.inputShape[0];
    this.units = layer.units;
    this.kernelOffset = layer.paramOffsets[0];
    this.biasOffset = layer.useBias ? layer.paramOffsets[1] : -1;
    this.y = ctx.alloc(ctx.maxBatch * this.units);
    this.dX = ctx.alloc(ctx.maxBatch * this.inputs);
    this.logits = layer.activation === 'softmax' ? ctx.alloc(ctx.maxBatch * this.units) : null;
    this.biasScratch = new Float64Array(this.units);
  }

  /** @param x [N, I] */
  forward(x: T, n: number): void {
    const { inputs, units } = this;
    const weights = this.ctx.weights;
    const z = this.logits ?? this.y;
    this.ctx.gemm(false, false, n, units, inputs, 1, x, 0, inputs, weights, this.kernelOffset, units, 0, z, 0, units);
    biasActivationForward(this.layer.activation, this.y, z, weights, this.biasOffset, n, units);
  }

  /** @param x [N, I] @param dY [N, U] */
  backward(x: T, dY: T, n: number, computeDX: boolean, grads: T, gradBase: number, dYIsPreactivation: boolean): void {
    const { inputs, units } = this;
    // y = act(z), z = x W + b; dZ overwrites dY, and dB += sum over rows of dZ.
    const activation = dYIsPreactivation ? 'linear' : this.layer.activation;
    const dBOffset = this.biasOffset >= 0 ? gradBase + this.biasOffset : -1;
    activationBiasBackward(activation, dY, this.y, grads, dBOffset, n, units, this.biasScratch);
    // dW += x^T dZ
    this.ctx.gemm(true, false, inputs, units, n, 1, x, 0, inputs, dY, 0, units, 1, grads, gradBase + this.kernelOffset, units);
    // dX = dZ W^T
    if (computeDX) {
      this.ctx.gemm(false, true, n, inputs, units, 1, dY, 0, units, this.ctx.weights, this.kernelOffset, units, 0, this.dX, 0, inputs);
    }
  }
}
