/**
 * Random affine augmentation of training images: rotation, width and height shift, zoom and
 * shear, sampled with bilinear interpolation and filled with 0 outside the source image.
 *
 * Legend: H x W image, C channels, channels-last (NHWC), so pixel (y, x) channel c of a sample
 * is element (y * W + x) * C + c of its row. Pixel centers sit at integer coordinates, and
 * every transform is taken about the image center ((W - 1) / 2, (H - 1) / 2).
 *
 * The parameters of a sample are a hash of (seed, epoch, dataset index), drawn with
 * hashUniform, so they do not depend on the thread count or on which worker gathers the
 * sample. The matrices are built with gl-matrix mat3 (column-major, 2D homogeneous) in
 * preallocated Float64Arrays, so augmenting a sample allocates nothing.
 */
import { mat3 } from 'gl-matrix';
import { ShapeError, formatShape, formatValue } from '../errors.js';
import { hashUniform } from '../core/random.js';

/**
 * Augmentation ranges, with the names and units of Keras's ImageDataGenerator. A range given
 * as one number is symmetric about "no change". An absent field turns that transform off.
 */
export interface AugmentOptions {
  /** Degrees: the angle is uniform in [-rotationRange, rotationRange]. At most 180. */
  rotationRange?: number;
  /** Fraction of the width: the horizontal shift is uniform in [-f * W, f * W] pixels. In [0, 1). */
  widthShiftRange?: number;
  /** Fraction of the height: the vertical shift is uniform in [-f * H, f * H] pixels. In [0, 1). */
  heightShiftRange?: number;
  /**
   * Zoom factor range: a number z in [0, 1) means [1 - z, 1 + z], or give [lower, upper] with
   * 0 < lower <= upper. A factor above 1 enlarges the content.
   * Deviation: Keras's ImageDataGenerator treats the factor as the sampling step (above 1
   * shrinks the content) and draws separate x and y factors. Here one factor scales both axes.
   */
  zoomRange?: number | [number, number];
  /** Degrees: the shear angle is uniform in [-shearRange, shearRange]. Below 90. */
  shearRange?: number;
}

/** Ranges with every field filled in, as workers receive them. */
export interface AugmentConfig {
  rotationRange: number;
  widthShiftRange: number;
  heightShiftRange: number;
  zoomLower: number;
  zoomUpper: number;
  shearRange: number;
}

/** Augmentation of one dataset: its ranges and image shape. Cloned into worker messages. */
export interface AugmentSpec {
  config: AugmentConfig;
  height: number;
  width: number;
  channels: number;
}

/**
 * Ranges that `augment: true` selects, for MNIST digits: rotations, shifts and zooms small
 * enough that a digit stays readable (a 6 rotated by 180 degrees reads as a 9), and no shear.
 */
export const MNIST_AUGMENT: Readonly<Required<AugmentOptions>> = {
  rotationRange: 10,
  widthShiftRange: 0.1,
  heightShiftRange: 0.1,
  zoomRange: 0.1,
  shearRange: 0,
};

const OPTION_NAMES = ['rotationRange', 'widthShiftRange', 'heightShiftRange', 'zoomRange', 'shearRange'];

function checkRange(value: unknown, name: string, where: string, max: number, maxIncluded: boolean, unit: string): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number') throw new TypeError(`${where}: augment.${name} must be a number, got ${formatValue(value)}.`);
  if (!(value >= 0 && (maxIncluded ? value <= max : value < max))) {
    throw new RangeError(`${where}: augment.${name} must be ${unit} in [0, ${max}${maxIncluded ? ']' : ')'}, got ${formatValue(value)}.`);
  }
  return value;
}

