/**
 * Error types that shardnet raises at its API boundaries. Each carries a `name` so callers
 * can tell them apart without instanceof across worker boundaries.
 */

/** A tensor or input has a shape that the operation cannot accept. */
export class ShapeError extends Error {
  override readonly name = 'ShapeError';
}

/** A value (option, label, configuration entry) is outside what the operation accepts. */
export class ValueError extends Error {
  override readonly name = 'ValueError';
}

/** A model method was called before the step it depends on, such as fit() before compile(). */
export class StateError extends Error {
  override readonly name = 'StateError';
}

/**
 * A worker thread failed while training: its task threw, or the thread exited or was
 * terminated. `threadId` is the worker's `threadId` from node:worker_threads (0 for the calling
 * thread), or -1 when the task failed before recording it (while opening its session, or before
 * any thread started it). Epoch and batch count from 0.
 */
export class WorkerError extends Error {
  override readonly name = 'WorkerError';
  constructor(
    message: string,
    readonly threadId: number,
    readonly epoch: number,
    readonly batch: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/**
 * A training step produced a NaN or infinite loss or gradient. `layer` is the first layer in
 * model order whose gradient is not finite, or null when only the loss is. Epoch and batch count
 * from 0.
 */
export class NonFiniteError extends Error {
  override readonly name = 'NonFiniteError';
  constructor(
    message: string,
    readonly epoch: number,
    readonly batch: number,
    readonly layer: string | null,
    readonly loss: number,
  ) {
    super(message);
  }
}

/** Maximum length of one value quoted in an error message. Longer text is truncated and the rest counted. */
const MAX_QUOTED_CHARS = 200;

function truncate(text: string): string {
  if (text.length <= MAX_QUOTED_CHARS) return text;
  return `${text.slice(0, MAX_QUOTED_CHARS)}... (${text.length - MAX_QUOTED_CHARS} more characters)`;
}

/** Formats a shape the way Keras prints it, with `None` for an unknown batch dimension. */
export function formatShape(shape: readonly (number | null)[]): string {
  if (!Array.isArray(shape)) return formatValue(shape);
  return truncate(`[${shape.map((d) => (d === null ? 'None' : String(d))).join(', ')}]`);
}

/**
 * Formats a value for an error message: numbers as JavaScript prints them (NaN, Infinity),
 * typed arrays by type and length, the rest as JSON, truncated to MAX_QUOTED_CHARS.
 */
export function formatValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined) return String(value);
  if (ArrayBuffer.isView(value)) {
    const length = 'length' in value ? `${(value as unknown as ArrayLike<unknown>).length} elements` : `${value.byteLength} bytes`;
    const type = value.constructor.name;
    return `${/^[AEIOU]/.test(type) ? 'an' : 'a'} ${type} of ${length}`;
  }
  try {
    return truncate(JSON.stringify(value) ?? String(value));
  } catch {
    return truncate(String(value));
  }
}

/** A checkpoint file is missing, damaged, or does not match the model or fit settings. */
export class CheckpointError extends Error {
  override readonly name = 'CheckpointError';
}
