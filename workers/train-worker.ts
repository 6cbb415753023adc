/**
 * Piscina worker entry: runs one coordinator task (gradient, update, evaluate or predict)
 * against shared memory. See src/coordinator/messages.ts for the message types.
 */
import { handleTask } from '../src/coordinator/task-handler.js';
import type { EvaluateResult, Task } from '../src/coordinator/messages.js';

export default function runTask(task: Task): EvaluateResult | null {
  return handleTask(task);
}
