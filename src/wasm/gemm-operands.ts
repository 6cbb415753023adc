/**
 * Finds the operands of a WebAssembly GEMM call that already live in the GEMM's memory, and
 * copies the others in and out of the scratch region.
 *
 * An operand is used in place when its Float32Array is a view of the memory: the kernels then
 * read A and B and write C at their byte addresses. Any other operand is staged, which means it
 * is copied into scratch with its rows stored without gaps (and C is copied back afterwards).
 */

import type { WasmMemory } from './webassembly-api.js';

/** Values written to the probe word when checking whether a SharedArrayBuffer is the memory's. */
const PROBE_PATTERNS = [0x5a3c_96e1, -0x2b1f_0d47] as const;

/**
 * Float view of a WebAssembly memory that follows its growth, and the test of whether a buffer is
 * the memory's.
 *
 * Buffer identity: `memory.buffer` returns the same object until the memory grows (Node 20, V8
 * 11.3, shared or not). Growing a non-shared memory detaches the old ArrayBuffer, so only the
 * current one can be the memory's. Growing a shared memory leaves the old SharedArrayBuffer valid
 * for its old length, and every thread and every postMessage gets its own SharedArrayBuffer object
 * for the same memory. A SharedArrayBuffer that this view has not itself read from
 * `memory.buffer` is therefore probed once: two patterns are written to the probe word of the
 * caller's scratch region through the memory and read back through the buffer. The result is
 * cached per buffer object.
 */
export class MemoryView {
  readonly shared: boolean;
  private floats: Float32Array;
  private readonly knownShared = new WeakMap<SharedArrayBuffer, boolean>();

  constructor(private readonly memory: WasmMemory) {
    this.shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    this.floats = new Float32Array(memory.buffer);
    this.remember(memory.buffer);
  }

  /** Float view of the whole memory at its current size. */
  current(): Float32Array {
    const buffer = this.memory.buffer;
    if (this.floats.buffer !== buffer) {
      this.floats = new Float32Array(buffer);
      this.remember(buffer);
    }
    return this.floats;
  }

  /** Current size of the memory in bytes. */
  byteLength(): number {
    return this.memory.buffer.byteLength;
  }

  /** Grows the memory by `pages` pages of 64 KiB; throws a RangeError when it cannot. */
  grow(pages: number): void {
    this.memory.grow(pages);
  }

  /**
   * Returns whether `buffer` is the memory's. `probeAddress` is the byte address of a 4-byte word
   * of scratch that the probe may overwrite, or null when there is none. A buffer that cannot be
   * probed, because there is no such word or it lies past the end of the memory or of `buffer`,
   * counts as foreign, and that result is not cached.
   */
  isMemoryBuffer(buffer: ArrayBufferLike, probeAddress: number | null): boolean {
    const current = this.current();
    if (buffer === current.buffer) return true;
    if (!this.shared || !(buffer instanceof SharedArrayBuffer)) return false;

    const known = this.knownShared.get(buffer);
    if (known !== undefined) return known;
    if (probeAddress === null || probeAddress + 4 > current.byteLength || probeAddress + 4 > buffer.byteLength) return false;

    const ours = new Int32Array(current.buffer, probeAddress, 1);
    const theirs = new Int32Array(buffer, probeAddress, 1);
    let same = true;
    for (const pattern of PROBE_PATTERNS) {
      ours[0] = pattern;
      if (theirs[0] !== pattern) same = false;
    }
    this.knownShared.set(buffer, same);
    return same;
  }

  private remember(buffer: ArrayBufferLike): void {
    if (this.shared && buffer instanceof SharedArrayBuffer) this.knownShared.set(buffer, true);
  }
}

/**
 * Copies a rows x cols matrix stored with row stride `ld` from source[sourceIndex] to
 * target[targetIndex], storing its rows without gaps.
 */
export function copyInRows(
  target: Float32Array,
  targetIndex: number,
  source: Float32Array,
  sourceIndex: number,
  rows: number,
  cols: number,
  ld: number,
): void {
  if (rows === 1 || ld === cols) {
    target.set(source.subarray(sourceIndex, sourceIndex + rows * cols), targetIndex);
    return;
  }
  for (let row = 0; row < rows; row++) {
    const start = sourceIndex + row * ld;
    target.set(source.subarray(start, start + cols), targetIndex + row * cols);
  }
}

/** Reverses copyInRows: writes gapless rows from source back to target with row stride `ld`. */
export function copyOutRows(
  target: Float32Array,
  targetIndex: number,
  ld: number,
  source: Float32Array,
  sourceIndex: number,
  rows: number,
  cols: number,
): void {
  if (rows === 1 || ld === cols) {
    target.set(source.subarray(sourceIndex, sourceIndex + rows * cols), targetIndex);
    return;
  }
  for (let row = 0; row < rows; row++) {
    const start = sourceIndex + row * cols;
    target.set(source.subarray(start, start + cols), targetIndex + row * ld);
  }
}
