/**
 * WorkerPool: a Piscina pool of up to `threads` shardnet workers.
 *
 * By default at most one task per core runs at a time, however many threads are requested:
 * on 2 cores, 8 compute-bound workers running at once only evict each other's caches
 * (training measured 40% slower than with 2). Tasks beyond that wait here, in submission
 * order. Piscina starts a worker only when a task finds every started one busy, so with
 * this cap only `concurrency` workers are ever started, and each idle Node worker that is
 * not started saves about 30 MB. The `concurrency` option lifts the cap, for example to test
 * scheduling with more workers than cores.
 *
 * Idle workers do not keep the process alive (Piscina unrefs them), so a program that
 * trains and returns exits on its own; close() tears the pool down explicitly.
 */
import { formatValue } from '../errors.js';
import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import type { Executor } from './executor.js';
import type { EvaluateResult, Task, TaskFault } from './messages.js';

export interface WorkerPoolOptions {
  /** Number of worker threads; defaults to the number of cores. */
  threads?: number;
  /** Tasks that may run at once; defaults to the smaller of threads and cores. */
  concurrency?: number;
  /** Writer of the one-time note about more threads than cores; defaults to stderr. */
  warn?: (message: string) => void;
}

export const WORKER_POOL_DEFAULTS: Required<Omit<WorkerPoolOptions, 'concurrency'>> = {
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

/**
 * Cap on each worker's young generation, in MB. Tensors live in shared memory, so a worker's
 * JavaScript heap contains little more than task messages. Without a cap, V8 grew each worker's
 * new space from 8 MB in the first MNIST epoch to 16 MB in the third (and lets it reach 32 MB),
 * which showed as resident memory rising between epochs.
 */
const WORKER_YOUNG_GENERATION_MB = 8;

export class WorkerPool implements Executor {
  readonly threads: number;
  /** Tasks that may run at once, and so the number of workers started. */
  readonly concurrency: number;
  private readonly piscina: Piscina;
  private closed = false;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly testFaults = new Map<Task['kind'], TaskFault>();

  constructor(options: WorkerPoolOptions = {}) {
    const filled = { ...WORKER_POOL_DEFAULTS, ...options };
    this.threads = checkThreads(filled.threads);
    const cores = availableParallelism();
    this.concurrency = options.concurrency === undefined ? Math.min(this.threads, cores) : checkThreads(options.concurrency);
    if (this.concurrency > this.threads) {
      throw new RangeError(`concurrency ${this.concurrency} exceeds threads ${this.threads}; give at most as many as the threads.`);
    }
    if (this.threads > cores && !oversubscriptionNoted) {
      oversubscriptionNoted = true;
      filled.warn(
        this.concurrency < this.threads
          ? `shardnet: ${this.threads} threads on ${cores} cores; at most ${this.concurrency} tasks run at once, so ${this.concurrency} workers start.`
          : `shardnet: ${this.threads} threads on ${cores} cores; workers share the cores.`,
      );
    }
    this.piscina = new Piscina({
      filename: workerFile(),
      minThreads: this.concurrency,
      maxThreads: this.threads,
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.POSITIVE_INFINITY,
      resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
    });
  }

  async run(task: Task): Promise<EvaluateResult | null> {
    if (this.closed) throw new Error('The worker pool is closed.');
    // A finishing task hands its slot straight to the first waiting one, so `running` never
    // exceeds the concurrency, even for a moment.
    if (this.running < this.concurrency) this.running++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    const fault = task.kind === 'update' ? undefined : this.testFaults.get(task.kind);
    if (fault !== undefined && task.kind !== 'update') {
      this.testFaults.delete(task.kind);
      task = { ...task, fault };
    }
    try {
      return (await this.piscina.run(task)) as EvaluateResult | null;
    } finally {
      const next = this.waiting.shift();
      if (next === undefined) this.running--;
      else next();
    }
  }

  /**
   * For tests only: makes the next gradient, evaluate or predict task that this pool runs
   * raise `fault`, in place of any fault the task carries.
   */
  injectTestFault(taskKind: 'gradient' | 'evaluate' | 'predict', fault: TaskFault): void {
    this.testFaults.set(taskKind, fault);
  }

  /**
   * For tests only: terminates the worker thread `threadId` as an outside kill would. Its
   * running task is rejected, and Piscina (5.x) starts a replacement worker. Resolves with the
   * thread's exit code. Raises a RangeError when no worker of this pool has that threadId.
   */
  async terminateThread(threadId: number): Promise<number> {
    const worker = this.piscina.threads.find((thread) => thread.threadId === threadId);
    if (worker === undefined) throw new RangeError(`No worker thread ${threadId} in this pool.`);
    return worker.terminate();
  }

  /** Whether close() was called; a closed pool runs no more tasks. */
  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.piscina.destroy();
  }
}
