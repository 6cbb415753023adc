/**
 * Emits the block kernel of the SIMD GEMM module: C = alpha * A * B + beta * C over a block of
 * C, with A and B given as MR-row and NR-column panels (packed, or read in place through their
 * strides).
 *
 * The micro-kernel keeps MR * vectorsPerRow f32x4 accumulators in locals. For each depth step it
 * loads vectorsPerRow vectors of B, and for each of the MR rows it loads the A value into all four
 * lanes (v128.load32_splat) and multiply-adds it into that row's accumulators.
 */

import { FunctionBuilder, ValType, type Label } from './emitter.js';
import type { GemmKernelShape } from './gemm-module.js';

const { i32, f32, v128 } = ValType;

/** Locals of the kernel function, by role. */
interface KernelLocals {
  accumulators: number[][];
  bVectors: number[];
  aSplat: number;
  product: number;
  aCursor: number;
  bCursor: number;
  aEnd: number;
  aDepthStride: number;
  bDepthStride: number;
}

/**
 * Emits kernel(a, aDepthStride, aPanelStride, b, bDepthStride, bPanelStride, c, ldc, rows, cols,
 * depth, alpha, beta, tile). The outer loop walks the NR-column panels of B, so one panel stays
 * in L1 while the inner loop walks the MR-row panels of A.
 */
export function emitKernel(shape: GemmKernelShape): FunctionBuilder {
  const { rowsPerTile: mr, vectorsPerRow: nv } = shape;
  const nr = 4 * nv;
  const f = new FunctionBuilder([i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, f32, f32, i32]);
  const [a, aDepthStride, aPanelStride, b, bDepthStride, bPanelStride] = [0, 1, 2, 3, 4, 5];
  const [c, ldc, rows, cols, depth, alpha, beta, tile] = [6, 7, 8, 9, 10, 11, 12, 13];

  const locals: KernelLocals = {
    accumulators: Array.from({ length: mr }, () => Array.from({ length: nv }, () => f.addLocal(v128))),
    bVectors: Array.from({ length: nv }, () => f.addLocal(v128)),
    aSplat: f.addLocal(v128),
    product: f.addLocal(v128),
    aCursor: f.addLocal(i32),
    bCursor: f.addLocal(i32),
    aEnd: f.addLocal(i32),
    aDepthStride,
    bDepthStride,
  };
  const alphaVector = f.addLocal(v128);
  const betaVector = f.addLocal(v128);
  const aDepthBytes = f.addLocal(i32);
  const aPanel = f.addLocal(i32);
  const bPanel = f.addLocal(i32);
  const cPanel = f.addLocal(i32);
  const cTile = f.addLocal(i32);
  const rowsLeft = f.addLocal(i32);
  const colsLeft = f.addLocal(i32);
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
  f.localGet(depth).localGet(aDepthStride).i32Mul().localSet(aDepthBytes);

  f.localGet(b).localSet(bPanel);
  f.localGet(c).localSet(cPanel);
  f.localGet(cols).localSet(colsLeft);
  const columnLoop = f.loop();
  {
    f.localGet(a).localSet(aPanel);
    f.localGet(cPanel).localSet(cTile);
    f.localGet(rows).localSet(rowsLeft);
    const rowLoop = f.loop();
    {
      for (const row of locals.accumulators) for (const accumulator of row) f.v128Zero().localSet(accumulator);
      f.localGet(aPanel).localSet(locals.aCursor);
      f.localGet(bPanel).localSet(locals.bCursor);
      f.localGet(aPanel).localGet(aDepthBytes).i32Add().localSet(locals.aEnd);
      emitDepthLoop(f, shape, locals);

      // Write back: whole tiles with vector stores, tiles crossing the edge through `tile`.
      f.localGet(rowsLeft).i32Const(mr).i32GeS();
      f.localGet(colsLeft).i32Const(nr).i32GeS().i32And().if();
      emitFullTileStore(f, locals.accumulators, { cTile, cRow, ldc, beta, alphaVector, betaVector });
      f.else();
      emitEdgeTileStore(f, shape, locals.accumulators, edgeLocals);
      f.end();

      f.localGet(aPanel).localGet(aPanelStride).i32Add().localSet(aPanel);
      f.localGet(cTile).localGet(ldc).i32Const(mr).i32Mul().i32Add().localSet(cTile);
      f.localGet(rowsLeft).i32Const(mr).i32Sub().localTee(rowsLeft);
      f.i32Const(0).i32GtS().brIf(rowLoop);
    }
    f.end();
    f.localGet(bPanel).localGet(bPanelStride).i32Add().localSet(bPanel);
    f.localGet(cPanel).i32Const(nr * 4).i32Add().localSet(cPanel);
    f.localGet(colsLeft).i32Const(nr).i32Sub().localTee(colsLeft);
    f.i32Const(0).i32GtS().brIf(columnLoop);
  }
  f.end();

  f.end();
  return f;
}

/**
 * Emits the depth loop of one micro-tile: one depth step per iteration, until the A cursor
 * reaches aEnd. It is not unrolled because TurboFan (V8 11.3) schedules all loads of the loop
 * body before its arithmetic, so unrolling keeps twice the loaded values live and spills.
 */
function emitDepthLoop(f: FunctionBuilder, shape: GemmKernelShape, locals: KernelLocals): void {
  const { rowsPerTile: mr, vectorsPerRow: nv } = shape;
  const { accumulators, bVectors, aSplat, product, aCursor, bCursor, aEnd } = locals;

  f.localGet(aCursor).localGet(aEnd).i32Ne().if();
  const loop: Label = f.loop();
  for (let v = 0; v < nv; v++) {
    f.localGet(bCursor).v128Load(v * 16, 2).localSet(bVectors[v]);
  }
  for (let r = 0; r < mr; r++) {
    f.localGet(aCursor).v128Load32Splat(r * 4).localSet(aSplat);
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
  f.localGet(bCursor).localGet(locals.bDepthStride).i32Add().localSet(bCursor);
  f.localGet(aCursor).localGet(locals.aDepthStride).i32Add().localTee(aCursor);
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
 * Emits the write-back of a tile that crosses the edge of the C block. The accumulators go to
 * the scratch tile, then min(rowsLeft, MR) x min(colsLeft, NR) values go to C one by one. The
 * arithmetic is the same as on the vector path, so both paths round alike.
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
