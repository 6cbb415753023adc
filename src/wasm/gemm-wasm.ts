/**
 * Single-precision GEMM on WebAssembly SIMD128: C = alpha * op(A) * op(B) + beta * C.
 *
 * Legend (row-major, as in src/gemm/types.ts):
 *   M  rows of op(A) and of C
 *   N  columns of op(B) and of C
 *   K  shared dimension: columns of op(A), rows of op(B)
 * Stored A is [M, K], or [K, M] with transA. Stored B is [K, N], or [N, K] with transB.
 *
 * The module is generated at run time by src/wasm/gemm-module.ts, so no binary is stored. A
 * call copies the stored spans of A, B and (when needed) C into the module's memory, runs the
 * blocked loops below, and copies C back. Loop structure, outermost first, as in
 * src/gemm/blocked.ts:
 *   jc  steps over N in blocks of nc columns.
 *   pc  steps over K in blocks of kc, and packs a kc x nc block of op(B) (wasm packB).
 *   ic  steps over M in blocks of mc rows, packs an mc x kc block of op(A) (wasm packA), and
 *       runs the wasm kernel over the whole mc x nc block of C.
 * So JS calls into wasm twice per block, never per micro-tile.
 *
 * Memory layout, in bytes from `scratchStart` (each region starts on a 64-byte boundary):
 *   edge tile   MR * NR floats of spill space for tiles that cross the edge of C
 *   packed A    roundUp(mc, MR) * kc floats
 *   packed B    roundUp(nc, NR) * kc floats
 *   staged A, staged B, staged C
 *                the stored spans of the operands, without the caller's offsets but with the
 *                caller's lda, ldb and ldc.
 * The packing functions and the kernel take byte addresses and byte strides. Operands that
 * already live in this memory could therefore be passed in place of the staged copies, which
 * would skip the copies in and out. Only the staging step in this file would change.
 *
 * Rounding: each element of C is summed in float32, in depth order, within a kc-deep block and
 * added to C once per block. kc depends only on K, so the result bits depend only on the shapes
 * and the inputs. alpha and beta are rounded to float32 before use.
 *
 * NOTE: V8 first compiles the module with its baseline compiler and switches to optimized code
 * after some work, so the first call is slower. A 9216 x 64 x 288 product took about 14 ms on
 * the first call and 6 ms later, on one AMD EPYC (Zen 4) core in Node 20.
 */

import type { GemmFn } from '../gemm/types.js';
import { FunctionBuilder, ModuleBuilder, ValType } from './emitter.js';
import { buildGemmModule, type GemmKernelShape, type GemmModuleExports } from './gemm-module.js';
import { getWebAssembly, type WasmMemory } from './webassembly-api.js';

export interface WasmGemmOptions {
  /**
   * Memory to work in. The GEMM uses the bytes from the memory's size at creation up to its
   * end, growing it when a call needs more, so the caller must not store data there.
   * Default: a new memory owned by the returned object.
   */
  memory?: WasmMemory;
  /**
   * Use f32x4.relaxed_madd. Throws when the engine lacks relaxed SIMD. Default false. The
   * relaxed-SIMD proposal lets an engine round a * b + c once or twice, so result bits may
   * differ between engines and CPUs.
   */
  relaxed?: boolean;
  /** Micro-tile size; see GemmKernelShape. The default, 4 x 8, is the fastest measured on x64 V8. */
  kernelShape?: Partial<Omit<GemmKernelShape, 'relaxedMadd'>>;
}

export interface WasmGemm {
  gemm: GemmFn<Float32Array>;
  /** The memory the module works in. */
  memory: WasmMemory;
  /** Byte offset where the GEMM's scratch space begins. */
  scratchStart: number;
  /** The kernel shape in use, relaxedMadd included. */
  kernelShape: GemmKernelShape;
}

