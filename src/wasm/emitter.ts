/**
 * Minimal WebAssembly binary emitter: enough of the format to build small compute modules at
 * run time, with an imported memory, a few functions and their exports.
 *
 * Encoding follows the Binary Format chapter of the WebAssembly Core Specification
 * (webassembly.github.io/spec/core/binary), the SIMD opcode table of the SIMD proposal (prefix
 * 0xfd, proposals/simd/BinarySIMD.md in github.com/WebAssembly/simd) and the relaxed-SIMD
 * proposal for f32x4.relaxed_madd (0xfd 0x105, github.com/WebAssembly/relaxed-simd). A module
 * is written as magic and version, then the type, import, function, export and code sections,
 * in the order the format requires.
 *
 * Branch targets are Label objects returned by block(), loop() and if(). br and brIf translate
 * them to the relative depth that the binary format stores, so emitted code never counts depths
 * by hand.
 */

import { encodeSignedLeb128, encodeUnsignedLeb128 } from './leb128.js';

/** Value types and their one-byte encodings. */
export const ValType = {
  i32: 0x7f,
  i64: 0x7e,
  f32: 0x7d,
  f64: 0x7c,
  v128: 0x7b,
} as const;

export type ValType = (typeof ValType)[keyof typeof ValType];

const SECTION_TYPE = 1;
const SECTION_IMPORT = 2;
const SECTION_FUNCTION = 3;
const SECTION_EXPORT = 7;
const SECTION_CODE = 10;

const EXTERNAL_KIND_FUNCTION = 0x00;
const EXTERNAL_KIND_MEMORY = 0x02;

const FUNCTION_TYPE_FORM = 0x60;
const BLOCK_TYPE_EMPTY = 0x40;
const SIMD_PREFIX = 0xfd;

/** Encodes a string as a length-prefixed UTF-8 name. */
function encodeName(name: string): number[] {
  const utf8 = new TextEncoder().encode(name);
  return [...encodeUnsignedLeb128(utf8.length), ...utf8];
}

/** Encodes a vector: its element count, then the already-encoded elements. */
function encodeVector(elements: number[][]): number[] {
  return [...encodeUnsignedLeb128(elements.length), ...elements.flat()];
}

function encodeSection(id: number, content: number[]): number[] {
  return [id, ...encodeUnsignedLeb128(content.length), ...content];
}

/** Appends bytes one by one, because spreading a long array into push() can overflow the stack. */
function appendBytes(target: number[], source: readonly number[]): void {
  for (const byte of source) target.push(byte);
}

/** A branch target: the control-stack position of the block, loop or if that created it. */
export interface Label {
  readonly depth: number;
}

/**
 * Builds the body of one function. Every instruction method appends its encoding and returns
 * the builder, so instructions chain in the order they execute (stack-machine order: operands
 * first, then the operator). Parameters are locals 0 to params.length - 1.
 */
export class FunctionBuilder {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
  private readonly localTypes: ValType[] = [];
  private readonly code: number[] = [];
  /** Count of open blocks, loops and ifs. The function body is an implicit block outside them. */
  private openControlCount = 0;

  constructor(params: readonly ValType[], results: readonly ValType[] = []) {
    this.params = params;
    this.results = results;
  }

  /** Declares a local of the given type and returns its index. */
  addLocal(type: ValType): number {
    this.localTypes.push(type);
    return this.params.length + this.localTypes.length - 1;
  }

  /** Encodes the body: the local declarations, grouped by runs of one type, then the code. */
  encodeBody(): number[] {
    if (this.openControlCount !== 0) {
      throw new Error(`function body has ${this.openControlCount} unclosed block(s); call end() for each`);
    }
    const groups: number[][] = [];
    let runStart = 0;
    for (let index = 1; index <= this.localTypes.length; index++) {
      if (index === this.localTypes.length || this.localTypes[index] !== this.localTypes[runStart]) {
        groups.push([...encodeUnsignedLeb128(index - runStart), this.localTypes[runStart]]);
        runStart = index;
      }
    }
    const body = encodeVector(groups);
    appendBytes(body, this.code);
    body.push(0x0b);
    const sized = encodeUnsignedLeb128(body.length);
    appendBytes(sized, body);
    return sized;
  }

  // Control flow. Blocks take no parameters and return no values.

  block(): Label {
    return this.openControl(0x02);
  }

  loop(): Label {
    return this.openControl(0x03);
  }

  /** Opens an if block that pops an i32 condition. */
  if(): Label {
    return this.openControl(0x04);
  }

  else(): this {
    return this.emit(0x05);
  }

  end(): this {
    if (this.openControlCount === 0) throw new Error('end() without an open block, loop or if');
    this.openControlCount--;
    return this.emit(0x0b);
  }

  /** Branches to a label: to its end for a block or if, to its start for a loop. */
  br(label: Label): this {
    return this.emit(0x0c, ...encodeUnsignedLeb128(this.relativeDepth(label)));
  }

