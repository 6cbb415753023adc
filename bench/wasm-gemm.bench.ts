/**
 * Throughput of the WebAssembly SIMD GEMM against the plain-JS blocked GEMM, in GFLOP/s
 * (2 * M * N * K floating-point operations per call), on the matrix shapes of a small CNN's
 * training step.
 *
 * Legend: M x N is the output and K the shared dimension. transA and transB are as in
 * src/gemm/types.ts. The shapes come from a 3x3 convolution with 32 input channels and 64
 * filters on a 24x24 output, batch 16 (im2col rows M = 9216, depth K = 288), and from a dense
 * layer of 9216 inputs and 128 units at batch 16.
 *
 * Columns: "GFLOP/s" is from tinybench's mean wall-clock latency. "CPU GFLOP/s" divides the
 * same work by the process's CPU time (process.cpuUsage) over a separate run of calls. It stays
 * closer to the unloaded figure when other processes compete for the cores. It counts all of
 * the process's threads, so V8's background work lowers it slightly.
 *
 * Kernels: "blocked" is the plain-JS GEMM. "wasm-simd" and "wasm-relaxed" get ordinary
 * Float32Arrays, which each call copies into the module's memory (and C back out). The
 * "in place" variants get views of the module's memory, so no operand is copied; the second
 * table gives the time saved per shape. The relaxed-SIMD kernels (f32x4.relaxed_madd) are timed
 * only when the engine supports them; Node 20 needs --experimental-wasm-relaxed-simd.
 * Every kernel is first checked against gemmNaive on the same inputs, and a mismatch throws.
 *
 * Run: node --import tsx bench/wasm-gemm.bench.ts
 *      node --experimental-wasm-relaxed-simd --import tsx bench/wasm-gemm.bench.ts
 */

import { pathToFileURL } from 'node:url';

import { Bench } from 'tinybench';

import { gemmBlocked } from '../src/gemm/blocked.js';
import { gemmNaive } from '../src/gemm/naive.js';
import type { GemmFn } from '../src/gemm/types.js';
import { createWasmGemm, relaxedSimdSupported, wasmGemmScratchBytes } from '../src/wasm/gemm-wasm.js';
import { getWebAssembly, type WasmApi } from '../src/wasm/webassembly-api.js';

interface GemmShape {
  name: string;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
}

const shapes: GemmShape[] = [
  { name: 'conv forward', transA: false, transB: false, m: 9216, n: 64, k: 288 },
  { name: 'conv filter gradient', transA: true, transB: false, m: 288, n: 64, k: 9216 },
  { name: 'conv input gradient', transA: false, transB: true, m: 9216, n: 288, k: 64 },
  { name: 'dense forward', transA: false, transB: false, m: 16, n: 128, k: 9216 },
];

/** Calls timed by CPU time per kernel and shape, after tinybench's run has warmed them up. */
const CPU_TIMED_CALLS = 10;

export interface WasmGemmBenchResult {
  shape: string;
  kernel: string;
  meanMs: number;
  gflops: number;
  cpuGflops: number;
}

/** Seeded values in [-1, 1), so every run times the same inputs. */
function seededArray(length: number, seed: number): Float32Array {
  const values = new Float32Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    values[i] = state / 2147483648 - 1;
  }
  return values;
}

function describeShape(shape: GemmShape): string {
  const form = `${shape.transA ? 'T' : 'N'}${shape.transB ? 'T' : 'N'}`;
  return `${shape.name} ${form} ${shape.m}x${shape.n}x${shape.k}`;
}

/** The function and operands that one kernel is timed with on one shape. */
interface PreparedKernel {
  gemm: GemmFn<Float32Array>;
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
}

interface Kernel {
  name: string;
  prepare(shape: GemmShape, a: Float32Array, b: Float32Array, c: Float32Array): PreparedKernel;
}

/** Wraps a GEMM that takes the operands as they are. */
function plainKernel(name: string, gemm: GemmFn<Float32Array>): Kernel {
  return { name, prepare: (_shape, a, b, c) => ({ gemm, a, b, c }) };
}

/**
 * Creates a wasm kernel whose operands are views of its own memory. Each shape gets a memory that
 * contains copies of A, B and C, followed by a scratch region sized for in-place operands.
 */
function inPlaceKernel(name: string, relaxed: boolean): Kernel {
  return {
    name,
    prepare: (shape, a, b, c) => {
      const wasm = getWebAssembly() as WasmApi;
      const dataBytes = 4 * (a.length + b.length + c.length);
      const scratchOffset = Math.ceil(dataBytes / 64) * 64;
      const scratchLength = wasmGemmScratchBytes(shape.m, shape.n, shape.k, { inPlace: { a: true, b: true, c: true } });
      const memory = new wasm.Memory({ initial: Math.ceil((scratchOffset + scratchLength) / 65536) });
      const created = createWasmGemm({ memory, relaxed, scratch: { byteOffset: scratchOffset, byteLength: scratchLength } });
      if (created === null) throw new Error('WebAssembly SIMD is not supported by this engine');
      const aView = new Float32Array(memory.buffer, 0, a.length);
      const bView = new Float32Array(memory.buffer, aView.byteLength, b.length);
      const cView = new Float32Array(memory.buffer, aView.byteLength + bView.byteLength, c.length);
      aView.set(a);
      bView.set(b);
      cView.set(c);
      return { gemm: created.gemm, a: aView, b: bView, c: cView };
    },
  };
}

