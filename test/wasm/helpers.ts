/** Helpers shared by the WebAssembly GEMM tests and their worker fixture. */

import assert from 'node:assert/strict';

import { createWasmGemm, type WasmGemm, type WasmGemmOptions } from '../../src/wasm/gemm-wasm.js';

/** mulberry32: a 32-bit seeded PRNG returning floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomArray(length: number, random: () => number): Float32Array {
  const values = new Float32Array(length);
  fillRandom(values, random);
  return values;
}

/** Fills `values` with seeded floats in [-1, 1). */
export function fillRandom(values: Float32Array, random: () => number): void {
  for (let i = 0; i < values.length; i++) values[i] = random() * 2 - 1;
}

/** Returns the module's GEMM, failing the test when the engine has no SIMD. */
export function requireWasmGemm(options: WasmGemmOptions = {}): WasmGemm {
  const created = createWasmGemm(options);
  assert.ok(created !== null, 'createWasmGemm returned null although SIMD validated');
  return created;
}

export const transposeForms: Array<[boolean, boolean]> = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
];

export function formName(transA: boolean, transB: boolean): string {
  return `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;
}

export function assertSameBits(actual: Float32Array, expected: Float32Array, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: lengths differ`);
  const actualBits = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const expectedBits = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  for (let i = 0; i < actualBits.length; i++) {
    if (actualBits[i] !== expectedBits[i]) {
      assert.fail(`${label}: bits differ at ${i}: ${actual[i]} vs ${expected[i]}`);
    }
  }
}
