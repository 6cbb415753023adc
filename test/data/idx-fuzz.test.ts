/**
 * Property-based tests of the IDX reader. Valid files of every type and rank parse to the
 * values written. Malformed input (truncated, oversized, wrong magic, lying dimensions, random
 * bytes, corrupt gzip) raises a DataFormatError naming the file, and no other error.
 * loadIdxPair also rejects labels outside 0-9, wrong image sizes and mismatched counts.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import fc from 'fast-check';

import { DataFormatError } from '../../src/data/errors.js';
import { decodeMaybeGzip, decodeMaybeGzipAsync, parseIdx, readIdxFile } from '../../src/data/idx.js';
import type { IdxArray, IdxDtype } from '../../src/data/idx.js';
import { MNIST_IMAGE_SIZE, loadIdxPair } from '../../src/data/mnist.js';
import { makeIdx } from '../helpers/idx.js';

/** Fixed seed, so a failing run reproduces. fast-check prints the counterexample and its replay path. */
const SEED = 20240611;
const RUNS = 300;

/** Largest growth of ArrayBuffer memory tolerated while parsing inputs of at most a few KB. */
const MAX_BUFFER_GROWTH = 64 * 2 ** 20;

interface DtypeInfo {
  dtype: IdxDtype;
  code: number;
  bytesPerElement: number;
  value: fc.Arbitrary<number>;
  write: (view: DataView, offset: number, value: number) => void;
}

const DTYPES: readonly DtypeInfo[] = [
  { dtype: 'uint8', code: 0x08, bytesPerElement: 1, value: fc.integer({ min: 0, max: 255 }), write: (v, o, x) => v.setUint8(o, x) },
  { dtype: 'int8', code: 0x09, bytesPerElement: 1, value: fc.integer({ min: -128, max: 127 }), write: (v, o, x) => v.setInt8(o, x) },
  { dtype: 'int16', code: 0x0b, bytesPerElement: 2, value: fc.integer({ min: -32768, max: 32767 }), write: (v, o, x) => v.setInt16(o, x, false) },
  { dtype: 'int32', code: 0x0c, bytesPerElement: 4, value: fc.integer(), write: (v, o, x) => v.setInt32(o, x, false) },
  { dtype: 'float32', code: 0x0d, bytesPerElement: 4, value: fc.float({ noNaN: true }), write: (v, o, x) => v.setFloat32(o, x, false) },
  { dtype: 'float64', code: 0x0e, bytesPerElement: 8, value: fc.double({ noNaN: true }), write: (v, o, x) => v.setFloat64(o, x, false) },
];
const VALID_CODES = new Set(DTYPES.map((info) => info.code));

/** A valid IDX file together with the shape and values it encodes. */
interface IdxCase {
  info: DtypeInfo;
  shape: number[];
  values: number[];
  bytes: Uint8Array;
}

/** Valid IDX files of every type, rank 1 to 4, dimensions 0 to 5. */
const validIdx: fc.Arbitrary<IdxCase> = fc
  .record({
    info: fc.constantFrom(...DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 1, maxLength: 4 }),
  })
  .chain(({ info, shape }) => {
    const count = shape.reduce((product, size) => product * size, 1);
    return fc.array(info.value, { minLength: count, maxLength: count }).map((values) => {
      const payload = new DataView(new ArrayBuffer(count * info.bytesPerElement));
      values.forEach((value, i) => info.write(payload, i * info.bytesPerElement, value));
      return { info, shape, values, bytes: makeIdx(info.code, shape, new Uint8Array(payload.buffer)) };
    });
  });

function assertParsedAs(parsed: IdxArray, expected: IdxCase): void {
  assert.equal(parsed.dtype, expected.info.dtype);
  assert.deepEqual(parsed.shape, expected.shape);
  assert.equal(parsed.data.length, expected.values.length);
  // float32 values round-trip exactly because fc.float yields float32-representable numbers.
  assert.deepEqual(Array.from(parsed.data), expected.values);
}

