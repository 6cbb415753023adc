import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inflateSync } from 'node:zlib';

import { ShapeError } from '../../src/errors.js';
import { DIGIT_SIDE, MAX_DIGITS_SHOWN, digitGrid, digitImageUri, misclassifiedDigits } from '../../src/report/digits.js';
import { crc32, encodeGrayscalePng } from '../../src/report/png.js';

interface Chunk {
  type: string;
  data: Buffer;
  crc: number;
}

/** Splits a PNG file into its chunks after checking the signature. */
function readChunks(png: Buffer): Chunk[] {
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const chunks: Chunk[] = [];
  for (let offset = 8; offset < png.length; ) {
    const length = png.readUInt32BE(offset);
    const type = png.toString('latin1', offset + 4, offset + 8);
    chunks.push({ type, data: png.subarray(offset + 8, offset + 8 + length), crc: png.readUInt32BE(offset + 8 + length) });
    offset += 12 + length;
  }
  return chunks;
}

describe('encodeGrayscalePng', () => {
  it('computes the standard CRC-32 check value', () => {
    assert.equal(crc32(Buffer.from('123456789', 'latin1')), 0xcbf43926);
  });

  it('round-trips a 5 x 3 image', () => {
    const pixels = Uint8Array.from({ length: 15 }, (_, i) => i * 17);
    const chunks = readChunks(encodeGrayscalePng(pixels, 5, 3));
    assert.deepEqual(chunks.map((c) => c.type), ['IHDR', 'IDAT', 'IEND']);
    for (const chunk of chunks) assert.equal(chunk.crc, crc32(Buffer.concat([Buffer.from(chunk.type, 'latin1'), chunk.data])), `CRC of ${chunk.type}`);
    const header = chunks[0].data;
    assert.deepEqual([header.readUInt32BE(0), header.readUInt32BE(4), ...header.subarray(8)], [5, 3, 8, 0, 0, 0, 0]);
    const rows = inflateSync(chunks[1].data);
    assert.equal(rows.length, 3 * 6);
    for (let y = 0; y < 3; y++) {
      assert.equal(rows[y * 6], 0, `filter byte of row ${y}`);
      assert.deepEqual([...rows.subarray(y * 6 + 1, y * 6 + 6)], [...pixels.subarray(y * 5, y * 5 + 5)]);
    }
  });

  it('rejects a pixel count that does not match', () => {
    assert.throws(() => encodeGrayscalePng(new Uint8Array(10), 4, 3), (error: unknown) => error instanceof ShapeError && /a 4 x 3 image needs 12 pixels; got 10/.test(error.message));
  });
});

describe('digitImageUri', () => {
  it('draws ink dark on white', () => {
    const pixels = new Float32Array(DIGIT_SIDE * DIGIT_SIDE);
    pixels[0] = 1;
    pixels[1] = 0.5;
    pixels[2] = 7; // clamped to 1
    const uri = digitImageUri(pixels);
    assert.match(uri, /^data:image\/png;base64,[A-Za-z0-9+/]+=*$/);
    const rows = inflateSync(readChunks(Buffer.from(uri.split(',')[1], 'base64'))[1].data);
    assert.deepEqual([...rows.subarray(1, 5)], [0, 127, 0, 255]);
  });

  it('rejects a digit of the wrong size', () => {
    assert.throws(() => digitImageUri(new Float32Array(100)), /a digit needs 784 pixels \(28 x 28\); got 100/);
  });
});

describe('misclassifiedDigits', () => {
  const count = 60;
  const images = Float32Array.from({ length: count * 784 }, (_, i) => Math.floor(i / 784) / count);
  const labels = Array.from({ length: count }, (_, i) => i % 10);
  const predictions = labels.map((label, i) => (i % 2 === 0 ? label : (label + 1) % 10));
  const wrong = labels.flatMap((_, i) => (i % 2 === 0 ? [] : [i]));

  it('caps the digits at the limit', () => {
    const digits = misclassifiedDigits(wrong, labels, predictions, images, 4);
    assert.deepEqual(digits.map((d) => d.index), [1, 3, 5, 7]);
    assert.deepEqual(digits.map((d) => [d.label, d.predicted]), [[1, 2], [3, 4], [5, 6], [7, 8]]);
    assert.equal(digits[2].pixels.length, 784);
    assert.equal(digits[2].pixels[0], Math.fround(5 / count));
  });

  it('defaults to the report cap', () => {
    const many = Array.from({ length: count }, (_, i) => i);
    assert.equal(misclassifiedDigits(many, labels, predictions, images).length, MAX_DIGITS_SHOWN);
  });

  it('rejects images that do not match the labels', () => {
    assert.throws(() => misclassifiedDigits(wrong, labels, predictions, images.subarray(784)), /60 labels need 47040 pixel values/);
  });
});

describe('digitGrid', () => {
  const pixels = new Float32Array(784);
  const digits = [
    { index: 4, label: 9, predicted: 4, pixels },
    { index: 17, label: 3, predicted: 5, pixels },
  ];

  it('says how many are shown', () => {
    const html = digitGrid(digits, 31);
    assert.equal(html.match(/<figure class="digit"/g)?.length, 2);
    assert.match(html, /Showing the first 2 \(by test index\) of 31 misclassified test digits/);
    assert.match(html, /data-index="17" data-true="3" data-predicted="5"/);
    assert.match(html, /alt="test digit 4: true 9, predicted 4"/);
  });

  it('says all when nothing is cut', () => {
    assert.match(digitGrid(digits, 2), /Showing all 2 misclassified/);
  });

  it('says when no digit is wrong', () => {
    assert.equal(digitGrid([], 0), '<p class="note">No test digit is misclassified.</p>');
  });
});
