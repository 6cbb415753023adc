/**
 * Converts a grayscale image of a handwritten digit into a 28x28 input like an MNIST sample.
 * LeCun's MNIST page (yann.lecun.com/exdb/mnist/) describes how the digits were made. Each was
 * size-normalized to fit a 20x20 box while keeping its aspect ratio, and anti-aliasing gave it
 * grey levels. The result was placed in a 28x28 field with its center of mass at the center.
 *
 * Shapes: H x W source pixels in row-major order. The output is [28, 28], row-major, with
 * values in [0, 1]: 0 is background, 1 is ink, as the MNIST loader's pixels / 255.
 *
 * Steps, in order:
 * 1. Polarity. The median of the border pixels (the outermost rows and columns) is the
 *    background level. A median above 0.5 means a light background, so the image is inverted
 *    to MNIST's light digit on a dark background. Unlike the mean, the median is not pulled
 *    towards the ink by a stroke that covers less than half of the border.
 * 2. Contrast. Values are mapped so that the background level becomes 0 and the brightest
 *    pixel becomes 1, clamping what lies below the background to 0. An image whose brightest
 *    pixel is less than MIN_INK_CONTRAST above the background is blank.
 * 3. Crop to the bounding box of the pixels at or above INK_THRESHOLD.
 * 4. Scale the crop so that its longer side is 20 pixels and the shorter side keeps the aspect
 *    ratio (rounded, at least 1 pixel). Scaling is area averaging, so each output pixel is the
 *    mean of the source area that it covers, with partial source pixels weighted by overlap.
 *    The scaled crop is written straight into the 28x28 field at a fractional offset, so
 *    centring adds no second resampling.
 * 5. Centre: the offset puts the crop's center of mass at pixel index (14, 14) (row, column,
 *    counting from 0), unless that would push part of the scaled crop out of the field. The
 *    offset is then clamped so that no ink is cut off.
 *    NOTE: MNIST's page does not say whether "the center" is index 14 or 13.5 (the midpoint
 *    between pixels 13 and 14). This code uses 14.
 * 6. Scale the values so that the brightest output pixel is 1 again, because thin strokes
 *    drawn at a high resolution turn grey when they are averaged down.
 */

/** A grayscale image: `data` has height * width values in [0, 1], row-major, 0 black, 1 white. */
export interface GrayImage {
  width: number;
  height: number;
  data: Float32Array;
}

/** Result of {@link preprocessDigit}. */
export interface DigitInput {
  /** [28, 28] values in [0, 1], row-major; ink is 1. */
  pixels: Float32Array;
  /** Whether the image had a light background and was inverted. */
  inverted: boolean;
  /** Whether no ink was found; `pixels` is then all 0. */
  blank: boolean;
}

/** Height and width of the output field, as MNIST's. */
export const DIGIT_FIELD_SIZE = 28;

/** Side of the box that the digit is scaled to fit, as in MNIST. */
export const DIGIT_BOX_SIZE = 20;

/** Row and column index (from 0) that the center of mass is moved to. */
export const DIGIT_CENTER_INDEX = 14;

/** Smallest difference between the brightest pixel and the background for an image to count as having ink. */
export const MIN_INK_CONTRAST = 0.1;

/** Contrast-normalized value at or above which a pixel counts as ink for the bounding box. */
export const INK_THRESHOLD = 0.2;

/** Per-axis resampling weights: output index k takes weight weights[i] of source index sources[i], for i in [starts[k], starts[k + 1]). */
interface AxisWeights {
  starts: Int32Array;
  sources: Int32Array;
  weights: Float64Array;
}

/** Placement of a crop in the field: field coordinate = offset + source coordinate * scale, per axis. */
export interface Placement {
  offsetX: number;
  offsetY: number;
  scaleX: number;
  scaleY: number;
}

/** A crop of a source image: `width` x `height` pixels starting at (`left`, `top`). */
export interface Crop {
  left: number;
  top: number;
  width: number;
  height: number;
}

/**
 * Converts `image` into a 28x28 MNIST-style digit (see the file header for the steps).
 * A blank image returns all zeros with `blank: true`.
 */
