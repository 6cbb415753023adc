/**
 * Parser for the IDX format of MNIST-style datasets.
 *
 * An IDX file is a big-endian header followed by the data, stored row-major:
 *   bytes 0-1   zero
 *   byte  2     type code: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64
 *   byte  3     rank (number of dimensions)
 *   4 * rank    dimension sizes, each a big-endian uint32
 *   rest        product(dims) elements of the type, row-major (last index fastest)
 * The format description on the MNIST page (yann.lecun.com/exdb/mnist/) defines this layout.
 * NOTE: it specifies MSB-first order only for the sizes. This parser also reads int16 to
 * float64 data as big-endian.
 *
 * Every check happens before any data buffer is allocated, so a corrupt or hostile header
 * cannot trigger a huge allocation. Gzip-compressed files are decompressed incrementally and
 * rejected as soon as the output exceeds the size their header declares, so a small archive
 * of a huge file (a gzip bomb) costs little more memory than the file it claims to be.
 */

import { readFile } from 'node:fs/promises';
import { constants as zlibConstants, createGunzip, gunzipSync } from 'node:zlib';

import { DataFormatError } from './errors.js';

export type IdxDtype = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';

/** Contents of an IDX file. `data` contains product(shape) elements in row-major order. */
export type IdxArray =
  | { dtype: 'uint8'; shape: number[]; data: Uint8Array }
  | { dtype: 'int8'; shape: number[]; data: Int8Array }
  | { dtype: 'int16'; shape: number[]; data: Int16Array }
  | { dtype: 'int32'; shape: number[]; data: Int32Array }
  | { dtype: 'float32'; shape: number[]; data: Float32Array }
  | { dtype: 'float64'; shape: number[]; data: Float64Array };

/** Element type and size in bytes for each IDX type code. */
const IDX_TYPES: ReadonlyMap<number, { dtype: IdxDtype; bytesPerElement: number }> = new Map([
  [0x08, { dtype: 'uint8', bytesPerElement: 1 }],
  [0x09, { dtype: 'int8', bytesPerElement: 1 }],
  [0x0b, { dtype: 'int16', bytesPerElement: 2 }],
  [0x0c, { dtype: 'int32', bytesPerElement: 4 }],
  [0x0d, { dtype: 'float32', bytesPerElement: 4 }],
  [0x0e, { dtype: 'float64', bytesPerElement: 8 }],
]);

const MIN_RANK = 1;
const MAX_RANK = 4;

/** Size of the longest header, the one of rank MAX_RANK. */
const MAX_HEADER_BYTES = 4 + 4 * MAX_RANK;

/**
 * Default limit on the size of a decompressed file. Decompression normally stops at the size
 * the file's header declares. This limit applies as well, so a header that declares a huge
 * size cannot claim more memory either. It sits far above the largest common IDX files (a few
 * hundred MB).
 */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 2 ** 31;

/** Header fields of an IDX file. */
interface IdxHeader {
  dtype: IdxDtype;
  bytesPerElement: number;
  shape: number[];
  /** Header size in bytes, 4 + 4 * rank. */
  headerBytes: number;
  /** product(shape), as a BigInt because four uint32 dimensions can multiply past 2^53. */
  declaredElements: bigint;
  /** Data size the header declares: declaredElements * bytesPerElement. */
  declaredBytes: bigint;
}

/**
 * Reads the header at the start of `bytes`, which may be only the first bytes of the file.
 * Returns null when `bytes` ends before the header does.
 *
 * @throws DataFormatError naming `file` when the magic number or the rank is invalid
 */
function readIdxHeader(bytes: Uint8Array, file: string): IdxHeader | null {
  if (bytes.length < 4) return null;

  const type = IDX_TYPES.get(bytes[2]);
  if (bytes[0] !== 0 || bytes[1] !== 0 || type === undefined) {
    throw new DataFormatError(file, describeBadMagic(bytes));
  }

  const rank = bytes[3];
  if (rank < MIN_RANK || rank > MAX_RANK) {
    throw new DataFormatError(file, `rank ${rank} is not supported, expected ${MIN_RANK} to ${MAX_RANK}`);
  }

  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) return null;

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let axis = 0; axis < rank; axis++) {
    shape.push(view.getUint32(4 + 4 * axis, false));
  }
  const declaredElements = shape.reduce((product, size) => product * BigInt(size), 1n);
  return {
    dtype: type.dtype,
    bytesPerElement: type.bytesPerElement,
    shape,
    headerBytes,
    declaredElements,
    declaredBytes: declaredElements * BigInt(type.bytesPerElement),
  };
}

