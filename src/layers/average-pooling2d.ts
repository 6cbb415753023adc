/**
 * AveragePooling2D: the mean over each pooling window, per channel.
 *
 * Legend: N batch, H x W input, C channels, P x Q output. x is [N, H, W, C], y [N, P, Q, C].
 * With padding 'same', a window that reaches past the border averages only the input elements
 * it covers, as Keras does, so padding never pulls a mean towards zero.
 */
import type { FloatArray } from '../gemm/types.js';
import { type PoolGeometry, avgPoolBackward, avgPoolForward, avgPoolGeometry } from '../kernels/avgpool.js';
import type { LayerRuntime, RuntimeContext } from './layer.js';
import { Pooling2D, type Pooling2DArgs } from './pooling2d.js';


export type AveragePooling2DArgs = Pooling2DArgs;

export class AveragePooling2D extends Pooling2D {
  readonly className = 'AveragePooling2D';

  constructor(args: AveragePooling2DArgs = {}) {
    super(args, 'average_pooling2d', 'AveragePooling2D');
  }

  protected poolGeometry(h: number, w: number, c: number): PoolGeometry {
    return avgPoolGeometry(h, w, c, this.poolSize[0], this.poolSize[1], this.strides[0], this.strides[1], this.padding);
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, poolSize: this.poolSize, strides: this.strides, padding: this.padding, dataFormat: 'channels_last' };
  }

  createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T> {
    return new AveragePooling2DRuntime(this.builtGeometry(), ctx);
  }
}

class AveragePooling2DRuntime<T extends FloatArray> implements LayerRuntime<T> {
  readonly y: T;
  readonly dX: T;

  constructor(
    private readonly g: PoolGeometry,
    ctx: RuntimeContext<T>,
  ) {
    this.y = ctx.alloc(ctx.maxBatch * g.outH * g.outW * g.channels);
    this.dX = ctx.alloc(ctx.maxBatch * g.inH * g.inW * g.channels);
  }

  /** @param x [N, H, W, C] */
  forward(x: T, n: number): void {
    avgPoolForward(this.y, x, n, this.g);
  }

  /** @param dY [N, P, Q, C] */
  backward(_x: T, dY: T, n: number, computeDX: boolean): void {
    if (computeDX) avgPoolBackward(this.dX, dY, n, this.g);
  }
}
