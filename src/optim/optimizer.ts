/**
 * The optimizer interface. Weights, gradients and optimizer state are flat float32 buffers
 * with the same offsets (state contains `slotsPerParam` arrays of paramCount values back to
 * back), so an update is one loop over a parameter range, and workers can split a step by
 * range with identical results.
 */
export interface OptimizerUpdate {
  weights: Float32Array;
  grads: Float32Array;
  state: Float32Array;
  paramCount: number;
  /** Range of parameters to update, [start, end). */
  start: number;
  end: number;
  /** 1-based count of updates applied so far, including this one. */
  step: number;
  learningRate: number;
}

export abstract class Optimizer {
  /** Keras class name, e.g. 'Adam'. */
  abstract readonly className: string;
  /** State values kept per parameter (Adam: 2, SGD with momentum: 1). */
  abstract readonly slotsPerParam: number;
  learningRate: number;

  constructor(learningRate: number, where: string) {
    this.learningRate = checkPositive(learningRate, 'learningRate', where);
  }

  abstract getConfig(): Record<string, unknown>;

  /** Applies one update to weights[start, end). */
  abstract applyRange(update: OptimizerUpdate): void;
}

export function checkPositive(value: unknown, option: string, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${where}: ${option} must be a positive finite number, got ${formatValue(value)}.`);
  }
  return value;
}

export function checkUnitInterval(value: unknown, option: string, where: string): number {
  if (typeof value !== 'number' || !(value >= 0 && value < 1)) {
    throw new RangeError(`${where}: ${option} must be a number in [0, 1), got ${formatValue(value)}.`);
  }
  return value;
}import { formatValue } from '../errors.js';

