import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { DataFormatError } from '../../src/data/errors.js';
import { decodeMaybeGzip, decodeMaybeGzipAsync, parseIdx, readIdxFile } from '../../src/data/idx.js';
import { makeIdx } from '../helpers/idx.js';

function sequentialBytes(count: number): Uint8Array {
  return Uint8Array.from({ length: count }, (_, i) => i % 256);
}

/** Asserts that `run` throws a DataFormatError for `file` whose message contains every fragment. */
function assertFormatError(run: () => unknown, file: string, fragments: string[]): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof DataFormatError, `expected DataFormatError, got ${String(error)}`);
    assert.equal(error.name, 'DataFormatError');
    assert.equal(error.file, file);
    assert.ok(error.message.includes(file), `message does not name the file: ${error.message}`);
    for (const fragment of fragments) {
      assert.ok(error.message.includes(fragment), `message lacks "${fragment}": ${error.message}`);
    }
    return true;
  });
}

describe('parseIdx', () => {
  test('uint8 idx3 shape and data', () => {
    const payload = sequentialBytes(2 * 3 * 4);
    const parsed = parseIdx(makeIdx(0x08, [2, 3, 4], payload), 'images.idx');
    assert.equal(parsed.dtype, 'uint8');
    assert.deepEqual(parsed.shape, [2, 3, 4]);
    assert.ok(parsed.data instanceof Uint8Array);
    assert.deepEqual(Array.from(parsed.data), Array.from(payload));
  });

  test('uint8 idx1 labels', () => {
    const parsed = parseIdx(makeIdx(0x08, [5], Uint8Array.from([3, 1, 4, 1, 5])), 'labels.idx');
    assert.equal(parsed.dtype, 'uint8');
    assert.deepEqual(parsed.shape, [5]);
    assert.deepEqual(Array.from(parsed.data), [3, 1, 4, 1, 5]);
  });

  test('uint8 data at nonzero byteOffset', () => {
    const file = makeIdx(0x08, [3], Uint8Array.from([7, 8, 9]));
    const padded = new Uint8Array(file.length + 5);
    padded.set(file, 5);
    const parsed = parseIdx(padded.subarray(5), 'offset.idx');
    assert.deepEqual(Array.from(parsed.data), [7, 8, 9]);
  });

  test('int8 values are signed', () => {
    const parsed = parseIdx(makeIdx(0x09, [3], Uint8Array.from([0xff, 0x80, 0x7f])), 'int8.idx');
    assert.equal(parsed.dtype, 'int8');
    assert.deepEqual(Array.from(parsed.data), [-1, -128, 127]);
  });

  test('wide types decode big-endian', () => {
    const cases: Array<{ code: number; dtype: string; values: number[]; bytesPerElement: number; write: (view: DataView, offset: number, value: number) => void }> = [
      { code: 0x0b, dtype: 'int16', values: [-2, 300, 32767], bytesPerElement: 2, write: (v, o, x) => v.setInt16(o, x, false) },
      { code: 0x0c, dtype: 'int32', values: [-70000, 1, 2147483647], bytesPerElement: 4, write: (v, o, x) => v.setInt32(o, x, false) },
      { code: 0x0d, dtype: 'float32', values: [0.5, -1.25, 3], bytesPerElement: 4, write: (v, o, x) => v.setFloat32(o, x, false) },
      { code: 0x0e, dtype: 'float64', values: [0.1, -2.5e300, Math.PI], bytesPerElement: 8, write: (v, o, x) => v.setFloat64(o, x, false) },
    ];
    for (const { code, dtype, values, bytesPerElement, write } of cases) {
      const payload = new DataView(new ArrayBuffer(values.length * bytesPerElement));
      values.forEach((value, i) => write(payload, i * bytesPerElement, value));
      const parsed = parseIdx(makeIdx(code, [values.length], new Uint8Array(payload.buffer)), `${dtype}.idx`);
      assert.equal(parsed.dtype, dtype);
      assert.deepEqual(parsed.shape, [values.length]);
      assert.deepEqual(Array.from(parsed.data), values, dtype);
    }
  });

  test('rank 4 accepted', () => {
    const parsed = parseIdx(makeIdx(0x08, [1, 2, 1, 2], sequentialBytes(4)), 'rank4.idx');
    assert.deepEqual(parsed.shape, [1, 2, 1, 2]);
  });

  test('truncated data rejected with both sizes', () => {
    const bytes = makeIdx(0x08, [2, 28, 28], sequentialBytes(1000));
    assertFormatError(() => parseIdx(bytes, 'short.idx'), 'short.idx', ['truncated', '1568 data bytes', 'only 1000']);
  });

  test('oversized data rejected with both sizes', () => {
    const bytes = makeIdx(0x08, [4], sequentialBytes(6));
    assertFormatError(() => parseIdx(bytes, 'long.idx'), 'long.idx', ['oversized', '4 data bytes', '6 data bytes', '2 extra']);
  });

  test('wide type byte count includes element size', () => {
    const bytes = makeIdx(0x0c, [3], sequentialBytes(3));
    assertFormatError(() => parseIdx(bytes, 'int32.idx'), 'int32.idx', ['truncated', '12 data bytes', 'only 3']);
  });

  test('wrong magic rejected', () => {
    const nonzeroLead = makeIdx(0x08, [1], sequentialBytes(1));
    nonzeroLead[1] = 0x01;
    assertFormatError(() => parseIdx(nonzeroLead, 'lead.idx'), 'lead.idx', ['invalid IDX magic number 00 01 08 01']);

    const unknownType = makeIdx(0x0a, [1], sequentialBytes(1));
    assertFormatError(() => parseIdx(unknownType, 'type.idx'), 'type.idx', ['invalid IDX magic number 00 00 0a 01']);
  });

  test('gzip bytes get a hint', () => {
    const compressed = gzipSync(makeIdx(0x08, [1], sequentialBytes(1)));
    assertFormatError(() => parseIdx(compressed, 'packed.idx'), 'packed.idx', ['still gzip-compressed']);
  });

  test('rank outside 1-4 rejected', () => {
    assertFormatError(() => parseIdx(makeIdx(0x08, [], new Uint8Array(0)), 'r0.idx'), 'r0.idx', ['rank 0']);
    const rank5 = makeIdx(0x08, [1, 1, 1, 1, 1], sequentialBytes(1));
    assertFormatError(() => parseIdx(rank5, 'r5.idx'), 'r5.idx', ['rank 5']);
  });

  test('short header rejected', () => {
    assertFormatError(() => parseIdx(Uint8Array.from([0, 0]), 'tiny.idx'), 'tiny.idx', ['2 bytes long']);
    const cutHeader = makeIdx(0x08, [5, 5, 5], new Uint8Array(0)).subarray(0, 10);
    assertFormatError(() => parseIdx(cutHeader, 'cut.idx'), 'cut.idx', ['truncated header', '16-byte header']);
  });

  test('lying 2^31-element header rejected before allocation', () => {
    const lying = makeIdx(0x08, [32768, 256, 256], sequentialBytes(16));
    const before = process.memoryUsage().arrayBuffers;
    assertFormatError(() => parseIdx(lying, 'lying.idx'), 'lying.idx', ['2147483648 elements', 'only 16']);
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(grown < 64 * 2 ** 20, `array buffer memory grew by ${grown} bytes`);
  });

  test('header past 2^53 bytes rejected', () => {
    // 2^48 float64 elements: any attempt to allocate would throw a RangeError instead.
    const huge = makeIdx(0x0e, [65536, 65536, 65536], sequentialBytes(8));
    assertFormatError(() => parseIdx(huge, 'huge.idx'), 'huge.idx', ['281474976710656 elements', '2251799813685248 data bytes']);
  });
});

