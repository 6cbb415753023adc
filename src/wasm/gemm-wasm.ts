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
 * call reads and writes each operand whose Float32Array is a view of the module's memory in
 * place. It copies the other operands into scratch (gemm-operands.ts), and a copied C back out at
 * the end. Loop structure, outermost first, as in src/gemm/blocked.ts:
 *   jc  steps over N in blocks of nc columns.
 *   pc  steps over K in blocks of kc, and packs a kc x nc block of op(B) (wasm packB).
 *   ic  steps over M in blocks of mc rows, packs an mc x kc block of op(A) (wasm packA), and
 *       runs the wasm kernel over the whole mc x nc block of C.
 * So JS calls into wasm twice per block, never per micro-tile.
 *
 * Scratch: each call lays out packed blocks and staged copies in a scratch region of the memory
 * (gemm-scratch.ts). The region is either
 *   growable  without the `scratch` option: from the memory's size at creation to its end. A
 *             call grows the memory when it needs more, so only one instance may use the memory.
 *             Growing a non-shared memory detaches the caller's views of it, even those that the
 *             call used in place (it writes C at the right address all the same).
 *   fixed     with `scratch: { byteOffset, byteLength }`: reserved by the caller. The GEMM never
 *             grows the memory and writes only to the region and to C, so several instances (one
 *             per thread, say) can share one shared memory when their regions do not overlap.
 *
 * Rounding: each element of C is summed in float32, in depth order, within a kc-deep block and
 * added to C once per block. kc depends only on K, so the result bits depend only on the shapes
 * and the inputs, not on which operands are used in place. alpha and beta are rounded to float32
 * before use.
 *
 * NOTE: V8 first compiles the module with its baseline compiler and switches to optimized code
 * after some work, so the first call is slower. A 9216 x 64 x 288 product took about 14 ms on
 * the first call and 6 ms later, on one AMD EPYC (Zen 4) core in Node 20.
 */

import type { GemmFn } from '../gemm/types.js';
import { FunctionBuilder, ModuleBuilder, ValType } from './emitter.js';
import { buildGemmModule, resolveKernelShape, type GemmKernelShape, type GemmModuleExports } from './gemm-module.js';
import { copyInRows, copyOutRows, MemoryView } from './gemm-operands.js';
import { chooseBlocking, firstRegionAddress, planScratch, type Blocking, type ScratchLayout } from './gemm-scratch.js';
import { getWebAssembly, type WasmApi, type WasmMemory } from './webassembly-api.js';

export { wasmGemmScratchBytes, type WasmGemmScratchOptions } from './gemm-scratch.js';

/** A byte range of the memory that one GEMM instance uses as scratch. */
export interface WasmGemmScratch {
  byteOffset: number;
  byteLength: number;
}

export interface WasmGemmOptions {
  /** Memory to work in. Default: a new memory owned by the returned object, all of it scratch. */
  memory?: WasmMemory;
  /**
   * Scratch region inside `memory`, which must already contain it. The GEMM then never grows the
   * memory and writes only to this region and to C. A call that needs more scratch throws a
   * RangeError naming the bytes it needs; wasmGemmScratchBytes returns a size that suffices.
   * Without this option the scratch region runs from the memory's size at creation to its end
   * and grows with it, so the caller must not store data there.
   */
  scratch?: WasmGemmScratch;
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
  /**
   * The GEMM. Operands that are views of `memory` are read and written in place; they must lie
   * outside the scratch region, or the call throws a RangeError. Other operands are copied.
   */
  gemm: GemmFn<Float32Array>;
  /** The memory the module works in. */
  memory: WasmMemory;
  /** Byte offset where the GEMM's scratch region begins. */
  scratchStart: number;
  /** Byte offset one past the end of the scratch region; Infinity in growable mode. */
  scratchEnd: number;
  /** The kernel shape in use, relaxedMadd included. */
  kernelShape: GemmKernelShape;
  /**
   * Returns whether `array` is a view of `memory`, so that calls use it in place. For a shared
   * memory it may write the first 4 bytes of the scratch region (see MemoryView in
   * gemm-operands.ts), and in growable mode grow the memory by a page to reach them.
   */
  isInMemory(array: Float32Array): boolean;
}

