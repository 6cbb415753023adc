/**
 * WorkerPool: a fixed-size Piscina pool of shardnet workers.
 *
 * Idle workers do not keep the process alive (Piscina unrefs them), so a program that
 * trains and returns exits on its own; close() tears the pool down explicitly.
 */
import { formatValue } from '../errors.js';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { Executor } from './executor.js';
import type { EvaluateResult, Task } from './messages.js';

export interface WorkerPoolOptions {
  /** Number of worker threads; defaults to the number of cores. */
  threads?: number;
  /** Writer of the one-time note about more threads than cores; defaults to stderr. */
  warn?: (message: string) => void;
}

export const WORKER_POOL_DEFAULTS: Required<WorkerPoolOptions> = {
  threads: availableParallelism(),
  warn: (message) => process.stderr.write(`${message}\n`),
};

let oversubscriptionNoted = false;

/** Returns the worker module: the TypeScript source under tsx, the bundled file in dist/. */
function workerFile(): string {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../../workers/train-worker.ts', here) : new URL('./train-worker.js', here);
  return url.href;
}

export function checkThreads(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 1024) {
    throw new RangeError(`threads must be an integer from 1 to 1024, got ${formatValue(value)}.`);
  }
  return value;
}

export class WorkerPool implements Executor {
  readonly threads: number;
  private readonly piscina: Piscina;
  private closed = false;

  constructor(options: WorkerPoolOptions = {}) {
    const filled = { ...WORKER_POOL_DEFAULTS, ...options };
    this.threads = checkThreads(filled.threads);
    const cores = availableParallelism();
    if (this.threads > cores && !oversubscriptionNoted) {
      oversubscriptionNoted = true;
      filled.warn(`shardnet: ${this.threads} threads on ${cores} cores; workers will share cores.`);
    }
    this.piscina = new Piscina({
      filename: workerFile(),
      minThreads: this.threads,
      maxThreads: this.threads,
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.POSITIVE_INFINITY,
    });
  }

  run(task: Task): Promise<EvaluateResult | null> {
    if (this.closed) return Promise.reject(new Error('The worker pool is closed.'));
    return this.piscina.run(task) as Promise<EvaluateResult | null>;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.destroy();
  }
}
