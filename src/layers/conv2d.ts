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
 *
 * Winograd F(2x2, 3x3) (src/kernels/winograd.ts) replaces im2col when the geometry qualifies:
 * a 3x3 kernel, stride 1, 'valid' padding, an even output height and width, and more than one
 * input channel (see usesWinograd). With one channel im2col is cheap and stays. The Winograd
 * transformed input V, kept from forward for the filter gradient, takes the place of the im2col
 * matrix. The transformed filters U are recomputed from the weights at the start of every
 * forward call, because the optimizer changes the weights after each step and the threads
 * share them. On the second MNIST convolution (26x26x32 to 24x24x64, batch 16, wasm GEMM, one
 * core), a forward plus backward step ran 1.55 times as fast as im2col
 * (bench/winograd.bench.ts). Single-thread MNIST CNN training at batch 128 went from 425-456
 * to 534-560 samples/s.
 */
import type { FloatArray } from '../gemm/types.js';
import {
  type ConvGeometry,
  conv2dBackwardFilter,
  conv2dBackwardInput,
  conv2dForward,
  convGeometry,
} from '../kernels/conv2d.js';
import {
  type WinogradTiling,
  WINOGRAD_POSITIONS,
  winogradBackward,
  winogradFilterTransform,
  winogradForwardKeepingInput,
  winogradScratchLengths,
  winogradSupports,
  winogradTiling,
} from '../kernels/winograd.js';
import { activationBiasBackward, biasActivationForward } from '../kernels/bias-activation.js';
import { type ActivationName, checkActivation } from './activations.js';
import { type L1L2, type RegularizerSpec, parseRegularizer, serializeRegularizer } from './regularizers.js';
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
  /** Penalty on the kernel added to the loss; see src/layers/regularizers.ts. Default none. */
  kernelRegularizer?: RegularizerSpec | null;
}

/**
 * Reports whether Conv2D runs a convolution of this geometry with Winograd F(2x2, 3x3) rather
 * than im2col: 3x3 kernel, stride 1, 'valid' padding, even output size and inC > 1.
 */
export function usesWinograd(g: ConvGeometry): boolean {
  return g.inC > 1 && winogradSupports(g);
}

export class Conv2D extends Layer {
  readonly className = 'Conv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  readonly useBias: boolean;
  readonly kernelRegularizer: L1L2 | null;
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
    this.kernelRegularizer = parseRegularizer(args.kernelRegularizer, 'kernelRegularizer', where);
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
      ...this.regularizerConfig(),
    };
  }

  /** Returns the kernelRegularizer entry of getConfig(), empty without one, so configs and checkpoints of unregularized models keep their old form. */
  private regularizerConfig(): Record<string, unknown> {
    return this.kernelRegularizer === null ? {} : { kernelRegularizer: serializeRegularizer(this.kernelRegularizer) };
  }

  createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T> {
    return new Conv2DRuntime(this, ctx);
  }
}

/** Buffers of a Winograd layer, all allocated once from the runtime's arena. */
interface WinogradState<T extends FloatArray> {
  tiling: WinogradTiling;
  /** Tiles per chunk: one image's. */
  chunkTiles: number;
  /** Transformed filters [16, C, K], recomputed at the start of every forward call. */
  u: T;
  /** Transformed input [N * tilesPerImage, 16, C], kept from forward for backward. */
  v: T;
  /** Products M of one chunk in forward, and dM in backward. */
  m: T;
  /** dV of one chunk in backward. */
  dV: T;
  /** dU [16, C, K] in backward. */
  dU: T;
}

class Conv2DRuntime<T extends FloatArray> implements LayerRuntime<T> {
  readonly y: T;
  readonly dX: T;
  readonly logits: T | null;
  /** The lowering this runtime uses, chosen by usesWinograd. */
  readonly method: 'winograd' | 'im2col';
  /** im2col matrix [N*P*Q, R*S*C], reused for dCols during backward; empty for Winograd. */
  private readonly cols: T;
  private readonly winograd: WinogradState<T> | null;
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
    if (usesWinograd(g)) {
      this.method = 'winograd';
      const tiling = winogradTiling(g);
      const chunkTiles = tiling.tilesPerImage;
      const chunk = winogradScratchLengths(g, chunkTiles);
      const filterLength = WINOGRAD_POSITIONS * g.inC * g.outC;
      this.winograd = {
        tiling,
        chunkTiles,
        u: ctx.alloc(filterLength),
        v: ctx.alloc(winogradScratchLengths(g, ctx.maxBatch * tiling.tilesPerImage).v),
        m: ctx.alloc(chunk.m),
        dV: ctx.alloc(chunk.v),
        dU: ctx.alloc(filterLength),
      };
      this.cols = ctx.alloc(0);
    } else {
      this.method = 'im2col';
      this.winograd = null;
      this.cols = ctx.alloc(rows * g.kH * g.kW * g.inC);
    }
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
    const w = this.winograd;
    if (w === null) {
      conv2dForward(z, x, this.kernel, this.cols, n, g, this.ctx.gemm);
    } else {
      winogradFilterTransform(w.u, this.ctx.weights, g.inC, g.outC, this.kernelOffset);
      winogradForwardKeepingInput(z, x, w.u, w.v, w.m, n, g, w.tiling, w.chunkTiles, this.ctx.gemm);
    }
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
    const w = this.winograd;
    if (w !== null) {
      // dW += G^T (sum over tiles V^T dM) G from the V that forward kept; dX only when asked.
      const dWOffset = gradBase + this.kernelOffset;
      winogradBackward(this.dX, grads, dY, w.v, w.u, w.m, w.dV, w.dU, n, g, w.tiling, w.chunkTiles, this.ctx.gemm, computeDX, dWOffset);
      return;
    }
    // dW += cols^T dZ, with cols as forward left them.
    conv2dBackwardFilter(this.kernelGradView(grads, gradBase), dY, this.cols, n, g, this.ctx.gemm);
    // dX = col2im(dZ W^T); the im2col matrix is no longer needed, so dCols reuses it.
    if (computeDX) conv2dBackwardInput(this.dX, dY, this.kernel, this.cols, n, g, this.ctx.gemm);
  }
  /** Returns the kernel-gradient view of one gradient slot, created once per slot. */
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