const PAGE_BYTES = 65536;

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

/**
 * Returns the instruction options to create GEMMs with on this engine: relaxed SIMD when the
 * engine validates it, plain SIMD otherwise. Results stay deterministic for one engine and CPU
 * either way, but relaxed results may differ in the last bits from plain ones and between
 * engines or CPUs, because relaxed_madd may round once (fused) or twice.
 */
export function preferredWasmGemmOptions(): { relaxed: boolean } {
  return { relaxed: relaxedSimdSupported() };
}

function validateProbe(probe: FunctionBuilder): boolean {
  const wasm = getWebAssembly();
  if (wasm === undefined) return false;
  const module = new ModuleBuilder();
  module.addFunction(probe);
  return wasm.validate(module.build());
}

/** Compiled modules by kernel shape and memory kind, so that further instances skip compiling. */
const compiledModules = new Map<string, object>();

function compileGemmModule(wasm: WasmApi, shape: GemmKernelShape, shared: boolean): object {
  const key = `${shape.rowsPerTile}x${shape.vectorsPerRow} relaxed=${shape.relaxedMadd} shared=${shared}`;
  let module = compiledModules.get(key);
  if (module === undefined) {
    module = new wasm.Module(buildGemmModule(shape, { shared }));
    compiledModules.set(key, module);
  }
  return module;
}

/**
 * Compiles the SIMD GEMM module and returns a GemmFn that runs it, or null when the engine has
 * no WebAssembly SIMD. Throws when `relaxed` is requested but unsupported, when a kernel shape
 * value is out of range, or when `scratch` is invalid or given without `memory`.
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
  const kernelShape = resolveKernelShape(options.kernelShape, relaxed);
  if (options.scratch !== undefined && options.memory === undefined) {
    throw new TypeError('createWasmGemm: the scratch option needs the memory option, because the scratch region is part of a memory the caller owns.');
  }

  const memory = options.memory ?? new wasm.Memory({ initial: 1 });
  const view = new MemoryView(memory);
  const instance = new wasm.Instance(compileGemmModule(wasm, kernelShape, view.shared), { env: { memory } });
  const exports = instance.exports as unknown as GemmModuleExports;

  let region: ScratchRegion;
  if (options.scratch !== undefined) {
    region = checkScratch(options.scratch, memory.buffer.byteLength);
  } else {
    region = { start: options.memory === undefined ? 0 : memory.buffer.byteLength, end: Number.POSITIVE_INFINITY, growable: true };
  }

  const instanceState = new GemmInstance(exports, view, region, kernelShape);
  return {
    gemm: instanceState.gemm,
    memory,
    scratchStart: region.start,
    scratchEnd: region.end,
    kernelShape,
    isInMemory: (array) => instanceState.isInMemory(array),
  };
}

/** Scratch region of one instance, in bytes. `end` is Infinity when the region grows. */
interface ScratchRegion {
  start: number;
  end: number;
  growable: boolean;
}

function checkScratch(scratch: WasmGemmScratch, memoryBytes: number): ScratchRegion {
  const { byteOffset, byteLength } = scratch;
  if (!Number.isSafeInteger(byteOffset) || byteOffset < 0 || !Number.isSafeInteger(byteLength) || byteLength < 0) {
    throw new RangeError(
      `createWasmGemm: scratch byteOffset and byteLength must be non-negative integers, got ${byteOffset} and ${byteLength}`,
    );
  }
  if (byteOffset + byteLength > memoryBytes) {
    throw new RangeError(
      `createWasmGemm: scratch region [${byteOffset}, ${byteOffset + byteLength}) lies past the end of the memory (${memoryBytes} bytes). Grow the memory before creating the GEMM.`,
    );
  }
  return { start: byteOffset, end: byteOffset + byteLength, growable: false };
}

/** One operand of a call, as stored by the caller. */
interface Operand {
  name: 'A' | 'B' | 'C';
  array: Float32Array;
  offset: number;
  rows: number;
  cols: number;
  ld: number;
  /** Byte address of stored element (0, 0) when the array is a view of the memory, else -1. */
  address: number;
  /** Bytes from element (0, 0) to the end of the last element. */
  spanBytes: number;
  /** Whether the call copies the operand into scratch. */
  staged: boolean;
}

