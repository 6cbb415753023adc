/**
 * Gzip bombs: small archives that decompress to far more than the IDX header inside declares.
 * Decompression must stop near the declared size, with an error naming the file.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { DataFormatError } from '../../src/data/errors.js';
import { decodeMaybeGzip, decodeMaybeGzipAsync, readIdxFile } from '../../src/data/idx.js';
import { loadIdxPair } from '../../src/data/mnist.js';

/** Builds an IDX header: magic (00 00 type rank) and big-endian uint32 dims. */
function makeHeader(typeCode: number, shape: number[]): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * shape.length));
  header.setUint8(2, typeCode);
  header.setUint8(3, shape.length);
  shape.forEach((size, axis) => header.setUint32(4 + 4 * axis, size, false));
  return new Uint8Array(header.buffer);
}

const MIB = 2 ** 20;

/** One gzip member of 8 MiB of zeros, about 8 KB compressed. */
const ZEROS_MEMBER = gzipSync(new Uint8Array(8 * MIB), { level: 9 });

/**
 * Concatenated gzip members that decompress to `prefix` followed by `zeroMebibytes` MiB of
 * zeros. gunzip reads concatenated members as one stream, so the archive is built without
 * ever holding the decompressed data.
 */
function makeBomb(prefix: Uint8Array, zeroMebibytes: number, leadingMembers: Uint8Array[] = []): Buffer {
  const members = [...leadingMembers, gzipSync(prefix)];
  for (let i = 0; i < zeroMebibytes / 8; i++) members.push(ZEROS_MEMBER);
  return Buffer.concat(members);
}

/** Header of 1,000 uint8 images of 28 x 28 pixels: 16 + 784,000 = 784,016 bytes declared. */
const IMAGES_HEADER = makeHeader(0x08, [1000, 28, 28]);
const IMAGES_FILE_BYTES = 16 + 1000 * 28 * 28;

/** 200 MiB of zeros behind IMAGES_HEADER, in about 200 KB. */
const BOMB = makeBomb(IMAGES_HEADER, 200);

/** Array buffer memory may grow at most this much while a bomb is rejected. */
const MAX_GROWTH_BYTES = 64 * MIB;

/** Rejection must come well before decompressing 200 MiB would finish. */
const MAX_ELAPSED_MS = 5000;

/** Runs `run`, which must throw, and returns the error with the growth of array buffer and resident memory. */
async function measureFailure(run: () => unknown): Promise<{ error: unknown; arrayBufferGrowth: number; rssGrowth: number; elapsedMs: number }> {
  const before = process.memoryUsage();
  const started = Date.now();
  let error: unknown = null;
  try {
    await run();
  } catch (caught) {
    error = caught;
  }
  const elapsedMs = Date.now() - started;
  const after = process.memoryUsage();
  return {
    error,
    arrayBufferGrowth: after.arrayBuffers - before.arrayBuffers,
    rssGrowth: after.rss - before.rss,
    elapsedMs,
  };
}

function assertDeclaredSizeError(error: unknown, file: string): void {
  assert.ok(error instanceof DataFormatError, `expected DataFormatError, got ${String(error)}`);
  assert.equal(error.file, file);
  assert.ok(error.message.includes(file), error.message);
  assert.ok(
    error.message.includes(`more than the ${IMAGES_FILE_BYTES} bytes its header declares (shape [1000, 28, 28] of uint8)`),
    error.message,
  );
  assert.doesNotMatch(error.message, /maxBytes/);
}

function assertSmallAndFast(measured: { arrayBufferGrowth: number; rssGrowth: number; elapsedMs: number }): void {
  assert.ok(measured.arrayBufferGrowth < MAX_GROWTH_BYTES, `array buffers grew by ${measured.arrayBufferGrowth} bytes`);
  assert.ok(measured.rssGrowth < MAX_GROWTH_BYTES, `resident memory grew by ${measured.rssGrowth} bytes`);
  assert.ok(measured.elapsedMs < MAX_ELAPSED_MS, `took ${measured.elapsedMs} ms`);
}

