/**
 * Generates the WebAssembly module of the SIMD GEMM: two packing functions and one block
 * kernel, all working on an imported memory (env.memory). Every pointer and stride argument
 * is in bytes.
 *
 * Legend (row-major, as in src/gemm/types.ts):
 *   M  rows of op(A) and of C
 *   N  columns of op(B) and of C
 *   K  shared dimension: columns of op(A), rows of op(B)
 *   MR x NR  micro-tile of C held in registers, NR = 4 * vectorsPerRow
 *
 * Exports:
 *   packA(dst, src, lineStride, depthStride, lines, depth) packs `lines` rows of op(A) into
 *     panels of MR rows, laid out [ceil(lines / MR), depth, MR], zero-padding the last panel.
 *     Value (line l, depth step p) is read from src + l * lineStride + p * depthStride.
 *   packB(...) packs `lines` columns of op(B) the same way into panels of NR columns,
 *     [ceil(lines / NR), depth, NR].
 *   kernel(a, aDepthStride, aPanelStride, b, bDepthStride, bPanelStride, c, ldc, rows, cols,
 *     depth, alpha, beta, tile) sets C = alpha * A * B + beta * C over a rows x cols block of
 *     C. Row r of A panel q at depth step p is read from a + q * aPanelStride +
 *     p * aDepthStride + 4 * r, and B likewise, so packed panels (aDepthStride = 4 * MR) and
 *     operands read in place both work. With beta 0 it does not read C. `tile` points at
 *     MR * NR * 4 bytes of scratch for tiles that cross the edge of the block.
 *
 * Register budget: TurboFan in Node 20 (V8 11.3) schedules all loads of the depth loop's body
 * before its arithmetic, so one step's loaded values and the accumulators are live together.
 * That is MR * vectorsPerRow accumulators, vectorsPerRow B vectors and MR splats, plus one
 * product register unless relaxedMadd is set. The x64 code it generated (printed with
 * --print-wasm-code) used xmm0 to xmm14 only, so tiles that need more than 15 registers spill
 * to the stack on every depth step. Measured on one AMD EPYC (Zen 4) core, kernel throughput
 * was about 66 GFLOP/s for 4 x 8 (15 registers) and 2 x 16 (15), and between 23 and 47 for
 * 3 x 12 (16), 5 x 8 (18) or a depth loop unrolled twice.
 *
 * Each element of C is summed in one accumulator lane, in depth order, so its rounding depends
 * only on the depth and not on MR, NR or where its tile lies.
 */

import { ModuleBuilder } from './emitter.js';
import { emitKernel } from './gemm-kernel.js';
import { emitPack } from './gemm-pack.js';

/** Shape and instruction choices of the generated micro-kernel. */
export interface GemmKernelShape {
  /** MR: rows of C per micro-tile. */
  rowsPerTile: number;
  /** Four-lane vectors per row of the micro-tile, so NR = 4 * vectorsPerRow. */
  vectorsPerRow: number;
  /** Use f32x4.relaxed_madd (relaxed SIMD) in place of f32x4.mul followed by f32x4.add. */
  relaxedMadd: boolean;
}

/**
 * Default micro-tile, 4 x 8, for both instruction choices: its accumulators, B vectors and
 * splats fit the registers TurboFan allocates (see the register budget above). Its kernel ran at
 * about 66 GFLOP/s on one AMD EPYC (Zen 4) core, where 5 x 8 and 6 x 8 spilled and ran at 23
 * to 44.
 */
const DEFAULT_SHAPE = { rowsPerTile: 4, vectorsPerRow: 2 } as const;

/**
 * Fills in the default micro-tile and checks it. Throws a RangeError naming every value out of
 * range: rowsPerTile must be an integer in [1, 8] and vectorsPerRow one in [1, 4].
 */
export function resolveKernelShape(
  partial: Partial<Omit<GemmKernelShape, 'relaxedMadd'>> | undefined,
  relaxedMadd: boolean,
): GemmKernelShape {
  const shape: GemmKernelShape = { ...DEFAULT_SHAPE, ...partial, relaxedMadd };
  const problems: string[] = [];
  const checkRange = (name: 'rowsPerTile' | 'vectorsPerRow', min: number, max: number): void => {
    const value = shape[name];
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${name} must be an integer in [${min}, ${max}], got ${value}`);
    }
  };
  checkRange('rowsPerTile', 1, 8);
  checkRange('vectorsPerRow', 1, 4);
  if (problems.length > 0) throw new RangeError(`invalid WebAssembly GEMM kernel shape: ${problems.join('; ')}`);
  return shape;
}

/** Typed view of the module's exports. */
export interface GemmModuleExports {
  packA(dst: number, src: number, lineStride: number, depthStride: number, lines: number, depth: number): void;
  packB(dst: number, src: number, lineStride: number, depthStride: number, lines: number, depth: number): void;
  kernel(
    a: number,
    aDepthStride: number,
    aPanelStride: number,
    b: number,
    bDepthStride: number,
    bPanelStride: number,
    c: number,
    ldc: number,
    rows: number,
    cols: number,
    depth: number,
    alpha: number,
    beta: number,
    tile: number,
  ): void;
}

/** Largest 32-bit memory, in 64 KiB pages (4 GiB). */
const MAX_MEMORY_PAGES = 65536;

/**
 * Builds the module bytes. The memory import accepts any current size. `shared` must match the
 * memory that will be imported, and a shared import declares the largest maximum, so that any
 * shared memory matches it.
 */
export function buildGemmModule(shape: GemmKernelShape, memory: { shared: boolean }): Uint8Array {
  const module = new ModuleBuilder();
  if (memory.shared) {
    module.importMemory('env', 'memory', { minimumPages: 0, maximumPages: MAX_MEMORY_PAGES, shared: true });
  } else {
    module.importMemory('env', 'memory', { minimumPages: 0 });
  }
  module.addFunction(emitPack(shape.rowsPerTile), 'packA');
  module.addFunction(emitPack(4 * shape.vectorsPerRow), 'packB');
  module.addFunction(emitKernel(shape), 'kernel');
  return module.build();
}
