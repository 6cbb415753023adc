/**
 * Kernel backends: `js` runs the plain TypeScript kernels, `wasm` the WebAssembly SIMD128
 * GEMM generated at run time (src/wasm). The default, `auto`, is the fastest one the
 * runtime supports. Each thread creates its own GEMM instance, so workers never share
 * scratch memory.
 */
import type { Arena } from '../core/arena.js';
import { createWasmGemm, preferredWasmGemmOptions, wasmGemmScratchBytes, wasmSimdSupported } from '../wasm/gemm-wasm.js';
import { formatValue } from '../errors.js';
import { gemmBlocked } from './blocked.js';
import type { GemmFn } from './types.js';

export const BACKENDS = ['auto', 'js', 'wasm'] as const;
export type BackendName = (typeof BACKENDS)[number];
export type ResolvedBackend = Exclude<BackendName, 'auto'>;

let current: BackendName = 'auto';

export function checkBackend(value: unknown): BackendName {
  if (typeof value !== 'string' || !(BACKENDS as readonly string[]).includes(value)) {
    throw new RangeError(`Unknown backend ${formatValue(value)}; use one of ${BACKENDS.join(', ')}.`);
  }
  return value as BackendName;
}

/** Resolves `auto` to the fastest supported backend; rejects `wasm` where SIMD is missing. */
export function resolveBackend(name: BackendName = current): ResolvedBackend {
  if (name === 'js') return 'js';
  const simd = wasmSimdSupported();
  if (name === 'wasm' && !simd) {
    throw new Error('The wasm backend needs WebAssembly SIMD128, which this runtime lacks; use the js backend.');
  }
  return simd ? 'wasm' : 'js';
}

/** Sets the backend that models created sessions with from now on. */
export function setBackend(name: BackendName): void {
  const checked = checkBackend(name);
  resolveBackend(checked);
  current = checked;
}

/** Returns the backend in effect, with `auto` resolved. */
export function getBackend(): ResolvedBackend {
  return resolveBackend(current);
}

let wasmGemm: GemmFn<Float32Array> | null = null;

function missingSimd(): Error {
  return new Error('The wasm backend needs WebAssembly SIMD128, which this runtime lacks; use the js backend.');
}

/**
 * Returns this thread's GEMM for a resolved backend. The wasm one works in a memory of its
 * own, copying operands in and out.
 */
export function gemmFor(backend: ResolvedBackend): GemmFn<Float32Array> {
  if (backend === 'js') return gemmBlocked;
  if (wasmGemm === null) {
    const created = createWasmGemm(preferredWasmGemmOptions());
    if (created === null) throw missingSimd();
    wasmGemm = created.gemm;
  }
  return wasmGemm;
}

/** Dimensions large enough that the packing space covers any call (the blocks cap it). */
const UNBOUNDED_DIM = 1 << 24;

/**
 * Returns a GEMM for one thread that works inside `arena`: operands that live in the arena are
 * read and written in place, and the packing scratch is a region of the arena reserved here.
 * A call with any operand outside the arena goes to the thread's own-memory GEMM instead.
 */
export function arenaGemm(backend: ResolvedBackend, arena: Arena): GemmFn<Float32Array> {
  if (backend === 'js') return gemmBlocked;
  const byteLength = wasmGemmScratchBytes(UNBOUNDED_DIM, UNBOUNDED_DIM, UNBOUNDED_DIM, { inPlace: { a: true, b: true, c: true } });
  const byteOffset = arena.allocate(byteLength);
  const created = createWasmGemm({ ...preferredWasmGemmOptions(), memory: arena.memory, scratch: { byteOffset, byteLength } });
  if (created === null) throw missingSimd();
  const inArena = created.gemm;
  const fallback = gemmFor('wasm');
  return (transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc) => {
    const gemm = created.isInMemory(a) && created.isInMemory(b) && created.isInMemory(c) ? inArena : fallback;
    gemm(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
  };
}
