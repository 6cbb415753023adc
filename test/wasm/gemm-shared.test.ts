import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';

import { gemmNaive } from '../../src/gemm/naive.js';
import { wasmGemmScratchBytes, wasmSimdSupported } from '../../src/wasm/gemm-wasm.js';
import { getWebAssembly, type WasmApi, type WasmMemory } from '../../src/wasm/webassembly-api.js';
import type { PlannedCall, WorkerPlan, WorkerReport } from './fixtures/gemm-worker.js';
import { assertSameBits, fillRandom, formName, mulberry32, randomArray, requireWasmGemm } from './helpers.js';

const simdSkip = wasmSimdSupported() ? false : 'WebAssembly SIMD is not supported by this engine';
const PAGE_BYTES = 65536;

function sharedMemory(pages: number): WasmMemory {
  const wasm = getWebAssembly() as WasmApi;
  return new wasm.Memory({ initial: pages, maximum: pages + 64, shared: true });
}

interface Shape {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  beta: number;
  /** Extra elements at the end of every stored row. */
  rowPadding: number;
}

const shapes: Shape[] = [
  { transA: false, transB: false, m: 150, n: 70, k: 400, alpha: 1, beta: 0.5, rowPadding: 1 },
  // Three depth blocks.
  { transA: true, transB: false, m: 64, n: 40, k: 900, alpha: -0.5, beta: 0, rowPadding: 0 },
  { transA: false, transB: true, m: 200, n: 100, k: 64, alpha: 2, beta: 1, rowPadding: 3 },
  { transA: true, transB: true, m: 33, n: 17, k: 290, alpha: 0.75, beta: -0.5, rowPadding: 2 },
];

/** Leading dimensions and array lengths of a shape's stored operands. */
function storedOperands(shape: Shape): { lda: number; ldb: number; ldc: number; aLength: number; bLength: number; cLength: number } {
  const { transA, transB, m, n, k, rowPadding } = shape;
  const lda = (transA ? m : k) + rowPadding;
  const ldb = (transB ? k : n) + rowPadding;
  const ldc = n + rowPadding;
  return {
    lda,
    ldb,
    ldc,
    aLength: ((transA ? k : m) - 1) * lda + (transA ? m : k),
    bLength: ((transB ? n : k) - 1) * ldb + (transB ? k : n),
    cLength: (m - 1) * ldc + n,
  };
}

/** Hands out byte offsets of consecutive float arrays in a memory, 64-byte aligned plus 12 bytes. */
class Allocator {
  constructor(public nextByte: number) {}

  take(floats: number): number {
    const byte = Math.ceil(this.nextByte / 64) * 64 + 12;
    this.nextByte = byte + 4 * floats;
    return byte;
  }
}

test('two instances share one memory', { skip: simdSkip }, () => {
  const random = mulberry32(21000);
  const maxM = Math.max(...shapes.map((s) => s.m));
  const maxN = Math.max(...shapes.map((s) => s.n));
  const maxK = Math.max(...shapes.map((s) => s.k));
  const scratchLength = wasmGemmScratchBytes(maxM, maxN, maxK, { inPlace: { a: true, b: true, c: true } });
  // 48 pages (3 MiB) hold the operands.
  const memory = sharedMemory(Math.ceil((4096 + 2 * scratchLength) / PAGE_BYTES) + 48);
  const words = new Uint32Array(memory.buffer);
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i, 2654435761) >>> 0;

  const scratches = [
    { byteOffset: 4096, byteLength: scratchLength },
    { byteOffset: 4096 + scratchLength, byteLength: scratchLength },
  ];
  const instances = scratches.map((scratch) => requireWasmGemm({ memory, scratch }));
  const separate = requireWasmGemm();
  const allocator = new Allocator(4096 + 2 * scratchLength);

  // Each instance gets its own operands; calls alternate between the instances.
  const runs = shapes.flatMap((shape, index) =>
    instances.map((instance, which) => {
      const stored = storedOperands(shape);
      const a = new Float32Array(memory.buffer, allocator.take(stored.aLength), stored.aLength);
      const b = new Float32Array(memory.buffer, allocator.take(stored.bLength), stored.bLength);
      const c = new Float32Array(memory.buffer, allocator.take(stored.cLength), stored.cLength);
      fillRandom(a, random);
      fillRandom(b, random);
      fillRandom(c, random);
      const expected = c.slice();
      separate.gemm(shape.transA, shape.transB, shape.m, shape.n, shape.k, shape.alpha, a.slice(), 0, stored.lda, b.slice(), 0, stored.ldb, shape.beta, expected, 0, stored.ldc);
      return { shape, stored, instance, a, b, c, expected, label: `${formName(shape.transA, shape.transB)} shape ${index} instance ${which}` };
    }),
  );
  assert.ok(allocator.nextByte <= memory.buffer.byteLength, 'operands do not fit the memory');
  const before = new Uint32Array(memory.buffer).slice();

  for (const run of runs) {
    const { shape, stored, instance, a, b, c } = run;
    assert.ok(instance.isInMemory(a), `${run.label}: A not in memory`);
    assert.ok(instance.isInMemory(b), `${run.label}: B not in memory`);
    assert.ok(instance.isInMemory(c), `${run.label}: C not in memory`);
    instance.gemm(shape.transA, shape.transB, shape.m, shape.n, shape.k, shape.alpha, a, 0, stored.lda, b, 0, stored.ldb, shape.beta, c, 0, stored.ldc);
  }

  for (const run of runs) assertSameBits(run.c, run.expected, run.label);
  // Outside the two scratch regions only the C arrays may change.
  const after = new Uint32Array(memory.buffer);
  const cRanges = runs.map((run) => [run.c.byteOffset, run.c.byteOffset + run.c.byteLength]);
  for (let i = 0; i < before.length; i++) {
    const byte = 4 * i;
    if (byte >= 4096 && byte < 4096 + 2 * scratchLength) continue;
    if (cRanges.some(([start, end]) => byte >= start && byte < end)) continue;
    if (before[i] !== after[i]) assert.fail(`word at byte ${byte} changed`);
  }
  assert.equal(memory.buffer.byteLength, before.length * 4, 'the memory grew');
});

