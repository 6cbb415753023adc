/** IDX files built in code for tests: the format's header, then the payload as given. */
import { writeFileSync } from 'node:fs';

/** Builds an IDX file: magic (00 00 type rank), big-endian uint32 dims, then `payload` as is. */
export function makeIdx(typeCode: number, shape: readonly number[], payload: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * shape.length));
  header.setUint8(2, typeCode);
  header.setUint8(3, shape.length);
  shape.forEach((size, axis) => header.setUint32(4 + 4 * axis, size, false));
  const bytes = new Uint8Array(header.byteLength + payload.length);
  bytes.set(new Uint8Array(header.buffer), 0);
  bytes.set(payload, header.byteLength);
  return bytes;
}

/** Writes a uint8 IDX file of shape `dims` to `path`. */
export function writeIdx(path: string, dims: readonly number[], bytes: Uint8Array): void {
  writeFileSync(path, makeIdx(0x08, dims, bytes));
}
