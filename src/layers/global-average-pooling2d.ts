/**
 * GlobalAveragePooling2D: the mean over all positions of each channel.
 *
 * Legend: N batch, H x W input, C channels. x is [N, H, W, C], and y is [N, C], or
 * [N, 1, 1, C] with keepdims. Both output shapes have the same row-major layout, so keepdims
 * changes only the shape. It runs the average-pooling kernel with one H x W window.
 */
import { formatValue } from '../errors.js';
import type { FloatArray } from '../gemm/types.js';
import { type PoolGeometry, avgPoolBackward, avgPoolForward, globalAvgPoolGeometry } from '../kernels/avgpool.js';
import { type DataFormat, checkDataFormat } from './pooling2d.js';
import { Layer, type LayerArgs, type LayerRuntime, type RuntimeContext } from './layer.js';

export interface GlobalAveragePooling2DArgs extends LayerArgs {
  /** Whether the output keeps the pooled height and width as size-1 axes, [N, 1, 1, C]. Default false, as in Keras. */
  keepdims?: boolean;
  /** Only channels-last is supported; accepted so that Keras and TensorFlow.js configs load. */
  dataFormat?: DataFormat;
}

export class GlobalAveragePooling2D extends Layer {
  readonly className = 'GlobalAveragePooling2D';
  readonly keepdims: boolean;
  geometry: PoolGeometry | null = null;

  constructor(args: GlobalAveragePooling2DArgs = {}) {
    super(args, 'global_average_pooling2d');
    const where = `GlobalAveragePooling2D '${this.name}'`;
    const keepdims = args.keepdims ?? false;
    if (typeof keepdims !== 'boolean') {
      throw new TypeError(`${where}: keepdims must be a boolean, got ${formatValue(keepdims)}.`);
    }
    this.keepdims = keepdims;
    checkDataFormat(args.dataFormat, where);
  }

  computeOutputShape(inputShape: number[]): number[] {
    if (inputShape.length !== 3) {
      throw this.shapeError('expects a rank-3 input per sample [None, height, width, channels]', inputShape);
    }
    const [h, w, c] = inputShape;
    this.geometry = globalAvgPoolGeometry(h, w, c);
    return this.keepdims ? [1, 1, c] : [c];
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, keepdims: this.keepdims, dataFormat: 'channels_last' };
  }

  createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T> {
    const g = this.geometry;
    if (g === null) throw new Error(`GlobalAveragePooling2D '${this.name}' must be built before it runs.`);
    return new GlobalAveragePooling2DRuntime(g, ctx);
  }
}

class GlobalAveragePooling2DRuntime<T extends FloatArray> implements LayerRuntime<T> {
  readonly y: T;
  readonly dX: T;

  constructor(
    private readonly g: PoolGeometry,
    ctx: RuntimeContext<T>,
  ) {
    this.y = ctx.alloc(ctx.maxBatch * g.channels);
    this.dX = ctx.alloc(ctx.maxBatch * g.inH * g.inW * g.channels);
  }

  /** @param x [N, H, W, C] */
  forward(x: T, n: number): void {
    avgPoolForward(this.y, x, n, this.g);
  }

  /** @param dY [N, C] */
  backward(_x: T, dY: T, n: number, computeDX: boolean): void {
    if (computeDX) avgPoolBackward(this.dX, dY, n, this.g);
  }
}
