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
 * cannot trigger a huge allocation.
 */

import { readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { gunzip, gunzipSync } from 'node:zlib';

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

/**
 * Default limit on the size of a decompressed file. It bounds the memory a corrupt or
 * hostile gzip archive can claim and sits far above the largest common IDX files (a few
 * hundred MB).
 */
export const DEFAULT_MAX_DECOMPRESSED_BYTES = 2 ** 31;

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

  const typeCode = bytes[2];
  const type = IDX_TYPES.get(typeCode);
  if (bytes[0] !== 0 || bytes[1] !== 0 || type === undefined) {
    throw new DataFormatError(file, describeBadMagic(bytes));
  }

  const rank = bytes[3];
  if (rank < MIN_RANK || rank > MAX_RANK) {
    throw new DataFormatError(file, `rank ${rank} is not supported, expected ${MIN_RANK} to ${MAX_RANK}`);
  }

  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    throw new DataFormatError(
      file,
      `truncated header: rank ${rank} needs a ${headerBytes}-byte header but the file is ${bytes.length} bytes long`,
    );
  }

  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape: number[] = [];
  for (let axis = 0; axis < rank; axis++) {
    shape.push(view.getUint32(4 + 4 * axis, false));
  }

  // BigInt, because four uint32 dimensions can multiply past 2^53.
  const declaredElements = shape.reduce((product, size) => product * BigInt(size), 1n);
  const declaredBytes = declaredElements * BigInt(type.bytesPerElement);
  const actualBytes = BigInt(bytes.length - headerBytes);
  if (declaredBytes !== actualBytes) {
    const declared =
      `header declares shape [${shape.join(', ')}] of ${type.dtype}, ` +
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
  switch (type.dtype) {
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
 * Decompresses `bytes` when they start with the gzip magic number and returns them
 * unchanged otherwise.
 *
 * @param file path or name of the file, used in error messages
 * @param maxBytes largest decompressed size accepted
 * @throws DataFormatError naming `file` when the gzip data is corrupt, truncated or too large
 */
export function decodeMaybeGzip(
  bytes: Uint8Array,
  file: string,
  maxBytes: number = DEFAULT_MAX_DECOMPRESSED_BYTES,
): Uint8Array {
  if (!isGzip(bytes)) return bytes;
  try {
    return gunzipSync(bytes, { maxOutputLength: maxBytes });
  } catch (error) {
    throw gzipError(error, file, maxBytes);
  }
}

const gunzipAsync = promisify(gunzip);

/** Asynchronous form of {@link decodeMaybeGzip}, which decompresses on the libuv thread pool. */
export async function decodeMaybeGzipAsync(
  bytes: Uint8Array,
  file: string,
  maxBytes: number = DEFAULT_MAX_DECOMPRESSED_BYTES,
): Promise<Uint8Array> {
  if (!isGzip(bytes)) return bytes;
  try {
    return await gunzipAsync(bytes, { maxOutputLength: maxBytes });
  } catch (error) {
    throw gzipError(error, file, maxBytes);
  }
}

/** Converts a zlib error into a DataFormatError and throws any other error unchanged. */
function gzipError(error: unknown, file: string, maxBytes: number): DataFormatError {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ERR_BUFFER_TOO_LARGE') {
    return new DataFormatError(
      file,
      `gzip data decompresses to more than ${maxBytes} bytes`,
      'Check that the file is the dataset you meant, or raise maxBytes.',
    );
  }
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
  options: { maxBytes?: number } = {},
): Promise<IdxArray> {
  const raw = await readFile(path);
  const bytes = await decodeMaybeGzipAsync(raw, path, options.maxBytes);
  return parseIdx(bytes, path);
}