export function preprocessDigit(image: GrayImage): DigitInput {
  checkImage(image);
  const { width, height } = image;
  const background = borderMedian(image);
  const inverted = background > 0.5;
  const ink = new Float32Array(width * height);
  let peak = 0;
  for (let i = 0; i < ink.length; i++) {
    const value = inverted ? 1 - image.data[i] : image.data[i];
    ink[i] = value;
    if (value > peak) peak = value;
  }
  const level = inverted ? 1 - background : background;
  const pixels = new Float32Array(DIGIT_FIELD_SIZE * DIGIT_FIELD_SIZE);
  if (peak - level < MIN_INK_CONTRAST) return { pixels, inverted, blank: true };

  const range = peak - level;
  for (let i = 0; i < ink.length; i++) ink[i] = Math.min(1, Math.max(0, (ink[i] - level) / range));
  const crop = inkBoundingBox(ink, width, height);
  const placement = placeCrop(ink, width, crop);
  resampleArea(pixels, ink, width, crop, placement);
  normalizePeak(pixels);
  return { pixels, inverted, blank: false };
}

function checkImage(image: GrayImage): void {
  const { width, height, data } = image;
  if (!Number.isSafeInteger(width) || !Number.isSafeInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`preprocessDigit(): width and height must be positive integers, got ${width} x ${height}.`);
  }
  if (data.length !== width * height) {
    throw new RangeError(`preprocessDigit(): data has ${data.length} values but a ${width} x ${height} image needs ${width * height}.`);
  }
}

/** Median of the pixels on the outermost rows and columns (each pixel counted once). */
export function borderMedian(image: GrayImage): number {
  const { width, height, data } = image;
  const border: number[] = [];
  for (let y = 0; y < height; y++) {
    const rowStart = y * width;
    if (y === 0 || y === height - 1) {
      for (let x = 0; x < width; x++) border.push(data[rowStart + x]);
    } else {
      border.push(data[rowStart]);
      if (width > 1) border.push(data[rowStart + width - 1]);
    }
  }
  border.sort((a, b) => a - b);
  const middle = border.length >> 1;
  return border.length % 2 === 1 ? border[middle] : (border[middle - 1] + border[middle]) / 2;
}

/** Bounding box of the pixels at or above INK_THRESHOLD; the caller has checked that one exists. */
function inkBoundingBox(ink: Float32Array, width: number, height: number): Crop {
  let left = width;
  let right = -1;
  let top = height;
  let bottom = -1;
  for (let y = 0; y < height; y++) {
    const rowStart = y * width;
    for (let x = 0; x < width; x++) {
      if (ink[rowStart + x] < INK_THRESHOLD) continue;
      if (x < left) left = x;
      if (x > right) right = x;
      if (y < top) top = y;
      if (y > bottom) bottom = y;
    }
  }
  return { left, top, width: right - left + 1, height: bottom - top + 1 };
}

/**
 * Returns the scale and offset that fit `crop` into a DIGIT_BOX_SIZE box, keeping the aspect
 * ratio, with its center of mass at DIGIT_CENTER_INDEX. In continuous coordinates, pixel k
 * covers [k, k + 1), so index 14 is the point 14.5.
 */
export function placeCrop(ink: Float32Array, width: number, crop: Crop): Placement {
  const longer = Math.max(crop.width, crop.height);
  const outWidth = Math.max(1, Math.round((crop.width * DIGIT_BOX_SIZE) / longer));
  const outHeight = Math.max(1, Math.round((crop.height * DIGIT_BOX_SIZE) / longer));
  const scaleX = outWidth / crop.width;
  const scaleY = outHeight / crop.height;

  let mass = 0;
  let sumX = 0;
  let sumY = 0;
  for (let y = 0; y < crop.height; y++) {
    const rowStart = (crop.top + y) * width + crop.left;
    for (let x = 0; x < crop.width; x++) {
      const value = ink[rowStart + x];
      mass += value;
      sumX += value * (x + 0.5);
      sumY += value * (y + 0.5);
    }
  }
  const target = DIGIT_CENTER_INDEX + 0.5;
  const clamp = (offset: number, size: number) => Math.min(DIGIT_FIELD_SIZE - size, Math.max(0, offset));
  return {
    offsetX: clamp(target - (sumX / mass) * scaleX, outWidth),
    offsetY: clamp(target - (sumY / mass) * scaleY, outHeight),
    scaleX,
    scaleY,
  };
}

/**
 * Area-averaging weights along one axis: field pixel k covers [k, k + 1), which is the source
 * interval [(k - offset) / scale, (k + 1 - offset) / scale). Source pixel j covers [j, j + 1)
 * of the crop, and its weight is its overlap with that interval times `scale`, so a field
 * pixel fully covered by a uniform source has that source's value.
 */
