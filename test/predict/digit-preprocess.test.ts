import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Rng } from '../../src/core/random.js';
import {
  DIGIT_BOX_SIZE,
  DIGIT_CENTER_INDEX,
  DIGIT_FIELD_SIZE,
  type GrayImage,
  borderMedian,
  placeCrop,
  preprocessDigit,
  resampleArea,
  resampleAreaReference,
} from '../../src/data/digit-preprocess.js';

const FIELD = DIGIT_FIELD_SIZE;

/** Creates a width x height image filled with `background`. */
function image(width: number, height: number, background: number): GrayImage {
  return { width, height, data: new Float32Array(width * height).fill(background) };
}

/** Sets the pixels of the axis-aligned rectangle [left, left + w) x [top, top + h) to `value`. */
function fillRect(target: GrayImage, left: number, top: number, w: number, h: number, value: number): void {
  for (let y = top; y < top + h; y++) target.data.fill(value, y * target.width + left, y * target.width + left + w);
}

/** Sets the pixels inside the ellipse centred at (cx, cy) with radii rx, ry to `value`. */
function fillEllipse(target: GrayImage, cx: number, cy: number, rx: number, ry: number, value: number): void {
  for (let y = 0; y < target.height; y++) {
    for (let x = 0; x < target.width; x++) {
      if (((x + 0.5 - cx) / rx) ** 2 + ((y + 0.5 - cy) / ry) ** 2 <= 1) target.data[y * target.width + x] = value;
    }
  }
}

/** Center of mass of a [28, 28] field as (row, column) pixel indices from 0. */
function centerOfMass(pixels: Float32Array): { row: number; column: number } {
  let mass = 0;
  let row = 0;
  let column = 0;
  for (let y = 0; y < FIELD; y++) {
    for (let x = 0; x < FIELD; x++) {
      const value = pixels[y * FIELD + x];
      mass += value;
      row += value * y;
      column += value * x;
    }
  }
  return { row: row / mass, column: column / mass };
}

/**
 * Height and width of the ink: the sums of the row maxima and of the column maxima. A bar
 * whose edge covers 0.4 of a pixel row adds 0.4, so a rectangle's extent is exact.
 */
function inkExtent(pixels: Float32Array): { rows: number; columns: number } {
  const rowMax = new Float64Array(FIELD);
  const columnMax = new Float64Array(FIELD);
  pixels.forEach((value, i) => {
    const row = Math.floor(i / FIELD);
    const column = i % FIELD;
    rowMax[row] = Math.max(rowMax[row], value);
    columnMax[column] = Math.max(columnMax[column], value);
  });
  return { rows: rowMax.reduce((a, b) => a + b, 0), columns: columnMax.reduce((a, b) => a + b, 0) };
}

function assertClose(actual: number, expected: number, tolerance: number, what: string): void {
  assert.ok(Math.abs(actual - expected) <= tolerance, `${what} is ${actual}, expected ${expected} +- ${tolerance}`);
}

function assertCentered(pixels: Float32Array, tolerance = 0.5): void {
  const { row, column } = centerOfMass(pixels);
  assert.ok(Math.abs(row - DIGIT_CENTER_INDEX) <= tolerance, `center of mass row ${row}, expected ${DIGIT_CENTER_INDEX} +- ${tolerance}`);
  assert.ok(Math.abs(column - DIGIT_CENTER_INDEX) <= tolerance, `center of mass column ${column}, expected ${DIGIT_CENTER_INDEX} +- ${tolerance}`);
}

function assertUnitRange(pixels: Float32Array): void {
  assert.equal(pixels.length, FIELD * FIELD);
  assert.ok(pixels.every((value) => value >= 0 && value <= 1), 'every value in [0, 1]');
  assert.equal(Math.max(...pixels), 1, 'brightest pixel is 1');
}

