import assert from 'node:assert/strict';
import { test } from 'node:test';

import { FunctionBuilder, ModuleBuilder, ValType } from '../../src/wasm/emitter.js';
import { wasmSimdSupported } from '../../src/wasm/gemm-wasm.js';
import { encodeSignedLeb128, encodeUnsignedLeb128 } from '../../src/wasm/leb128.js';
import { getWebAssembly, type WasmApi } from '../../src/wasm/webassembly-api.js';

const { i32, f32 } = ValType;

/** Worked by hand: 7-bit groups, least significant first, high bit set on all but the last. */
const unsignedCases: Array<[number, number[]]> = [
  [0, [0x00]],
  [1, [0x01]],
  [127, [0x7f]],
  [128, [0x80, 0x01]],
  [300, [0xac, 0x02]],
  [16384, [0x80, 0x80, 0x01]],
  [624485, [0xe5, 0x8e, 0x26]],
  [0xffffffff, [0xff, 0xff, 0xff, 0xff, 0x0f]],
];

/** Worked by hand: two's-complement groups, ending when bit 6 of the last group is the sign. */
const signedCases: Array<[number, number[]]> = [
  [0, [0x00]],
  [1, [0x01]],
  [-1, [0x7f]],
  [63, [0x3f]],
  [64, [0xc0, 0x00]],
  [-64, [0x40]],
  [-65, [0xbf, 0x7f]],
  [-123456, [0xc0, 0xbb, 0x78]],
  [0x7fffffff, [0xff, 0xff, 0xff, 0xff, 0x07]],
  [-0x80000000, [0x80, 0x80, 0x80, 0x80, 0x78]],
];

for (const [value, bytes] of unsignedCases) {
  test(`unsigned LEB128 of ${value}`, () => {
    assert.deepEqual(encodeUnsignedLeb128(value), bytes);
  });
}

for (const [value, bytes] of signedCases) {
  test(`signed LEB128 of ${value}`, () => {
    assert.deepEqual(encodeSignedLeb128(value), bytes);
  });
}

test('LEB128 rejects out-of-range values', () => {
  assert.throws(() => encodeUnsignedLeb128(-1), RangeError);
  assert.throws(() => encodeUnsignedLeb128(2 ** 32), RangeError);
  assert.throws(() => encodeUnsignedLeb128(1.5), RangeError);
  assert.throws(() => encodeSignedLeb128(2 ** 31), RangeError);
  assert.throws(() => encodeSignedLeb128(-(2 ** 31) - 1), RangeError);
});

test('empty module bytes by hand', () => {
  assert.deepEqual(Array.from(new ModuleBuilder().build()), [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]);
});

/**
 * (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add), written
 * out section by section.
 */
test('add module bytes by hand', () => {
  const add = new FunctionBuilder([i32, i32], [i32]);
  add.localGet(0).localGet(1).i32Add();
  const module = new ModuleBuilder();
  module.addFunction(add, 'add');
  const expected = [
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...[0x01, 0x07, 0x01, 0x60, 0x02, 0x7f, 0x7f, 0x01, 0x7f],
    ...[0x03, 0x02, 0x01, 0x00],
    ...[0x07, 0x07, 0x01, 0x03, 0x61, 0x64, 0x64, 0x00, 0x00],
    ...[0x0a, 0x09, 0x01, 0x07, 0x00, 0x20, 0x00, 0x20, 0x01, 0x6a, 0x0b],
  ];
  assert.deepEqual(Array.from(module.build()), expected);
});

function instantiate(module: ModuleBuilder, imports: Record<string, Record<string, unknown>> = {}): Record<string, unknown> {
  const wasm = getWebAssembly() as WasmApi;
  return new wasm.Instance(new wasm.Module(module.build()), imports).exports;
}

test('loop with labels sums 1 to n', () => {
  // sum = 0; i = n; while (i != 0) { sum += i; i-- }, with a block around the loop for n == 0.
  const f = new FunctionBuilder([i32], [i32]);
  const sum = f.addLocal(i32);
  const exit = f.block();
  f.localGet(0).i32Eqz().brIf(exit);
  const loop = f.loop();
  f.localGet(sum).localGet(0).i32Add().localSet(sum);
  f.localGet(0).i32Const(-1).i32Add().localTee(0).brIf(loop);
  f.end();
  f.end();
  f.localGet(sum);
  const module = new ModuleBuilder();
  module.addFunction(f, 'sum');
  const exports = instantiate(module) as { sum: (n: number) => number };
  assert.equal(exports.sum(0), 0);
  assert.equal(exports.sum(1), 1);
  assert.equal(exports.sum(100), 5050);
});

