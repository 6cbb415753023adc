/**
 * Conv2D: 2-D convolution over channels-last images, y = activation(conv(x, W) + b).
 *
 * Legend: N batch, H x W input, C in-channels, R x S kernel, K filters, P x Q output.
 * x is [N, H, W, C], the kernel is [R, S, C, K] as in Keras, the bias [K], y [N, P, Q, K].
 * The convolution is lowered to im2col plus GEMM (src/kernels/conv2d.ts); the im2col matrix
 * from forward is kept for the kernel gradient. One input channel takes the same path: on the
 * first MNIST layer (batch 128, Node 20, one thread), a direct TypeScript loop for C = 1 ran
 * 15 to 20 times slower than im2col plus the WebAssembly GEMM, in forward and kernel gradient.
 * The im2col matrix covers the whole micro-batch (10.6 MB for the second MNIST layer at 16
 * samples). Tiles of 384 KiB cut that by 10 MB per worker, but the kernel gradient must then
 * rebuild each tile, and single-thread training measured 3.5% slower, so tiles are not used.
 */
import type { FloatArray } from '../gemm/types.js';
import {
  type ConvGeometry,
  conv2dBackwardFilter,
  conv2dBackwardInput,
  conv2dForward,
  convGeometry,
} from '../kernels/conv2d.js';
import { activationBiasBackward, biasActivationForward } from '../kernels/bias-activation.js';
import { type ActivationName, checkActivation } from './activations.js';
import {
  Layer,
  type LayerArgs,
  type LayerRuntime,
  type Padding,
  type ParamSpec,
  type RuntimeContext,
  checkPadding,
  intPair,
  positiveInt,
} from './layer.js';

export interface Conv2DArgs extends LayerArgs {
  filters: number;
  kernelSize: number | [number, number];
  strides?: number | [number, number];
  padding?: Padding;
  activation?: ActivationName;
  useBias?: boolean;
}

export class Conv2D extends Layer {
  readonly className = 'Conv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  readonly useBias: boolean;
  private readonly activationName: ActivationName;
  geometry: ConvGeometry | null = null;

  constructor(args: Conv2DArgs) {
    super(args, 'conv2d');
    const where = `Conv2D '${this.name}'`;
    this.filters = positiveInt(args.filters, 'filters', where);
    this.kernelSize = intPair(args.kernelSize, 'kernelSize', where);
    this.strides = intPair(args.strides ?? 1, 'strides', where);
    this.padding = checkPadding(args.padding, where);
    this.activationName = checkActivation(args.activation, where);
    this.useBias = args.useBias ?? true;
  }

  override get activation(): ActivationName {
    return this.activationName;
  }

  computeOutputShape(inputShape: number[]): number[] {
    if (inputShape.length !== 3) {
      throw this.shapeError('expects a rank-3 input per sample [None, height, width, channels]', inputShape);
    }
    const [h, w, c] = inputShape;
    const [kh, kw] = this.kernelSize;
    if (this.padding === 'valid' && (h < kh || w < kw)) {
      throw this.shapeError(`with padding 'valid' needs an input at least as large as its ${kh}x${kw} kernel`, inputShape);
    }
    const g = convGeometry(h, w, c, kh, kw, this.filters, this.strides[0], this.strides[1], this.padding);
    this.geometry = g;
    return [g.outH, g.outW, this.filters];
  }

  override paramSpecs(): ParamSpec[] {
    const [kh, kw] = this.kernelSize;
    const c = this.inputShape[2];
    const fanIn = kh * kw * c;
    const fanOut = kh * kw * this.filters;
    const specs: ParamSpec[] = [{ name: 'kernel', shape: [kh, kw, c, this.filters], initializer: 'glorotUniform', fanIn, fanOut }];
    if (this.useBias) specs.push({ name: 'bias', shape: [this.filters], initializer: 'zeros', fanIn, fanOut });
    return specs;
  }