function checkZoom(value: unknown, where: string): [number, number] {
  if (value === undefined) return [1, 1];
  if (typeof value === 'number') {
    if (!(value >= 0 && value < 1)) {
      throw new RangeError(`${where}: augment.zoomRange must be a number in [0, 1) or a pair [lower, upper], got ${formatValue(value)}.`);
    }
    return [1 - value, 1 + value];
  }
  const pair = Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number');
  if (!pair) throw new TypeError(`${where}: augment.zoomRange must be a number or a pair [lower, upper] of numbers, got ${formatValue(value)}.`);
  const [lower, upper] = value as [number, number];
  if (!(lower > 0 && lower <= upper && Number.isFinite(upper))) {
    throw new RangeError(`${where}: augment.zoomRange [lower, upper] needs 0 < lower <= upper, both finite, got ${formatValue(value)}.`);
  }
  return [lower, upper];
}

/**
 * Checks an `augment` option and fills in its defaults: `true` selects MNIST_AUGMENT, `false`
 * and undefined turn augmentation off (null). `where` prefixes error messages, e.g. 'fit()'.
 */
export function resolveAugment(value: unknown, where: string): AugmentConfig | null {
  if (value === undefined || value === false) return null;
  if (value === true) return resolveAugment(MNIST_AUGMENT, where);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new TypeError(`${where}: augment must be true, false or an object of ranges (${OPTION_NAMES.join(', ')}), got ${formatValue(value)}.`);
  }
  const unknown = Object.keys(value).filter((key) => !OPTION_NAMES.includes(key));
  if (unknown.length > 0) {
    throw new TypeError(`${where}: augment has unknown ${unknown.length === 1 ? 'option' : 'options'} ${formatValue(unknown.join(', '))}. The options are ${OPTION_NAMES.join(', ')}.`);
  }
  const options = value as AugmentOptions;
  const [zoomLower, zoomUpper] = checkZoom(options.zoomRange, where);
  return {
    rotationRange: checkRange(options.rotationRange, 'rotationRange', where, 180, true, 'a number of degrees'),
    widthShiftRange: checkRange(options.widthShiftRange, 'widthShiftRange', where, 1, false, 'a fraction of the width'),
    heightShiftRange: checkRange(options.heightShiftRange, 'heightShiftRange', where, 1, false, 'a fraction of the height'),
    zoomLower,
    zoomUpper,
    shearRange: checkRange(options.shearRange, 'shearRange', where, 90, false, 'a number of degrees'),
  };
}

/**
 * Builds the augmentation of a dataset whose samples have shape `inputShape` = [H, W, C], or
 * returns null when `config` is null. Raises a ShapeError for samples that are not images.
 */
export function augmentSpec(config: AugmentConfig | null, inputShape: readonly number[], where: string): AugmentSpec | null {
  if (config === null) return null;
  if (inputShape.length !== 3) {
    throw new ShapeError(`${where}: augment needs image samples of shape [height, width, channels], but the samples have shape ${formatShape(inputShape)}.`);
  }
  const [height, width, channels] = inputShape;
  return { config, height, width, channels };
}

/** Parameters of one sample's transform. Angles in radians, shifts in pixels. */
export interface AffineParams {
  rotation: number;
  shiftX: number;
  shiftY: number;
  zoom: number;
  shear: number;
}

/** Mixed into the seed so that augmentation and Dropout masks draw unrelated numbers. */
const AUGMENT_SEED_SALT = 0x41f3c0d5;
const DEGREES = Math.PI / 180;
/** One uniform number per parameter of AffineParams. */
const UNIFORM_COUNT = 5;
/** Scratch of drawAffineParams, so a draw allocates nothing. */
const uniforms = new Float64Array(UNIFORM_COUNT);

/**
 * Draws the transform of dataset sample `index` in epoch `epoch` into `out`: a pure function of
 * (seed, epoch, index) and the ranges.
 */
