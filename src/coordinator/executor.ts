/**
 * Executors run coordinator tasks: `WorkerPool` on Piscina worker threads, `InlineExecutor`
 * on the calling thread (for tests and for environments without worker threads). Both run
 * the same task handler, so both give bit-identical results.
 */
import type { EvaluateResult, Task } from './messages.js';
import { handleTask } from './task-handler.js';

export interface Executor {
  /** Number of threads the executor was created with. */
  readonly threads: number;
  /** Number of tasks that run at once. */
  readonly concurrency: number;
  run(task: Task): Promise<EvaluateResult | null>;
  close(): Promise<void>;
}

export class InlineExecutor implements Executor {
  readonly threads = 1;
  readonly concurrency = 1;

  async run(task: Task): Promise<EvaluateResult | null> {
    return handleTask(task);
  }

  async close(): Promise<void> {}
}