/**
 * Parses an uncompressed IDX file.
 *
 * For uint8 and int8 files, `data` is a view into `bytes` (no copy). Wider types are copied
 * and converted from big-endian to the platform's byte order.
 *
 * @param bytes the whole file
 * @param file path or name of the file, used in error messages
 * @throws DataFormatError naming `file` when the magic number, rank or byte count is invalid
 */
export function parseIdx(bytes: Uint8Array, file: string): IdxArray {
  if (bytes.length < 4) {
    throw new DataFormatError(file, `file is ${bytes.length} bytes long, too short for the 4-byte IDX magic number`);
  }

  const header = readIdxHeader(bytes, file);
  if (header === null) {
    const rank = bytes[3];
    throw new DataFormatError(
      file,
      `truncated header: rank ${rank} needs a ${4 + 4 * rank}-byte header but the file is ${bytes.length} bytes long`,
    );
  }

  const { shape, headerBytes, declaredElements, declaredBytes } = header;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const actualBytes = BigInt(bytes.length - headerBytes);
  if (declaredBytes !== actualBytes) {
    const declared =
      `header declares shape [${shape.join(', ')}] of ${header.dtype}, ` +
      `which is ${declaredElements} elements = ${declaredBytes} data bytes`;
    if (actualBytes < declaredBytes) {
      throw new DataFormatError(file, `truncated: ${declared}, but only ${actualBytes} data bytes follow the header`);
    }
    throw new DataFormatError(
      file,
      `oversized: ${declared}, but ${actualBytes} data bytes follow the header (${actualBytes - declaredBytes} extra)`,
    );
  }

  // The byte count matched, so the element count is at most the file length and safe to allocate.
  const count = Number(declaredElements);
  const dataOffset = bytes.byteOffset + headerBytes;
  switch (header.dtype) {
    case 'uint8':
      return { dtype: 'uint8', shape, data: new Uint8Array(bytes.buffer, dataOffset, count) };
    case 'int8':
      return { dtype: 'int8', shape, data: new Int8Array(bytes.buffer, dataOffset, count) };
    case 'int16': {
      const data = new Int16Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt16(headerBytes + 2 * i, false);
      return { dtype: 'int16', shape, data };
    }
    case 'int32': {
      const data = new Int32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getInt32(headerBytes + 4 * i, false);
      return { dtype: 'int32', shape, data };
    }
    case 'float32': {
      const data = new Float32Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat32(headerBytes + 4 * i, false);
      return { dtype: 'float32', shape, data };
    }
    case 'float64': {
      const data = new Float64Array(count);
      for (let i = 0; i < count; i++) data[i] = view.getFloat64(headerBytes + 8 * i, false);
      return { dtype: 'float64', shape, data };
    }
  }
}

