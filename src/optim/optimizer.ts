/**
 * The optimizer interface. Weights, gradients and optimizer state are flat float32 buffers
 * with the same offsets (state contains `slotsPerParam` arrays of paramCount values back to
 * back), so an update is one loop over a parameter range, and workers can split a step by
 * range with identical results.
 */
import { formatValue } from '../errors.js';
import { CLIPPING_KEYS, type ClippingArgs, type GradientClipping, NO_CLIPPING, checkClipping } from './clipping.js';

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
  /**
   * Gradient clipping applied to the reduced gradient before applyRange (src/optim/clipping.ts).
   * Set it with setClipping() or the clipping keys of createOptimizer's config, before compile().
   */
  clipping: Readonly<GradientClipping> = NO_CLIPPING;

  constructor(learningRate: number, where: string) {
    this.learningRate = checkPositive(learningRate, 'learningRate', where);
  }

  /** The options of the update rule; configWithClipping() adds the clipping options. */
  abstract getConfig(): Record<string, unknown>;

  /** Checks and sets the clipping options (at most one of them); returns this optimizer. */
  setClipping(args: ClippingArgs): this {
    this.clipping = Object.freeze(checkClipping(args, this.className));
    return this;
  }

  /** Returns getConfig() plus the clipping options that are set, the config workers rebuild from. */
  configWithClipping(): Record<string, unknown> {
    const config = { ...this.getConfig() };
    for (const key of CLIPPING_KEYS) {
      if (this.clipping[key] !== null) config[key] = this.clipping[key];
    }
    return config;
  }

  /**
   * Returns the initial value of every entry of state slot `slot`, before the first update.
   * It is 0 unless a subclass overrides it, as Adagrad does for its accumulator.
   */
  initialStateValue(_slot: number): number {
    return 0;
  }

  /** Applies one update to weights[start, end). */
  abstract applyRange(update: OptimizerUpdate): void;
}

/**
 * Sets each of the optimizer's state slots in `state` ([slotsPerParam, paramCount]) to its
 * initial value. compile() calls it once on the freshly allocated state.
 */
export function fillInitialState(optimizer: Optimizer, state: Float32Array, paramCount: number): void {
  for (let slot = 0; slot < optimizer.slotsPerParam; slot++) {
    state.fill(optimizer.initialStateValue(slot), slot * paramCount, (slot + 1) * paramCount);
  }
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
}

export function checkNonNegative(value: unknown, option: string, where: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${where}: ${option} must be a non-negative finite number, got ${formatValue(value)}.`);
  }
  return value;
}

export function checkBoolean(value: unknown, option: string, where: string): boolean {
  if (typeof value !== 'boolean') {
    throw new TypeError(`${where}: ${option} must be a boolean, got ${formatValue(value)}.`);
  }
  return value;
}