  /** Pops an i32 and branches to the label when it is not zero. */
  brIf(label: Label): this {
    return this.emit(0x0d, ...encodeUnsignedLeb128(this.relativeDepth(label)));
  }

  // Locals and constants.

  localGet(index: number): this {
    return this.emit(0x20, ...encodeUnsignedLeb128(index));
  }

  localSet(index: number): this {
    return this.emit(0x21, ...encodeUnsignedLeb128(index));
  }

  localTee(index: number): this {
    return this.emit(0x22, ...encodeUnsignedLeb128(index));
  }

  i32Const(value: number): this {
    return this.emit(0x41, ...encodeSignedLeb128(value));
  }

  /** Pushes an f32 constant, stored as its 4 IEEE 754 bytes, least significant first. */
  f32Const(value: number): this {
    const bytes = new Uint8Array(new Float32Array([value]).buffer);
    return this.emit(0x43, ...bytes);
  }

  /** Pushes a v128 constant with all 16 bytes zero. */
  v128Zero(): this {
    return this.emit(SIMD_PREFIX, ...encodeUnsignedLeb128(0x0c), ...new Array<number>(16).fill(0));
  }

  /** Pops a, b and an i32 condition (on top) and pushes a when the condition is non-zero, else b. */
  select(): this {
    return this.emit(0x1b);
  }

  // i32 arithmetic and comparisons (comparisons push 1 or 0).

  i32Add(): this {
    return this.emit(0x6a);
  }

  i32Sub(): this {
    return this.emit(0x6b);
  }

  i32Mul(): this {
    return this.emit(0x6c);
  }

  i32And(): this {
    return this.emit(0x71);
  }

  i32Eqz(): this {
    return this.emit(0x45);
  }

  i32Ne(): this {
    return this.emit(0x47);
  }

  i32LtS(): this {
    return this.emit(0x48);
  }

  i32GtS(): this {
    return this.emit(0x4a);
  }

  i32GeS(): this {
    return this.emit(0x4e);
  }

  // Scalar f32 arithmetic and comparisons.

  f32Add(): this {
    return this.emit(0x92);
  }

  f32Mul(): this {
    return this.emit(0x94);
  }

  f32Ne(): this {
    return this.emit(0x5c);
  }

  // Memory access. `offset` is the constant byte offset added to the address operand, and
  // `alignLog2` the alignment hint as a power of two (it never changes the result).

  i32Load(offset = 0, alignLog2 = 2): this {
    return this.emitMemoryAccess([0x28], offset, alignLog2);
  }

  i32Store(offset = 0, alignLog2 = 2): this {
    return this.emitMemoryAccess([0x36], offset, alignLog2);
  }

  i64Load(offset = 0, alignLog2 = 3): this {
    return this.emitMemoryAccess([0x29], offset, alignLog2);
  }

  i64Store(offset = 0, alignLog2 = 3): this {
    return this.emitMemoryAccess([0x37], offset, alignLog2);
  }

  f32Load(offset = 0, alignLog2 = 2): this {
    return this.emitMemoryAccess([0x2a], offset, alignLog2);
  }

  f32Store(offset = 0, alignLog2 = 2): this {
    return this.emitMemoryAccess([0x38], offset, alignLog2);
  }

  v128Load(offset = 0, alignLog2 = 4): this {
    return this.emitMemoryAccess([SIMD_PREFIX, 0x00], offset, alignLog2);
  }

  v128Store(offset = 0, alignLog2 = 4): this {
    return this.emitMemoryAccess([SIMD_PREFIX, 0x0b], offset, alignLog2);
  }

  /** Loads one 32-bit value and copies it into all four lanes. */
  v128Load32Splat(offset = 0, alignLog2 = 2): this {
    return this.emitMemoryAccess([SIMD_PREFIX, 0x09], offset, alignLog2);
  }

  /**
   * Pops a and b (b on top) and pushes 16 bytes chosen by `lanes`: index i < 16 picks byte i of
   * a, index 16 + i picks byte i of b.
   */
  i8x16Shuffle(lanes: readonly number[]): this {
    if (lanes.length !== 16 || lanes.some((lane) => !Number.isInteger(lane) || lane < 0 || lane > 31)) {
      throw new RangeError(`i8x16.shuffle needs 16 lane indices in [0, 31], got [${lanes.join(', ')}]`);
    }
    return this.emit(SIMD_PREFIX, ...encodeUnsignedLeb128(0x0d), ...lanes);
  }

  // f32x4 lane-wise arithmetic.

  f32x4Splat(): this {
    return this.emitSimd(0x13);
  }

  /** Pops a v128 and pushes its f32 lane `lane` (0 to 3). */
  f32x4ExtractLane(lane: number): this {
    if (!Number.isInteger(lane) || lane < 0 || lane > 3) throw new RangeError(`f32x4 lane must be 0 to 3, got ${lane}`);
    return this.emit(SIMD_PREFIX, ...encodeUnsignedLeb128(0x1f), lane);
  }

