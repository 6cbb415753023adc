/**
 * Training and inference throughput of the MNIST CNN on the worker pool, for one thread
 * count per process, so that the peak resident set size belongs to that thread count alone.
 *
 * The case builds the model, warms the pool up with two batches (workers compile their code
 * and allocate their buffers), then times whole training batches of 128 synthetic 28x28
 * samples and inference over 1,024 samples with tinybench.
 *
 * Run: node --import tsx bench/train-step.bench.ts THREADS [--backend js|wasm]
 * (after `npm run build`, to measure the bundle as users run it).
 * It prints one JSON line.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Bench } from 'tinybench';
import type * as Shardnet from '../src/index.js';

/**
 * The library as users run it: the built bundle when dist/ exists, so that worker threads
 * load plain JavaScript and the peak RSS carries no TypeScript loader; else the sources.
 */
const distEntry = new URL('../dist/index.js', import.meta.url);
const lib = (await import(existsSync(fileURLToPath(distEntry)) ? distEntry.href : '../src/index.js')) as typeof Shardnet;
const { Rng, Tensor, getBackend, setBackend } = lib;
type BackendName = Shardnet.BackendName;
type Tensor = Shardnet.Tensor;

function mnistCnn(): Shardnet.Sequential {
  const model = new lib.Sequential({ seed: 1 });
  model.add(lib.layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }));
  model.add(lib.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
  model.add(lib.layers.maxPooling2d({ poolSize: 2 }));
  model.add(lib.layers.flatten());
  model.add(lib.layers.dense({ units: 128, activation: 'relu' }));
  model.add(lib.layers.dense({ units: 10, activation: 'softmax' }));
  return model;
}

export interface ThroughputResult {
  threads: number;
  backend: string;
  trainSamplesPerSecond: number;
  inferenceSamplesPerSecond: number;
  /** Peak resident set size of the process, in MiB (workers are threads of it). */
  peakRssMiB: number;
  /** 'dist' when the built bundle was measured, 'src' for the TypeScript sources. */
  build: string;
}

const BATCH = 128;
const TRAIN_BATCHES = 8;
const INFERENCE_SAMPLES = 1024;

function syntheticData(count: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(7);
  const x = Tensor.zeros([count, 28, 28, 1], { shared: true });
  const y = Tensor.zeros([count]);
  for (let i = 0; i < x.size; i++) x.data[i] = rng.next();
  for (let i = 0; i < count; i++) y.data[i] = i % 10;
  return { x, y };
}

function meanMs(bench: Bench, index: number): number {
  const task = bench.tasks[index];
  const result = task.result;
  if (result.state !== 'completed') throw new Error(`${task.name}: benchmark ended in state '${result.state}'`);
  return result.latency.mean;
}

export async function measureThroughput(threads: number, backend: BackendName = 'auto'): Promise<ThroughputResult> {
  setBackend(backend);
  const train = syntheticData(BATCH * TRAIN_BATCHES);
  const inference = syntheticData(INFERENCE_SAMPLES).x;
  const model = mnistCnn();
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  try {
    await model.fit(train.x.slice(0, 2 * BATCH), train.y.slice(0, 2 * BATCH), { batchSize: BATCH, threads, shuffle: false });
    await model.predict(inference.slice(0, 256), { threads });
    const bench = new Bench({ iterations: 3, warmupIterations: 0, time: 0 });
    bench.add('train', async () => {
      await model.fit(train.x, train.y, { batchSize: BATCH, threads, shuffle: false });
    });
    bench.add('predict', async () => {
      await model.predict(inference, { threads });
    });
    await bench.run();
    return {
      threads,
      backend: getBackend(),
      trainSamplesPerSecond: (BATCH * TRAIN_BATCHES * 1000) / meanMs(bench, 0),
      inferenceSamplesPerSecond: (INFERENCE_SAMPLES * 1000) / meanMs(bench, 1),
      peakRssMiB: process.resourceUsage().maxRSS / 1024,
      build: existsSync(fileURLToPath(distEntry)) ? 'dist' : 'src',
    };
  } finally {
    await model.dispose();
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { backend: { type: 'string', default: 'auto' } } });
  const threads = Number(positionals[0] ?? 2);
  const result = await measureThroughput(threads, values.backend as BackendName);
  console.log(JSON.stringify(result));
}