describe('preprocessDigit polarity', () => {
  it('inverts a black square on white', () => {
    const source = image(40, 40, 1);
    fillRect(source, 5, 20, 10, 10, 0);
    const digit = preprocessDigit(source);
    assert.equal(digit.inverted, true);
    assert.equal(digit.blank, false);
    assertUnitRange(digit.pixels);
    assert.equal(digit.pixels[0], 0, 'corner is background');
    assert.equal(digit.pixels[DIGIT_CENTER_INDEX * FIELD + DIGIT_CENTER_INDEX], 1, 'center is ink');
    // A 10x10 square scaled by 2 covers 400 field pixels' worth of ink.
    const mass = digit.pixels.reduce((sum, value) => sum + value, 0);
    assert.ok(Math.abs(mass - DIGIT_BOX_SIZE ** 2) < 1e-3, `ink mass ${mass}`);
  });

  it('keeps a white square on black', () => {
    const source = image(40, 40, 0);
    fillRect(source, 25, 3, 8, 8, 1);
    const digit = preprocessDigit(source);
    assert.equal(digit.inverted, false);
    assertUnitRange(digit.pixels);
    assertCentered(digit.pixels);
  });

  it('inverts when a stroke runs along part of the border', () => {
    // On paper of 0.7, a black stroke covers the left column and 15 pixels of the top row, 54 of
    // the 156 border pixels: their mean (0.46) would call the background dark, the median not.
    const source = image(40, 40, 0.7);
    fillRect(source, 0, 0, 3, 40, 0);
    fillRect(source, 0, 0, 15, 2, 0);
    assert.ok(Math.abs(borderMedian(source) - 0.7) < 1e-6);
    assert.equal(preprocessDigit(source).inverted, true);
  });

  it('maps a gray background to 0 and dark ink to 1', () => {
    const source = image(30, 30, 0.8);
    fillEllipse(source, 15, 15, 6, 9, 0.2);
    const digit = preprocessDigit(source);
    assert.equal(digit.inverted, true);
    assertUnitRange(digit.pixels);
    assert.equal(digit.pixels[0], 0);
  });
});

describe('preprocessDigit centring and scaling', () => {
  it('centers an off-centre blob', () => {
    const source = image(60, 50, 0);
    fillEllipse(source, 10, 40, 5, 7, 1);
    const digit = preprocessDigit(source);
    assertCentered(digit.pixels);
    assertClose(inkExtent(digit.pixels).rows, DIGIT_BOX_SIZE, 1, 'height of the longer side');
  });

  it('centers seeded random ellipses on black and white', () => {
    const rng = new Rng(11);
    for (let trial = 0; trial < 20; trial++) {
      const width = 20 + rng.int(200);
      const height = 20 + rng.int(200);
      const light = trial % 2 === 0;
      const source = image(width, height, light ? 1 : 0);
      const rx = 2 + rng.next() * (width / 4);
      const ry = 2 + rng.next() * (height / 4);
      fillEllipse(source, rx + 1 + rng.next() * (width - 2 * rx - 2), ry + 1 + rng.next() * (height - 2 * ry - 2), rx, ry, light ? 0 : 1);
      const digit = preprocessDigit(source);
      assert.equal(digit.inverted, light, `trial ${trial}: ${width} x ${height}`);
      assertUnitRange(digit.pixels);
      assertCentered(digit.pixels);
    }
  });

  it('keeps the aspect ratio of a wide bar', () => {
    const source = image(50, 50, 0);
    fillRect(source, 10, 20, 30, 10, 1);
    const { rows, columns } = inkExtent(preprocessDigit(source).pixels);
    // 30 x 10 becomes 20 x round(6.67) = 7.
    assertClose(columns, 20, 1e-4, 'width');
    assertClose(rows, 7, 1e-4, 'height');
  });

  it('keeps the aspect ratio of a tall bar', () => {
    const source = image(100, 100, 1);
    fillRect(source, 40, 10, 10, 40, 0);
    const { rows, columns } = inkExtent(preprocessDigit(source).pixels);
    assertClose(rows, 20, 1e-4, 'height');
    assertClose(columns, 5, 1e-4, 'width');
  });

  it('keeps ink that its center of mass would push out', () => {
    // An L shape whose mass sits in its long bottom bar: centring the mass would move the top of
    // the 20-pixel box above row 0, so the box is clamped to the field instead.
    const source = image(40, 40, 0);
    fillRect(source, 5, 5, 4, 30, 1);
    fillRect(source, 5, 25, 30, 10, 1);
    const digit = preprocessDigit(source);
    assert.ok(digit.pixels.slice(0, FIELD).some((value) => value > 0.5), 'ink reaches row 0');
    const { rows, columns } = inkExtent(digit.pixels);
    assertClose(rows, 20, 1e-4, 'height');
    assertClose(columns, 20, 1e-4, 'width');
  });

  it('handles a 1x1 image as blank', () => {
    for (const value of [0, 1, 0.5]) {
      const digit = preprocessDigit(image(1, 1, value));
      assert.equal(digit.blank, true, `value ${value}`);
      assert.ok(digit.pixels.every((pixel) => pixel === 0));
    }
  });

  it('scales up a single ink row', () => {
    const source = image(50, 1, 0);
    source.data.fill(1, 20, 31);
    const digit = preprocessDigit(source);
    assert.equal(digit.blank, false);
    assertUnitRange(digit.pixels);
    assertCentered(digit.pixels);
    // 11 x 1 becomes 20 x round(1.8) = 2.
    assertClose(inkExtent(digit.pixels).rows, 2, 1e-4, 'height');
    assertClose(inkExtent(digit.pixels).columns, 20, 1e-4, 'width');
  });

  it('handles a 3000x2000 image', () => {
    const source = image(3000, 2000, 1);
    fillEllipse(source, 2200, 600, 300, 500, 0);
    const started = performance.now();
    const digit = preprocessDigit(source);
    const elapsedMs = performance.now() - started;
    assert.equal(digit.inverted, true);
    assertUnitRange(digit.pixels);
    assertCentered(digit.pixels);
    assertClose(inkExtent(digit.pixels).rows, 20, 1, 'height');
    assert.ok(elapsedMs < 5000, `took ${elapsedMs.toFixed(0)} ms`);
  });
});

