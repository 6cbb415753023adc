/**
 * MaxPooling2D: the maximum over each pooling window, per channel.
 *
 * Legend: N batch, H x W input, C channels, P x Q output. x is [N, H, W, C], y [N, P, Q, C].
 * Forward records which input won each window, so the gradient of a window goes to exactly
 * one input, the first maximum in scan order when several tie.
 */
import type { FloatArray } from '../gemm/types.js';
import { type PoolGeometry, maxPoolBackward, maxPoolForward, poolGeometry } from '../kernels/maxpool.js';
import { Layer, type LayerArgs, type LayerRuntime, type Padding, type RuntimeContext, checkPadding, intPair } from './layer.js';

export interface MaxPooling2DArgs extends LayerArgs {
  poolSize?: number | [number, number];
  /** Defaults to poolSize, as in Keras. */
  strides?: number | [number, number];
  padding?: Padding;
}

export class MaxPooling2D extends Layer {
  readonly className = 'MaxPooling2D';
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  geometry: PoolGeometry | null = null;

  constructor(args: MaxPooling2DArgs = {}) {
    super(args, 'max_pooling2d');
    const where = `MaxPooling2D '${this.name}'`;
    this.poolSize = intPair(args.poolSize ?? 2, 'poolSize', where);
    this.strides = args.strides === undefined || args.strides === null ? this.poolSize : intPair(args.strides, 'strides', where);
    this.padding = checkPadding(args.padding, where);
  }

  computeOutputShape(inputShape: number[]): number[] {
    if (inputShape.length !== 3) {
      throw this.shapeError('expects a rank-3 input per sample [None, height, width, channels]', inputShape);
    }
    const [h, w, c] = inputShape;
    const [ph, pw] = this.poolSize;
    if (this.padding === 'valid' && (h < ph || w < pw)) {
      throw this.shapeError(`with padding 'valid' needs an input at least as large as its ${ph}x${pw} pool`, inputShape);
    }
    const g = poolGeometry(h, w, c, ph, pw, this.strides[0], this.strides[1], this.padding);
    this.geometry = g;
    return [g.outH, g.outW, c];
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, poolSize: this.poolSize, strides: this.strides, padding: this.padding };
  }

  createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T> {
    const g = this.geometry;
    if (g === null) throw new Error(`MaxPooling2D '${this.name}' must be built before it runs.`);
    return new MaxPooling2DRuntime(g, ctx);
  }
}

class MaxPooling2DRuntime<T extends FloatArray> implements LayerRuntime<T> {
  readonly y: T;
  readonly dX: T;
  /** Flat input index of each output's winner, [N, P, Q, C]. */
  private readonly argmax: Int32Array;

  constructor(
    private readonly g: PoolGeometry,
    ctx: RuntimeContext<T>,
  ) {
    const outSize = ctx.maxBatch * g.outH * g.outW * g.channels;
    this.y = ctx.alloc(outSize);
    this.argmax = new Int32Array(outSize);
    this.dX = ctx.alloc(ctx.maxBatch * g.inH * g.inW * g.channels);
  }

  /** @param x [N, H, W, C] */
  forward(x: T, n: number): void {
    maxPoolForward(this.y, this.argmax, x, n, this.g);
  }

  /** @param dY [N, P, Q, C] */
  backward(_x: T, dY: T, n: number, computeDX: boolean): void {
    if (computeDX) maxPoolBackward(this.dX, dY, this.argmax, n, this.g);
  }
}