/**
 * Default micro-tile, 4 x 8, for both instruction choices: its accumulators, B vectors and
 * splats fit the registers TurboFan allocates (see gemm-module.ts). Its kernel ran at about 66
 * GFLOP/s on one AMD EPYC (Zen 4) core, where 5 x 8 and 6 x 8 spilled and ran at 23 to 44.
 */
const DEFAULT_SHAPE = { rowsPerTile: 4, vectorsPerRow: 2 } as const;

/** Depths up to this are not split, so C is written once. */
const MAX_UNSPLIT_DEPTH = 384;
/** Target depth of a kc block when K is split. */
const TARGET_BLOCK_DEPTH = 256;
/** Bytes of a packed A block, so that it stays in an L2 cache of 512 KiB or more. */
const PACKED_A_BYTES = 192 * 1024;
/** Bytes of a packed B block. */
const PACKED_B_BYTES = 2 * 1024 * 1024;

const PAGE_BYTES = 65536;
const REGION_ALIGNMENT = 64;

let simdSupport: boolean | undefined;
let relaxedSimdSupport: boolean | undefined;

/** Returns whether the engine validates a module that uses fixed-width SIMD (v128, f32x4.add). */
export function wasmSimdSupported(): boolean {
  if (simdSupport === undefined) {
    const probe = new FunctionBuilder([], [ValType.v128]);
    probe.v128Zero().v128Zero().f32x4Add();
    simdSupport = validateProbe(probe);
  }
  return simdSupport;
}

/**
 * Returns whether the engine validates f32x4.relaxed_madd. Node 20 (V8 11.3) needs the
 * --experimental-wasm-relaxed-simd flag for it.
 */
export function relaxedSimdSupported(): boolean {
  if (relaxedSimdSupport === undefined) {
    const probe = new FunctionBuilder([], [ValType.v128]);
    probe.v128Zero().v128Zero().v128Zero().f32x4RelaxedMadd();
    relaxedSimdSupport = validateProbe(probe);
  }
  return relaxedSimdSupport;
}

function validateProbe(probe: FunctionBuilder): boolean {
  const wasm = getWebAssembly();
  if (wasm === undefined) return false;
  const module = new ModuleBuilder();
  module.addFunction(probe);
  return wasm.validate(module.build());
}

/**
 * Compiles the SIMD GEMM module and returns a GemmFn that runs it, or null when the engine has
 * no WebAssembly SIMD. Throws when `relaxed` is requested but unsupported, or when a kernel
 * shape value is out of range.
 */
export function createWasmGemm(options: WasmGemmOptions = {}): WasmGemm | null {
  const wasm = getWebAssembly();
  if (wasm === undefined || !wasmSimdSupported()) return null;
  const relaxed = options.relaxed ?? false;
  if (relaxed && !relaxedSimdSupported()) {
    throw new Error(
      'relaxed SIMD (f32x4.relaxed_madd) is not supported by this engine. On Node 20, run with --experimental-wasm-relaxed-simd, or pass relaxed: false.',
    );
  }
  const kernelShape: GemmKernelShape = {
    ...DEFAULT_SHAPE,
    ...options.kernelShape,
    relaxedMadd: relaxed,
  };
  validateKernelShape(kernelShape);

  const memory = options.memory ?? new wasm.Memory({ initial: 1 });
  const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const bytes = buildGemmModule(kernelShape, { shared });
  const instance = new wasm.Instance(new wasm.Module(bytes), { env: { memory } });
  const exports = instance.exports as unknown as GemmModuleExports;
  const scratchStart = options.memory === undefined ? 0 : roundUp(memory.buffer.byteLength, REGION_ALIGNMENT);

  const gemm = makeGemm(exports, memory, scratchStart, kernelShape);
  return { gemm, memory, scratchStart, kernelShape };
}