describe('preprocessDigit blank images', () => {
  it('returns zeros for a uniform image', () => {
    const digit = preprocessDigit(image(64, 48, 0.5));
    assert.equal(digit.blank, true);
    assert.ok(digit.pixels.every((value) => value === 0));
  });

  it('returns zeros for faint noise', () => {
    const rng = new Rng(3);
    const source = image(32, 32, 1);
    for (let i = 0; i < source.data.length; i++) source.data[i] = 1 - 0.05 * rng.next();
    const digit = preprocessDigit(source);
    assert.equal(digit.blank, true);
    assert.ok(digit.pixels.every((value) => value === 0));
  });

  it('rejects a data length that does not match the size', () => {
    assert.throws(() => preprocessDigit({ width: 4, height: 4, data: new Float32Array(15) }), /data has 15 values but a 4 x 4 image needs 16/);
    assert.throws(() => preprocessDigit({ width: 0, height: 4, data: new Float32Array(0) }), /width and height must be positive integers, got 0 x 4/);
  });
});

describe('resampleArea', () => {
  it('matches the reference on seeded random crops', () => {
    const rng = new Rng(7);
    for (let trial = 0; trial < 12; trial++) {
      const width = 1 + rng.int(60);
      const height = 1 + rng.int(60);
      const ink = Float32Array.from({ length: width * height }, () => rng.next());
      const crop = { left: rng.int(width), top: rng.int(height), width: 0, height: 0 };
      crop.width = 1 + rng.int(width - crop.left);
      crop.height = 1 + rng.int(height - crop.top);
      const placement = placeCrop(ink, width, crop);
      const fast = new Float32Array(FIELD * FIELD);
      const reference = new Float32Array(FIELD * FIELD);
      resampleArea(fast, ink, width, crop, placement);
      resampleAreaReference(reference, ink, width, crop, placement);
      const worst = fast.reduce((max, value, i) => Math.max(max, Math.abs(value - reference[i])), 0);
      assert.ok(worst < 1e-5, `trial ${trial}: crop ${crop.width} x ${crop.height}, largest difference ${worst}`);
    }
  });

  it('preserves ink mass times the scale', () => {
    const width = 10;
    const ink = new Float32Array(width * width).fill(1);
    const crop = { left: 0, top: 0, width, height: width };
    const out = new Float32Array(FIELD * FIELD);
    resampleArea(out, ink, width, crop, placeCrop(ink, width, crop));
    const mass = out.reduce((sum, value) => sum + value, 0);
    assert.ok(Math.abs(mass - DIGIT_BOX_SIZE ** 2) < 1e-3, `mass ${mass}`);
  });
});