  getConfig(): Record<string, unknown> {
    return {
      name: this.name,
      filters: this.filters,
      kernelSize: this.kernelSize,
      strides: this.strides,
      padding: this.padding,
      activation: this.activationName,
      useBias: this.useBias,
    };
  }

  createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T> {
    return new Conv2DRuntime(this, ctx);
  }
}

class Conv2DRuntime<T extends FloatArray> implements LayerRuntime<T> {
  readonly y: T;
  readonly dX: T;
  readonly logits: T | null;
  /** im2col matrix [N*P*Q, R*S*C]; the same memory holds dCols during backward. */
  private readonly cols: T;
  private readonly g: ConvGeometry;
  private readonly kernelOffset: number;
  private readonly biasOffset: number;
  private readonly biasScratch: Float64Array;
  private readonly kernel: T;
  private readonly kernelGradViews = new Map<number, T>();

  constructor(
    private readonly layer: Conv2D,
    private readonly ctx: RuntimeContext<T>,
  ) {
    const g = layer.geometry;
    if (g === null) throw new Error(`Conv2D '${layer.name}' must be built before it runs.`);
    this.g = g;
    const rows = ctx.maxBatch * g.outH * g.outW;
    this.y = ctx.alloc(rows * g.outC);
    this.logits = layer.activation === 'softmax' ? ctx.alloc(rows * g.outC) : null;
    this.dX = ctx.alloc(ctx.maxBatch * g.inH * g.inW * g.inC);
    this.cols = ctx.alloc(rows * g.kH * g.kW * g.inC);
    this.kernelOffset = layer.paramOffsets[0];
    this.biasOffset = layer.useBias ? layer.paramOffsets[1] : -1;
    this.biasScratch = new Float64Array(g.outC);
    const kernelSize = g.kH * g.kW * g.inC * g.outC;
    this.kernel = ctx.weights.subarray(this.kernelOffset, this.kernelOffset + kernelSize) as T;
  }

  /** @param x [N, H, W, C] */
  forward(x: T, n: number): void {
    const g = this.g;
    const z = this.logits ?? this.y;
    conv2dForward(z, x, this.kernel, this.cols, n, g, this.ctx.gemm);
    const rows = n * g.outH * g.outW;
    biasActivationForward(this.layer.activation, this.y, z, this.ctx.weights, this.biasOffset, rows, g.outC);
  }

  /** @param x [N, H, W, C] @param dY [N, P, Q, K] */
  backward(x: T, dY: T, n: number, computeDX: boolean, grads: T, gradBase: number, dYIsPreactivation: boolean): void {
    const g = this.g;
    const rows = n * g.outH * g.outW;
    // y = act(z), z = conv(x, W) + b; dZ overwrites dY, and dB += sum over rows of dZ.
    const activation = dYIsPreactivation ? 'linear' : this.layer.activation;
    const dBOffset = this.biasOffset >= 0 ? gradBase + this.biasOffset : -1;
    activationBiasBackward(activation, dY, this.y, grads, dBOffset, rows, g.outC, this.biasScratch);
    // dW += cols^T dZ, with cols as forward left them.
    conv2dBackwardFilter(this.kernelGradView(grads, gradBase), dY, this.cols, n, g, this.ctx.gemm);
    // dX = col2im(dZ W^T); the im2col matrix is no longer needed, so it holds dCols.
    if (computeDX) conv2dBackwardInput(this.dX, dY, this.kernel, this.cols, n, g, this.ctx.gemm);
  }

  /** The kernel-gradient view of one gradient slot, created once per slot. */
  private kernelGradView(grads: T, gradBase: number): T {
    let view = this.kernelGradViews.get(gradBase);
    if (view === undefined || view.buffer !== grads.buffer) {
      const g = this.g;
      const start = gradBase + this.kernelOffset;
      view = grads.subarray(start, start + g.kH * g.kW * g.inC * g.outC) as T;
      this.kernelGradViews.set(gradBase, view);
    }
    return view;
  }
}