  f32x4Add(): this {
    return this.emitSimd(0xe4);
  }

  f32x4Mul(): this {
    return this.emitSimd(0xe6);
  }

  /**
   * Pops a, b and c (c on top) and pushes a * b + c, rounded once or twice: the relaxed-SIMD
   * proposal lets the engine choose, so results may differ between engines and CPUs.
   */
  f32x4RelaxedMadd(): this {
    return this.emitSimd(0x105);
  }

  private emit(...bytes: number[]): this {
    appendBytes(this.code, bytes);
    return this;
  }

  private emitSimd(opcode: number): this {
    return this.emit(SIMD_PREFIX, ...encodeUnsignedLeb128(opcode));
  }

  private emitMemoryAccess(opcode: number[], offset: number, alignLog2: number): this {
    if (opcode[0] === SIMD_PREFIX) {
      return this.emit(SIMD_PREFIX, ...encodeUnsignedLeb128(opcode[1]), ...encodeUnsignedLeb128(alignLog2), ...encodeUnsignedLeb128(offset));
    }
    return this.emit(...opcode, ...encodeUnsignedLeb128(alignLog2), ...encodeUnsignedLeb128(offset));
  }

  private openControl(opcode: number): Label {
    const label: Label = { depth: this.openControlCount };
    this.openControlCount++;
    this.emit(opcode, BLOCK_TYPE_EMPTY);
    return label;
  }

  private relativeDepth(label: Label): number {
    if (label.depth >= this.openControlCount) {
      throw new Error(`branch target at depth ${label.depth} is not open (open blocks: ${this.openControlCount})`);
    }
    return this.openControlCount - 1 - label.depth;
  }
}

/** Size limits of an imported memory, in 64 KiB pages. A shared memory needs a maximum. */
export interface MemoryLimits {
  minimumPages: number;
  maximumPages?: number;
  shared?: boolean;
}

/**
 * Collects imports, functions and exports, and writes them as a module. Imports must be added
 * before functions, because imported functions would come first in the function index space
 * (this emitter imports memories only, so function indices start at 0).
 */
export class ModuleBuilder {
  private readonly types: number[][] = [];
  private readonly imports: number[][] = [];
  private readonly functionTypeIndices: number[] = [];
  private readonly bodies: FunctionBuilder[] = [];
  private readonly exports: number[][] = [];

  /** Imports a memory as `module`.`name`, which becomes memory 0. */
  importMemory(module: string, name: string, limits: MemoryLimits): this {
    const { minimumPages, maximumPages, shared = false } = limits;
    if (shared && maximumPages === undefined) {
      throw new RangeError('a shared memory import needs maximumPages');
    }
    let limitBytes: number[];
    if (maximumPages === undefined) {
      limitBytes = [0x00, ...encodeUnsignedLeb128(minimumPages)];
    } else {
      const flags = shared ? 0x03 : 0x01;
      limitBytes = [flags, ...encodeUnsignedLeb128(minimumPages), ...encodeUnsignedLeb128(maximumPages)];
    }
    this.imports.push([...encodeName(module), ...encodeName(name), EXTERNAL_KIND_MEMORY, ...limitBytes]);
    return this;
  }

  /** Adds a function, exported under `exportName` when given, and returns its index. */
  addFunction(body: FunctionBuilder, exportName?: string): number {
    const signature = [FUNCTION_TYPE_FORM, ...encodeVector(body.params.map((t) => [t])), ...encodeVector(body.results.map((t) => [t]))];
    let typeIndex = this.types.findIndex((existing) => sameBytes(existing, signature));
    if (typeIndex < 0) {
      typeIndex = this.types.length;
      this.types.push(signature);
    }
    const functionIndex = this.bodies.length;
    this.functionTypeIndices.push(typeIndex);
    this.bodies.push(body);
    if (exportName !== undefined) {
      this.exports.push([...encodeName(exportName), EXTERNAL_KIND_FUNCTION, ...encodeUnsignedLeb128(functionIndex)]);
    }
    return functionIndex;
  }

  /** Writes the module. Empty sections are left out, as the format allows. */
  build(): Uint8Array {
    const bytes: number[] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    const sections: Array<[number, number[][]]> = [
      [SECTION_TYPE, this.types],
      [SECTION_IMPORT, this.imports],
      [SECTION_FUNCTION, this.functionTypeIndices.map((index) => encodeUnsignedLeb128(index))],
      [SECTION_EXPORT, this.exports],
      [SECTION_CODE, this.bodies.map((body) => body.encodeBody())],
    ];
    for (const [id, entries] of sections) {
      if (entries.length > 0) appendBytes(bytes, encodeSection(id, encodeVector(entries)));
    }
    return Uint8Array.from(bytes);
  }
}

function sameBytes(left: number[], right: number[]): boolean {
  return left.length === right.length && left.every((byte, index) => byte === right[index]);
}
