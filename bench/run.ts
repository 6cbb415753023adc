/**
 * `npm run bench`: runs every benchmark, prints their tables, and writes all figures with
 * the machine description to bench/results/<timestamp>.json.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { runGemmBench } from './gemm.bench.js';
import { runTrainStepBench } from './train-step.bench.js';

const machine = {
  cpu: cpus()[0]?.model ?? 'unknown',
  cores: cpus().length,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
};
console.log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}`);

const gemm = await runGemmBench();
const threads = [1, 2, 4, 8];
const throughput = await runTrainStepBench(threads);
console.table(
  throughput.map((r) => ({
    threads: r.threads,
    'train samples/s': Math.round(r.trainSamplesPerSecond),
    'inference samples/s': Math.round(r.inferenceSamplesPerSecond),
    'RSS MiB': Math.round(r.rssMiB),
  })),
);

const dir = new URL('./results/', import.meta.url);
mkdirSync(dir, { recursive: true });
const file = new URL(`${new Date().toISOString().replace(/[:.]/g, '-')}.json`, dir);
writeFileSync(file, `${JSON.stringify({ machine, gemm, throughput }, null, 2)}\n`);
console.log(`wrote ${file.pathname}`);
