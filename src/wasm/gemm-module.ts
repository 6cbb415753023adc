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
 *   packB(...) packs `lines` columns of op(B) the same way into panels of NR columns,
 *     [ceil(lines / NR), depth, NR].
 *   kernel(packedA, packedB, c, ldc, rows, cols, depth, alpha, beta, tile) sets
 *     C = alpha * A * B + beta * C over a rows x cols block of C, where A and B are packed
 *     blocks. With beta 0 it does not read C. `tile` points at MR * NR * 4 bytes of scratch
 *     for tiles that cross the edge of the block.
 *
 * The micro-kernel keeps MR * vectorsPerRow f32x4 accumulators in locals. For each depth step
 * it loads vectorsPerRow vectors of packed B, and for each of the MR rows it loads the packed A
 * value into all four lanes (v128.load32_splat) and multiply-adds it into that row's
 * accumulators. x64 V8 keeps one of its 16 xmm registers for itself, so MR * vectorsPerRow +
 * vectorsPerRow + 2 must stay at or below 15 (14 with a separate multiply and add, which needs a
 * temporary) for the accumulators to stay in registers.
 *
 * Each element of C is summed in one accumulator lane, in depth order, so its rounding depends
 * only on the depth and not on MR, NR or where its tile lies.
 */

import { FunctionBuilder, ModuleBuilder, ValType, type Label } from './emitter.js';

/** Shape and instruction choices of the generated micro-kernel. */
export interface GemmKernelShape {
  /** MR: rows of C per micro-tile. */
  rowsPerTile: number;
  /** Four-lane vectors per row of the micro-tile, so NR = 4 * vectorsPerRow. */
  vectorsPerRow: number;
  /** Depth steps per iteration of the main depth loop; a second loop handles the remainder. */
  depthUnroll: number;
  /** Use f32x4.relaxed_madd (relaxed SIMD) in place of f32x4.mul followed by f32x4.add. */
  relaxedMadd: boolean;
}