describe('decodeMaybeGzip', () => {
  const idx = makeIdx(0x08, [2, 2], Uint8Array.from([1, 2, 3, 4]));

  test('raw bytes returned unchanged', () => {
    assert.equal(decodeMaybeGzip(idx, 'raw.idx'), idx);
  });

  test('gzip bytes decompressed', async () => {
    const compressed = gzipSync(idx);
    assert.deepEqual(Array.from(decodeMaybeGzip(compressed, 'a.gz')), Array.from(idx));
    assert.deepEqual(Array.from(await decodeMaybeGzipAsync(compressed, 'a.gz')), Array.from(idx));
  });

  test('truncated gzip rejected', async () => {
    const compressed = gzipSync(idx);
    const cut = compressed.subarray(0, compressed.length - 6);
    assertFormatError(() => decodeMaybeGzip(cut, 'cut.gz'), 'cut.gz', ['invalid gzip data']);
    await assert.rejects(decodeMaybeGzipAsync(cut, 'cut.gz'), (error: unknown) => {
      assert.ok(error instanceof DataFormatError);
      assert.equal(error.file, 'cut.gz');
      return true;
    });
  });

  test('corrupt gzip rejected', () => {
    const corrupt = gzipSync(idx);
    corrupt.fill(0xff, 10, corrupt.length - 8);
    assertFormatError(() => decodeMaybeGzip(corrupt, 'bad.gz'), 'bad.gz', ['invalid gzip data']);
  });

  test('output over maxBytes rejected', () => {
    const bomb = gzipSync(new Uint8Array(100_000));
    assertFormatError(() => decodeMaybeGzip(bomb, 'bomb.gz', 1000), 'bomb.gz', ['more than 1000 bytes']);
  });
});

describe('readIdxFile', () => {
  let dir = '';
  const idx = makeIdx(0x08, [3, 2], sequentialBytes(6));

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'idx-test-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('raw and gzip files read alike', async () => {
    await writeFile(join(dir, 'raw-idx2'), idx);
    await writeFile(join(dir, 'packed-idx2.gz'), gzipSync(idx));
    for (const name of ['raw-idx2', 'packed-idx2.gz']) {
      const parsed = await readIdxFile(join(dir, name));
      assert.deepEqual(parsed.shape, [3, 2], name);
      assert.deepEqual(Array.from(parsed.data), [0, 1, 2, 3, 4, 5], name);
    }
  });

  test('invalid file error names path', async () => {
    const path = join(dir, 'truncated.gz');
    await writeFile(path, gzipSync(idx.subarray(0, idx.length - 1)));
    await assert.rejects(readIdxFile(path), (error: unknown) => {
      assert.ok(error instanceof DataFormatError);
      assert.equal(error.file, path);
      assert.match(error.message, /truncated/);
      return true;
    });
  });

  test('missing file keeps ENOENT', async () => {
    await assert.rejects(readIdxFile(join(dir, 'absent')), { code: 'ENOENT' });
  });
});
