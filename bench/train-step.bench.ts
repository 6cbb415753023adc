/**
 * Training and inference throughput of the MNIST CNN on the worker pool, per thread count.
 *
 * Each case builds the model, warms the pool up with one batch (workers compile their code
 * and allocate their buffers), then times whole batches of 128 synthetic 28x28 samples with
 * tinybench. Figures are samples per second.
 *
 * Run: node --import tsx bench/train-step.bench.ts [threads...]
 */
import { pathToFileURL } from 'node:url';
import { Bench } from 'tinybench';
import { Rng } from '../src/core/random.js';
import { Tensor } from '../src/core/tensor.js';
import { mnistCnn } from '../src/models/mnist-cnn.js';

export interface ThroughputResult {
  threads: number;
  trainSamplesPerSecond: number;
  inferenceSamplesPerSecond: number;
  /** Resident set size of the process after the case, in MiB (workers are threads of it). */
  rssMiB: number;
}

const BATCH = 128;

function syntheticBatch(count: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(7);
  const x = Tensor.zeros([count, 28, 28, 1], { shared: true });
  const y = Tensor.zeros([count]);
  for (let i = 0; i < x.size; i++) x.data[i] = rng.next();
  for (let i = 0; i < count; i++) y.data[i] = i % 10;
  return { x, y };
}

export async function runTrainStepBench(threadCounts: number[] = [1, 2], iterations = 4): Promise<ThroughputResult[]> {
  const { x, y } = syntheticBatch(BATCH);
  const inferX = syntheticBatch(BATCH * 4).x;
  const results: ThroughputResult[] = [];
  for (const threads of threadCounts) {
    const model = mnistCnn({ seed: 1 });
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
    await model.fit(x, y, { batchSize: BATCH, threads, shuffle: false });
    const bench = new Bench({ iterations, warmupIterations: 0, time: 0 });
    bench.add(`train ${threads}`, async () => {
      await model.fit(x, y, { batchSize: BATCH, threads, shuffle: false });
    });
    bench.add(`predict ${threads}`, async () => {
      await model.predict(inferX, { threads });
    });
    await bench.run();
    const [trainMs, predictMs] = bench.tasks.map((task) => {
      const result = task.result;
      if (result.state !== 'completed') throw new Error(`${task.name}: benchmark ended in state '${result.state}'`);
      return result.latency.mean;
    });
    results.push({
      threads,
      trainSamplesPerSecond: (BATCH * 1000) / trainMs,
      inferenceSamplesPerSecond: (BATCH * 4 * 1000) / predictMs,
      rssMiB: process.memoryUsage().rss / 2 ** 20,
    });
    await model.dispose();
  }
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const threads = process.argv.slice(2).map(Number);
  const results = await runTrainStepBench(threads.length > 0 ? threads : [1, 2]);
  console.table(results.map((r) => ({ ...r, trainSamplesPerSecond: Math.round(r.trainSamplesPerSecond), inferenceSamplesPerSecond: Math.round(r.inferenceSamplesPerSecond), rssMiB: Math.round(r.rssMiB) })));
}
