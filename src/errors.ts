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

/** Formats a shape the way Keras prints it, with `None` for an unknown batch dimension. */
export function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.map((d) => (d === null ? 'None' : String(d))).join(', ')}]`;
}

/** Formats a value for an error message: numbers as JavaScript prints them (NaN, Infinity), the rest as JSON. */
export function formatValue(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined) return String(value);
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
