import assert from 'node:assert/strict';
import { test } from 'node:test';

import { gemmNaive } from '../../src/gemm/naive.js';
import type { GemmFn } from '../../src/gemm/types.js';
import {
  createWasmGemm,
  preferredWasmGemmOptions,
  relaxedSimdSupported,
  wasmSimdSupported,
} from '../../src/wasm/gemm-wasm.js';
import { getWebAssembly, type WasmApi } from '../../src/wasm/webassembly-api.js';
import { assertSameBits, mulberry32, randomArray, requireWasmGemm, transposeForms } from './helpers.js';

const simdSkip = wasmSimdSupported() ? false : 'WebAssembly SIMD is not supported by this engine';
const relaxedSkip = relaxedSimdSupported()
  ? false
  : 'relaxed SIMD is not enabled (Node 20 needs --experimental-wasm-relaxed-simd)';

interface GemmCase {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  /** Extra elements at the end of every stored row, so lda, ldb and ldc exceed the row length. */
  rowPadding: number;
  /** Elements before element (0, 0) of every matrix. */
  offset: number;
}

function describeCase(c: GemmCase): string {
  const form = `${c.transA ? 'T' : 'N'}${c.transB ? 'T' : 'N'}`;
  return `${form} m=${c.m} n=${c.n} k=${c.k} alpha=${c.alpha} beta=${c.beta} pad=${c.rowPadding} offset=${c.offset}`;
}

/**
 * Runs `gemm` and gemmNaive on the same random inputs and checks that they agree inside C and
 * that `gemm` leaves every element outside C as it was. Returns the result of `gemm`.
 */
function checkAgainstNaive(gemm: GemmFn<Float32Array>, c: GemmCase, random: () => number): Float32Array {
  const { transA, transB, m, n, k, alpha, beta, rowPadding, offset } = c;
  const aRows = transA ? k : m;
  const aCols = transA ? m : k;
  const bRows = transB ? n : k;
  const bCols = transB ? k : n;
  const lda = aCols + rowPadding;
  const ldb = bCols + rowPadding;
  const ldc = n + rowPadding;

  // One extra row at the end of each matrix, so a read or write past the span would show.
  const a = randomArray(offset + (aRows + 1) * lda, random);
  const b = randomArray(offset + (bRows + 1) * ldb, random);
  const cStart = randomArray(offset + (m + 1) * ldc, random);
  if (beta === 0) cStart.fill(Number.NaN);
  const cWasm = cStart.slice();
  const cNaive = cStart.slice();

  gemm(transA, transB, m, n, k, alpha, a, offset, lda, b, offset, ldb, beta, cWasm, offset, ldc);
  gemmNaive(transA, transB, m, n, k, alpha, a, offset, lda, b, offset, ldb, beta, cNaive, offset, ldc);

  // Inputs lie in [-1, 1], so every partial sum is at most |alpha| * K + |beta| in size, and
  // each float32 rounding moves it by at most 2^-24 of that. The bound allows K + 1 roundings
  // and the float32 rounding of alpha and beta.
  const tolerance = 4 * 2 ** -24 * (k + 1) * (Math.abs(alpha) * k + Math.abs(beta) + 1);
  const label = describeCase(c);
  for (let index = 0; index < cStart.length; index++) {
    const local = index - offset;
    const row = Math.floor(local / ldc);
    const col = local - row * ldc;
    const inside = local >= 0 && row < m && col < n;
    if (inside) {
      const error = Math.abs(cWasm[index] - cNaive[index]);
      assert.ok(error <= tolerance, `${label}: C[${row}, ${col}] wasm ${cWasm[index]} naive ${cNaive[index]}`);
    } else {
      assert.ok(Object.is(cWasm[index], cStart[index]), `${label}: wasm wrote outside C at ${index}`);
    }
  }
  return cWasm;
}

const oddSizes = [1, 3, 5, 7, 13, 17, 31, 33, 65, 130];
const alphas = [1, -0.5, 2.25];
const betas = [0, 1, 0.75, -1.5];

