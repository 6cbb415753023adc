/**
 * Checks of callback constructor options. Messages follow the fit() template: the class, the
 * option, the rule, then the value received.
 */
import { CheckpointError, ValueError, formatValue } from '../errors.js';

/** Returns `args` as an object, rejecting any key outside `known` (such as a snake_case name). */
export function checkOptions<T extends object>(args: T | undefined, known: readonly (keyof T & string)[], where: string): Partial<T> {
  if (args === undefined) return {};
  if (args === null || typeof args !== 'object' || Array.isArray(args)) {
    throw new TypeError(`${where}: options must be an object, got ${formatValue(args)}.`);
  }
  for (const key of Object.keys(args)) {
    if (!(known as readonly string[]).includes(key)) {
      throw new ValueError(`${where}: unknown option ${formatValue(key)}; the options are ${known.join(', ')}.`);
    }
  }
  return args;
}

export function checkString(value: unknown, option: string, where: string): string {
  if (typeof value !== 'string' || value === '') {
    throw new TypeError(`${where}: ${option} must be a non-empty string, got ${formatValue(value)}.`);
  }
  return value;
}

export function checkInteger(value: unknown, option: string, where: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    throw new RangeError(`${where}: ${option} must be an integer >= ${min}, got ${formatValue(value)}.`);
  }
  return value;
}

export function checkFinite(value: unknown, option: string, where: string, min = -Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min) {
    const rule = min === -Infinity ? 'a finite number' : `a finite number >= ${min}`;
    throw new RangeError(`${where}: ${option} must be ${rule}, got ${formatValue(value)}.`);
  }
  return value;
}

export function checkFlag(value: unknown, option: string, where: string): boolean {
  if (typeof value !== 'boolean') throw new TypeError(`${where}: ${option} must be a boolean, got ${formatValue(value)}.`);
  return value;
}

/**
 * Reads a number from a callback state that a checkpoint restored (null allowed when
 * `nullable`); throws CheckpointError when the checkpoint contains something else.
 */
export function stateNumber(values: Record<string, unknown>, key: string, where: string, nullable = false): number {
  const value = values[key];
  if (typeof value === 'number' || (nullable && value === null)) return value as number;
  throw new CheckpointError(`${where}: the checkpoint's callback state has ${key} = ${formatValue(value)}, expected a number; resume from another checkpoint.`);
}
