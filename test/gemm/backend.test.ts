import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Arena } from '../../src/core/arena.js';
import { Rng } from '../../src/core/random.js';
import { arenaGemm, checkBackend, getBackend, gemmFor, resolveBackend, setBackend } from '../../src/gemm/backend.js';
import { gemmBlocked } from '../../src/gemm/blocked.js';
import { wasmSimdSupported } from '../../src/wasm/gemm-wasm.js';

const simd = wasmSimdSupported();

test('backend auto resolves to wasm with SIMD', () => {
  assert.equal(resolveBackend('auto'), simd ? 'wasm' : 'js');
  assert.equal(resolveBackend('js'), 'js');
});

test('backend unknown name rejected', () => {
  assert.throws(() => checkBackend('gpu'), { name: 'RangeError', message: /Unknown backend "gpu"; use one of auto, js, wasm/ });
  assert.throws(() => setBackend('cuda' as never), { name: 'RangeError' });
});

test('setBackend js then auto', () => {
  try {
    setBackend('js');
    assert.equal(getBackend(), 'js');
  } finally {
    setBackend('auto');
  }
  assert.equal(getBackend(), simd ? 'wasm' : 'js');
});

test('gemmFor js is the blocked kernel', () => {
  assert.equal(gemmFor('js'), gemmBlocked);
});

test('arena gemm equals own-memory gemm bit for bit', { skip: simd ? false : 'WebAssembly SIMD is not supported' }, () => {
  const [m, n, k] = [37, 21, 300];
  const arena = new Arena();
  const gemm = arenaGemm('wasm', arena);
  const rng = new Rng(5);
  const a = arena.allocFloat32(m * k);
  const b = arena.allocFloat32(k * n);
  const c = arena.allocFloat32(m * n);
  for (let i = 0; i < a.length; i++) a[i] = rng.uniform(-1, 1);
  for (let i = 0; i < b.length; i++) b[i] = rng.uniform(-1, 1);
  gemm(false, false, m, n, k, 1, a, 0, k, b, 0, n, 0, c, 0, n);
  const expected = new Float32Array(m * n);
  gemmFor('wasm')(false, false, m, n, k, 1, a.slice(), 0, k, b.slice(), 0, n, 0, expected, 0, n);
  assert.deepEqual(c, expected);
  // Operands outside the arena go to the own-memory instance and give the same bits.
  const outside = new Float32Array(m * n);
  gemm(false, false, m, n, k, 1, a.slice(), 0, k, b, 0, n, 0, outside, 0, n);
  assert.deepEqual(outside, expected);
});