function describeBadMagic(bytes: Uint8Array): string {
  const found = Array.from(bytes.subarray(0, 4), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
  const expected = 'an IDX file starts with 00 00, a type code (08, 09, 0b, 0c, 0d or 0e) and the rank';
  if (isGzip(bytes)) {
    return `invalid IDX magic number ${found}: the data is still gzip-compressed (${expected})`;
  }
  return `invalid IDX magic number ${found}: ${expected}`;
}

/** Returns whether `bytes` starts with the gzip magic number 1f 8b. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Limit on the decompressed size of a gzip-compressed IDX file: `maxBytes`, lowered to the
 * size the header declares once the header has been decompressed.
 */
interface OutputLimit {
  /** Largest accepted output in bytes. */
  maxBytes: number;
  /** Header whose declared size set `maxBytes`, or null when the caller's maxBytes is the lower one. */
  header: IdxHeader | null;
}

/**
 * Returns the output limit for a file whose decompressed output starts with `start` and is at
 * least `length` bytes long so far, or null when `start` is too short to hold the header.
 *
 * @throws DataFormatError when the output already exceeds `maxBytes` or does not start with a
 *   valid IDX header
 */
function outputLimit(start: Uint8Array, length: number, file: string, maxBytes: number, onHeader?: HeaderCheck): OutputLimit | null {
  let header: IdxHeader | null;
  try {
    header = readIdxHeader(start, file);
  } catch (error) {
    if (length > maxBytes) throw tooLargeError(file, { maxBytes, header: null });
    throw error;
  }
  if (header === null) {
    if (length > maxBytes) throw tooLargeError(file, { maxBytes, header: null });
    return null;
  }

  onHeader?.({ dtype: header.dtype, shape: header.shape });
  const declaredFileBytes = BigInt(header.headerBytes) + header.declaredBytes;
  if (declaredFileBytes <= BigInt(maxBytes)) return { maxBytes: Number(declaredFileBytes), header };
  // Decompressing would only confirm a size that is already too large.
  throw new DataFormatError(
    file,
    `its header declares ${declaredFileBytes} bytes (shape [${header.shape.join(', ')}] of ${header.dtype}), more than the ${maxBytes} bytes accepted`,
    'Check that the file is the dataset you meant.',
  );
}

/**
 * Check of an IDX header that readIdxFile runs as soon as the header is read, before the data
 * is decompressed, so that a file of the wrong shape is rejected without reading all of it.
 * Throws to reject.
 */
export type HeaderCheck = (header: { dtype: IdxDtype; shape: number[] }) => void;

function tooLargeError(file: string, limit: OutputLimit): DataFormatError {
  const header = limit.header;
  if (header !== null) {
    return new DataFormatError(
      file,
      `gzip data decompresses to more than the ${limit.maxBytes} bytes its header declares ` +
        `(shape [${header.shape.join(', ')}] of ${header.dtype})`,
    );
  }
  return new DataFormatError(
    file,
    `gzip data decompresses to more than ${limit.maxBytes} bytes`,
    'Check that the file is the dataset you meant; files this large after decompression are not loaded.',
  );
}

/**
 * Decompresses `bytes` when they start with the gzip magic number and returns them
 * unchanged otherwise.
 *
 * The output must start with an IDX header. Decompression stops as soon as the output
 * exceeds the size that header declares, or `maxBytes`, whichever is smaller, so memory use
 * stays near the declared size.
 *
 * @param file path or name of the file, used in error messages
 * @param maxBytes largest decompressed size accepted
 * @throws DataFormatError naming `file` when the gzip data is corrupt, truncated or too large,
 *   or when the decompressed data does not start with an IDX header
 */
export function decodeMaybeGzip(
  bytes: Uint8Array,
  file: string,
  maxBytes: number = DEFAULT_MAX_DECOMPRESSED_BYTES,
): Uint8Array {
  if (!isGzip(bytes)) return bytes;

  const start = gunzipStartSync(bytes, file);
  const limit = outputLimit(start, start.length, file, maxBytes) ?? { maxBytes, header: null };
  if (start.length > limit.maxBytes) throw tooLargeError(file, limit);
  try {
    return gunzipSync(bytes, { maxOutputLength: limit.maxBytes });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw tooLargeError(file, limit);
    throw gzipError(error, file);
  }
}

/** Largest output a header probe of decodeMaybeGzip may produce. */
const PROBE_MAX_OUTPUT_BYTES = 2 ** 20;

/**
 * Compressed bytes in the first header probe. Deflate's compression ratio tops out near 1000:1
 * (8 MiB of zeros compress to 8,175 bytes at level 9), so this prefix decodes to about
 * 0.5 MiB at most, below PROBE_MAX_OUTPUT_BYTES.
 */
const PROBE_FIRST_INPUT_BYTES = 512;

/**
 * Decompresses the start of a gzip stream: at least MAX_HEADER_BYTES bytes of output, or the
 * whole output when it is shorter.
 *
 * zlib has no public synchronous streaming interface, so this decompresses ever longer
 * prefixes of the input with Z_SYNC_FLUSH, which returns what a prefix decodes to. Prefixes
 * double until the output is long enough. When one yields more than PROBE_MAX_OUTPUT_BYTES
 * (a crafted stream whose first blocks produce nothing, followed by highly compressed data),
 * a bisection finds a shorter one, so the probe never holds more than that.
 */
function gunzipStartSync(bytes: Uint8Array, file: string): Uint8Array {
  // A prefix of shortLength bytes gives too little output, one of longLength bytes too much.
  let shortLength = 0;
  let longLength = Infinity;
  let length = Math.min(bytes.length, PROBE_FIRST_INPUT_BYTES);
  for (;;) {
    const whole = length === bytes.length;
    try {
      const output = gunzipSync(bytes.subarray(0, length), {
        finishFlush: zlibConstants.Z_SYNC_FLUSH,
        maxOutputLength: PROBE_MAX_OUTPUT_BYTES,
      });
      if (output.length >= MAX_HEADER_BYTES || whole) return output;
      shortLength = length;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ERR_BUFFER_TOO_LARGE') {
        longLength = length;
      } else if (whole) {
        throw gzipError(error, file);
      } else {
        // A prefix can end inside the header of a second gzip member, which zlib reports as
        // an error. A longer prefix distinguishes that case from corrupt data.
        shortLength = length;
      }
    }
    length = longLength === Infinity ? Math.min(bytes.length, 2 * length) : Math.floor((shortLength + longLength) / 2);
    if (length <= shortLength) {
      throw new DataFormatError(file, `no IDX header in the first ${PROBE_MAX_OUTPUT_BYTES} bytes of the decompressed data`);
    }
  }
}

