import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { GemmFn } from '../../src/gemm/types.js';
import { createWasmGemm, wasmGemmScratchBytes, wasmSimdSupported } from '../../src/wasm/gemm-wasm.js';
import { getWebAssembly, type WasmApi, type WasmMemory } from '../../src/wasm/webassembly-api.js';
import { assertSameBits, fillRandom, formName, mulberry32, randomArray, requireWasmGemm, transposeForms } from './helpers.js';

const simdSkip = wasmSimdSupported() ? false : 'WebAssembly SIMD is not supported by this engine';
const PAGE_BYTES = 65536;

interface Problem {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  /** Extra elements at the end of every stored row. */
  rowPadding: number;
  /** Elements before element (0, 0) of every matrix. */
  offset: number;
}

interface Stored {
  aLength: number;
  bLength: number;
  cLength: number;
  lda: number;
  ldb: number;
  ldc: number;
}

/** Array lengths and leading dimensions, with one spare row after each matrix. */
function storedShape(p: Problem): Stored {
  const aRows = p.transA ? p.k : p.m;
  const aCols = p.transA ? p.m : p.k;
  const bRows = p.transB ? p.n : p.k;
  const bCols = p.transB ? p.k : p.n;
  const lda = aCols + p.rowPadding;
  const ldb = bCols + p.rowPadding;
  const ldc = p.n + p.rowPadding;
  return {
    aLength: p.offset + (aRows + 1) * lda,
    bLength: p.offset + (bRows + 1) * ldb,
    cLength: p.offset + (p.m + 1) * ldc,
    lda,
    ldb,
    ldc,
  };
}

function describe(p: Problem): string {
  return `${formName(p.transA, p.transB)} ${p.m}x${p.n}x${p.k} alpha=${p.alpha} beta=${p.beta} pad=${p.rowPadding} offset=${p.offset}`;
}

function runProblem(gemm: GemmFn<Float32Array>, p: Problem, s: Stored, a: Float32Array, b: Float32Array, c: Float32Array): void {
  gemm(p.transA, p.transB, p.m, p.n, p.k, p.alpha, a, p.offset, s.lda, b, p.offset, s.ldb, p.beta, c, p.offset, s.ldc);
}

/** Returns whether element `index` of a C array lies inside the M x N matrix. */
function insideC(p: Problem, s: Stored, index: number): boolean {
  const local = index - p.offset;
  if (local < 0) return false;
  const row = Math.floor(local / s.ldc);
  return row < p.m && local - row * s.ldc < p.n;
}

function wasmApi(): WasmApi {
  return getWebAssembly() as WasmApi;
}

/** Hands out Float32Array views of consecutive parts of a buffer, 5 floats apart. */
class Arena {
  private nextByte: number;

  constructor(
    private readonly buffer: ArrayBufferLike,
    startByte = 0,
  ) {
    this.nextByte = startByte;
  }

  take(length: number): Float32Array {
    const view = new Float32Array(this.buffer, this.nextByte, length);
    this.nextByte += 4 * (length + 5);
    return view;
  }

  get endByte(): number {
    return this.nextByte;
  }
}

