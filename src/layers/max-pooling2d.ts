/**
 * MaxPooling2D: the maximum over each pooling window, per channel.
 *
 * Legend: N batch, H x W input, C channels, P x Q output. x is [N, H, W, C], y [N, P, Q, C].
 * Forward records which input won each window, so the gradient of a window goes to exactly
 * one input, the first maximum in scan order when several tie.
 */
import type { FloatArray } from '../gemm/types.js';
import { type PoolGeometry, maxPoolBackward, maxPoolForward, poolGeometry } from '../kernels/maxpool.js';
import type { LayerRuntime, RuntimeContext } from './layer.js';
import { Pooling2D, type Pooling2DArgs } from './pooling2d.js';

export type MaxPooling2DArgs = Pooling2DArgs;

export class MaxPooling2D extends Pooling2D {
  readonly className = 'MaxPooling2D';

  constructor(args: MaxPooling2DArgs = {}) {
    super(args, 'max_pooling2d', 'MaxPooling2D');
  }

  protected poolGeometry(h: number, w: number, c: number): PoolGeometry {
    return poolGeometry(h, w, c, this.poolSize[0], this.poolSize[1], this.strides[0], this.strides[1], this.padding);
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, poolSize: this.poolSize, strides: this.strides, padding: this.padding };
  }

  createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T> {
    return new MaxPooling2DRuntime(this.builtGeometry(), ctx);
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
