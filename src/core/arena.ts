/**
 * Arena: one shared WebAssembly.Memory that contains a model's parameters, gradients, optimizer
 * state and every worker's activation buffers, so Float32Array views, WebAssembly kernels and
 * all threads address the same bytes without copies.
 *
 * Allocation is a bump pointer kept in the memory itself (an Int32 header slot updated with
 * Atomics), so any thread that has the memory can allocate. Nothing is freed one by one:
 * `mark()` and `release(mark)` drop everything allocated after a mark, which is how a model
 * discards the buffers of an old training session. A second header slot counts allocations,
 * which makes "no allocation in the steady state" checkable.
 *
 * Datasets stay in their own SharedArrayBuffers, which workers also read without copies:
 * each task copies its (shuffled) rows into its replica's input buffer in the arena, a copy
 * the shuffle needs anyway, so datasets in the arena would save nothing.
 */
import { getWebAssembly, type WasmMemory } from '../wasm/webassembly-api.js';

/** Byte size of a WebAssembly page. */
const PAGE_BYTES = 65536;
/** Largest memory a 32-bit WebAssembly memory can address: 65536 pages, 4 GiB. */
const MAX_PAGES = 65536;
/** Every allocation starts on a cache-line boundary. */
const ALIGN_BYTES = 64;

/** Int32 header slots at the start of the memory. */
const SLOT_TOP = 0;
const SLOT_ALLOCATIONS = 1;
const HEADER_BYTES = ALIGN_BYTES;

/** Location of an allocation: byte offset and element count, as messages carry it. */
export interface ArenaRegion {
  byteOffset: number;
  length: number;
}

export class Arena {
  readonly memory: WasmMemory;
  private readonly header: Int32Array;

  /** Wraps an existing shared memory (from another thread), or creates a new one. */
  constructor(memory?: WasmMemory, options: { initialBytes?: number; maximumBytes?: number } = {}) {
    if (memory === undefined) {
      const api = getWebAssembly();
      if (api === undefined) throw new Error('This runtime has no WebAssembly, which the shared arena needs.');
      const initial = Math.max(1, Math.ceil((options.initialBytes ?? PAGE_BYTES) / PAGE_BYTES));
      const maximum = Math.min(MAX_PAGES, Math.ceil((options.maximumBytes ?? MAX_PAGES * PAGE_BYTES) / PAGE_BYTES));
      memory = new api.Memory({ initial, maximum, shared: true });
      this.memory = memory;
      this.header = new Int32Array(memory.buffer, 0, HEADER_BYTES / 4);
      Atomics.store(this.header, SLOT_TOP, HEADER_BYTES);
    } else {
      if (!(memory.buffer instanceof SharedArrayBuffer)) throw new TypeError('An arena needs a shared WebAssembly.Memory.');
      this.memory = memory;
      this.header = new Int32Array(memory.buffer, 0, HEADER_BYTES / 4);
    }
  }

  /** The memory's bytes; re-read after growth, because a grown memory has a new buffer object. */
  get buffer(): SharedArrayBuffer {
    return this.memory.buffer as SharedArrayBuffer;
  }

  /**
   * Returns a buffer that covers at least `end` bytes. When another thread grew the memory,
   * this thread's `memory.buffer` keeps the old length until grow(0) refreshes it (V8).
   */
  private bufferCovering(end: number): SharedArrayBuffer {
    let buffer = this.buffer;
    if (buffer.byteLength < end) {
      this.memory.grow(0);
      buffer = this.buffer;
    }
    if (buffer.byteLength < end) throw new RangeError(`Arena region ending at byte ${end} is past the memory's ${buffer.byteLength} bytes.`);
    return buffer;
  }

  /** Number of allocations made so far, by any thread. */
  get allocationCount(): number {
    return Atomics.load(this.header, SLOT_ALLOCATIONS);
  }

  /** Bytes in use, header included. */
  get usedBytes(): number {
    return Atomics.load(this.header, SLOT_TOP) >>> 0;
  }

  /** Reserves `byteLength` bytes (zeroed) and returns their offset; grows the memory as needed. */
  allocate(byteLength: number): number {
    if (!Number.isInteger(byteLength) || byteLength < 0) throw new RangeError(`Arena allocation of ${byteLength} bytes is invalid.`);
    const size = Math.ceil(byteLength / ALIGN_BYTES) * ALIGN_BYTES;
    const offset = Atomics.add(this.header, SLOT_TOP, size) >>> 0;
    const end = offset + size;
    if (end > MAX_PAGES * PAGE_BYTES || end < offset) {
      Atomics.sub(this.header, SLOT_TOP, size);
      throw new RangeError(`The arena cannot grow past 4 GiB (requested ${byteLength} bytes at offset ${offset}).`);
    }
    let have = this.memory.buffer.byteLength;
    if (end > have) {
      this.memory.grow(0);
      have = this.memory.buffer.byteLength;
    }
    // Two threads may both see the memory too small and both grow it; that only costs pages.
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE_BYTES));
    Atomics.add(this.header, SLOT_ALLOCATIONS, 1);
    // A memory only grows, so the bytes past a released mark may hold old data.
    new Uint8Array(this.bufferCovering(end), offset, size).fill(0);
    return offset;
  }

  allocFloat32(length: number): Float32Array {
    return this.float32({ byteOffset: this.allocate(length * 4), length });
  }

  allocInt32(length: number): Int32Array {
    return this.int32({ byteOffset: this.allocate(length * 4), length });
  }

  allocFloat64(length: number): Float64Array {
    return this.float64({ byteOffset: this.allocate(length * 8), length });
  }

  /** Returns the current top, to pass to release() later. */
  mark(): number {
    return this.usedBytes;
  }

  /** Drops every allocation made after `mark`; views into them must not be used again. */
  release(mark: number): void {
    Atomics.store(this.header, SLOT_TOP, mark);
  }

  float32(region: ArenaRegion): Float32Array {
    return new Float32Array(this.bufferCovering(region.byteOffset + region.length * 4), region.byteOffset, region.length);
  }

  int32(region: ArenaRegion): Int32Array {
    return new Int32Array(this.bufferCovering(region.byteOffset + region.length * 4), region.byteOffset, region.length);
  }

  float64(region: ArenaRegion): Float64Array {
    return new Float64Array(this.bufferCovering(region.byteOffset + region.length * 8), region.byteOffset, region.length);
  }
}

/** Returns the region of a view into an arena. */
export function regionOf(view: Float32Array | Int32Array | Float64Array): ArenaRegion {
  return { byteOffset: view.byteOffset, length: view.length };
}