describe('gzip bomb behind a valid header', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'idx-bomb-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('bomb archive is small', () => {
    assert.ok(BOMB.length < 400_000, `${BOMB.length} bytes`);
  });

  test('sync decode stops at declared size', async () => {
    const measured = await measureFailure(() => decodeMaybeGzip(BOMB, 'bomb.gz'));
    assertDeclaredSizeError(measured.error, 'bomb.gz');
    assertSmallAndFast(measured);
  });

  test('async decode stops at declared size', async () => {
    const measured = await measureFailure(() => decodeMaybeGzipAsync(BOMB, 'bomb.gz'));
    assertDeclaredSizeError(measured.error, 'bomb.gz');
    assertSmallAndFast(measured);
  });

  test('readIdxFile names the bomb path', async () => {
    const path = join(dir, 'train-images-idx3-ubyte.gz');
    await writeFile(path, BOMB);
    const measured = await measureFailure(() => readIdxFile(path));
    assertDeclaredSizeError(measured.error, path);
    assertSmallAndFast(measured);
  });

  test('empty leading members before bomb', async () => {
    // 50,000 empty members (1 MB) decompress to nothing, so the start of the output lies deep
    // in the archive, right before 200 MiB of zeros.
    const empty = gzipSync(new Uint8Array(0));
    const padded = makeBomb(IMAGES_HEADER, 200, new Array<Uint8Array>(50_000).fill(empty));
    for (const decode of [decodeMaybeGzip, decodeMaybeGzipAsync]) {
      const measured = await measureFailure(() => decode(padded, 'padded.gz'));
      assertDeclaredSizeError(measured.error, 'padded.gz');
      assertSmallAndFast(measured);
    }
  });

  test('one extra byte rejected', async () => {
    const data = new Uint8Array(IMAGES_FILE_BYTES + 1);
    data.set(IMAGES_HEADER);
    const packed = gzipSync(data);
    assertDeclaredSizeError((await measureFailure(() => decodeMaybeGzip(packed, 'extra.gz'))).error, 'extra.gz');
    assertDeclaredSizeError((await measureFailure(() => decodeMaybeGzipAsync(packed, 'extra.gz'))).error, 'extra.gz');
  });

  test('exact declared size accepted', async () => {
    const data = new Uint8Array(IMAGES_FILE_BYTES);
    data.set(IMAGES_HEADER);
    data[IMAGES_FILE_BYTES - 1] = 7;
    const packed = gzipSync(data);
    for (const decoded of [decodeMaybeGzip(packed, 'exact.gz'), await decodeMaybeGzipAsync(packed, 'exact.gz')]) {
      assert.equal(decoded.length, IMAGES_FILE_BYTES);
      assert.deepEqual(decoded.subarray(0, 16), Buffer.from(IMAGES_HEADER));
      assert.equal(decoded[IMAGES_FILE_BYTES - 1], 7);
    }
  });
});

describe('gzip bomb without a valid header', () => {
  test('zeros rejected as bad magic', async () => {
    const zeros = makeBomb(new Uint8Array(16), 200);
    for (const decode of [decodeMaybeGzip, decodeMaybeGzipAsync]) {
      const measured = await measureFailure(() => decode(zeros, 'zeros.gz'));
      assert.ok(measured.error instanceof DataFormatError, String(measured.error));
      assert.match(measured.error.message, /invalid IDX magic number 00 00 00 00/);
      assertSmallAndFast(measured);
    }
  });

  test('header above maxBytes rejected from the header', async () => {
    // 2^20 x 28 x 28 bytes declared, more than the caller's 1 MiB limit.
    const huge = makeBomb(makeHeader(0x08, [2 ** 20, 28, 28]), 16);
    for (const decode of [decodeMaybeGzip, decodeMaybeGzipAsync]) {
      const measured = await measureFailure(() => decode(huge, 'huge.gz', MIB));
      assert.ok(measured.error instanceof DataFormatError, String(measured.error));
      assert.match(measured.error.message, new RegExp(`huge\\.gz: its header declares 822083600 bytes \\(shape \\[1048576, 28, 28\\] of uint8\\), more than the ${MIB} bytes accepted\\. Check that the file`));
      assertSmallAndFast(measured);
    }
  });

  test('image count that differs from the labels rejected from the header', async () => {
    // 2,000,000 declared images of zeros behind 60 labels: the headers alone show the mismatch.
    const pairDir = await mkdtemp(join(tmpdir(), 'idx-pair-'));
    try {
      const images = join(pairDir, 'pair-images.gz');
      const labels = join(pairDir, 'pair-labels');
      await writeFile(images, makeBomb(makeHeader(0x08, [2_000_000, 28, 28]), 64));
      await writeFile(labels, Buffer.concat([makeHeader(0x08, [60]), Buffer.alloc(60)]));
      const measured = await measureFailure(() => loadIdxPair(images, labels));
      assert.ok(measured.error instanceof DataFormatError, String(measured.error));
      assert.match(measured.error.message, /it has 60 labels but .*pair-images\.gz has 2000000 images/);
      assertSmallAndFast(measured);
    } finally {
      await rm(pairDir, { recursive: true, force: true });
    }
  });
});
