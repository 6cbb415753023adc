import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PNG, type ColorType } from 'pngjs';

import { DIGIT_CENTER_INDEX, DIGIT_FIELD_SIZE, preprocessDigit } from '../../src/data/digit-preprocess.js';
import { DataFormatError } from '../../src/data/errors.js';
import { MAX_PNG_PIXELS, decodePng } from '../../src/data/png.js';
import { encodeRawPng } from './png-bytes.js';

/** Writes `samples` (1, 3, 2 or 4 per pixel for colour types 0, 2, 4 and 6; row-major) with the pngjs encoder. */
function writeWithPngjs(width: number, height: number, colorType: ColorType, bitDepth: 8 | 16, samples: number[]): Buffer {
  const png = new PNG({ width, height });
  png.data = bitDepth === 16 ? Buffer.from(Uint16Array.from(samples).buffer) : Buffer.from(samples);
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: colorType === 4 || colorType === 6, bitDepth });
}

function luma(r: number, g: number, b: number, max: number): number {
  return (0.299 * r + 0.587 * g + 0.114 * b) / max;
}

function assertPixels(actual: Float32Array, expected: number[], what: string): void {
  assert.equal(actual.length, expected.length, `${what}: pixel count`);
  expected.forEach((value, i) => {
    assert.ok(Math.abs(actual[i] - value) <= 1e-6, `${what}: pixel ${i} is ${actual[i]}, expected ${value}`);
  });
}

const WIDTH = 4;
const HEIGHT = 3;
const GRAY_8 = [0, 17, 34, 51, 68, 85, 102, 119, 136, 153, 200, 255];
const GRAY_16 = [0, 1, 257, 12345, 30000, 32768, 40000, 50001, 60000, 65000, 65534, 65535];

describe('decodePng colour types', () => {
  it('decodes 8-bit gray', () => {
    const image = decodePng(writeWithPngjs(WIDTH, HEIGHT, 0, 8, GRAY_8), 'gray8.png');
    assert.equal(image.colorType, 0);
    assert.equal(image.bitDepth, 8);
    assert.equal(image.transparent, false);
    assertPixels(image.data, GRAY_8.map((v) => v / 255), 'gray 8');
  });

  it('decodes 16-bit gray at full precision', () => {
    const image = decodePng(writeWithPngjs(WIDTH, HEIGHT, 0, 16, GRAY_16), 'gray16.png');
    assert.equal(image.bitDepth, 16);
    // 12345 / 65535 differs from its 8-bit rounding 48 / 255 by 1.3e-4, far above the tolerance.
    assertPixels(image.data, GRAY_16.map((v) => v / 65535), 'gray 16');
  });

  it('decodes 8-bit RGB as BT.601 luma', () => {
    const rgb = GRAY_8.flatMap((v, i) => [v, 255 - v, (v * 7 + i) % 256]);
    const image = decodePng(writeWithPngjs(WIDTH, HEIGHT, 2, 8, rgb), 'rgb8.png');
    assert.equal(image.colorType, 2);
    assertPixels(image.data, GRAY_8.map((_, i) => luma(rgb[3 * i], rgb[3 * i + 1], rgb[3 * i + 2], 255)), 'rgb 8');
  });

  it('decodes opaque 8-bit gray + alpha', () => {
    const image = decodePng(writeWithPngjs(WIDTH, HEIGHT, 4, 8, GRAY_8.flatMap((v) => [v, 255])), 'ga8.png');
    assert.equal(image.colorType, 4);
    assert.equal(image.transparent, false);
    assertPixels(image.data, GRAY_8.map((v) => v / 255), 'gray + alpha 8');
  });

  it('decodes opaque 16-bit RGBA', () => {
    const rgba = GRAY_16.flatMap((v) => [v, v, v, 65535]);
    const image = decodePng(writeWithPngjs(WIDTH, HEIGHT, 6, 16, rgba), 'rgba16.png');
    assert.equal(image.colorType, 6);
    assert.equal(image.bitDepth, 16);
    assertPixels(image.data, GRAY_16.map((v) => v / 65535), 'rgba 16');
  });

  it('decodes 1-bit gray', () => {
    const bits = [0, 1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0];
    const image = decodePng(encodeRawPng({ width: WIDTH, height: HEIGHT, colorType: 0, bitDepth: 1, samples: bits }), 'gray1.png');
    assert.equal(image.bitDepth, 1);
    assertPixels(image.data, bits, 'gray 1');
  });

  it('decodes a 2-bit palette', () => {
    const palette: [number, number, number][] = [[0, 0, 0], [255, 0, 0], [0, 0, 255], [255, 255, 255]];
    const indices = [0, 1, 2, 3, 3, 2, 1, 0, 0, 0, 3, 3];
    const bytes = encodeRawPng({ width: WIDTH, height: HEIGHT, colorType: 3, bitDepth: 2, samples: indices, palette });
    const image = decodePng(bytes, 'palette2.png');
    assert.equal(image.colorType, 3);
    assertPixels(image.data, indices.map((i) => luma(...palette[i], 255)), 'palette 2');
  });
});

