/**
 * Structural types for the part of the WebAssembly JavaScript API that src/wasm uses.
 *
 * This project compiles with lib ES2022 and @types/node 20, and neither declares the global
 * WebAssembly namespace (TypeScript declares it only in lib.dom and lib.webworker). The types
 * here are local interfaces rather than global declarations, so they cannot clash with those
 * libs if a later configuration adds them, and a real WebAssembly.Memory satisfies WasmMemory.
 */

/** A WebAssembly.Memory: a resizable buffer of 64 KiB pages. */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  /** Adds `deltaPages` pages and returns the previous size in pages; throws RangeError on failure. */
  grow(deltaPages: number): number;
}

export interface WasmMemoryDescriptor {
  initial: number;
  maximum?: number;
  shared?: boolean;
}

/** An instantiated module; its exports are functions and other values by name. */
export interface WasmInstance {
  readonly exports: Record<string, unknown>;
}

/** The global WebAssembly object, reduced to what this directory calls. */
export interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: Record<string, Record<string, unknown>>) => WasmInstance;
  Memory: new (descriptor: WasmMemoryDescriptor) => WasmMemory;
}

/** Returns the global WebAssembly object, or undefined when the engine has none. */
export function getWebAssembly(): WasmApi | undefined {
  return (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
}