/** Byte addresses and byte strides at which runBlocks reads A and B and writes C. */
interface OperandAddresses {
  a: number;
  aRowStride: number;
  aDepthStride: number;
  b: number;
  bColStride: number;
  bDepthStride: number;
  c: number;
  ldcBytes: number;
}

/** State of one GEMM instance: its module, memory view and scratch region. */
class GemmInstance {
  private readonly mr: number;
  private readonly nr: number;
  /** Byte address of the probe word (see MemoryView), or null when the region is too small for it. */
  private readonly probeAddress: number | null;

  constructor(
    private readonly exports: GemmModuleExports,
    private readonly view: MemoryView,
    private readonly region: ScratchRegion,
    private readonly shape: GemmKernelShape,
  ) {
    this.mr = shape.rowsPerTile;
    this.nr = 4 * shape.vectorsPerRow;
    const probe = firstRegionAddress(region.start);
    this.probeAddress = probe + 4 <= region.end ? probe : null;
  }

  isInMemory(array: Float32Array): boolean {
    this.reachProbe();
    return this.view.isMemoryBuffer(array.buffer, this.probeAddress);
  }

  readonly gemm: GemmFn<Float32Array> = (transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc) => {
    if (m <= 0 || n <= 0) return;
    if (alpha === 0 || k <= 0) {
      scaleC(c, cOffset, ldc, m, n, beta);
      return;
    }

    this.reachProbe();
    const opA = this.locate('A', a, aOffset, transA ? k : m, transA ? m : k, lda);
    const opB = this.locate('B', b, bOffset, transB ? n : k, transB ? k : n, ldb);
    const opC = this.locate('C', c, cOffset, m, n, ldc);
    // In-place C is written block by block while A and B are still being read, so an input that
    // shares bytes with C is copied first, as if the call had copied every operand.
    if (opC.address >= 0) {
      for (const input of [opA, opB]) {
        if (input.address >= 0 && input.address < opC.address + opC.spanBytes && opC.address < input.address + input.spanBytes) {
          input.staged = true;
        }
      }
    }

    const blocking = chooseBlocking(m, n, k, this.mr, this.nr);
    const stagedFloats = (operand: Operand): number => (operand.staged ? operand.rows * operand.cols : 0);
    const layout = planScratch(this.region.start, blocking, this.mr, this.nr, {
      a: stagedFloats(opA),
      b: stagedFloats(opB),
      c: stagedFloats(opC),
    });
    if (this.region.growable) {
      this.ensureCapacity(layout.end);
    } else if (layout.end > this.region.end) {
      throw new RangeError(
        `WebAssembly GEMM: this ${m} x ${n} x ${k} call needs ${layout.end - this.region.start} bytes of scratch, but the scratch region has ${this.region.end - this.region.start}. Reserve wasmGemmScratchBytes(${m}, ${n}, ${k}) bytes, or pass operands that are views of the memory.`,
      );
    }

    const heap = this.view.current();
    this.stageIn(opA, layout.stagedA, heap);
    this.stageIn(opB, layout.stagedB, heap);
    // Staged C is copied back row by row, so it needs the caller's values only when beta reads them.
    if (beta !== 0) this.stageIn(opC, layout.stagedC, heap);

    const aLd = 4 * (opA.staged ? opA.cols : opA.ld);
    const bLd = 4 * (opB.staged ? opB.cols : opB.ld);
    const addresses: OperandAddresses = {
      a: opA.staged ? layout.stagedA : opA.address,
      aRowStride: transA ? 4 : aLd,
      aDepthStride: transA ? aLd : 4,
      b: opB.staged ? layout.stagedB : opB.address,
      bColStride: transB ? bLd : 4,
      bDepthStride: transB ? 4 : bLd,
      c: opC.staged ? layout.stagedC : opC.address,
      ldcBytes: 4 * (opC.staged ? n : ldc),
    };
    runBlocks(this.exports, this.shape, layout, blocking, addresses, { m, n, k, alpha, beta });

    if (opC.staged) copyOutRows(c, cOffset, ldc, this.view.current(), layout.stagedC >>> 2, m, n);
  };

