/**
 * `npm run bench`: the whole benchmark suite.
 *
 *   1. GEMM GFLOP/s per shape and kernel: js, wasm SIMD128, and wasm with relaxed-SIMD FMA
 *      (in a child process with --experimental-wasm-relaxed-simd, where Node needs it).
 *   2. Convolution forward and backward GFLOP/s per backend.
 *   3. MNIST CNN training and inference samples/s at 1, 2, 4 and 8 threads, each thread
 *      count in its own process so that its peak RSS is its own.
 *   4. The same model in TensorFlow.js (wasm backend) and, when Debian's python3-torch is
 *      installed, in PyTorch, with the ratio of shardnet's training throughput to each.
 *   5. Memory across epochs: train.js for 5 epochs on MNIST (when MNIST_DIR is set) and the
 *      resident set size after each epoch, against the target of epoch 5 within 5% of epoch 1.
 *
 * It prints a table per part and writes every figure, with the machine, to
 * bench/results/<timestamp>.json. Set SHARDNET_BENCH_SKIP to a comma-separated list of
 * gemm, conv, threads, tfjs, pytorch, memory to leave parts out.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { runConvBench } from './conv.bench.js';
import { runGemmBench } from './gemm.bench.js';
import type { ThroughputResult } from './train-step.bench.js';

const execFileAsync = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const skip = new Set((process.env.SHARDNET_BENCH_SKIP ?? '').split(',').filter(Boolean));
const THREAD_COUNTS = [1, 2, 4, 8];

async function runChild(args: string[], nodeFlags: string[] = []): Promise<string> {
  const { stdout } = await execFileAsync(process.execPath, [...nodeFlags, '--import', 'tsx', ...args], {
    cwd: root,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 15 * 60 * 1000,
  });
  return stdout;
}

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
};
console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`);
const report: Record<string, unknown> = { machine, date: new Date().toISOString() };

if (!skip.has('gemm')) {
  console.log('\nGEMM, one core (js kernels):');
  report.gemmJs = await runGemmBench();
  console.log('\nGEMM, one core (wasm kernels; relaxed FMA enabled in this child process):');
  const output = await runChild(['bench/wasm-gemm.bench.ts', '--json'], ['--experimental-wasm-relaxed-simd']);
  const lines = output.trimEnd().split('\n');
  report.gemmWasm = JSON.parse(lines[lines.length - 1]);
  console.log(lines.slice(0, -1).join('\n'));
}

if (!skip.has('conv')) {
  console.log('\nConvolution 26x26x32 -> 24x24x64, 3x3, batch 16, one core:');
  const conv = await runConvBench();
  console.table(conv.map((r) => ({ backend: r.backend, pass: r.pass, 'GFLOP/s': Number(r.gflops.toFixed(2)) })));
  report.conv = conv;
}

let throughput: ThroughputResult[] = [];
if (!skip.has('threads')) {
  for (const threads of THREAD_COUNTS) {
    const output = await runChild(['bench/train-step.bench.ts', String(threads)]);
    throughput.push(JSON.parse(output.trim().split('\n').pop() as string) as ThroughputResult);
  }
  const one = throughput.find((r) => r.threads === 1);
  console.log('\nMNIST CNN, batch 128 (train) and 1,024 samples (inference):');
  console.table(
    throughput.map((r) => ({
      threads: r.threads,
      backend: r.backend,
      'train samples/s': Math.round(r.trainSamplesPerSecond),
      'speed-up vs 1 thread': one ? Number((r.trainSamplesPerSecond / one.trainSamplesPerSecond).toFixed(2)) : null,
      'inference samples/s': Math.round(r.inferenceSamplesPerSecond),
      'peak RSS MiB': Math.round(r.peakRssMiB),
    })),
  );
  report.threads = throughput;
}

const best = throughput.reduce((a, r) => Math.max(a, r.trainSamplesPerSecond), 0);
const twoThreads = throughput.find((r) => r.threads === 2)?.trainSamplesPerSecond ?? best;

if (!skip.has('tfjs')) {
  const { runTfjsBench } = await import('./tfjs.bench.js');
  const tfjs = await runTfjsBench({ cpu: false });
  report.tfjs = tfjs;
  console.log('\nTensorFlow.js on the same model:');
  console.table(
    tfjs.map((r) => ({
      backend: `tfjs-${r.backend}`,
      'train samples/s': Number(r.trainSamplesPerSecond.toFixed(1)),
      'inference samples/s': Number(r.inferenceSamplesPerSecond.toFixed(1)),
      'shardnet 2 threads / tfjs': twoThreads > 0 ? Number((twoThreads / r.trainSamplesPerSecond).toFixed(1)) : null,
    })),
  );
}

if (!skip.has('pytorch')) {
  const { runPytorchBench } = await import('./compare.js');
  const torch = await runPytorchBench([1, 2], { log: console.log });
  report.pytorch = torch;
  if (torch !== null) {
    console.log('\nPyTorch on the same model:');
    console.table(
      torch.map((r) => {
        const ours = throughput.find((t) => t.threads === r.threads)?.trainSamplesPerSecond;
        return {
          threads: r.threads,
          'train samples/s': Math.round(r.trainSamplesPerSecond),
          'shardnet / pytorch': ours === undefined ? null : Number((ours / r.trainSamplesPerSecond).toFixed(2)),
        };
      }),
    );
  }
}

if (!skip.has('memory')) {
  const mnistDir = process.env.MNIST_DIR;
  if (mnistDir === undefined) {
    console.log('\nMemory across epochs: skipped, MNIST_DIR is not set.');
  } else {
    // dist/train.js, as users run it; `npm run bench` builds dist first.
    const { stdout } = await execFileAsync(process.execPath, ['dist/train.js', '--epochs', '5', '--threads', '2', '--json', '--data', mnistDir], {
      cwd: root,
      maxBuffer: 16 * 1024 * 1024,
      timeout: 30 * 60 * 1000,
    });
    const run = JSON.parse(stdout) as { epochs: { rssMiB: number }[]; final: { test: { accuracy: number } } };
    const rss = run.epochs.map((e) => e.rssMiB);
    const growth = rss[rss.length - 1] / rss[0] - 1;
    console.log('\nMemory across epochs (train.js --epochs 5 --threads 2 on MNIST):');
    console.table(rss.map((value, i) => ({ epoch: i + 1, 'RSS MiB': Number(value.toFixed(1)) })));
    console.log(`epoch 5 vs epoch 1: ${(100 * growth).toFixed(1)}% (target: at most 5%), test accuracy ${run.final.test.accuracy}`);
    report.memory = { rssMiB: rss, growth, testAccuracy: run.final.test.accuracy };
  }
}

const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
const file = new URL(`${new Date().toISOString().replace(/[:.]/g, '-')}.json`, dir);
writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\nwrote ${fileURLToPath(file)}`);