/** Creates the kernels to time: blocked JS, and the wasm SIMD kernels the engine supports. */
function createKernels(): Kernel[] {
  const kernels: Kernel[] = [plainKernel('blocked', gemmBlocked)];
  const wasm = createWasmGemm();
  if (wasm === null) {
    console.log('WebAssembly SIMD is not supported by this engine; timing the blocked kernel only');
    return kernels;
  }
  kernels.push(plainKernel('wasm-simd', wasm.gemm), inPlaceKernel('wasm-simd in place', false));
  if (relaxedSimdSupported()) {
    const relaxed = createWasmGemm({ relaxed: true });
    if (relaxed !== null) kernels.push(plainKernel('wasm-relaxed', relaxed.gemm), inPlaceKernel('wasm-relaxed in place', true));
  } else {
    console.log('relaxed SIMD is not enabled (Node 20: --experimental-wasm-relaxed-simd); skipping wasm-relaxed');
  }
  return kernels;
}

/**
 * Throws when a result differs from gemmNaive by more than the worst-case error of float32
 * summation: K roundings, each at most 2^-24 of a partial sum of at most K (inputs lie in
 * [-1, 1]). The bound is loose for large K, and test/wasm carries the tight accuracy checks.
 */
function checkResult(kernelName: string, label: string, k: number, c: Float32Array, reference: Float32Array): void {
  const tolerance = (k + 1) * k * 2 ** -24;
  for (let i = 0; i < c.length; i++) {
    if (!(Math.abs(c[i] - reference[i]) <= tolerance)) {
      throw new Error(`${kernelName} on ${label}: C[${i}] is ${c[i]}, expected ${reference[i]}`);
    }
  }
}

/**
 * Times every kernel on every shape and prints a table. Throws when a kernel's result differs
 * from gemmNaive by more than a float32 rounding bound.
 */
export async function runWasmGemmBench(): Promise<WasmGemmBenchResult[]> {
  const kernels = createKernels();
  const results: WasmGemmBenchResult[] = [];
  const table: Array<Record<string, string | number>> = [];

  for (const shape of shapes) {
    const { transA, transB, m, n, k } = shape;
    const a = seededArray(m * k, 1);
    const b = seededArray(k * n, 2);
    const c = new Float32Array(m * n);
    const lda = transA ? m : k;
    const ldb = transB ? k : n;
    const label = describeShape(shape);
    const flops = 2 * m * n * k;

    const reference = new Float32Array(m * n);
    gemmNaive(transA, transB, m, n, k, 1, a, 0, lda, b, 0, ldb, 0, reference, 0, n);

    for (const kernel of kernels) {
      const kernelName = kernel.name;
      const prepared = kernel.prepare(shape, a, b, c);
      const call = (): void => {
        prepared.gemm(transA, transB, m, n, k, 1, prepared.a, 0, lda, prepared.b, 0, ldb, 0, prepared.c, 0, n);
      };
      call();
      checkResult(kernelName, label, k, prepared.c, reference);

      const bench = new Bench({ time: 500, iterations: 5, warmupIterations: 3, warmupTime: 200 });
      bench.add(kernelName, call);
      await bench.run();
      const result = bench.tasks[0].result;
      if (result.state !== 'completed') {
        throw new Error(`${kernelName} on ${label}: benchmark ended in state '${result.state}'`);
      }
      const meanMs = result.latency.mean;
      const gflops = flops / (meanMs * 1e6);

      const cpuStart = process.cpuUsage();
      for (let i = 0; i < CPU_TIMED_CALLS; i++) call();
      const cpuUsed = process.cpuUsage(cpuStart);
      const cpuMs = (cpuUsed.user + cpuUsed.system) / 1000 / CPU_TIMED_CALLS;
      const cpuGflops = flops / (cpuMs * 1e6);

      results.push({ shape: label, kernel: kernelName, meanMs, gflops, cpuGflops });
      table.push({
        shape: label,
        kernel: kernelName,
        'mean ms': Number(meanMs.toFixed(2)),
        samples: result.latency.samplesCount,
        'GFLOP/s': Number(gflops.toFixed(1)),
        'CPU GFLOP/s': Number(cpuGflops.toFixed(1)),
      });
    }
  }

  console.table(table);
  printInPlaceGains(results);
  return results;
}

/** Prints, per shape, the mean time of each copying wasm kernel and of its in-place variant. */
function printInPlaceGains(results: WasmGemmBenchResult[]): void {
  const gains: Array<Record<string, string | number>> = [];
  for (const inPlace of results) {
    if (!inPlace.kernel.endsWith(' in place')) continue;
    const copying = results.find((r) => r.shape === inPlace.shape && r.kernel === inPlace.kernel.slice(0, -' in place'.length));
    if (copying === undefined) continue;
    gains.push({
      shape: inPlace.shape,
      kernel: copying.kernel,
      'copying ms': Number(copying.meanMs.toFixed(2)),
      'in place ms': Number(inPlace.meanMs.toFixed(2)),
      'time saved %': Number((100 * (1 - inPlace.meanMs / copying.meanMs)).toFixed(1)),
    });
  }
  if (gains.length > 0) console.table(gains);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await runWasmGemmBench();
  // With --json, the last line contains the results for bench/run.ts.
  if (process.argv.includes('--json')) console.log(JSON.stringify(results));
}