/** Typed view of the module's exports. */
export interface GemmModuleExports {
  packA(dst: number, src: number, lineStride: number, depthStride: number, lines: number, depth: number): void;
  packB(dst: number, src: number, lineStride: number, depthStride: number, lines: number, depth: number): void;
  kernel(
    packedA: number,
    packedB: number,
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

const { i32, f32, v128 } = ValType;

/** Largest 32-bit memory, in 64 KiB pages (4 GiB). */
const MAX_MEMORY_PAGES = 65536;

/**
 * Builds the module bytes. The memory import accepts any size; `shared` must match whether the
 * memory that will be imported is shared, and a shared import declares the largest maximum so
 * that any shared memory matches it.
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

/** Locals of a pack function, by role. Pointers and strides are in bytes. */
interface PackLocals {
  dst: number;
  src: number;
  lineStride: number;
  depthStride: number;
  lines: number;
  depth: number;
  panelBytes: number;
  linesLeft: number;
  source: number;
  target: number;
  targetEnd: number;
  line: number;
  lineSources: number[];
  rowVectors: number[];
  halfVectors: number[];
}

/**
 * Emits pack(dst, src, lineStride, depthStride, lines, depth) for panels `width` lines wide.
 * Value (line l, depth step p) is read from src + l * lineStride + p * depthStride and written
 * to panel floor(l / width) at [p, l % width]. A full panel takes one of three paths:
 *   lineStride 4   the `width` values of a depth step are adjacent, so they are copied in
 *                  16-, 8- and 4-byte pieces;
 *   depthStride 4  each line is contiguous, so groups of 4 lines are read 4 depth steps at a
 *                  time and transposed with shuffles;
 *   otherwise      the values are gathered one by one.
 * The last, partial panel is zeroed and then filled line by line.
 */
function emitPack(width: number): FunctionBuilder {
  const f = new FunctionBuilder([i32, i32, i32, i32, i32, i32]);
  const l: PackLocals = {
    dst: 0,
    src: 1,
    lineStride: 2,
    depthStride: 3,
    lines: 4,
    depth: 5,
    panelBytes: f.addLocal(i32),
    linesLeft: f.addLocal(i32),
    source: f.addLocal(i32),
    target: f.addLocal(i32),
    targetEnd: f.addLocal(i32),
    line: f.addLocal(i32),
    lineSources: Array.from({ length: 4 }, () => f.addLocal(i32)),
    rowVectors: Array.from({ length: 4 }, () => f.addLocal(v128)),
    halfVectors: Array.from({ length: 4 }, () => f.addLocal(v128)),
  };

  const skip = f.block();
  f.localGet(l.lines).i32Const(0).i32GtS().i32Eqz().brIf(skip);
  f.localGet(l.depth).i32Const(0).i32GtS().i32Eqz().brIf(skip);
  f.localGet(l.depth).i32Const(width * 4).i32Mul().localSet(l.panelBytes);
  f.localGet(l.lines).localSet(l.linesLeft);

  const panelLoop = f.loop();
  f.localGet(l.dst).localGet(l.panelBytes).i32Add().localSet(l.targetEnd);

  f.localGet(l.linesLeft).i32Const(width).i32GeS().if();
  {
    f.localGet(l.lineStride).i32Const(4).i32Ne().i32Eqz().if();
    emitPackAdjacentLines(f, width, l);
    f.else();
    if (width >= 4) {
      f.localGet(l.depthStride).i32Const(4).i32Ne().i32Eqz().if();
      emitPackContiguousLines(f, width, l);
      f.else();
      emitPackGather(f, width, l);
      f.end();
    } else {
      emitPackGather(f, width, l);
    }
    f.end();
  }
  f.else();
  {
    f.localGet(l.dst).localSet(l.target);
    const zeroLoop = f.loop();
    f.localGet(l.target).i32Const(0).i32Store();
    f.localGet(l.target).i32Const(4).i32Add().localTee(l.target);
    f.localGet(l.targetEnd).i32Ne().brIf(zeroLoop);
    f.end();

    f.i32Const(0).localSet(l.line);
    const lineLoop = f.loop();
    emitPackLine(f, width, l, (): void => {
      f.localGet(l.line);
    });
    f.localGet(l.line).i32Const(1).i32Add().localTee(l.line);
    f.localGet(l.linesLeft).i32LtS().brIf(lineLoop);
    f.end();
  }
  f.end();

  f.localGet(l.src).localGet(l.lineStride).i32Const(width).i32Mul().i32Add().localSet(l.src);
  f.localGet(l.dst).localGet(l.panelBytes).i32Add().localSet(l.dst);
  f.localGet(l.linesLeft).i32Const(width).i32Sub().localTee(l.linesLeft);
  f.i32Const(0).i32GtS().brIf(panelLoop);
  f.end();

  f.end();
  return f;
}

/** Full panel whose `width` values per depth step are adjacent (lineStride is 4 bytes). */
function emitPackAdjacentLines(f: FunctionBuilder, width: number, l: PackLocals): void {
  f.localGet(l.src).localSet(l.source);
  f.localGet(l.dst).localSet(l.target);
  const stepLoop = f.loop();
  let offset = 0;
  while (offset < width * 4) {
    const remaining = width * 4 - offset;
    if (remaining >= 16) {
      f.localGet(l.target).localGet(l.source).v128Load(offset, 2).v128Store(offset, 2);
      offset += 16;
    } else if (remaining >= 8) {
      f.localGet(l.target).localGet(l.source).i64Load(offset, 2).i64Store(offset, 2);
      offset += 8;
    } else {
      f.localGet(l.target).localGet(l.source).i32Load(offset).i32Store(offset);
      offset += 4;
    }
  }
  f.localGet(l.source).localGet(l.depthStride).i32Add().localSet(l.source);
  f.localGet(l.target).i32Const(width * 4).i32Add().localTee(l.target);
  f.localGet(l.targetEnd).i32Ne().brIf(stepLoop);
  f.end();
}

/** Full panel gathered value by value. */
function emitPackGather(f: FunctionBuilder, width: number, l: PackLocals): void {
  const lineSource = l.lineSources[0];
  f.localGet(l.src).localSet(l.source);
  f.localGet(l.dst).localSet(l.target);
  const stepLoop = f.loop();
  f.localGet(l.source).localSet(lineSource);
  for (let line = 0; line < width; line++) {
    f.localGet(l.target).localGet(lineSource).f32Load().f32Store(line * 4);
    if (line + 1 < width) f.localGet(lineSource).localGet(l.lineStride).i32Add().localSet(lineSource);
  }
  f.localGet(l.source).localGet(l.depthStride).i32Add().localSet(l.source);
  f.localGet(l.target).i32Const(width * 4).i32Add().localTee(l.target);
  f.localGet(l.targetEnd).i32Ne().brIf(stepLoop);
  f.end();
}

/** Shuffle lane indices, in bytes, that pick f32 lanes (0-3 from the first operand, 4-7 from the second). */
function f32Lanes(lanes: readonly number[]): number[] {
  return lanes.flatMap((lane) => [4 * lane, 4 * lane + 1, 4 * lane + 2, 4 * lane + 3]);
}

const INTERLEAVE_LOW = f32Lanes([0, 4, 1, 5]);
const INTERLEAVE_HIGH = f32Lanes([2, 6, 3, 7]);
const JOIN_LOW_HALVES = f32Lanes([0, 1, 4, 5]);
const JOIN_HIGH_HALVES = f32Lanes([2, 3, 6, 7]);

/**
 * Full panel whose lines are contiguous (depthStride is 4 bytes). Each group of 4 lines is read
 * as 4 vectors of 4 depth steps, transposed into 4 vectors of 4 lines, and stored at the 4 depth
 * steps. Depth steps past the last multiple of 4, and lines past the last group of 4, are
 * copied one by one.
 */
function emitPackContiguousLines(f: FunctionBuilder, width: number, l: PackLocals): void {
  const groups = Math.floor(width / 4);
  const [r0, r1, r2, r3] = l.rowVectors;
  const [t0, t1, t2, t3] = l.halfVectors;
  // `line` is reused here as the byte count of packed output that the vector loop covers.
  f.localGet(l.depth).i32Const(-4).i32And().i32Const(width * 4).i32Mul().localSet(l.line);

  for (let group = 0; group < groups; group++) {
    f.localGet(l.line).if();
    for (let i = 0; i < 4; i++) {
      f.localGet(l.src).localGet(l.lineStride).i32Const(group * 4 + i).i32Mul().i32Add().localSet(l.lineSources[i]);
    }
    f.localGet(l.dst).localSet(l.target);
    f.localGet(l.dst).localGet(l.line).i32Add().localSet(l.source);
    const quadLoop = f.loop();
    for (let i = 0; i < 4; i++) {
      f.localGet(l.lineSources[i]).v128Load(0, 2).localSet(l.rowVectors[i]);
      f.localGet(l.lineSources[i]).i32Const(16).i32Add().localSet(l.lineSources[i]);
    }
    f.localGet(r0).localGet(r1).i8x16Shuffle(INTERLEAVE_LOW).localSet(t0);
    f.localGet(r0).localGet(r1).i8x16Shuffle(INTERLEAVE_HIGH).localSet(t1);
    f.localGet(r2).localGet(r3).i8x16Shuffle(INTERLEAVE_LOW).localSet(t2);
    f.localGet(r2).localGet(r3).i8x16Shuffle(INTERLEAVE_HIGH).localSet(t3);
    const groupOffset = group * 16;
    f.localGet(l.target).localGet(t0).localGet(t2).i8x16Shuffle(JOIN_LOW_HALVES).v128Store(groupOffset, 2);
    f.localGet(l.target).localGet(t0).localGet(t2).i8x16Shuffle(JOIN_HIGH_HALVES).v128Store(groupOffset + width * 4, 2);
    f.localGet(l.target).localGet(t1).localGet(t3).i8x16Shuffle(JOIN_LOW_HALVES).v128Store(groupOffset + 2 * width * 4, 2);
    f.localGet(l.target).localGet(t1).localGet(t3).i8x16Shuffle(JOIN_HIGH_HALVES).v128Store(groupOffset + 3 * width * 4, 2);
    f.localGet(l.target).i32Const(4 * width * 4).i32Add().localTee(l.target);
    f.localGet(l.source).i32Ne().brIf(quadLoop);
    f.end();
    f.end();
  }

  // Remaining depth steps of the grouped lines, value by value.
  f.localGet(l.dst).localGet(l.line).i32Add().localTee(l.target);
  f.localGet(l.targetEnd).i32Ne().if();
  {
    const lineSource = l.lineSources[0];
    f.localGet(l.src).localGet(l.depth).i32Const(-4).i32And().i32Const(4).i32Mul().i32Add().localSet(l.source);
    const stepLoop = f.loop();
    f.localGet(l.source).localSet(lineSource);
    for (let line = 0; line < groups * 4; line++) {
      f.localGet(l.target).localGet(lineSource).f32Load().f32Store(line * 4);
      f.localGet(lineSource).localGet(l.lineStride).i32Add().localSet(lineSource);
    }
    f.localGet(l.source).i32Const(4).i32Add().localSet(l.source);
    f.localGet(l.target).i32Const(width * 4).i32Add().localTee(l.target);
    f.localGet(l.targetEnd).i32Ne().brIf(stepLoop);
    f.end();
  }
  f.end();

  // Lines past the last group of 4, each down the whole depth.
  for (let line = groups * 4; line < width; line++) {
    emitPackLine(f, width, l, (): void => {
      f.i32Const(line);
    });
  }
}

/**
 * Copies one line down the whole depth into the panel at dst. `pushLine` pushes the line's
 * index within the panel.
 */
function emitPackLine(f: FunctionBuilder, width: number, l: PackLocals, pushLine: () => void): void {
  const lineEnd = l.lineSources[1];
  f.localGet(l.src);
  pushLine();
  f.localGet(l.lineStride).i32Mul().i32Add().localSet(l.source);
  f.localGet(l.dst);
  pushLine();
  f.i32Const(4).i32Mul().i32Add().localTee(l.target);
  f.localGet(l.panelBytes).i32Add().localSet(lineEnd);
  const stepLoop = f.loop();
  f.localGet(l.target).localGet(l.source).f32Load().f32Store();
  f.localGet(l.source).localGet(l.depthStride).i32Add().localSet(l.source);
  f.localGet(l.target).i32Const(width * 4).i32Add().localTee(l.target);
  f.localGet(lineEnd).i32Ne().brIf(stepLoop);
  f.end();
}

/** Locals of the kernel function, by role. */
interface KernelLocals {
  accumulators: number[][];
  bVectors: number[];
  aSplat: number;
  product: number;
  aCursor: number;
  bCursor: number;
}

/**
 * Emits kernel(packedA, packedB, c, ldc, rows, cols, depth, alpha, beta, tile). The outer loop
 * walks the NR-column panels of packed B, so one panel stays in L1 while the inner loop walks
 * the MR-row panels of packed A.
 */
function emitKernel(shape: GemmKernelShape): FunctionBuilder {
  const { rowsPerTile: mr, vectorsPerRow: nv, depthUnroll } = shape;
  const nr = 4 * nv;
  const f = new FunctionBuilder([i32, i32, i32, i32, i32, i32, i32, f32, f32, i32]);
  const [packedA, packedB, c, ldc, rows, cols, depth, alpha, beta, tile] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];

  const locals: KernelLocals = {
    accumulators: Array.from({ length: mr }, () => Array.from({ length: nv }, () => f.addLocal(v128))),
    bVectors: Array.from({ length: nv }, () => f.addLocal(v128)),
    aSplat: f.addLocal(v128),
    product: f.addLocal(v128),
    aCursor: f.addLocal(i32),
    bCursor: f.addLocal(i32),
  };
  const alphaVector = f.addLocal(v128);
  const betaVector = f.addLocal(v128);
  const aPanelBytes = f.addLocal(i32);
  const bPanelBytes = f.addLocal(i32);
  const unrolledBytes = f.addLocal(i32);
  const aPanel = f.addLocal(i32);
  const bPanel = f.addLocal(i32);
  const cPanel = f.addLocal(i32);
  const cTile = f.addLocal(i32);
  const rowsLeft = f.addLocal(i32);
  const colsLeft = f.addLocal(i32);
  const aEnd = f.addLocal(i32);
  const cRow = f.addLocal(i32);
  const edgeLocals: EdgeTileLocals = {
    cTile,
    cRow,
    ldc,
    alpha,
    beta,
    tile,
    rowsLeft,
    colsLeft,
    tileRow: f.addLocal(i32),
    tileEnd: f.addLocal(i32),
    rowBytes: f.addLocal(i32),
    column: f.addLocal(i32),
    value: f.addLocal(f32),
  };

  const skip = f.block();
  f.localGet(rows).i32Const(0).i32GtS().i32Eqz().brIf(skip);
  f.localGet(cols).i32Const(0).i32GtS().i32Eqz().brIf(skip);

  f.localGet(alpha).f32x4Splat().localSet(alphaVector);
  f.localGet(beta).f32x4Splat().localSet(betaVector);
  f.localGet(depth).i32Const(mr * 4).i32Mul().localSet(aPanelBytes);
  f.localGet(depth).i32Const(nr * 4).i32Mul().localSet(bPanelBytes);
  // Bytes of packed A covered by the unrolled loop: floor(depth / depthUnroll) * depthUnroll steps.
  f.localGet(depth).i32Const(-depthUnroll).i32And().i32Const(mr * 4).i32Mul().localSet(unrolledBytes);

  f.localGet(packedB).localSet(bPanel);
  f.localGet(c).localSet(cPanel);
  f.localGet(cols).localSet(colsLeft);
  const columnLoop = f.loop();
  {
    f.localGet(packedA).localSet(aPanel);
    f.localGet(cPanel).localSet(cTile);
    f.localGet(rows).localSet(rowsLeft);
    const rowLoop = f.loop();
    {
      for (const row of locals.accumulators) for (const accumulator of row) f.v128Zero().localSet(accumulator);
      f.localGet(aPanel).localSet(locals.aCursor);
      f.localGet(bPanel).localSet(locals.bCursor);

      f.localGet(aPanel).localGet(unrolledBytes).i32Add().localSet(aEnd);
      emitDepthLoop(f, shape, locals, aEnd, depthUnroll);
      f.localGet(aPanel).localGet(aPanelBytes).i32Add().localSet(aEnd);
      if (depthUnroll > 1) emitDepthLoop(f, shape, locals, aEnd, 1);

      // Write back: whole tiles with vector stores, tiles crossing the edge through `tile`.
      f.localGet(rowsLeft).i32Const(mr).i32GeS();
      f.localGet(colsLeft).i32Const(nr).i32GeS().i32And().if();
      emitFullTileStore(f, locals.accumulators, { cTile, cRow, ldc, beta, alphaVector, betaVector });
      f.else();
      emitEdgeTileStore(f, shape, locals.accumulators, edgeLocals);
      f.end();

      f.localGet(aPanel).localGet(aPanelBytes).i32Add().localSet(aPanel);
      f.localGet(cTile).localGet(ldc).i32Const(mr).i32Mul().i32Add().localSet(cTile);
      f.localGet(rowsLeft).i32Const(mr).i32Sub().localTee(rowsLeft);
      f.i32Const(0).i32GtS().brIf(rowLoop);
    }
    f.end();
    f.localGet(bPanel).localGet(bPanelBytes).i32Add().localSet(bPanel);
    f.localGet(cPanel).i32Const(nr * 4).i32Add().localSet(cPanel);
    f.localGet(colsLeft).i32Const(nr).i32Sub().localTee(colsLeft);
    f.i32Const(0).i32GtS().brIf(columnLoop);
  }
  f.end();

  f.end();
  return f;
}

/**
 * Emits a loop that runs while the A cursor differs from `aEnd`, doing `unroll` depth steps
 * per iteration. The loop is skipped when the cursor already equals aEnd.
 */
function emitDepthLoop(f: FunctionBuilder, shape: GemmKernelShape, locals: KernelLocals, aEnd: number, unroll: number): void {
  const { rowsPerTile: mr, vectorsPerRow: nv } = shape;
  const { accumulators, bVectors, aSplat, product, aCursor, bCursor } = locals;

  f.localGet(aCursor).localGet(aEnd).i32Ne().if();
  const loop: Label = f.loop();
  for (let step = 0; step < unroll; step++) {
    for (let v = 0; v < nv; v++) {
      f.localGet(bCursor).v128Load((step * nv + v) * 16, 2).localSet(bVectors[v]);
    }
    for (let r = 0; r < mr; r++) {
      f.localGet(aCursor).v128Load32Splat((step * mr + r) * 4).localSet(aSplat);
      for (let v = 0; v < nv; v++) {
        const accumulator = accumulators[r][v];
        if (shape.relaxedMadd) {
          f.localGet(aSplat).localGet(bVectors[v]).localGet(accumulator).f32x4RelaxedMadd().localSet(accumulator);
        } else {
          f.localGet(aSplat).localGet(bVectors[v]).f32x4Mul().localSet(product);
          f.localGet(accumulator).localGet(product).f32x4Add().localSet(accumulator);
        }
      }
    }
  }
  f.localGet(bCursor).i32Const(unroll * nv * 16).i32Add().localSet(bCursor);
  f.localGet(aCursor).i32Const(unroll * mr * 4).i32Add().localTee(aCursor);
  f.localGet(aEnd).i32Ne().brIf(loop);
  f.end();
  f.end();
}

interface FullTileLocals {
  cTile: number;
  cRow: number;
  ldc: number;
  beta: number;
  alphaVector: number;
  betaVector: number;
}

/** Emits C[tile] = alpha * acc (beta 0, C not read) or alpha * acc + beta * C[tile]. */
function emitFullTileStore(f: FunctionBuilder, accumulators: number[][], l: FullTileLocals): void {
  const emitRows = (readC: boolean): void => {
    f.localGet(l.cTile).localSet(l.cRow);
    accumulators.forEach((row, r) => {
      row.forEach((accumulator, v) => {
        f.localGet(l.cRow);
        f.localGet(accumulator).localGet(l.alphaVector).f32x4Mul();
        if (readC) {
          f.localGet(l.cRow).v128Load(v * 16, 2).localGet(l.betaVector).f32x4Mul().f32x4Add();
        }
        f.v128Store(v * 16, 2);
      });
      if (r + 1 < accumulators.length) f.localGet(l.cRow).localGet(l.ldc).i32Add().localSet(l.cRow);
    });
  };

  f.localGet(l.beta).f32Const(0).f32Ne().if();
  emitRows(true);
  f.else();
  emitRows(false);
  f.end();
}

interface EdgeTileLocals {
  cTile: number;
  cRow: number;
  ldc: number;
  alpha: number;
  beta: number;
  tile: number;
  rowsLeft: number;
  colsLeft: number;
  tileRow: number;
  tileEnd: number;
  rowBytes: number;
  column: number;
  value: number;
}

/**
 * Emits the write-back of a tile that crosses the edge of the C block: the accumulators go to
 * the scratch tile, then min(rowsLeft, MR) x min(colsLeft, NR) values go to C one by one, with
 * the same alpha and beta arithmetic as the vector path, so both paths round alike.
 */
function emitEdgeTileStore(f: FunctionBuilder, shape: GemmKernelShape, accumulators: number[][], l: EdgeTileLocals): void {
  const mr = shape.rowsPerTile;
  const nr = 4 * shape.vectorsPerRow;
  accumulators.forEach((row, r) => {
    row.forEach((accumulator, v) => {
      f.localGet(l.tile).localGet(accumulator).v128Store((r * nr + v * 4) * 4, 2);
    });
  });

  // tileEnd = tile + min(rowsLeft, MR) * NR * 4; rowBytes = min(colsLeft, NR) * 4.
  f.localGet(l.rowsLeft).i32Const(mr).localGet(l.rowsLeft).i32Const(mr).i32LtS().select();
  f.i32Const(nr * 4).i32Mul().localGet(l.tile).i32Add().localSet(l.tileEnd);
  f.localGet(l.colsLeft).i32Const(nr).localGet(l.colsLeft).i32Const(nr).i32LtS().select();
  f.i32Const(4).i32Mul().localSet(l.rowBytes);

  f.localGet(l.tile).localSet(l.tileRow);
  f.localGet(l.cTile).localSet(l.cRow);
  const rowLoop = f.loop();
  f.i32Const(0).localSet(l.column);
  const columnLoop = f.loop();
  f.localGet(l.tileRow).localGet(l.column).i32Add().f32Load().localGet(l.alpha).f32Mul().localSet(l.value);
  f.localGet(l.beta).f32Const(0).f32Ne().if();
  f.localGet(l.cRow).localGet(l.column).i32Add().f32Load().localGet(l.beta).f32Mul();
  f.localGet(l.value).f32Add().localSet(l.value);
  f.end();
  f.localGet(l.cRow).localGet(l.column).i32Add().localGet(l.value).f32Store();
  f.localGet(l.column).i32Const(4).i32Add().localTee(l.column);
  f.localGet(l.rowBytes).i32Ne().brIf(columnLoop);
  f.end();
  f.localGet(l.cRow).localGet(l.ldc).i32Add().localSet(l.cRow);
  f.localGet(l.tileRow).i32Const(nr * 4).i32Add().localTee(l.tileRow);
  f.localGet(l.tileEnd).i32Ne().brIf(rowLoop);
  f.end();
}
