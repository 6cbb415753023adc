/**
 * Block sizes and scratch layout of the WebAssembly SIMD GEMM (loops in gemm-wasm.ts).
 *
 * Scratch layout of one call, in bytes from the start of the scratch region. Each region starts
 * on a 64-byte boundary, counted from address 0 of the memory:
 *   edge tile   MR * NR floats of spill space for tiles that cross the edge of C
 *   packed A    roundUp(mc, MR) * kc floats
 *   packed B    roundUp(nc, NR) * kc floats
 *   staged A, staged B, staged C
 *               copies of the operands that are not used in place, with rows stored without
 *               gaps (leading dimension = row length). An operand used in place takes 0 bytes.
 */

import { resolveKernelShape, type GemmKernelShape } from './gemm-module.js';

/** Depths up to this are not split, so C is written once. */
const MAX_UNSPLIT_DEPTH = 384;
/** Target depth of a kc block when K is split. */
const TARGET_BLOCK_DEPTH = 256;
/** Bytes of a packed A block, so that it stays in an L2 cache of 512 KiB or more. */
const PACKED_A_BYTES = 192 * 1024;
/** Bytes of a packed B block. */
const PACKED_B_BYTES = 2 * 1024 * 1024;

const REGION_ALIGNMENT = 64;

/** Block sizes of one call, chosen from the shape alone so that rounding depends on nothing else. */
export interface Blocking {
  kc: number;
  mc: number;
  nc: number;
}

export function chooseBlocking(m: number, n: number, k: number, mr: number, nr: number): Blocking {
  let kc = k;
  if (k > MAX_UNSPLIT_DEPTH) {
    const blockCount = Math.ceil(k / TARGET_BLOCK_DEPTH);
    kc = Math.ceil(k / blockCount);
  }
  // mcLimit * kc * 4 <= PACKED_A_BYTES because kc <= MAX_UNSPLIT_DEPTH and mr <= 8, and likewise
  // for nc; wasmGemmScratchBytes relies on both bounds.
  const mcLimit = Math.max(mr, Math.floor(PACKED_A_BYTES / (4 * kc * mr)) * mr);
  const ncLimit = Math.max(nr, Math.floor(PACKED_B_BYTES / (4 * kc * nr)) * nr);
  return { kc, mc: Math.min(m, mcLimit), nc: Math.min(n, ncLimit) };
}

/** Floats that each staged operand takes in scratch; 0 for an operand used in place. */
export interface StagedFloats {
  a: number;
  b: number;
  c: number;
}

/** Byte addresses of the scratch regions of one call. `end` is one past the last byte used. */
export interface ScratchLayout {
  tile: number;
  packedA: number;
  packedB: number;
  stagedA: number;
  stagedB: number;
  stagedC: number;
  end: number;
}

/** Lays out the regions of one call from byte address `start` on. */
export function planScratch(start: number, blocking: Blocking, mr: number, nr: number, staged: StagedFloats): ScratchLayout {
  let cursor = start;
  const take = (floats: number): number => {
    const region = roundUp(cursor, REGION_ALIGNMENT);
    cursor = region + 4 * floats;
    return region;
  };
  const tile = take(mr * nr);
  const packedA = take(roundUp(blocking.mc, mr) * blocking.kc);
  const packedB = take(roundUp(blocking.nc, nr) * blocking.kc);
  const stagedA = take(staged.a);
  const stagedB = take(staged.b);
  const stagedC = take(staged.c);
  return { tile, packedA, packedB, stagedA, stagedB, stagedC, end: cursor };
}

/** Byte address of the edge-tile region, whose first 4 bytes also serve to probe shared buffers. */
export function firstRegionAddress(start: number): number {
  return roundUp(start, REGION_ALIGNMENT);
}

export interface WasmGemmScratchOptions {
  /**
   * Operands that every call passes in place: as views of the GEMM's memory, outside its scratch
   * region, with A and B not overlapping the span of C. Those need no staging space. Default:
   * none, so the size covers copies of all three.
   */
  inPlace?: { a?: boolean; b?: boolean; c?: boolean };
  /** Micro-tile of the GEMM that will use the scratch; default as in createWasmGemm. */
  kernelShape?: Partial<Omit<GemmKernelShape, 'relaxedMadd'>>;
}

/**
 * Returns the bytes of scratch that are enough for every call with m <= maxM, n <= maxN and
 * k <= maxK, at any scratch byteOffset and any leading dimensions. With no operand in place, the
 * size is about 4 * (maxM * maxK + maxK * maxN + maxM * maxN) bytes of copies plus at most 2.2 MiB
 * of packing space. With all three in place, it is the packing space alone.
 */
export function wasmGemmScratchBytes(maxM: number, maxN: number, maxK: number, options: WasmGemmScratchOptions = {}): number {
  for (const [name, value] of [['maxM', maxM], ['maxN', maxN], ['maxK', maxK]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`wasmGemmScratchBytes: ${name} must be a non-negative integer, got ${value}`);
    }
  }
  const shape = resolveKernelShape(options.kernelShape, false);
  const mr = shape.rowsPerTile;
  const nr = 4 * shape.vectorsPerRow;
  const inPlace = options.inPlace ?? {};

  const maxDepth = Math.min(maxK, MAX_UNSPLIT_DEPTH);
  const regionFloats = [
    mr * nr,
    Math.min(roundUp(maxM, mr) * maxDepth, PACKED_A_BYTES / 4),
    Math.min(roundUp(maxN, nr) * maxDepth, PACKED_B_BYTES / 4),
    inPlace.a === true ? 0 : maxM * maxK,
    inPlace.b === true ? 0 : maxK * maxN,
    inPlace.c === true ? 0 : maxM * maxN,
  ];
  // Aligning the first region can skip up to 63 bytes, and each region is padded to 64 bytes.
  let bytes = REGION_ALIGNMENT - 1;
  for (const floats of regionFloats) bytes += roundUp(4 * floats, REGION_ALIGNMENT);
  return bytes;
}

export function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}