test('shared buffer objects of the memory are used in place', { skip: simdSkip }, () => {
  // After growth, memory.buffer is a new SharedArrayBuffer and the old one stays valid. An
  // instance created after the growth has never seen the old object, so it must probe it.
  const memory = sharedMemory(4);
  const oldBuffer = memory.buffer as SharedArrayBuffer;
  memory.grow(1);
  assert.notEqual(memory.buffer, oldBuffer, 'growth should return a new buffer object');
  const scratchLength = wasmGemmScratchBytes(40, 30, 50, { inPlace: { a: true, b: true } });
  const created = requireWasmGemm({ memory, scratch: { byteOffset: 8192, byteLength: scratchLength } });
  assert.ok(8192 + scratchLength <= oldBuffer.byteLength, 'scratch must lie within the old buffer');

  const random = mulberry32(22000);
  const allocator = new Allocator(8192 + scratchLength);
  const a = new Float32Array(oldBuffer, allocator.take(40 * 50), 40 * 50);
  const b = new Float32Array(oldBuffer, allocator.take(50 * 30), 50 * 30);
  const c = new Float32Array(oldBuffer, allocator.take(40 * 30), 40 * 30);
  fillRandom(a, random);
  fillRandom(b, random);
  fillRandom(c, random);
  assert.ok(created.isInMemory(a), 'the old buffer should count as the memory');

  // A buffer of another shared memory, of the same size, must not count as this memory.
  const other = sharedMemory(5);
  const foreign = new Float32Array(other.buffer, c.byteOffset, c.length);
  foreign.set(c);
  assert.equal(created.isInMemory(foreign), false, 'a foreign buffer counted as the memory');

  const expected = c.slice();
  requireWasmGemm().gemm(false, false, 40, 30, 50, 1, a.slice(), 0, 50, b.slice(), 0, 30, 0.5, expected, 0, 30);
  // The scratch has room for a copy of C only, so this call fails unless A and B are read in place.
  created.gemm(false, false, 40, 30, 50, 1, a, 0, 50, b, 0, 30, 0.5, foreign, 0, 30);
  assertSameBits(foreign, expected, 'foreign C');
});

/** Runs a worker on `plan` and returns its report; rejects when the worker fails or exits early. */
function runWorker(plan: WorkerPlan): Promise<WorkerReport> {
  const worker = new Worker(new URL('./fixtures/gemm-worker-entry.mjs', import.meta.url));
  return new Promise<WorkerReport>((resolve, reject) => {
    let report: WorkerReport | undefined;
    worker.on('message', (message: WorkerReport) => {
      report = message;
    });
    worker.on('error', reject);
    worker.on('exit', (code) => {
      if (report !== undefined && code === 0) resolve(report);
      else reject(new Error(`GEMM worker exited with code ${code} before reporting`));
    });
    worker.postMessage(plan);
  });
}

