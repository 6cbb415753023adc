/**
 * Convolution forward and backward of the MNIST CNN's second layer (26x26x32 input, 3x3
 * kernel, 64 filters, batch 16), per GEMM backend, in GFLOP/s (2 * N*P*Q * R*S*C * K flops
 * for each of the three passes). Each kernel is checked against the naive convolution once
 * before it is timed.
 *
 * Run: node --import tsx bench/conv.bench.ts
 */
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { Rng } from '../src/core/random.js';
import { gemmFor } from '../src/gemm/backend.js';
import type { GemmFn } from '../src/gemm/types.js';
import { conv2dBackwardFilter, conv2dBackwardInput, conv2dForward, convGeometry } from '../src/kernels/conv2d.js';
import { conv2dForwardNaive } from '../src/kernels/conv2d-naive.js';
import { wasmSimdSupported } from '../src/wasm/gemm-wasm.js';

export interface ConvBenchResult {
  backend: string;
  pass: string;
  gflops: number;
}

const N = 16;

function seeded(length: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length }, () => rng.uniform(-1, 1));
}

export async function runConvBench(): Promise<ConvBenchResult[]> {
  const g = convGeometry(26, 26, 32, 3, 3, 64, 1, 1, 'valid');
  const rows = N * g.outH * g.outW;
  const depth = g.kH * g.kW * g.inC;
  const flops = 2 * rows * depth * g.outC;
  const x = seeded(N * g.inH * g.inW * g.inC, 1);
  const w = seeded(depth * g.outC, 2);
  const dY = seeded(rows * g.outC, 3);
  const y = new Float32Array(rows * g.outC);
  const reference = new Float32Array(rows * g.outC);
  const cols = new Float32Array(rows * depth);
  const dX = new Float32Array(x.length);
  const dW = new Float32Array(w.length);
  conv2dForwardNaive(reference, x, w, N, g);

  const backends: [string, GemmFn<Float32Array>][] = [['js', gemmFor('js')]];
  if (wasmSimdSupported()) backends.push(['wasm', gemmFor('wasm')]);
  const results: ConvBenchResult[] = [];
  for (const [backend, gemm] of backends) {
    conv2dForward(y, x, w, cols, N, g, gemm);
    for (let i = 0; i < y.length; i++) {
      if (!(Math.abs(y[i] - reference[i]) <= 1e-4 * depth)) throw new Error(`${backend} conv forward: y[${i}] is ${y[i]}, expected ${reference[i]}`);
    }
    const bench = new Bench({ time: 500, iterations: 5, warmupIterations: 2 });
    bench.add('forward', () => conv2dForward(y, x, w, cols, N, g, gemm));
    bench.add('backward filter', () => conv2dBackwardFilter(dW, dY, cols, N, g, gemm));
    bench.add('backward input', () => conv2dBackwardInput(dX, dY, w, cols, N, g, gemm));
    await bench.run();
    for (const task of bench.tasks) {
      const result = task.result;
      if (result.state !== 'completed') throw new Error(`${backend} ${task.name}: benchmark ended in state '${result.state}'`);
      results.push({ backend, pass: task.name, gflops: flops / (result.latency.mean * 1e6) });
    }
  }
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  console.table((await runConvBench()).map((r) => ({ ...r, gflops: Number(r.gflops.toFixed(2)) })));
}