export function drawAffineParams(out: AffineParams, config: AugmentConfig, height: number, width: number, seed: number, epoch: number, index: number): AffineParams {
  const key = (seed ^ AUGMENT_SEED_SALT) >>> 0;
  // Each parameter has its own counter, so turning one range off leaves the others unchanged.
  // One call site keeps hashUniform inlined. A call that V8 does not inline allocates on every
  // draw: it boxes the returned double and a key beyond the small-integer range.
  for (let counter = 0; counter < UNIFORM_COUNT; counter++) uniforms[counter] = hashUniform(key, epoch, index, counter);
  out.rotation = (2 * uniforms[0] - 1) * config.rotationRange * DEGREES;
  out.shiftX = (2 * uniforms[1] - 1) * config.widthShiftRange * width;
  out.shiftY = (2 * uniforms[2] - 1) * config.heightShiftRange * height;
  out.zoom = config.zoomLower + (config.zoomUpper - config.zoomLower) * uniforms[3];
  out.shear = (2 * uniforms[4] - 1) * config.shearRange * DEGREES;
  return out;
}

/** A 3 x 3 column-major matrix in float64, as gl-matrix's mat3 functions accept. */
export type Matrix3 = Float64Array;

export function createMatrix3(): Matrix3 {
  return mat3.identity(new Float64Array(9)) as Matrix3;
}

/** Preallocated buffers that buildAffineMatrices writes its intermediate results to. */
export interface AffineScratch {
  forward: Matrix3;
  shear: Matrix3;
  /** [2]: a translation or scale vector. */
  vector: Float64Array;
}

export function createAffineScratch(): AffineScratch {
  return { forward: createMatrix3(), shear: createMatrix3(), vector: new Float64Array(2) };
}

/**
 * Builds the inverse map of `params` into `inverse`, and the forward map into scratch.forward.
 * The forward map takes a source pixel (x, y) to its output position
 *
 *   out = center + shift + R(rotation) * S(shear) * zoom * (source - center)
 *
 * with S(shear) = [[1, tan(shear)], [0, 1]], a horizontal shear. A positive rotation turns the
 * content clockwise as displayed, because y points down. The warp samples the source at
 * inverse * (x, y, 1) for each output pixel (x, y).
 */
export function buildAffineMatrices(inverse: Matrix3, scratch: AffineScratch, params: AffineParams, height: number, width: number): void {
  const { forward, shear, vector } = scratch;
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  mat3.identity(forward);
  vector[0] = cx + params.shiftX;
  vector[1] = cy + params.shiftY;
  mat3.translate(forward, forward, vector);
  mat3.rotate(forward, forward, params.rotation);
  // Column-major: element 3 is row 0, column 1.
  mat3.identity(shear);
  shear[3] = Math.tan(params.shear);
  mat3.multiply(forward, forward, shear);
  vector[0] = params.zoom;
  vector[1] = params.zoom;
  mat3.scale(forward, forward, vector);
  vector[0] = -cx;
  vector[1] = -cy;
  mat3.translate(forward, forward, vector);
  // The zoom is above 0 and the shear below 90 degrees, so the determinant is zoom^2 > 0.
  if (mat3.invert(inverse, forward) === null) throw new Error(`Affine transform ${formatValue(params)} is not invertible.`);
}

/**
 * Warps one image: dst[y, x, c] = bilinear sample of src at inverse * (x, y, 1), where pixels
 * outside the source count as 0. dst is [H, W, C] from dstOffset, src is [H, W, C] from
 * srcOffset. The four weights of a pixel are computed once for all its channels.
 */
