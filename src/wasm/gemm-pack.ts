/**
 * Emits the packing functions of the SIMD GEMM module. A pack function copies a block of op(A)
 * or op(B) into panels of `width` lines, where a line is a row of op(A) or a column of op(B).
 * The panels are laid out [ceil(lines / width), depth, width], so for each depth step a panel's
 * `width` values are adjacent, in the order the micro-kernel reads them. The last panel is
 * zero-padded.
 */

import { FunctionBuilder, ValType } from './emitter.js';

const { i32, v128 } = ValType;

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
  lineEnd: number;
  /** Bytes of packed output that the 4 x 4 transpose loop writes: floor(depth / 4) * 4 * width * 4. */
  transposedBytes: number;
  transposedEnd: number;
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
export function emitPack(width: number): FunctionBuilder {
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
    lineEnd: f.addLocal(i32),
    transposedBytes: f.addLocal(i32),
    transposedEnd: f.addLocal(i32),
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

/**
 * Full panel whose `width` values per depth step are adjacent (lineStride is 4 bytes), copied
 * in 16-, 8- and 4-byte pieces. Panels are packed one after another. Walking the depth once
 * for all panels instead writes to panels a power-of-two distance apart, whose stores conflict
 * in the L1 cache: packing A for a 288 x 64 x 9216 product took 9 times longer that way.
 */
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

/** Converts f32 lane picks (0-3 from the first operand, 4-7 from the second) to i8x16.shuffle byte indices. */
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
  f.localGet(l.depth).i32Const(-4).i32And().i32Const(width * 4).i32Mul().localSet(l.transposedBytes);

  for (let group = 0; group < groups; group++) {
    f.localGet(l.transposedBytes).if();
    for (let i = 0; i < 4; i++) {
      f.localGet(l.src).localGet(l.lineStride).i32Const(group * 4 + i).i32Mul().i32Add().localSet(l.lineSources[i]);
    }
    f.localGet(l.dst).localSet(l.target);
    f.localGet(l.dst).localGet(l.transposedBytes).i32Add().localSet(l.transposedEnd);
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
    f.localGet(l.transposedEnd).i32Ne().brIf(quadLoop);
    f.end();
    f.end();
  }

  // Remaining depth steps of the grouped lines, value by value.
  f.localGet(l.dst).localGet(l.transposedBytes).i32Add().localTee(l.target);
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
  f.localGet(l.src);
  pushLine();
  f.localGet(l.lineStride).i32Mul().i32Add().localSet(l.source);
  f.localGet(l.dst);
  pushLine();
  f.i32Const(4).i32Mul().i32Add().localTee(l.target);
  f.localGet(l.panelBytes).i32Add().localSet(l.lineEnd);
  const stepLoop = f.loop();
  f.localGet(l.target).localGet(l.source).f32Load().f32Store();
  f.localGet(l.source).localGet(l.depthStride).i32Add().localSet(l.source);
  f.localGet(l.target).i32Const(width * 4).i32Add().localTee(l.target);
  f.localGet(l.lineEnd).i32Ne().brIf(stepLoop);
  f.end();
}