function roundUp(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/** Fills a whole memory with seeded bits, so that any stray write shows. */
function fillMemory(memory: WasmMemory, seed: number): void {
  const words = new Uint32Array(memory.buffer);
  let state = seed >>> 0;
  for (let i = 0; i < words.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    words[i] = state;
  }
}

/**
 * Checks that every word of `after` equals `before` except inside [skipStart, skipEnd) and the
 * words for which `changed(wordIndex)` returns true.
 */
function assertUnchangedOutside(
  before: Uint32Array,
  after: Uint32Array,
  skipStart: number,
  skipEnd: number,
  changed: (wordIndex: number) => boolean,
  label: string,
): void {
  assert.equal(after.length, before.length, `${label}: memory size changed`);
  for (let i = 0; i < before.length; i++) {
    const byte = 4 * i;
    if (byte >= skipStart && byte < skipEnd) continue;
    if (before[i] !== after[i] && !changed(i)) assert.fail(`${label}: word at byte ${byte} changed`);
  }
}

const inPlaceProblems: Array<Omit<Problem, 'transA' | 'transB'>> = [
  { m: 13, n: 17, k: 31, alpha: 1.5, beta: 0.5, rowPadding: 2, offset: 3 },
  // Three depth blocks and edge tiles in both directions.
  { m: 129, n: 67, k: 777, alpha: -0.75, beta: 0, rowPadding: 3, offset: 1 },
  // Two column blocks of B.
  { m: 3, n: 1500, k: 384, alpha: 1, beta: 1, rowPadding: 0, offset: 0 },
  { m: 1, n: 5, k: 9, alpha: 2.25, beta: -1.5, rowPadding: 4, offset: 7 },
];

for (const [transA, transB] of transposeForms) {
  test(`in-place ${formName(transA, transB)} operands match staged bits`, { skip: simdSkip }, () => {
    const reference = requireWasmGemm();
    const random = mulberry32(11000 + Number(transA) * 2 + Number(transB));

    for (const shape of inPlaceProblems) {
      const p: Problem = { transA, transB, ...shape };
      const s = storedShape(p);
      const a = randomArray(s.aLength, random);
      const b = randomArray(s.bLength, random);
      const cStart = randomArray(s.cLength, random);
      if (p.beta === 0) cStart.fill(Number.NaN);
      const expected = cStart.slice();
      runProblem(reference.gemm, p, s, a.slice(), b.slice(), expected);

      // Bit i of `placed` puts operand i (A, B, C) in the memory; the others stay plain arrays.
      for (let placed = 0; placed < 8; placed++) {
        const inPlace = { a: (placed & 1) !== 0, b: (placed & 2) !== 0, c: (placed & 4) !== 0 };
        const label = `${describe(p)} in place A=${inPlace.a} B=${inPlace.b} C=${inPlace.c}`;

        // Data first, then a scratch region of exactly the size this placement needs, starting
        // 20 bytes past a 64-byte boundary.
        const dataBytes = 4 * (s.aLength + s.bLength + s.cLength + 15);
        const scratchOffset = roundUp(dataBytes, 64) + 20;
        const scratchLength = wasmGemmScratchBytes(p.m, p.n, p.k, { inPlace });
        const memory = new (wasmApi().Memory)({ initial: Math.ceil((scratchOffset + scratchLength) / PAGE_BYTES) });
        fillMemory(memory, 12000 + placed);
        const arena = new Arena(memory.buffer);
        const aHere = inPlace.a ? arena.take(s.aLength) : new Float32Array(s.aLength);
        const bHere = inPlace.b ? arena.take(s.bLength) : new Float32Array(s.bLength);
        const cHere = inPlace.c ? arena.take(s.cLength) : new Float32Array(s.cLength);
        assert.ok(arena.endByte <= scratchOffset, `${label}: data overlaps scratch`);
        aHere.set(a);
        bHere.set(b);
        cHere.set(cStart);

        const created = requireWasmGemm({ memory, scratch: { byteOffset: scratchOffset, byteLength: scratchLength } });
        assert.equal(created.isInMemory(aHere), inPlace.a, `${label}: isInMemory(A)`);
        assert.equal(created.isInMemory(bHere), inPlace.b, `${label}: isInMemory(B)`);
        assert.equal(created.isInMemory(cHere), inPlace.c, `${label}: isInMemory(C)`);
        const before = new Uint32Array(memory.buffer).slice();

        runProblem(created.gemm, p, s, aHere, bHere, cHere);

        assertSameBits(cHere, expected, label);
        assertSameBits(aHere, a, `${label}: A`);
        assertSameBits(bHere, b, `${label}: B`);
        const cFirstWord = cHere.byteOffset / 4;
        const writtenC = (word: number): boolean => inPlace.c && word >= cFirstWord && insideC(p, s, word - cFirstWord);
        assertUnchangedOutside(before, new Uint32Array(memory.buffer), scratchOffset, scratchOffset + scratchLength, writtenC, label);
      }
    }
  });
}

test('in-place inputs overlapping C are copied first', { skip: simdSkip }, () => {
  const reference = requireWasmGemm();
  const random = mulberry32(13000);
  // C shares its array with A (k = n) or with B (k = m), as the staged path allows. K = 400 is
  // split into two depth blocks, so the second block of the input is packed after the first
  // block has written C.
  const cases = [
    { name: 'A', transA: false, transB: false, m: 40, n: 400, k: 400 },
    { name: 'A', transA: true, transB: true, m: 24, n: 400, k: 400 },
    { name: 'B', transA: false, transB: false, m: 400, n: 20, k: 400 },
    { name: 'B', transA: true, transB: false, m: 400, n: 30, k: 400 },
  ];
  for (const { name, transA, transB, m, n, k } of cases) {
    const label = `C shares ${name} ${formName(transA, transB)} ${m}x${n}x${k}`;
    const shared = randomArray(2 + m * n + 3, random);
    const other = randomArray(m * k + k * n, random);
    const lda = transA ? m : k;
    const ldb = transB ? k : n;

    const expected = shared.slice();
    const aCopy = name === 'A' ? shared.slice() : other.slice();
    const bCopy = name === 'B' ? shared.slice() : other.slice();
    reference.gemm(transA, transB, m, n, k, 0.5, aCopy, 2, lda, bCopy, 2, ldb, 0.25, expected, 2, n);

    const scratchOffset = roundUp(4 * (shared.length + other.length + 10), 64);
    const scratchLength = wasmGemmScratchBytes(m, n, k);
    const memory = new (wasmApi().Memory)({ initial: Math.ceil((scratchOffset + scratchLength) / PAGE_BYTES) });
    const arena = new Arena(memory.buffer);
    const sharedHere = arena.take(shared.length);
    const otherHere = arena.take(other.length);
    sharedHere.set(shared);
    otherHere.set(other);
    const { gemm } = requireWasmGemm({ memory, scratch: { byteOffset: scratchOffset, byteLength: scratchLength } });

    const aHere = name === 'A' ? sharedHere : otherHere;
    const bHere = name === 'B' ? sharedHere : otherHere;
    gemm(transA, transB, m, n, k, 0.5, aHere, 2, lda, bHere, 2, ldb, 0.25, sharedHere, 2, n);
    assertSameBits(sharedHere, expected, label);
  }
});

test('in-place operand inside scratch is rejected', { skip: simdSkip }, () => {
  const memory = new (wasmApi().Memory)({ initial: 2 });
  const { gemm } = requireWasmGemm({ memory, scratch: { byteOffset: 4096, byteLength: 65536 } });
  const a = new Float32Array(memory.buffer, 0, 6);
  const b = new Float32Array(memory.buffer, 64, 6);
  const cInScratch = new Float32Array(memory.buffer, 4096 + 65536 - 8, 4);
  assert.throws(
    () => gemm(false, false, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 0, cInScratch, 0, 2),
    /C occupies bytes \[69624, 69640\) of the GEMM's memory, which overlap the scratch region \[4096, 69632\)/,
  );

  const owned = requireWasmGemm();
  const ownedView = new Float32Array(owned.memory.buffer, 0, 6);
  assert.throws(
    () => owned.gemm(false, false, 2, 2, 3, 1, ownedView, 0, 3, new Float32Array(6), 0, 2, 0, new Float32Array(4), 0, 2),
    /A occupies bytes \[0, 24\) .* which runs from byte 0 to the end of the memory/,
  );
});

test('in-place operands survive growth of the memory', { skip: simdSkip }, () => {
  // Growable mode over a non-shared memory: the call grows the memory, which detaches the old
  // ArrayBuffer. The call must still read A and B and write C at their addresses.
  const random = mulberry32(14000);
  const p: Problem = { transA: false, transB: true, m: 70, n: 45, k: 300, alpha: 1.25, beta: 0.5, rowPadding: 1, offset: 2 };
  const s = storedShape(p);
  const a = randomArray(s.aLength, random);
  const b = randomArray(s.bLength, random);
  const c = randomArray(s.cLength, random);
  const expected = c.slice();
  runProblem(requireWasmGemm().gemm, p, s, a.slice(), b.slice(), expected);

  const memory = new (wasmApi().Memory)({ initial: 4 });
  const arena = new Arena(memory.buffer);
  const aHere = arena.take(s.aLength);
  const bHere = arena.take(s.bLength);
  const cHere = arena.take(s.cLength);
  aHere.set(a);
  bHere.set(b);
  cHere.set(c);
  const created = requireWasmGemm({ memory });
  assert.equal(created.scratchStart, 4 * PAGE_BYTES);
  assert.equal(created.scratchEnd, Number.POSITIVE_INFINITY);
  const cByteOffset = cHere.byteOffset;

  runProblem(created.gemm, p, s, aHere, bHere, cHere);

  assert.ok(memory.buffer.byteLength > 4 * PAGE_BYTES, 'the call should have grown the memory');
  assertSameBits(new Float32Array(memory.buffer, cByteOffset, s.cLength), expected, 'C after growth');
});

test('scratch overflow error names the needed size', { skip: simdSkip }, () => {
  const random = mulberry32(15000);
  const p: Problem = { transA: true, transB: false, m: 50, n: 40, k: 500, alpha: 1, beta: 0.5, rowPadding: 3, offset: 1 };
  const s = storedShape(p);
  const a = randomArray(s.aLength, random);
  const b = randomArray(s.bLength, random);
  const c = randomArray(s.cLength, random);
  const memory = new (wasmApi().Memory)({ initial: 8 });
  const byteOffset = 1000;

  const small = requireWasmGemm({ memory, scratch: { byteOffset, byteLength: 4096 } });
  const cAfter = c.slice();
  let needed = 0;
  assert.throws(
    () => runProblem(small.gemm, p, s, a, b, cAfter),
    (error: unknown) => {
      assert.ok(error instanceof RangeError, 'a RangeError');
      const match = /this 50 x 40 x 500 call needs (\d+) bytes of scratch, but the scratch region has 4096/.exec(error.message);
      assert.ok(match !== null, `message: ${error.message}`);
      needed = Number(match[1]);
      return true;
    },
  );
  assertSameBits(cAfter, c, 'C after the failed call');
  assert.ok(needed > 4096, `needed ${needed}`);
  assert.ok(needed <= wasmGemmScratchBytes(p.m, p.n, p.k), `needed ${needed} exceeds wasmGemmScratchBytes`);

  const exact = requireWasmGemm({ memory, scratch: { byteOffset, byteLength: needed } });
  const expected = c.slice();
  runProblem(requireWasmGemm().gemm, p, s, a, b, expected);
  const result = c.slice();
  runProblem(exact.gemm, p, s, a, b, result);
  assertSameBits(result, expected, 'with exactly the needed scratch');

  const short = requireWasmGemm({ memory, scratch: { byteOffset, byteLength: needed - 1 } });
  assert.throws(() => runProblem(short.gemm, p, s, a, b, c.slice()), new RegExp(`needs ${needed} bytes of scratch`));
});

test('wasmGemmScratchBytes covers smaller shapes', { skip: simdSkip }, () => {
  const random = mulberry32(16000);
  const [maxM, maxN, maxK] = [300, 200, 800];
  const pick = (max: number): number => 1 + Math.floor(random() * max);
  const problems: Problem[] = [
    { transA: false, transB: false, m: maxM, n: maxN, k: maxK, alpha: 1, beta: 0.5, rowPadding: 9, offset: 0 },
    // K = 384 is the deepest unsplit block; K = 385 splits into two.
    { transA: true, transB: true, m: maxM, n: maxN, k: 384, alpha: 1, beta: 0, rowPadding: 0, offset: 1 },
    { transA: false, transB: true, m: maxM, n: maxN, k: 385, alpha: 1, beta: 1, rowPadding: 2, offset: 0 },
  ];
  for (let i = 0; i < 12; i++) {
    problems.push({
      transA: random() < 0.5,
      transB: random() < 0.5,
      m: pick(maxM),
      n: pick(maxN),
      k: pick(maxK),
      alpha: 0.5,
      beta: i % 2,
      rowPadding: Math.floor(random() * 20),
      offset: 3,
    });
  }

  for (const inPlaceAll of [false, true]) {
    const inPlace = { a: inPlaceAll, b: inPlaceAll, c: inPlaceAll };
    const scratchLength = wasmGemmScratchBytes(maxM, maxN, maxK, { inPlace });
    if (inPlaceAll) {
      assert.ok(scratchLength < 2.5 * 1024 * 1024, `in-place scratch is ${scratchLength} bytes`);
    }
    // The largest stored operands with padding fit below 4 MiB; scratch starts 4 bytes past a 64-byte boundary.
    const byteOffset = 4 * 1024 * 1024 + 4;
    const memory = new (wasmApi().Memory)({ initial: Math.ceil((byteOffset + scratchLength) / PAGE_BYTES) });
    const { gemm } = requireWasmGemm({ memory, scratch: { byteOffset, byteLength: scratchLength } });
    for (const p of problems) {
      const s = storedShape(p);
      const arena = new Arena(memory.buffer);
      const a = inPlaceAll ? arena.take(s.aLength) : new Float32Array(s.aLength);
      const b = inPlaceAll ? arena.take(s.bLength) : new Float32Array(s.bLength);
      const c = inPlaceAll ? arena.take(s.cLength) : new Float32Array(s.cLength);
      assert.ok(arena.endByte <= byteOffset, 'data overlaps scratch');
      fillRandom(a, random);
      fillRandom(b, random);
      fillRandom(c, random);
      const expected = c.slice();
      runProblem(requireWasmGemm().gemm, p, s, a.slice(), b.slice(), expected);
      runProblem(gemm, p, s, a, b, c);
      assertSameBits(c, expected, `${describe(p)} in place=${inPlaceAll}`);
    }
  }
});

test('wasmGemmScratchBytes rejects invalid sizes', () => {
  assert.throws(() => wasmGemmScratchBytes(-1, 2, 3), /maxM must be a non-negative integer, got -1/);
  assert.throws(() => wasmGemmScratchBytes(1, 2.5, 3), /maxN must be a non-negative integer, got 2.5/);
  assert.throws(() => wasmGemmScratchBytes(1, 2, 3, { kernelShape: { rowsPerTile: 9 } }), /rowsPerTile must be an integer in \[1, 8\]/);
});

test('scratch option is checked', { skip: simdSkip }, () => {
  const memory = new (wasmApi().Memory)({ initial: 1 });
  assert.throws(() => createWasmGemm({ scratch: { byteOffset: 0, byteLength: 1024 } }), /scratch option needs the memory option/);
  assert.throws(
    () => createWasmGemm({ memory, scratch: { byteOffset: 65000, byteLength: 1024 } }),
    /scratch region \[65000, 66024\) lies past the end of the memory \(65536 bytes\)/,
  );
  assert.throws(() => createWasmGemm({ memory, scratch: { byteOffset: -4, byteLength: 16 } }), /must be non-negative integers, got -4 and 16/);
  const created = requireWasmGemm({ memory, scratch: { byteOffset: 1024, byteLength: 4096 } });
  assert.equal(created.scratchStart, 1024);
  assert.equal(created.scratchEnd, 5120);
});