for (const [transA, transB] of transposeForms) {
  const form = `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;

  test(`wasm gemm ${form} odd sizes match naive`, { skip: simdSkip }, () => {
    const { gemm } = requireWasmGemm();
    const random = mulberry32(3000 + Number(transA) * 2 + Number(transB));
    let caseIndex = 0;
    for (const m of oddSizes) {
      for (const n of oddSizes) {
        // Cycle k through the sizes so every size appears as m, n and k.
        const k = oddSizes[(caseIndex + 3) % oddSizes.length];
        const gemmCase: GemmCase = {
          transA,
          transB,
          m,
          n,
          k,
          alpha: alphas[caseIndex % alphas.length],
          beta: betas[caseIndex % betas.length],
          rowPadding: caseIndex % 3,
          offset: caseIndex % 5,
        };
        checkAgainstNaive(gemm, gemmCase, random);
        caseIndex++;
      }
    }
  });

  test(`wasm gemm ${form} multi-block sizes match naive`, { skip: simdSkip }, () => {
    const { gemm } = requireWasmGemm();
    const random = mulberry32(4000 + Number(transA) * 2 + Number(transB));
    // 129 x 67 x 301 spans several row blocks of A; K = 777 is split into depth blocks, so C is
    // accumulated over blocks; N = 1500 at K = 384 spans two column blocks of B.
    const shapes: Array<[number, number, number]> = [
      [129, 67, 301],
      [33, 17, 777],
      [3, 1500, 384],
    ];
    for (const [m, n, k] of shapes) {
      checkAgainstNaive(gemm, { transA, transB, m, n, k, alpha: 0.5, beta: 0.25, rowPadding: 3, offset: 7 }, random);
      checkAgainstNaive(gemm, { transA, transB, m, n, k, alpha: 1, beta: 0, rowPadding: 0, offset: 0 }, random);
      checkAgainstNaive(gemm, { transA, transB, m, n, k, alpha: -1.25, beta: 1, rowPadding: 5, offset: 2 }, random);
    }
  });
}

test('wasm gemm beta 0 ignores NaN in C', { skip: simdSkip }, () => {
  const { gemm } = requireWasmGemm();
  const a = new Float32Array([1, 2, 3, 4, 5, 6]);
  const b = new Float32Array([1, 0, 0, 1, 1, 1]);
  const c = new Float32Array(4).fill(Number.NaN);
  gemm(false, false, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 0, c, 0, 2);
  assert.deepEqual(Array.from(c), [4, 5, 10, 11]);
});

test('wasm gemm 2x3 by 3x2 by hand', { skip: simdSkip }, () => {
  // A = [[1, 2, 3], [4, 5, 6]], B = [[7, 8], [9, 10], [11, 12]], A * B = [[58, 64], [139, 154]].
  const { gemm } = requireWasmGemm();
  const aRowMajor = new Float32Array([1, 2, 3, 4, 5, 6]);
  const aTransposed = new Float32Array([1, 4, 2, 5, 3, 6]);
  const bRowMajor = new Float32Array([7, 8, 9, 10, 11, 12]);
  const bTransposed = new Float32Array([7, 9, 11, 8, 10, 12]);
  for (const [transA, transB] of transposeForms) {
    const c = new Float32Array(4);
    const a = transA ? aTransposed : aRowMajor;
    const b = transB ? bTransposed : bRowMajor;
    gemm(transA, transB, 2, 2, 3, 1, a, 0, transA ? 2 : 3, b, 0, transB ? 3 : 2, 0, c, 0, 2);
    assert.deepEqual(Array.from(c), [58, 64, 139, 154], `transA=${transA} transB=${transB}`);
  }
});

test('wasm gemm K 0 scales C by beta', { skip: simdSkip }, () => {
  const { gemm } = requireWasmGemm();
  const empty = new Float32Array(0);
  const c = new Float32Array([1, -2, 3, 4]);
  gemm(false, false, 2, 2, 0, 1, empty, 0, 1, empty, 0, 2, 0.5, c, 0, 2);
  assert.deepEqual(Array.from(c), [0.5, -1, 1.5, 2]);
});

test('wasm gemm alpha 0 does not read A or B', { skip: simdSkip }, () => {
  const { gemm } = requireWasmGemm();
  const a = new Float32Array(6).fill(Number.NaN);
  const b = new Float32Array(6).fill(Number.NaN);
  const c = new Float32Array([1, 2, 3, Number.NaN]);
  gemm(false, false, 2, 2, 3, 0, a, 0, 3, b, 0, 2, 0, c, 0, 2);
  assert.deepEqual(Array.from(c), [0, 0, 0, 0]);
  const d = new Float32Array([1, 2, 3, 4]);
  gemm(false, false, 2, 2, 3, 0, a, 0, 3, b, 0, 2, 2, d, 0, 2);
  assert.deepEqual(Array.from(d), [2, 4, 6, 8]);
});

test('wasm gemm NaN in A propagates', { skip: simdSkip }, () => {
  const { gemm } = requireWasmGemm();
  const a = new Float32Array([1, Number.NaN, 3, 4, 5, 6]);
  const b = new Float32Array([1, 0, 0, 1, 1, 1]);
  const c = new Float32Array(4);
  gemm(false, false, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 0, c, 0, 2);
  assert.ok(Number.isNaN(c[0]), `C[0, 0] should be NaN, got ${c[0]}`);
  assert.ok(Number.isNaN(c[1]), `C[0, 1] should be NaN, got ${c[1]}`);
  assert.deepEqual(Array.from(c.subarray(2)), [10, 11]);
});

/** Inputs of one large call, for the bit-equality tests. */
function bitTestInputs(): { a: Float32Array; b: Float32Array; c: Float32Array } {
  const random = mulberry32(5000);
  // 129 x 67 x 777: edge tiles in both directions and three depth blocks.
  return { a: randomArray(129 * 777, random), b: randomArray(777 * 67, random), c: randomArray(129 * 67, random) };
}

function runBitTest(gemm: GemmFn<Float32Array>, transA: boolean, transB: boolean): Float32Array {
  const { a, b, c } = bitTestInputs();
  gemm(transA, transB, 129, 67, 777, 0.75, a, 0, transA ? 129 : 777, b, 0, transB ? 777 : 67, 0.5, c, 0, 67);
  return c;
}

test('wasm gemm repeated calls give identical bits', { skip: simdSkip }, () => {
  const first = requireWasmGemm();
  const second = requireWasmGemm();
  for (const [transA, transB] of transposeForms) {
    const label = `transA=${transA} transB=${transB}`;
    const reference = runBitTest(first.gemm, transA, transB);
    assertSameBits(runBitTest(first.gemm, transA, transB), reference, `${label} second call`);
    assertSameBits(runBitTest(second.gemm, transA, transB), reference, `${label} second instance`);
  }
});

test('wasm gemm bits do not depend on the micro-tile', { skip: simdSkip }, () => {
  // Each element is summed in one lane in depth order, so any tile must round identically.
  // These tiles also cover pack widths that are not a multiple of 4 (1, 3, 5, 6, 12).
  const reference = requireWasmGemm();
  const tiles = [
    { rowsPerTile: 1, vectorsPerRow: 1 },
    { rowsPerTile: 3, vectorsPerRow: 3 },
    { rowsPerTile: 5, vectorsPerRow: 2 },
    { rowsPerTile: 6, vectorsPerRow: 2 },
    { rowsPerTile: 8, vectorsPerRow: 1 },
  ];
  for (const [transA, transB] of transposeForms) {
    const expected = runBitTest(reference.gemm, transA, transB);
    for (const kernelShape of tiles) {
      const { gemm } = requireWasmGemm({ kernelShape });
      const label = `${kernelShape.rowsPerTile}x${4 * kernelShape.vectorsPerRow} transA=${transA} transB=${transB}`;
      assertSameBits(runBitTest(gemm, transA, transB), expected, label);
    }
  }
});

test('wasm gemm other tiles match naive on odd sizes', { skip: simdSkip }, () => {
  const random = mulberry32(6000);
  for (const kernelShape of [{ rowsPerTile: 3, vectorsPerRow: 3 }, { rowsPerTile: 5, vectorsPerRow: 1 }]) {
    const { gemm } = requireWasmGemm({ kernelShape });
    for (const [transA, transB] of transposeForms) {
      for (const [m, n, k] of [[13, 17, 31], [7, 33, 5], [65, 3, 130]] as const) {
        checkAgainstNaive(gemm, { transA, transB, m, n, k, alpha: 1.5, beta: -0.5, rowPadding: 2, offset: 1 }, random);
      }
    }
  }
});

test('wasm gemm caller memory keeps data below scratch', { skip: simdSkip }, () => {
  const wasm = getWebAssembly() as WasmApi;
  const memory = new wasm.Memory({ initial: 1 });
  const callerData = new Uint8Array(memory.buffer);
  for (let i = 0; i < callerData.length; i++) callerData[i] = i % 251;
  const created = requireWasmGemm({ memory });
  assert.equal(created.memory, memory);
  assert.equal(created.scratchStart, 65536);

  checkAgainstNaive(created.gemm, { transA: false, transB: true, m: 65, n: 33, k: 130, alpha: 1, beta: 0.5, rowPadding: 1, offset: 3 }, mulberry32(7000));

  assert.ok(memory.buffer.byteLength > 65536, 'memory should have grown for the scratch space');
  const after = new Uint8Array(memory.buffer, 0, 65536);
  for (let i = 0; i < after.length; i++) {
    if (after[i] !== i % 251) assert.fail(`caller byte ${i} changed from ${i % 251} to ${after[i]}`);
  }
});

test('wasm gemm works in shared memory', { skip: simdSkip }, () => {
  const wasm = getWebAssembly() as WasmApi;
  const memory = new wasm.Memory({ initial: 1, maximum: 2048, shared: true });
  const { gemm } = requireWasmGemm({ memory });
  const random = mulberry32(8000);
  checkAgainstNaive(gemm, { transA: true, transB: false, m: 33, n: 65, k: 400, alpha: 0.5, beta: 0, rowPadding: 2, offset: 4 }, random);
});

test('wasm gemm rejects a too-short array', { skip: simdSkip }, () => {
  const { gemm } = requireWasmGemm();
  const a = new Float32Array(5);
  const b = new Float32Array(6);
  const c = new Float32Array(4);
  assert.throws(() => gemm(false, false, 2, 2, 3, 1, a, 0, 3, b, 0, 2, 0, c, 0, 2), /A needs elements \[0, 6\) but has length 5/);
});

test('wasm gemm rejects an invalid kernel shape', { skip: simdSkip }, () => {
  assert.throws(() => createWasmGemm({ kernelShape: { rowsPerTile: 0 } }), /rowsPerTile must be an integer in \[1, 8\], got 0/);
  assert.throws(() => createWasmGemm({ kernelShape: { vectorsPerRow: 2.5 } }), /vectorsPerRow must be an integer/);
});

test('wasm gemm relaxed matches naive', { skip: simdSkip || relaxedSkip }, () => {
  const { gemm, kernelShape } = requireWasmGemm({ relaxed: true });
  assert.equal(kernelShape.relaxedMadd, true);
  for (const [transA, transB] of transposeForms) {
    const random = mulberry32(9000 + Number(transA) * 2 + Number(transB));
    for (const [m, n, k] of [[129, 67, 301], [33, 17, 777], [13, 5, 7]] as const) {
      checkAgainstNaive(gemm, { transA, transB, m, n, k, alpha: 0.75, beta: 0.5, rowPadding: 1, offset: 2 }, random);
    }
    const reference = runBitTest(gemm, transA, transB);
    assertSameBits(runBitTest(gemm, transA, transB), reference, `relaxed transA=${transA} transB=${transB}`);
  }
});

test('wasm gemm relaxed request without support throws', { skip: simdSkip || (relaxedSkip ? false : 'relaxed SIMD is enabled') }, () => {
  assert.throws(() => createWasmGemm({ relaxed: true }), /--experimental-wasm-relaxed-simd/);
});

test('wasm gemm preferred options follow relaxed support', { skip: simdSkip }, () => {
  const preferred = preferredWasmGemmOptions();
  assert.deepEqual(preferred, { relaxed: relaxedSimdSupported() });
  const { kernelShape } = requireWasmGemm(preferred);
  assert.equal(kernelShape.relaxedMadd, relaxedSimdSupported());
});
