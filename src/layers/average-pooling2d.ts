/**
 * AveragePooling2D: the mean over each pooling window, per channel.
 *
 * Legend: N batch, H x W input, C channels, P x Q output. x is [N, H, W, C], y [N, P, Q, C].
 * With padding 'same', a window that reaches past the border averages only the input elements
 * it covers, as Keras does, so padding never pulls a mean towards zero.
 */
import type { FloatArray } from '../gemm/types.js';
import { type PoolGeometry, avgPoolBackward, avgPoolForward, avgPoolGeometry } from '../kernels/avgpool.js';
import { formatValue } from '../errors.js';
import { Layer, type LayerArgs, type LayerRuntime, type Padding, type RuntimeContext, checkPadding, intPair } from './layer.js';

/** Channels-last as Keras spells it ('channels_last') and as TensorFlow.js options spell it ('channelsLast'). */
export type DataFormat = 'channels_last' | 'channelsLast';

/**
 * Checks a dataFormat option. Only channels-last is accepted, because every kernel here works
 * on NHWC data. A channels-first config is rejected rather than read in the wrong layout.
 */
export function checkDataFormat(value: unknown, where: string): void {
  if (value === undefined || value === null || value === 'channels_last' || value === 'channelsLast') return;
  throw new RangeError(`${where}: dataFormat must be 'channels_last' (channels-first data is not supported), got ${formatValue(value)}.`);
}

export interface AveragePooling2DArgs extends LayerArgs {
  poolSize?: number | [number, number];
  /** Defaults to poolSize, as in Keras. */
  strides?: number | [number, number];
  padding?: Padding;
  /** Only channels-last is supported; accepted so that Keras and TensorFlow.js configs load. */
  dataFormat?: DataFormat;
}

export class AveragePooling2D extends Layer {
  readonly className = 'AveragePooling2D';
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  geometry: PoolGeometry | null = null;

  constructor(args: AveragePooling2DArgs = {}) {
    super(args, 'average_pooling2d');
    const where = `AveragePooling2D '${this.name}'`;
    this.poolSize = intPair(args.poolSize ?? 2, 'poolSize', where);
    this.strides = args.strides === undefined || args.strides === null ? this.poolSize : intPair(args.strides, 'strides', where);
    this.padding = checkPadding(args.padding, where);
    checkDataFormat(args.dataFormat, where);
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
    const g = avgPoolGeometry(h, w, c, ph, pw, this.strides[0], this.strides[1], this.padding);
    this.geometry = g;
    return [g.outH, g.outW, c];
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, poolSize: this.poolSize, strides: this.strides, padding: this.padding, dataFormat: 'channels_last' };
  }

  createRuntime<T extends FloatArray>(ctx: RuntimeContext<T>): LayerRuntime<T> {
    const g = this.geometry;
    if (g === null) throw new Error(`AveragePooling2D '${this.name}' must be built before it runs.`);
    return new AveragePooling2DRuntime(g, ctx);
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