/** Asserts that `error` is a DataFormatError for `file` whose message names the file. */
function assertFormatError(error: unknown, file: string): void {
  if (!(error instanceof DataFormatError)) {
    assert.fail(`expected a DataFormatError for ${file}, got ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  }
  assert.equal(error.name, 'DataFormatError');
  assert.equal(error.file, file);
  assert.ok(error.message.includes(file), `message does not name the file: ${error.message}`);
}

/** Runs `parse` and asserts that it throws a DataFormatError for `file`. */
function expectFormatError(parse: () => unknown, file: string): void {
  let result: unknown;
  try {
    result = parse();
  } catch (error) {
    assertFormatError(error, file);
    return;
  }
  assert.fail(`expected a DataFormatError for ${file}, but it parsed: ${JSON.stringify(result, (_, v) => (ArrayBuffer.isView(v) ? `<${v.byteLength} bytes>` : v))}`);
}

/** Asserts that `parsed` has a supported rank and exactly as many elements as the file's data bytes hold. */
function assertConsistent(parsed: IdxArray, bytes: Uint8Array): void {
  const info = DTYPES.find((entry) => entry.dtype === parsed.dtype)!;
  const count = parsed.shape.reduce((product, size) => product * size, 1);
  assert.ok(parsed.shape.length >= 1, `rank ${parsed.shape.length}`);
  assert.ok(parsed.shape.length <= 4, `rank ${parsed.shape.length}`);
  assert.equal(parsed.data.length, count);
  assert.equal(4 + 4 * parsed.shape.length + count * info.bytesPerElement, bytes.length);
}

/** Runs `body` and asserts that ArrayBuffer memory grew by less than MAX_BUFFER_GROWTH. */
function withBoundedBuffers(body: () => void): void {
  const before = process.memoryUsage().arrayBuffers;
  body();
  const grown = process.memoryUsage().arrayBuffers - before;
  assert.ok(grown < MAX_BUFFER_GROWTH, `ArrayBuffer memory grew by ${grown} bytes`);
}

const params = { seed: SEED, numRuns: RUNS };

describe('parseIdx properties', { timeout: 20_000 }, () => {
  test('valid files parse to their shape and values', () => {
    fc.assert(
      fc.property(validIdx, (idx) => {
        assertParsedAs(parseIdx(idx.bytes, 'valid.idx'), idx);
        assertParsedAs(parseIdx(decodeMaybeGzip(gzipSync(idx.bytes), 'valid.idx.gz'), 'valid.idx.gz'), idx);
      }),
      params,
    );
  });

  test('valid files parse at any byte offset', () => {
    fc.assert(
      fc.property(validIdx, fc.integer({ min: 1, max: 15 }), (idx, offset) => {
        const padded = new Uint8Array(offset + idx.bytes.length);
        padded.set(idx.bytes, offset);
        assertParsedAs(parseIdx(padded.subarray(offset), 'offset.idx'), idx);
      }),
      params,
    );
  });

  test('truncation at any byte rejected', () => {
    fc.assert(
      fc.property(
        validIdx.chain((idx) => fc.tuple(fc.constant(idx), fc.integer({ min: 0, max: idx.bytes.length - 1 }))),
        ([idx, cut]) => {
          withBoundedBuffers(() => expectFormatError(() => parseIdx(idx.bytes.slice(0, cut), 'cut.idx'), 'cut.idx'));
        },
      ),
      params,
    );
  });

  test('extra trailing bytes rejected', () => {
    fc.assert(
      fc.property(validIdx, fc.uint8Array({ minLength: 1, maxLength: 64 }), (idx, extra) => {
        const long = new Uint8Array(idx.bytes.length + extra.length);
        long.set(idx.bytes);
        long.set(extra, idx.bytes.length);
        expectFormatError(() => parseIdx(long, 'long.idx'), 'long.idx');
      }),
      params,
    );
  });

  test('nonzero leading magic bytes rejected', () => {
    fc.assert(
      fc.property(validIdx, fc.integer({ min: 0, max: 1 }), fc.integer({ min: 1, max: 255 }), (idx, position, value) => {
        const bytes = idx.bytes.slice();
        bytes[position] = value;
        expectFormatError(() => parseIdx(bytes, 'magic.idx'), 'magic.idx');
      }),
      params,
    );
  });

  test('unknown type code rejected', () => {
    const badCode = fc.integer({ min: 0, max: 255 }).filter((code) => !VALID_CODES.has(code));
    fc.assert(
      fc.property(validIdx, badCode, (idx, code) => {
        const bytes = idx.bytes.slice();
        bytes[2] = code;
        expectFormatError(() => parseIdx(bytes, 'type.idx'), 'type.idx');
      }),
      params,
    );
  });

  test('rank 0 and rank above 4 rejected', () => {
    const badRank = fc.oneof(fc.constant(0), fc.integer({ min: 5, max: 255 }));
    fc.assert(
      fc.property(validIdx, badRank, fc.uint8Array({ maxLength: 64 }), (idx, rank, tail) => {
        const bytes = new Uint8Array(idx.bytes.length + tail.length);
        bytes.set(idx.bytes);
        bytes.set(tail, idx.bytes.length);
        bytes[3] = rank;
        expectFormatError(() => parseIdx(bytes, 'rank.idx'), 'rank.idx');
      }),
      params,
    );
  });

  test('lying dimensions rejected without allocating', () => {
    // Dimensions span the whole uint32 range, so products reach 2^31 elements and far beyond.
    const dim = fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom(32768, 65536, 0x80000000, 0xffffffff));
    fc.assert(
      fc.property(
        fc.constantFrom(...DTYPES),
        fc.array(dim, { minLength: 1, maxLength: 4 }),
        fc.uint8Array({ maxLength: 256 }),
        (info, shape, payload) => {
          const declared = shape.reduce((product, size) => product * BigInt(size), 1n) * BigInt(info.bytesPerElement);
          const bytes = makeIdx(info.code, shape, payload);
          withBoundedBuffers(() => {
            if (declared === BigInt(payload.length)) {
              assertConsistent(parseIdx(bytes, 'dims.idx'), bytes);
            } else {
              expectFormatError(() => parseIdx(bytes, 'dims.idx'), 'dims.idx');
            }
          });
        },
      ),
      params,
    );
  });

  test('2^31-element header rejected', () => {
    withBoundedBuffers(() => {
      const lying = makeIdx(0x08, [0x80000000], new Uint8Array(16));
      expectFormatError(() => parseIdx(lying, 'lying.idx'), 'lying.idx');
    });
  });
});

describe('random bytes and gzip properties', { timeout: 20_000 }, () => {
  /** Random bytes, some behind a plausible IDX magic number and some behind a gzip header. */
  const randomInput = fc.oneof(
    fc.uint8Array({ maxLength: 128 }),
    fc
      .tuple(fc.constantFrom(...VALID_CODES), fc.integer({ min: 0, max: 6 }), fc.uint8Array({ maxLength: 128 }))
      .map(([code, rank, rest]) => Uint8Array.from([0, 0, code, rank, ...rest])),
    fc.uint8Array({ maxLength: 128 }).map((rest) => Uint8Array.from([0x1f, 0x8b, ...rest])),
    fc.uint8Array({ maxLength: 128 }).map((rest) => Uint8Array.from([0x1f, 0x8b, 0x08, ...rest])),
  );

  test('random bytes parse or reject', () => {
    fc.assert(
      fc.property(randomInput, (bytes) => {
        withBoundedBuffers(() => {
          let parsed: IdxArray;
          try {
            parsed = parseIdx(decodeMaybeGzip(bytes, 'random.bin'), 'random.bin');
          } catch (error) {
            assertFormatError(error, 'random.bin');
            return;
          }
          if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) assertConsistent(parsed, bytes);
        });
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });

  test('truncated gzip streams rejected', () => {
    fc.assert(
      fc.property(
        validIdx.chain((idx) => {
          const packed = gzipSync(idx.bytes);
          return fc.tuple(fc.constant(packed), fc.integer({ min: 0, max: packed.length - 1 }));
        }),
        ([packed, cut]) => {
          const bytes = packed.slice(0, cut);
          expectFormatError(() => parseIdx(decodeMaybeGzip(bytes, 'cut.gz'), 'cut.gz'), 'cut.gz');
        },
      ),
      params,
    );
  });

  test('corrupted gzip rejected or unchanged', () => {
    // Flipping bits of MTIME, XFL or OS leaves a valid stream. Any other change must be detected.
    fc.assert(
      fc.property(
        validIdx.chain((idx) => {
          const packed = gzipSync(idx.bytes);
          return fc.tuple(fc.constant(idx), fc.constant(packed), fc.integer({ min: 2, max: packed.length - 1 }), fc.integer({ min: 1, max: 255 }));
        }),
        ([idx, packed, position, mask]) => {
          const bytes = packed.slice();
          bytes[position] ^= mask;
          let parsed: IdxArray;
          try {
            parsed = parseIdx(decodeMaybeGzip(bytes, 'flip.gz'), 'flip.gz');
          } catch (error) {
            assertFormatError(error, 'flip.gz');
            return;
          }
          assertParsedAs(parsed, idx);
        },
      ),
      params,
    );
  });

  test('async gunzip rejects truncated streams', async () => {
    await fc.assert(
      fc.asyncProperty(
        validIdx.chain((idx) => {
          const packed = gzipSync(idx.bytes);
          return fc.tuple(fc.constant(packed), fc.integer({ min: 2, max: packed.length - 1 }));
        }),
        async ([packed, cut]) => {
          await assert.rejects(decodeMaybeGzipAsync(packed.slice(0, cut), 'cut.gz'), (error: unknown) => {
            assertFormatError(error, 'cut.gz');
            return true;
          });
        },
      ),
      { seed: SEED, numRuns: 100 },
    );
  });

  test('gzip output above maxBytes rejected', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4096 }), fc.integer({ min: 1, max: 4095 }), (size, maxBytes) => {
        fc.pre(size > maxBytes);
        const packed = gzipSync(new Uint8Array(size));
        expectFormatError(() => decodeMaybeGzip(packed, 'bomb.gz', maxBytes), 'bomb.gz');
      }),
      { seed: SEED, numRuns: 100 },
    );
  });
});

describe('readIdxFile properties', { timeout: 20_000 }, () => {
  let dir = '';
  let counter = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'idx-fuzz-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('raw and gzip files on disk', async () => {
    await fc.assert(
      fc.asyncProperty(validIdx, fc.boolean(), fc.option(fc.nat(), { nil: undefined }), async (idx, gzip, cutSeed) => {
        counter += 1;
        const path = join(dir, `case-${counter}${gzip ? '.gz' : ''}`);
        const full = gzip ? gzipSync(idx.bytes) : idx.bytes;
        const bytes = cutSeed === undefined ? full : full.slice(0, cutSeed % full.length);
        await writeFile(path, bytes);
        if (cutSeed === undefined) {
          assertParsedAs(await readIdxFile(path), idx);
          return;
        }
        await assert.rejects(readIdxFile(path), (error: unknown) => {
          assertFormatError(error, path);
          return true;
        });
      }),
      { seed: SEED, numRuns: 60 },
    );
  });
});

describe('loadIdxPair properties', { timeout: 20_000 }, () => {
  let dir = '';
  let counter = 0;
  const pixelCount = MNIST_IMAGE_SIZE * MNIST_IMAGE_SIZE;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'idx-pair-fuzz-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes an image file and a label file under fresh names and returns their paths. */
  async function writePair(images: Uint8Array, labels: Uint8Array): Promise<{ imagesPath: string; labelsPath: string }> {
    counter += 1;
    const imagesPath = join(dir, `images-${counter}`);
    const labelsPath = join(dir, `labels-${counter}`);
    await writeFile(imagesPath, images);
    await writeFile(labelsPath, labels);
    return { imagesPath, labelsPath };
  }

  function mnistImages(count: number): Uint8Array {
    return makeIdx(0x08, [count, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE], Uint8Array.from({ length: count * pixelCount }, (_, i) => (i * 31) % 256));
  }

  async function expectPairError(pair: Promise<unknown>, file: string, fragments: string[]): Promise<void> {
    await assert.rejects(pair, (error: unknown) => {
      assertFormatError(error, file);
      for (const fragment of fragments) {
        assert.ok((error as Error).message.includes(fragment), `message lacks "${fragment}": ${(error as Error).message}`);
      }
      return true;
    });
  }

  test('labels outside 0-9 rejected', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        async (labels) => {
          const { imagesPath, labelsPath } = await writePair(mnistImages(labels.length), makeIdx(0x08, [labels.length], Uint8Array.from(labels)));
          const firstBad = labels.findIndex((label) => label > 9);
          if (firstBad === -1) {
            const split = await loadIdxPair(imagesPath, labelsPath);
            assert.equal(split.count, labels.length);
            assert.deepEqual(Array.from(split.labels), labels);
            return;
          }
          await expectPairError(loadIdxPair(imagesPath, labelsPath), labelsPath, [`label ${labels[firstBad]} at index ${firstBad}`]);
        },
      ),
      { seed: SEED, numRuns: 60 },
    );
  });

  test('images of the wrong type or size rejected', async () => {
    const wrongImages = fc.oneof(
      // [N, H, W] with H x W other than 28 x 28.
      fc
        .tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }))
        .filter(([, height, width]) => height !== MNIST_IMAGE_SIZE || width !== MNIST_IMAGE_SIZE)
        .map(([count, height, width]) => ({ count, bytes: makeIdx(0x08, [count, height, width], new Uint8Array(count * height * width)) })),
      // Rank 2 or 4 holding whole 28 x 28 images.
      fc.integer({ min: 1, max: 3 }).map((count) => ({ count, bytes: makeIdx(0x08, [count, pixelCount], new Uint8Array(count * pixelCount)) })),
      fc.integer({ min: 1, max: 3 }).map((count) => ({ count, bytes: makeIdx(0x08, [count, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE, 1], new Uint8Array(count * pixelCount)) })),
      // int8 or float32 data of the right shape.
      fc.tuple(fc.integer({ min: 1, max: 3 }), fc.constantFrom({ code: 0x09, bytes: 1 }, { code: 0x0d, bytes: 4 })).map(([count, type]) => ({
        count,
        bytes: makeIdx(type.code, [count, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE], new Uint8Array(count * pixelCount * type.bytes)),
      })),
      // No images at all.
      fc.constant({ count: 0, bytes: makeIdx(0x08, [0, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE], new Uint8Array(0)) }),
    );
    await fc.assert(
      fc.asyncProperty(wrongImages, async ({ count, bytes }) => {
        const { imagesPath, labelsPath } = await writePair(bytes, makeIdx(0x08, [count], new Uint8Array(count)));
        await expectPairError(loadIdxPair(imagesPath, labelsPath), imagesPath, []);
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  test('label count mismatch rejected', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 0, max: 6 }), async (imageCount, labelCount) => {
        fc.pre(imageCount !== labelCount);
        const { imagesPath, labelsPath } = await writePair(mnistImages(imageCount), makeIdx(0x08, [labelCount], new Uint8Array(labelCount)));
        await expectPairError(loadIdxPair(imagesPath, labelsPath), labelsPath, [`${labelCount} labels`, `${imageCount} images`]);
      }),
      { seed: SEED, numRuns: 40 },
    );
  });
});
