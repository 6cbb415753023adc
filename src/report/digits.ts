/**
 * The grid of misclassified test digits: each digit is drawn from its pixels as a 28 x 28
 * grayscale PNG in a data: URI, captioned with its true and predicted labels.
 */
import { ShapeError } from '../errors.js';
import { escapeHtml } from './escape.js';
import { encodeGrayscalePng } from './png.js';

/** Side of an MNIST image in pixels. */
export const DIGIT_SIDE = 28;
/**
 * Most misclassified digits a report shows. Real MNIST digits took about 380 bytes each as
 * base64 PNG (18 kB for 48, measured on a 3-epoch run with --limit 3000).
 */
export const MAX_DIGITS_SHOWN = 48;
/** Display size of each digit in CSS pixels: two screen pixels per image pixel. */
const DISPLAY_SIDE = 56;

export interface MisclassifiedDigit {
  /** Position in the test set, from 0. */
  index: number;
  label: number;
  predicted: number;
  /** DIGIT_SIDE x DIGIT_SIDE row-major intensities in [0, 1], 1 being ink. */
  pixels: ArrayLike<number>;
}

/**
 * Returns the first `limit` misclassified samples with their pixels, in the order of
 * `indices`. `images` contains the test images row-major, DIGIT_SIDE^2 values per image. The
 * returned pixels are views into it, not copies.
 */
export function misclassifiedDigits(
  indices: readonly number[],
  labels: ArrayLike<number>,
  predictions: ArrayLike<number>,
  images: Float32Array,
  limit = MAX_DIGITS_SHOWN,
): MisclassifiedDigit[] {
  const size = DIGIT_SIDE * DIGIT_SIDE;
  if (images.length !== labels.length * size) {
    throw new ShapeError(`misclassifiedDigits: ${labels.length} labels need ${labels.length * size} pixel values (${DIGIT_SIDE} x ${DIGIT_SIDE} each); got ${images.length}.`);
  }
  return indices.slice(0, limit).map((index) => ({
    index,
    label: labels[index],
    predicted: predictions[index],
    pixels: images.subarray(index * size, (index + 1) * size),
  }));
}

/**
 * Returns a data: URI of the digit as a PNG, dark ink on white so it reads like print.
 * Intensities outside [0, 1] are clamped.
 */
export function digitImageUri(pixels: ArrayLike<number>): string {
  if (pixels.length !== DIGIT_SIDE * DIGIT_SIDE) {
    throw new ShapeError(`digitImageUri: a digit needs ${DIGIT_SIDE * DIGIT_SIDE} pixels (${DIGIT_SIDE} x ${DIGIT_SIDE}); got ${pixels.length}.`);
  }
  const bytes = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) bytes[i] = 255 - Math.round(Math.min(1, Math.max(0, pixels[i])) * 255);
  return `data:image/png;base64,${encodeGrayscalePng(bytes, DIGIT_SIDE, DIGIT_SIDE).toString('base64')}`;
}

/**
 * Renders the digits as a grid of `<figure class="digit">` elements, preceded by a line that
 * states how many of the `total` misclassified test digits are shown.
 */
export function digitGrid(digits: readonly MisclassifiedDigit[], total: number): string {
  if (total === 0) return '<p class="note">No test digit is misclassified.</p>';
  const scope = digits.length === total ? `all ${total}` : `the first ${digits.length} (by test index) of ${total}`;
  const figures = digits.map((digit) => {
    const caption = `true ${digit.label}, predicted ${digit.predicted}`;
    return (
      `<figure class="digit" data-index="${digit.index}" data-true="${digit.label}" data-predicted="${digit.predicted}">` +
      `<img src="${digitImageUri(digit.pixels)}" width="${DISPLAY_SIDE}" height="${DISPLAY_SIDE}" alt="${escapeHtml(`test digit ${digit.index}: ${caption}`)}">` +
      `<figcaption>${escapeHtml(`#${digit.index}`)}<br>${escapeHtml(`${digit.label} → ${digit.predicted}`)}</figcaption></figure>`
    );
  });
  return `<p class="note">Showing ${scope} misclassified test digits, captioned test index, then true → predicted label.</p><div class="digits">${figures.join('')}</div>`;
}