test('two threads run GEMMs on one shared memory', { skip: simdSkip, timeout: 120_000 }, async (t) => {
  const random = mulberry32(23000);
  const repeats = 3;
  const maxM = Math.max(...shapes.map((s) => s.m));
  const maxN = Math.max(...shapes.map((s) => s.n));
  const maxK = Math.max(...shapes.map((s) => s.k));
  // The second worker passes B as a copy, so its scratch also needs room for a copy of B.
  const scratchLengths = [
    wasmGemmScratchBytes(maxM, maxN, maxK, { inPlace: { a: true, b: true, c: true } }),
    wasmGemmScratchBytes(maxM, maxN, maxK, { inPlace: { a: true, c: true } }),
  ];
  // 64 pages (4 MiB) hold the operands and the copies of C.
  const memory = sharedMemory(Math.ceil((4096 + scratchLengths[0] + scratchLengths[1]) / PAGE_BYTES) + 64);
  const buffer = memory.buffer as SharedArrayBuffer;
  const words = new Uint32Array(buffer);
  for (let i = 0; i < words.length; i++) words[i] = Math.imul(i + 7, 2246822519) >>> 0;

  const barrier = new SharedArrayBuffer(8);
  const scratches = [
    { byteOffset: 4096, byteLength: scratchLengths[0] },
    { byteOffset: 4096 + scratchLengths[0], byteLength: scratchLengths[1] },
  ];
  const allocator = new Allocator(4096 + scratchLengths[0] + scratchLengths[1]);
  const separate = requireWasmGemm();

  interface Check {
    label: string;
    c: Float32Array;
    expected: Float32Array;
  }
  const checks: Check[] = [];
  const plans: WorkerPlan[] = [0, 1].map((which) => {
    const calls: PlannedCall[] = [];
    shapes.forEach((shape, index) => {
      const stored = storedOperands(shape);
      const aByte = allocator.take(stored.aLength);
      const bByte = allocator.take(stored.bLength);
      fillRandom(new Float32Array(buffer, aByte, stored.aLength), random);
      fillRandom(new Float32Array(buffer, bByte, stored.bLength), random);
      const cStart = randomArray(stored.cLength, random);

      const a = new Float32Array(buffer, aByte, stored.aLength).slice();
      const b = new Float32Array(buffer, bByte, stored.bLength).slice();
      const expected = cStart.slice();
      separate.gemm(shape.transA, shape.transB, shape.m, shape.n, shape.k, shape.alpha, a, 0, stored.lda, b, 0, stored.ldb, shape.beta, expected, 0, stored.ldc);
      const naive = cStart.slice();
      gemmNaive(shape.transA, shape.transB, shape.m, shape.n, shape.k, shape.alpha, a, 0, stored.lda, b, 0, stored.ldb, shape.beta, naive, 0, stored.ldc);
      const tolerance = 4 * 2 ** -24 * (shape.k + 1) * (Math.abs(shape.alpha) * shape.k + Math.abs(shape.beta) + 1);
      for (let i = 0; i < naive.length; i++) {
        assert.ok(Math.abs(expected[i] - naive[i]) <= tolerance, `reference differs from naive at ${i}`);
      }

      // Each repeat writes its own copy of C, so every call of the thread can be checked.
      for (let repeat = 0; repeat < repeats; repeat++) {
        const cByte = allocator.take(stored.cLength);
        const c = new Float32Array(buffer, cByte, stored.cLength);
        c.set(cStart);
        calls.push({ ...shape, ...stored, aByte, bByte, cByte });
        checks.push({ label: `thread ${which} ${formName(shape.transA, shape.transB)} shape ${index} repeat ${repeat}`, c, expected });
      }
    });
    return { memory, buffer, viewsFromPostedBuffer: which === 1, copyB: which === 1, scratch: scratches[which], barrier, parties: 2, calls };
  });
  assert.ok(allocator.nextByte <= buffer.byteLength, 'operands do not fit the memory');
  const before = words.slice();

  const reports = await Promise.all(plans.map((plan) => runWorker(plan)));

  assert.deepEqual(reports[0].inMemory, [true, true, true], 'thread 0 in-place operands');
  assert.deepEqual(reports[1].inMemory, [true, false, true], 'thread 1 in-place operands');
  for (const check of checks) assertSameBits(check.c, check.expected, check.label);

  // Outside the two scratch regions only the C copies may change.
  const cRanges = checks.map((check) => [check.c.byteOffset, check.c.byteOffset + check.c.byteLength]);
  const scratchEnd = 4096 + scratchLengths[0] + scratchLengths[1];
  const after = new Uint32Array(memory.buffer);
  assert.equal(after.length, before.length, 'the memory grew');
  for (let i = 0; i < before.length; i++) {
    const byte = 4 * i;
    if (byte >= 4096 && byte < scratchEnd) continue;
    if (cRanges.some(([start, end]) => byte >= start && byte < end)) continue;
    if (before[i] !== after[i]) assert.fail(`word at byte ${byte} changed`);
  }
  const overlapMs = Math.min(reports[0].endMs, reports[1].endMs) - Math.max(reports[0].startMs, reports[1].startMs);
  assert.ok(overlapMs > 0, `the threads' calls did not overlap in time (${overlapMs} ms)`);
  t.diagnostic(`threads ran concurrently for ${overlapMs.toFixed(1)} ms`);
});