function axisWeights(size: number, offset: number, scale: number): AxisWeights {
  const starts = new Int32Array(DIGIT_FIELD_SIZE + 1);
  const sources: number[] = [];
  const weights: number[] = [];
  for (let k = 0; k < DIGIT_FIELD_SIZE; k++) {
    starts[k] = sources.length;
    const from = (k - offset) / scale;
    const to = (k + 1 - offset) / scale;
    const first = Math.max(0, Math.floor(from));
    const last = Math.min(size - 1, Math.ceil(to) - 1);
    for (let j = first; j <= last; j++) {
      const overlap = Math.min(to, j + 1) - Math.max(from, j);
      if (overlap <= 0) continue;
      sources.push(j);
      weights.push(overlap * scale);
    }
  }
  starts[DIGIT_FIELD_SIZE] = sources.length;
  return { starts, sources: Int32Array.from(sources), weights: Float64Array.from(weights) };
}

/**
 * Writes the area-averaged crop of `ink` into the [28, 28] `out`, as a horizontal pass over the
 * crop's rows followed by a vertical pass, because the box filter is separable.
 *
 * @param out [28, 28] field, overwritten
 * @param ink [H, W] source with row length `width`
 */
export function resampleArea(out: Float32Array, ink: Float32Array, width: number, crop: Crop, placement: Placement): void {
  const columns = axisWeights(crop.width, placement.offsetX, placement.scaleX);
  const rows = axisWeights(crop.height, placement.offsetY, placement.scaleY);
  // rowsResampled: [crop.height, 28], each crop row resampled horizontally.
  const rowsResampled = new Float64Array(crop.height * DIGIT_FIELD_SIZE);
  for (let y = 0; y < crop.height; y++) {
    const sourceRow = (crop.top + y) * width + crop.left;
    const resampledRow = y * DIGIT_FIELD_SIZE;
    for (let k = 0; k < DIGIT_FIELD_SIZE; k++) {
      let sum = 0;
      for (let i = columns.starts[k]; i < columns.starts[k + 1]; i++) sum += columns.weights[i] * ink[sourceRow + columns.sources[i]];
      rowsResampled[resampledRow + k] = sum;
    }
  }
  for (let k = 0; k < DIGIT_FIELD_SIZE; k++) {
    const outRow = k * DIGIT_FIELD_SIZE;
    for (let x = 0; x < DIGIT_FIELD_SIZE; x++) {
      let sum = 0;
      for (let i = rows.starts[k]; i < rows.starts[k + 1]; i++) sum += rows.weights[i] * rowsResampled[rows.sources[i] * DIGIT_FIELD_SIZE + x];
      out[outRow + x] = sum;
    }
  }
}

/**
 * Reference for {@link resampleArea}: each field pixel is the overlap-weighted sum over every
 * crop pixel of the 2-D overlap area, computed directly. O(28^2 * crop pixels), for tests.
 */
export function resampleAreaReference(out: Float32Array, ink: Float32Array, width: number, crop: Crop, placement: Placement): void {
  const { offsetX, offsetY, scaleX, scaleY } = placement;
  const overlap = (a0: number, a1: number, b0: number, b1: number) => Math.max(0, Math.min(a1, b1) - Math.max(a0, b0));
  for (let row = 0; row < DIGIT_FIELD_SIZE; row++) {
    for (let column = 0; column < DIGIT_FIELD_SIZE; column++) {
      let sum = 0;
      for (let y = 0; y < crop.height; y++) {
        // Source row y covers field rows [offsetY + y * scaleY, offsetY + (y + 1) * scaleY).
        const rowOverlap = overlap(row, row + 1, offsetY + y * scaleY, offsetY + (y + 1) * scaleY);
        if (rowOverlap === 0) continue;
        for (let x = 0; x < crop.width; x++) {
          const columnOverlap = overlap(column, column + 1, offsetX + x * scaleX, offsetX + (x + 1) * scaleX);
          sum += rowOverlap * columnOverlap * ink[(crop.top + y) * width + crop.left + x];
        }
      }
      out[row * DIGIT_FIELD_SIZE + column] = sum;
    }
  }
}

/** Divides `pixels` by their maximum so that it becomes 1, and clamps rounding overshoot to [0, 1]. */
function normalizePeak(pixels: Float32Array): void {
  let peak = 0;
  for (const value of pixels) if (value > peak) peak = value;
  if (peak === 0) return;
  for (let i = 0; i < pixels.length; i++) pixels[i] = Math.min(1, Math.max(0, pixels[i] / peak));
}
