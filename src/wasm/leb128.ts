/**
 * LEB128 integer encodings, as the WebAssembly Core Specification defines them for integers in
 * the binary format (Binary Format, Values, Integers): unsigned for counts, indices and sizes,
 * signed for i32.const immediates.
 */

/**
 * Encodes a non-negative integer below 2^32 as unsigned LEB128: 7 bits per byte, least
 * significant group first, with the high bit set on every byte but the last.
 */
export function encodeUnsignedLeb128(value: number): number[] {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`unsigned LEB128 value must be an integer in [0, 2^32), got ${value}`);
  }
  const bytes: number[] = [];
  let rest = value;
  do {
    const group = rest % 128;
    rest = Math.floor(rest / 128);
    bytes.push(rest === 0 ? group : group | 0x80);
  } while (rest !== 0);
  return bytes;
}

/**
 * Encodes an integer in [-2^31, 2^31) as signed LEB128: two's-complement 7-bit groups, ending
 * at the first group whose bit 6 already equals the sign of the remaining value.
 */
export function encodeSignedLeb128(value: number): number[] {
  if (!Number.isInteger(value) || value < -0x80000000 || value > 0x7fffffff) {
    throw new RangeError(`signed LEB128 value must be an integer in [-2^31, 2^31), got ${value}`);
  }
  const bytes: number[] = [];
  let rest = value;
  for (;;) {
    const group = rest & 0x7f;
    // Arithmetic shift keeps the sign, so a negative value converges to -1 and a positive one to 0.
    rest >>= 7;
    const signBitClear = (group & 0x40) === 0;
    if ((rest === 0 && signBitClear) || (rest === -1 && !signBitClear)) {
      bytes.push(group);
      return bytes;
    }
    bytes.push(group | 0x80);
  }
}
