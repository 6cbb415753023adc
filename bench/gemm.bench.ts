/**
 * GEMM throughput on the matrix shapes of a small CNN's training step, in GFLOP/s
 * (2 * M * N * K floating-point operations per call).
 *
 * Legend: M x N is the output and K the shared dimension. transA and transB are as in
 * src/gemm/types.ts.
 * The shapes come from a 3x3 convolution with 32 input channels and 64 filters on a 24x24
 * output, batch 16 (im2col rows M = 16 * 24 * 24 = 9216, depth K = 3 * 3 * 32 = 288), and
 * from a dense layer of 9216 inputs and 128 units at batch 16.
 *
 * Every kernel is first checked against gemmNaive on the same inputs, and a mismatch throws.
 * gemmNaive itself is timed only on the smallest shape, to keep the run short.
 *
 * Run: node --import tsx bench/gemm.bench.ts
 */

import { pathToFileURL } from 'node:url';

import { Bench } from 'tinybench';

import { gemmKernels, type GemmKernelName } from '../src/gemm/blocked.js';
import { gemmNaive } from '../src/gemm/naive.js';

interface GemmShape {
  name: string;
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  kernels: GemmKernelName[];
}

const shapes: GemmShape[] = [
  { name: 'conv forward', transA: false, transB: false, m: 9216, n: 64, k: 288, kernels: ['blocked'] },
  { name: 'conv filter gradient', transA: true, transB: false, m: 288, n: 64, k: 9216, kernels: ['blocked'] },
  { name: 'conv input gradient', transA: false, transB: true, m: 9216, n: 288, k: 64, kernels: ['blocked'] },
  { name: 'dense forward', transA: false, transB: false, m: 16, n: 128, k: 9216, kernels: ['naive', 'blocked'] },
];

export interface GemmBenchResult {
  shape: string;
  kernel: string;
  gflops: number;
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

/**
 * Times every kernel listed for every shape and prints a table. Throws when a kernel's result
 * differs from gemmNaive by more than a float32 rounding bound.
 */
export async function runGemmBench(): Promise<GemmBenchResult[]> {
  const results: GemmBenchResult[] = [];
  const table: Array<Record<string, string | number>> = [];

  for (const shape of shapes) {
    const { transA, transB, m, n, k } = shape;
    const a = seededArray(m * k, 1);
    const b = seededArray(k * n, 2);
    const c = new Float32Array(m * n);
    const lda = transA ? m : k;
    const ldb = transB ? k : n;
    const label = describeShape(shape);

    const reference = new Float32Array(m * n);
    gemmNaive(transA, transB, m, n, k, 1, a, 0, lda, b, 0, ldb, 0, reference, 0, n);

    for (const kernelName of shape.kernels) {
      const kernel = gemmKernels[kernelName];
      kernel(transA, transB, m, n, k, 1, a, 0, lda, b, 0, ldb, 0, c, 0, n);
      // Inputs lie in [-1, 1], so a float32 rounding moves a partial sum by at most K * 2^-24.
      // gemmBlocked rounds C once per 256-deep block of K (KC in blocked.ts), gemmNaive once.
      const tolerance = (Math.ceil(k / 256) + 1) * k * 2 ** -24;
      for (let i = 0; i < c.length; i++) {
        if (!(Math.abs(c[i] - reference[i]) <= tolerance)) {
          throw new Error(`${kernelName} on ${label}: C[${i}] is ${c[i]}, expected ${reference[i]}`);
        }
      }

      const bench = new Bench({ time: 1000, iterations: 5, warmupIterations: 2, warmupTime: 200 });
      bench.add(kernelName, () => {
        kernel(transA, transB, m, n, k, 1, a, 0, lda, b, 0, ldb, 0, c, 0, n);
      });
      await bench.run();

      const result = bench.tasks[0].result;
      if (result.state !== 'completed') {
        throw new Error(`${kernelName} on ${label}: benchmark ended in state '${result.state}'`);
      }
      const meanMs = result.latency.mean;
      const gflops = (2 * m * n * k) / (meanMs * 1e6);
      results.push({ shape: label, kernel: kernelName, gflops });
      table.push({
        shape: label,
        kernel: kernelName,
        'mean ms': Number(meanMs.toFixed(2)),
        samples: result.latency.samplesCount,
        'GFLOP/s': Number(gflops.toFixed(2)),
      });
    }
  }

  console.table(table);
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runGemmBench();
}