export function warpBilinear(dst: Float32Array, dstOffset: number, src: Float32Array, srcOffset: number, height: number, width: number, channels: number, inverse: Matrix3): void {
  // Column-major: source x = m00 * x + m01 * y + m02, source y = m10 * x + m11 * y + m12.
  const m00 = inverse[0];
  const m10 = inverse[1];
  const m01 = inverse[3];
  const m11 = inverse[4];
  const m02 = inverse[6];
  const m12 = inverse[7];
  const rowStride = width * channels;
  for (let y = 0; y < height; y++) {
    const rowBase = dstOffset + y * rowStride;
    for (let x = 0; x < width; x++) {
      const pixelBase = rowBase + x * channels;
      const sx = m00 * x + m01 * y + m02;
      const sy = m10 * x + m11 * y + m12;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      if (!(x0 >= -1 && x0 < width && y0 >= -1 && y0 < height)) {
        for (let c = 0; c < channels; c++) dst[pixelBase + c] = 0;
        continue;
      }
      const fx = sx - x0;
      const fy = sy - y0;
      let w00 = (1 - fx) * (1 - fy);
      let w01 = fx * (1 - fy);
      let w10 = (1 - fx) * fy;
      let w11 = fx * fy;
      // A neighbor outside the image gets weight 0 and a valid index, so one loop serves
      // border and interior pixels alike.
      const left = x0 >= 0;
      const right = x0 + 1 < width;
      const top = y0 >= 0;
      const bottom = y0 + 1 < height;
      if (!left || !top) w00 = 0;
      if (!right || !top) w01 = 0;
      if (!left || !bottom) w10 = 0;
      if (!right || !bottom) w11 = 0;
      const xa = left ? x0 : x0 + 1;
      const xb = right ? x0 + 1 : x0;
      const ya = top ? y0 : y0 + 1;
      const yb = bottom ? y0 + 1 : y0;
      const p00 = srcOffset + (ya * width + xa) * channels;
      const p01 = srcOffset + (ya * width + xb) * channels;
      const p10 = srcOffset + (yb * width + xa) * channels;
      const p11 = srcOffset + (yb * width + xb) * channels;
      for (let c = 0; c < channels; c++) {
        dst[pixelBase + c] = w00 * src[p00 + c] + w01 * src[p01 + c] + w10 * src[p10 + c] + w11 * src[p11 + c];
      }
    }
  }
}

/**
 * Reference for warpBilinear: the same inverse mapping, written per pixel and channel in
 * float64 with an explicit zero outside the source. It is slow and serves the tests.
 */
export function warpBilinearReference(dst: Float32Array, dstOffset: number, src: Float32Array, srcOffset: number, height: number, width: number, channels: number, inverse: Matrix3): void {
  const pixel = (y: number, x: number, c: number): number =>
    x >= 0 && x < width && y >= 0 && y < height ? src[srcOffset + (y * width + x) * channels + c] : 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      // Column-major: source = inverse * [x, y, 1].
      const sx = inverse[0] * x + inverse[3] * y + inverse[6];
      const sy = inverse[1] * x + inverse[4] * y + inverse[7];
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let c = 0; c < channels; c++) {
        const value =
          (1 - fx) * (1 - fy) * pixel(y0, x0, c) +
          fx * (1 - fy) * pixel(y0, x0 + 1, c) +
          (1 - fx) * fy * pixel(y0 + 1, x0, c) +
          fx * fy * pixel(y0 + 1, x0 + 1, c);
        dst[dstOffset + (y * width + x) * channels + c] = value;
      }
    }
  }
}

/**
 * Augments training samples of one dataset. Holds the parameters and matrices of the current
 * sample, so `augment` allocates nothing. Call `setEpoch` before the samples of a task.
 */
export class ImageAugmenter {
  readonly params: AffineParams = { rotation: 0, shiftX: 0, shiftY: 0, zoom: 1, shear: 0 };
  readonly inverse = createMatrix3();
  private readonly scratch = createAffineScratch();
  private seed = 0;
  private epoch = 0;

  constructor(readonly spec: AugmentSpec) {}

  /** Sets the seed and epoch that the next samples' transforms are drawn from. */
  setEpoch(seed: number, epoch: number): void {
    this.seed = seed;
    this.epoch = epoch;
  }

  /** Writes the augmented sample `index`, read from src at srcOffset, into dst at dstOffset. */
  augment(dst: Float32Array, dstOffset: number, src: Float32Array, srcOffset: number, index: number): void {
    const { config, height, width, channels } = this.spec;
    drawAffineParams(this.params, config, height, width, this.seed, this.epoch, index);
    buildAffineMatrices(this.inverse, this.scratch, this.params, height, width);
    warpBilinear(dst, dstOffset, src, srcOffset, height, width, channels, this.inverse);
  }
}