describe('decodePng transparency', () => {
  /** Encodes a 12x12 RGBA image whose 4x8 bar at column 4, row 2 has pixel `ink` and the rest pixel `rest`. */
  function barImage(ink: number[], rest: number[]): Buffer {
    const samples: number[] = [];
    for (let y = 0; y < 12; y++) for (let x = 0; x < 12; x++) samples.push(...(x >= 4 && x < 8 && y >= 2 && y < 10 ? ink : rest));
    return writeWithPngjs(12, 12, 6, 8, samples);
  }

  it('puts dark ink on a transparent canvas over white', () => {
    const image = decodePng(barImage([0, 0, 0, 255], [0, 0, 0, 0]), 'dark-on-clear.png');
    assert.equal(image.transparent, true);
    assert.equal(image.data[0], 1, 'transparent corner becomes white');
    assert.equal(image.data[3 * 12 + 5], 0, 'ink stays black');
    const digit = preprocessDigit(image);
    assert.equal(digit.inverted, true);
    assert.equal(digit.blank, false);
  });

  it('puts light ink on a transparent canvas over black', () => {
    const image = decodePng(barImage([255, 255, 255, 255], [255, 255, 255, 0]), 'light-on-clear.png');
    assert.equal(image.data[0], 0, 'transparent corner becomes black');
    assert.equal(image.data[3 * 12 + 5], 1, 'ink stays white');
    assert.equal(preprocessDigit(image).inverted, false);
  });

  it('fills a transparent hole with the opaque border color', () => {
    const samples: number[] = [];
    for (let y = 0; y < 12; y++) {
      for (let x = 0; x < 12; x++) {
        if (x === 2 && y > 1 && y < 10) samples.push(0, 0, 0, 255); // black stroke
        else if (x > 4 && x < 10 && y > 2 && y < 9) samples.push(0, 0, 0, 0); // transparent hole
        else samples.push(255, 255, 255, 255); // white paper
      }
    }
    const image = decodePng(writeWithPngjs(12, 12, 6, 8, samples), 'hole.png');
    assert.equal(image.data[5 * 12 + 6], 1, 'hole becomes white like the border');
    assert.equal(image.data[5 * 12 + 2], 0, 'stroke stays black');
  });

  it('blends half-transparent ink with the background', () => {
    const image = decodePng(barImage([0, 0, 0, 255], [0, 0, 0, 0]), 'x.png');
    const half = decodePng(barImage([0, 0, 0, 128], [0, 0, 0, 0]), 'half.png');
    assert.equal(image.data[3 * 12 + 5], 0);
    assert.ok(Math.abs(half.data[3 * 12 + 5] - (1 - 128 / 255)) < 1e-6, `half-transparent ink is ${half.data[3 * 12 + 5]}`);
  });

  it('applies tRNS to a palette', () => {
    // Index 0 (white) is fully transparent, index 1 is opaque black.
    const indices = Array.from({ length: 64 }, (_, i) => (i % 8 === 3 ? 1 : 0));
    const bytes = encodeRawPng({
      width: 8,
      height: 8,
      colorType: 3,
      bitDepth: 8,
      samples: indices,
      palette: [[255, 255, 255], [0, 0, 0]],
      transparency: Uint8Array.from([0, 255]),
    });
    const image = decodePng(bytes, 'palette-trns.png');
    assert.equal(image.transparent, true);
    assertPixels(image.data, indices.map((i) => (i === 1 ? 0 : 1)), 'palette with tRNS');
  });

  it('applies tRNS to 8-bit gray', () => {
    // Gray 255 is transparent; the remaining gray 40 is the ink, so the background becomes white.
    const samples = Array.from({ length: 64 }, (_, i) => (i % 8 === 3 ? 40 : 255));
    const transparency = Uint8Array.from([0, 255]);
    const image = decodePng(encodeRawPng({ width: 8, height: 8, colorType: 0, bitDepth: 8, samples, transparency }), 'gray-trns.png');
    assert.equal(image.transparent, true);
    assertPixels(image.data, samples.map((v) => (v === 255 ? 1 : 40 / 255)), 'gray with tRNS');
  });

  it('treats a fully transparent image as blank', () => {
    const image = decodePng(barImage([0, 0, 0, 0], [0, 0, 0, 0]), 'clear.png');
    assert.equal(preprocessDigit(image).blank, true);
  });
});