test('locals of mixed types keep their indices', () => {
  // Locals declared i32, f32, i32 form three runs; the f32 one must stay index 2.
  const f = new FunctionBuilder([f32], [f32]);
  const first = f.addLocal(i32);
  const scaled = f.addLocal(f32);
  const last = f.addLocal(i32);
  assert.deepEqual([first, scaled, last], [1, 2, 3]);
  f.localGet(0).f32Const(2.5).f32Mul().localSet(scaled);
  f.i32Const(7).localSet(last);
  f.localGet(scaled);
  const module = new ModuleBuilder();
  module.addFunction(f, 'scale');
  const exports = instantiate(module) as { scale: (x: number) => number };
  assert.equal(exports.scale(4), 10);
});

test('memory import and f32 load and store', () => {
  // store(address, value) writes value * value at address; memory comes from the caller.
  const f = new FunctionBuilder([i32, f32]);
  f.localGet(0).localGet(1).localGet(1).f32Mul().f32Store(8);
  const module = new ModuleBuilder();
  module.importMemory('env', 'memory', { minimumPages: 1 });
  module.addFunction(f, 'store');
  const wasm = getWebAssembly() as WasmApi;
  const memory = new wasm.Memory({ initial: 1 });
  const exports = instantiate(module, { env: { memory } }) as { store: (address: number, value: number) => void };
  exports.store(4, 3);
  assert.equal(new Float32Array(memory.buffer)[3], 9);
});

const simdSkip = wasmSimdSupported() ? false : 'WebAssembly SIMD is not supported by this engine';

test('f32x4 splat, multiply, add and shuffle', { skip: simdSkip }, () => {
  // out[0..3] = reverse(load(src) * splat(scale) + load(src)), reversed by a lane shuffle.
  const f = new FunctionBuilder([i32, i32, f32]);
  const [dst, src, scale] = [0, 1, 2];
  const reverse = [3, 2, 1, 0].flatMap((lane) => [4 * lane, 4 * lane + 1, 4 * lane + 2, 4 * lane + 3]);
  f.localGet(dst);
  f.localGet(src).v128Load().localGet(scale).f32x4Splat().f32x4Mul();
  f.localGet(src).v128Load().f32x4Add();
  f.v128Zero().i8x16Shuffle(reverse);
  f.v128Store();
  const module = new ModuleBuilder();
  module.importMemory('env', 'memory', { minimumPages: 1 });
  module.addFunction(f, 'run');
  const wasm = getWebAssembly() as WasmApi;
  const memory = new wasm.Memory({ initial: 1 });
  const heap = new Float32Array(memory.buffer);
  heap.set([1, 2, 3, 4], 4);
  const exports = instantiate(module, { env: { memory } }) as { run: (dst: number, src: number, scale: number) => void };
  exports.run(64, 16, 2);
  assert.deepEqual(Array.from(heap.subarray(16, 20)), [12, 9, 6, 3]);
});

test('load32 splat and extract lane', { skip: simdSkip }, () => {
  const f = new FunctionBuilder([i32], [f32]);
  f.localGet(0).v128Load32Splat(4).f32x4ExtractLane(3);
  const module = new ModuleBuilder();
  module.importMemory('env', 'memory', { minimumPages: 1 });
  module.addFunction(f, 'lane');
  const wasm = getWebAssembly() as WasmApi;
  const memory = new wasm.Memory({ initial: 1 });
  new Float32Array(memory.buffer).set([5, 6, 7], 0);
  const exports = instantiate(module, { env: { memory } }) as { lane: (address: number) => number };
  assert.equal(exports.lane(4), 7);
});

test('branch to a closed block throws', () => {
  const f = new FunctionBuilder([]);
  const block = f.block();
  f.end();
  assert.throws(() => f.br(block), /not open/);
  assert.throws(() => f.end(), /without an open block/);
});

test('unclosed block fails to encode', () => {
  const f = new FunctionBuilder([]);
  f.loop();
  assert.throws(() => f.encodeBody(), /unclosed/);
});

test('shared memory import needs a maximum', () => {
  assert.throws(() => new ModuleBuilder().importMemory('env', 'memory', { minimumPages: 1, shared: true }), RangeError);
});
