/**
 * Kernel backends: `js` runs the plain TypeScript kernels, `wasm` the WebAssembly SIMD128
 * GEMM generated at run time (src/wasm). The default, `auto`, is the fastest one the
 * runtime supports. Each thread creates its own GEMM instance, so workers never share
 * scratch memory.
 */
import { createWasmGemm, wasmSimdSupported } from '../wasm/gemm-wasm.js';
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

/** The backend in effect, with `auto` resolved. */
export function getBackend(): ResolvedBackend {
  return resolveBackend(current);
}

let wasmGemm: GemmFn<Float32Array> | null = null;

/** Returns this thread's GEMM for a resolved backend. */
export function gemmFor(backend: ResolvedBackend): GemmFn<Float32Array> {
  if (backend === 'js') return gemmBlocked;
  if (wasmGemm === null) {
    const created = createWasmGemm();
    if (created === null) throw new Error('The wasm backend needs WebAssembly SIMD128, which this runtime lacks; use the js backend.');
    wasmGemm = created.gemm;
  }
  return wasmGemm;
}