function validateKernelShape(shape: GemmKernelShape): void {
  const problems: string[] = [];
  const checkRange = (name: keyof GemmKernelShape, min: number, max: number): void => {
    const value = shape[name] as number;
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer in [${min}, ${max}], got ${value}`);
    }
  };
  checkRange('rowsPerTile', 1, 8);
  checkRange('vectorsPerRow', 1, 4);
  if (problems.length > 0) throw new RangeError(`invalid WebAssembly GEMM kernel shape: ${problems.join('; ')}`);
}

/** Block sizes of one call, chosen from the shape alone so that rounding depends on nothing else. */
interface Blocking {
  kc: number;
  mc: number;
  nc: number;
}

function chooseBlocking(m: number, n: number, k: number, mr: number, nr: number): Blocking {
  let kc = k;
  if (k > MAX_UNSPLIT_DEPTH) {
    const blockCount = Math.ceil(k / TARGET_BLOCK_DEPTH);
    kc = Math.ceil(k / blockCount);
  }
  const mcLimit = Math.max(mr, Math.floor(PACKED_A_BYTES / (4 * kc * mr)) * mr);
  const ncLimit = Math.max(nr, Math.floor(PACKED_B_BYTES / (4 * kc * nr)) * nr);
  return { kc, mc: Math.min(m, mcLimit), nc: Math.min(n, ncLimit) };
}

/** Byte addresses of the scratch regions of one call. */
interface Layout {
  tile: number;
  packedA: number;
  packedB: number;
  stagedA: number;
  stagedB: number;
  stagedC: number;
  end: number;
}

function makeGemm(exports: GemmModuleExports, memory: WasmMemory, scratchStart: number, shape: GemmKernelShape): GemmFn<Float32Array> {
  const mr = shape.rowsPerTile;
  const nr = 4 * shape.vectorsPerRow;
  let heap = new Float32Array(memory.buffer);

  const planLayout = (blocking: Blocking, spanA: number, spanB: number, spanC: number): Layout => {
    let cursor = scratchStart;
    const take = (floats: number): number => {
      const start = cursor;
      cursor = roundUp(cursor + 4 * floats, REGION_ALIGNMENT);
      return start;
    };
    const tile = take(mr * nr);
    const packedA = take(roundUp(blocking.mc, mr) * blocking.kc);
    const packedB = take(roundUp(blocking.nc, nr) * blocking.kc);
    const stagedA = take(spanA);
    const stagedB = take(spanB);
    const stagedC = take(spanC);
    return { tile, packedA, packedB, stagedA, stagedB, stagedC, end: cursor };
  };

  const ensureCapacity = (bytes: number): void => {
    const current = memory.buffer.byteLength;
    if (bytes > current) {
      const pages = Math.ceil((bytes - current) / PAGE_BYTES);
      try {
        memory.grow(pages);
      } catch (error) {
        throw new RangeError(`WebAssembly GEMM could not grow its memory to ${bytes} bytes: ${String(error)}`);
      }
    }
    // Growing replaces (non-shared) or extends (shared) the buffer, so the view is refreshed.
    if (heap.buffer !== memory.buffer || heap.length * 4 < memory.buffer.byteLength) heap = new Float32Array(memory.buffer);
  };

  return (transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc) => {
    if (m <= 0 || n <= 0) return;
    if (alpha === 0 || k <= 0) {
      scaleC(c, cOffset, ldc, m, n, beta);
      return;
    }

    const spanA = storedSpan(transA ? k : m, transA ? m : k, lda);
    const spanB = storedSpan(transB ? n : k, transB ? k : n, ldb);
    const spanC = storedSpan(m, n, ldc);
    checkSpan('A', a, aOffset, spanA);
    checkSpan('B', b, bOffset, spanB);
    checkSpan('C', c, cOffset, spanC);

    const blocking = chooseBlocking(m, n, k, mr, nr);
    const layout = planLayout(blocking, spanA, spanB, spanC);
    ensureCapacity(layout.end);

    heap.set(a.subarray(aOffset, aOffset + spanA), layout.stagedA >>> 2);
    heap.set(b.subarray(bOffset, bOffset + spanB), layout.stagedB >>> 2);
    // The staged span of C is copied back whole, so it must hold the caller's values wherever the
    // kernel does not write: in the gaps between rows, and everywhere when beta is not 0.
    if (beta !== 0 || (m > 1 && ldc > n)) heap.set(c.subarray(cOffset, cOffset + spanC), layout.stagedC >>> 2);

    runBlocks(exports, shape, layout, blocking, { transA, transB, m, n, k, alpha, lda, ldb, beta, ldc });

    c.set(heap.subarray(layout.stagedC >>> 2, (layout.stagedC >>> 2) + spanC), cOffset);
  };
}

interface GemmArguments {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  lda: number;
  ldb: number;
  beta: number;
  ldc: number;
}

/** Packs and multiplies block by block over the staged operands (all addresses in bytes). */
function runBlocks(exports: GemmModuleExports, shape: GemmKernelShape, layout: Layout, blocking: Blocking, args: GemmArguments): void {
  const { transA, transB, m, n, k, alpha, lda, ldb, beta, ldc } = args;
  const mr = shape.rowsPerTile;
  const nr = 4 * shape.vectorsPerRow;
  const { kc, mc, nc } = blocking;
  // Element (i, p) of op(A) sits at i * aRowStride + p * aDepthStride floats into staged A, and
  // element (p, j) of op(B) at j * bColStride + p * bDepthStride floats into staged B.
  const aRowStride = 4 * (transA ? 1 : lda);
  const aDepthStride = 4 * (transA ? lda : 1);
  const bColStride = 4 * (transB ? ldb : 1);
  const bDepthStride = 4 * (transB ? 1 : ldb);
  const ldcBytes = 4 * ldc;

  for (let jc = 0; jc < n; jc += nc) {
    const blockCols = Math.min(nc, n - jc);

    for (let pc = 0; pc < k; pc += kc) {
      const blockDepth = Math.min(kc, k - pc);
      const bBlock = layout.stagedB + jc * bColStride + pc * bDepthStride;
      exports.packB(layout.packedB, bBlock, bColStride, bDepthStride, blockCols, blockDepth);
      // The first depth block applies beta; later ones add to what it wrote.
      const blockBeta = pc === 0 ? beta : 1;

      for (let ic = 0; ic < m; ic += mc) {
        const blockRows = Math.min(mc, m - ic);
        const aBlock = layout.stagedA + ic * aRowStride + pc * aDepthStride;
        exports.packA(layout.packedA, aBlock, aRowStride, aDepthStride, blockRows, blockDepth);
        const cBlock = layout.stagedC + ic * ldcBytes + jc * 4;
        exports.kernel(
          layout.packedA,
          4 * mr,
          4 * mr * blockDepth,
          layout.packedB,
          4 * nr,
          4 * nr * blockDepth,
          cBlock,
          ldcBytes,
          blockRows,
          blockCols,
          blockDepth,
          alpha,
          blockBeta,
          layout.tile,
        );
      }
    }
  }
}

/** Floats from element (0, 0) to the last element of a rows x cols matrix with row stride ld. */
function storedSpan(rows: number, cols: number, ld: number): number {
  return (rows - 1) * ld + cols;
}

function checkSpan(name: string, array: Float32Array, offset: number, span: number): void {
  if (offset < 0 || offset + span > array.length) {
    throw new RangeError(
      `WebAssembly GEMM: ${name} needs elements [${offset}, ${offset + span}) but has length ${array.length}. Check the offset, leading dimension and sizes.`,
    );
  }
}

/** Sets C = beta * C over an M x N block, writing zeros without reading C when beta is 0. */
function scaleC(c: Float32Array, cOffset: number, ldc: number, m: number, n: number, beta: number): void {
  if (beta === 1) return;
  for (let i = 0; i < m; i++) {
    const rowStart = cOffset + i * ldc;
    if (beta === 0) {
      c.fill(0, rowStart, rowStart + n);
    } else {
      for (let index = rowStart; index < rowStart + n; index++) c[index] *= beta;
    }
  }
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}