describe('decodePng errors', () => {
  const valid = writeWithPngjs(WIDTH, HEIGHT, 0, 8, GRAY_8);

  function assertInvalid(bytes: Uint8Array, pattern: RegExp): void {
    assert.throws(
      () => decodePng(bytes, 'bad.png'),
      (error: unknown) => {
        assert.ok(error instanceof DataFormatError, `got ${String(error)}`);
        assert.equal(error.file, 'bad.png');
        assert.match(error.message, /^Invalid data file bad\.png: /);
        assert.match(error.message, pattern);
        return true;
      },
    );
  }

  it('rejects a file without the PNG signature', () => {
    assertInvalid(Buffer.from('GIF89a......'), /not a PNG file: it starts with 47 49 46 38 39 61 2e 2e/);
  });

  it('rejects an empty file', () => {
    assertInvalid(new Uint8Array(0), /not a PNG file: it starts with nothing \(empty file\)/);
  });

  it('rejects a truncated file', () => {
    assertInvalid(valid.subarray(0, valid.length - 20), /invalid PNG \(/);
  });

  it('rejects a corrupt chunk checksum', () => {
    const corrupt = Buffer.from(valid);
    corrupt[29] ^= 0xff; // last byte of the IHDR CRC
    // NOTE: pngjs 7's synchronous reader reports a CRC mismatch as "unrecognised content at end of stream".
    assertInvalid(corrupt, /invalid PNG \(/);
  });

  it('rejects a huge declared size before decoding', () => {
    const huge = Buffer.from(valid);
    huge.writeUInt32BE(100_000, 16);
    huge.writeUInt32BE(100_000, 20);
    assertInvalid(huge, new RegExp(`image is 100000 x 100000 pixels, more than the ${MAX_PNG_PIXELS} pixels accepted`));
  });
});

describe('PNG digit round trip', () => {
  it('centres a black-on-white 7 drawn at 100x80', () => {
    // A "7": a horizontal bar at the top and a slanted stroke down to the lower left, 6 pixels thick.
    const width = 100;
    const height = 80;
    const rgb: number[] = [];
    const inStroke = (x: number, y: number) => {
      if (y >= 12 && y < 18 && x >= 30 && x < 70) return true;
      // The slant runs from (69, 15) to (45, 70).
      const t = (y - 15) / (70 - 15);
      return t >= 0 && t <= 1 && Math.abs(x - (69 + t * (45 - 69))) < 3;
    };
    for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) rgb.push(...(inStroke(x, y) ? [20, 20, 20] : [250, 250, 250]));
    const image = decodePng(writeWithPngjs(width, height, 2, 8, rgb), 'seven.png');
    const digit = preprocessDigit(image);

    assert.equal(digit.inverted, true);
    assert.equal(digit.blank, false);
    const at = (row: number, column: number) => digit.pixels[row * DIGIT_FIELD_SIZE + column];
    for (const [row, column] of [[0, 0], [0, 27], [27, 0], [27, 27], [14, 0]]) assert.equal(at(row, column), 0, `background at (${row}, ${column})`);
    let mass = 0;
    let rowSum = 0;
    let columnSum = 0;
    let top = DIGIT_FIELD_SIZE;
    let bottom = -1;
    digit.pixels.forEach((value, i) => {
      const row = Math.floor(i / DIGIT_FIELD_SIZE);
      mass += value;
      rowSum += value * row;
      columnSum += value * (i % DIGIT_FIELD_SIZE);
      if (value > 0) {
        top = Math.min(top, row);
        bottom = Math.max(bottom, row);
      }
    });
    assert.ok(Math.abs(rowSum / mass - DIGIT_CENTER_INDEX) <= 0.5, `center of mass row ${rowSum / mass}`);
    assert.ok(Math.abs(columnSum / mass - DIGIT_CENTER_INDEX) <= 0.5, `center of mass column ${columnSum / mass}`);
    // The stroke is 59 pixels tall and 40 wide, so its height fills the 20-pixel box (21 rows
    // when the box starts at a fraction of a row).
    assert.ok(bottom - top + 1 >= 20, `ink spans rows ${top} to ${bottom}`);
    assert.ok(bottom - top + 1 <= 21, `ink spans rows ${top} to ${bottom}`);
    // The top bar of the 7 is the brightest row band: full-intensity ink in the first rows of the box.
    const topRowPeak = Math.max(...Array.from({ length: 3 }, (_, r) => Math.max(...digit.pixels.subarray((top + r) * DIGIT_FIELD_SIZE, (top + r + 1) * DIGIT_FIELD_SIZE))));
    assert.ok(topRowPeak > 0.9, `top bar peak ${topRowPeak}`);
    const topRowInk = digit.pixels.subarray((top + 1) * DIGIT_FIELD_SIZE, (top + 2) * DIGIT_FIELD_SIZE).filter((value) => value > 0.5).length;
    assert.ok(topRowInk >= 10, `the top bar spans ${topRowInk} columns`);
  });
});