/**
 * Asynchronous form of {@link decodeMaybeGzip}. It decompresses on the libuv thread pool, one
 * chunk of output at a time, and stops as soon as the output exceeds the limit.
 */
export async function decodeMaybeGzipAsync(
  bytes: Uint8Array,
  file: string,
  maxBytes: number = DEFAULT_MAX_DECOMPRESSED_BYTES,
  onHeader?: HeaderCheck,
): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;

  const gunzip = createGunzip();
  // Pieces are kept only until the header gives the size. Then they move into one buffer of that
  // size, so the output never exists twice in memory.
  let chunks: Buffer[] = [];
  let output: Buffer | null = null;
  let length = 0;
  let limit: OutputLimit | null = null;
  try {
    gunzip.end(bytes);
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const previous = length;
      length += chunk.length;
      if (output === null) {
        chunks.push(chunk);
        limit ??= outputLimit(Buffer.concat(chunks, Math.min(length, MAX_HEADER_BYTES)), length, file, maxBytes, onHeader);
      }
      const limitBytes = limit?.maxBytes ?? maxBytes;
      if (length > limitBytes) throw tooLargeError(file, limit ?? { maxBytes, header: null });
      if (output !== null) {
        chunk.copy(output, previous);
      } else if (limit?.header != null) {
        output = Buffer.allocUnsafe(limit.maxBytes);
        Buffer.concat(chunks, length).copy(output, 0);
        chunks = [];
      }
    }
  } catch (error) {
    gunzip.destroy();
    if (error instanceof DataFormatError) throw error;
    throw gzipError(error, file);
  }
  return output === null ? Buffer.concat(chunks, length) : output.subarray(0, length);
}

/** Converts a zlib error into a DataFormatError and throws any other error unchanged. */
function gzipError(error: unknown, file: string): DataFormatError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new DataFormatError(file, `invalid gzip data (${(error as Error).message})`);
  }
  throw error;
}

/**
 * Reads an IDX file from disk, decompressing it first when it is gzip-compressed.
 *
 * @throws DataFormatError naming `path` when the content is invalid; file system errors
 *   (ENOENT, EACCES) propagate unchanged
 */
export async function readIdxFile(
  path: string,
  options: { maxBytes?: number; onHeader?: HeaderCheck } = {},
): Promise<IdxArray> {
  const raw = await readFile(path);
  const bytes = await decodeMaybeGzipAsync(raw, path, options.maxBytes, options.onHeader);
  if (!isGzip(raw) && options.onHeader !== undefined) {
    const header = readIdxHeader(raw, path);
    if (header !== null) options.onHeader({ dtype: header.dtype, shape: header.shape });
  }
  return parseIdx(bytes, path);
}
