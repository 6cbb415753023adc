/**
 * Pooling2D: what MaxPooling2D and AveragePooling2D share, as in Keras's Pooling2D base: the
 * pool size, strides and padding options, the output shape, and the channels-last check.
 * Subclasses supply the window geometry and the runtime that computes the pooling.
 *
 * Legend: H x W input, C channels, P x Q output; a sample is [H, W, C] and pools to [P, Q, C].
 */
import { formatValue } from '../errors.js';
import type { PoolGeometry } from '../kernels/maxpool.js';
import { Layer, type LayerArgs, type Padding, checkPadding, intPair } from './layer.js';

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

export interface Pooling2DArgs extends LayerArgs {
  poolSize?: number | [number, number];
  /** Defaults to poolSize, as in Keras. */
  strides?: number | [number, number];
  padding?: Padding;
  /** Only channels-last is supported; accepted so that Keras and TensorFlow.js configs load. */
  dataFormat?: DataFormat;
}

export abstract class Pooling2D extends Layer {
  readonly poolSize: [number, number];
  readonly strides: [number, number];
  readonly padding: Padding;
  geometry: PoolGeometry | null = null;

  constructor(args: Pooling2DArgs, defaultName: string, className: string) {
    super(args, defaultName);
    const where = `${className} '${this.name}'`;
    this.poolSize = intPair(args.poolSize ?? 2, 'poolSize', where);
    this.strides = args.strides === undefined || args.strides === null ? this.poolSize : intPair(args.strides, 'strides', where);
    this.padding = checkPadding(args.padding, where);
    checkDataFormat(args.dataFormat, where);
  }

  /** Returns the validated window geometry of an [h, w, c] input. */
  protected abstract poolGeometry(h: number, w: number, c: number): PoolGeometry;

  computeOutputShape(inputShape: number[]): number[] {
    if (inputShape.length !== 3) {
      throw this.shapeError('expects a rank-3 input per sample [None, height, width, channels]', inputShape);
    }
    const [h, w, c] = inputShape;
    const [ph, pw] = this.poolSize;
    if (this.padding === 'valid' && (h < ph || w < pw)) {
      throw this.shapeError(`with padding 'valid' needs an input at least as large as its ${ph}x${pw} pool`, inputShape);
    }
    const g = this.poolGeometry(h, w, c);
    this.geometry = g;
    return [g.outH, g.outW, c];
  }

  /** Returns the geometry computed when the layer was built; throws before that. */
  protected builtGeometry(): PoolGeometry {
    if (this.geometry === null) throw new Error(`${this.className} '${this.name}' must be built before it runs.`);
    return this.geometry;
  }
}