  /** Grows a growable shared memory so that it contains the probe word. */
  private reachProbe(): void {
    if (this.region.growable && this.view.shared && this.probeAddress !== null) this.ensureCapacity(this.probeAddress + 4);
  }

  private locate(name: Operand['name'], array: Float32Array, offset: number, rows: number, cols: number, ld: number): Operand {
    const span = (rows - 1) * ld + cols;
    if (offset < 0 || offset + span > array.length) {
      throw new RangeError(
        `WebAssembly GEMM: ${name} needs elements [${offset}, ${offset + span}) but has length ${array.length}. Check the offset, leading dimension and sizes.`,
      );
    }
    const spanBytes = 4 * span;
    let address = -1;
    if (this.view.isMemoryBuffer(array.buffer, this.probeAddress)) {
      address = array.byteOffset + 4 * offset;
      if (address < this.region.end && this.region.start < address + spanBytes) {
        const regionText = this.region.growable
          ? `the scratch region, which runs from byte ${this.region.start} to the end of the memory`
          : `the scratch region [${this.region.start}, ${this.region.end})`;
        throw new RangeError(
          `WebAssembly GEMM: ${name} occupies bytes [${address}, ${address + spanBytes}) of the GEMM's memory, which overlap ${regionText}. Place operands outside the scratch region.`,
        );
      }
    }
    return { name, array, offset, rows, cols, ld, address, spanBytes, staged: address < 0 };
  }

  /** Copies a staged operand into scratch at byte address `target`, from the memory itself when it lives there. */
  private stageIn(operand: Operand, target: number, heap: Float32Array): void {
    if (!operand.staged) return;
    const inMemory = operand.address >= 0;
    const source = inMemory ? heap : operand.array;
    const sourceIndex = inMemory ? operand.address >>> 2 : operand.offset;
    copyInRows(heap, target >>> 2, source, sourceIndex, operand.rows, operand.cols, operand.ld);
  }

  private ensureCapacity(bytes: number): void {
    const current = this.view.byteLength();
    if (bytes <= current) return;
    const pages = Math.ceil((bytes - current) / PAGE_BYTES);
    try {
      this.view.grow(pages);
    } catch (error) {
      throw new RangeError(`WebAssembly GEMM could not grow its memory to ${bytes} bytes: ${String(error)}`);
    }
  }
}

/** Packs and multiplies block by block (all addresses and strides in bytes). */
function runBlocks(
  exports: GemmModuleExports,
  shape: GemmKernelShape,
  layout: ScratchLayout,
  blocking: Blocking,
  at: OperandAddresses,
  args: { m: number; n: number; k: number; alpha: number; beta: number },
): void {
  const { m, n, k, alpha, beta } = args;
  const mr = shape.rowsPerTile;
  const nr = 4 * shape.vectorsPerRow;
  const { kc, mc, nc } = blocking;
  // Element (i, p) of op(A) sits at a + i * aRowStride + p * aDepthStride, and element (p, j) of
  // op(B) at b + j * bColStride + p * bDepthStride.

  for (let jc = 0; jc < n; jc += nc) {
    const blockCols = Math.min(nc, n - jc);

    for (let pc = 0; pc < k; pc += kc) {
      const blockDepth = Math.min(kc, k - pc);
      const bBlock = at.b + jc * at.bColStride + pc * at.bDepthStride;
      exports.packB(layout.packedB, bBlock, at.bColStride, at.bDepthStride, blockCols, blockDepth);
      // The first depth block applies beta; later ones add to what it wrote.
      const blockBeta = pc === 0 ? beta : 1;

      for (let ic = 0; ic < m; ic += mc) {
        const blockRows = Math.min(mc, m - ic);
        const aBlock = at.a + ic * at.aRowStride + pc * at.aDepthStride;
        exports.packA(layout.packedA, aBlock, at.aRowStride, at.aDepthStride, blockRows, blockDepth);
        const cBlock = at.c + ic * at.ldcBytes + jc * 4;
        exports.kernel(
          layout.packedA,
          4 * mr,
          4 * mr * blockDepth,
          layout.packedB,
          4 * nr,
          4 * nr * blockDepth,
          cBlock,
          at.ldcBytes,
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
