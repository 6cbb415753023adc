/**
 * Shared checks for optimizer tests: running a few steps on small float32 buffers, comparing
 * with a float64 reference, and splitting one update into two ranges.
 */
import assert from 'node:assert/strict';

import { type Optimizer, createOptimizer, fillInitialState } from '../../src/optim/index.js';

export interface StepsResult {
  weights: Float32Array;
  /** [slotsPerParam, paramCount], back to back. */
  state: Float32Array;
}

/**
 * Applies one update per gradient row to a copy of `initial`, with the state starting from
 * the optimizer's initial values. Each step updates the ranges in `splits` in turn
 * (default: one range over all parameters).
 */
export function runSteps(optimizer: Optimizer, initial: readonly number[], gradients: readonly (readonly number[])[], splits: readonly number[] = []): StepsResult {
  const paramCount = initial.length;
  const weights = Float32Array.from(initial);
  const state = new Float32Array(Math.max(1, optimizer.slotsPerParam * paramCount));
  fillInitialState(optimizer, state, paramCount);
  const bounds = [0, ...splits, paramCount];
  gradients.forEach((gradient, index) => {
    const grads = Float32Array.from(gradient);
    for (let r = 0; r + 1 < bounds.length; r++) {
      optimizer.applyRange({ weights, grads, state, paramCount, start: bounds[r], end: bounds[r + 1], step: index + 1, learningRate: optimizer.learningRate });
    }
  });
  return { weights, state };
}

/** Asserts |actual - expected| <= tolerance for every element. */
export function assertClose(actual: ArrayLike<number>, expected: readonly number[], tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    assert.ok(error <= tolerance, `${label}[${i}]: got ${actual[i]}, expected ${expected[i]} (error ${error}, tolerance ${tolerance})`);
  }
}

/**
 * Relative error allowed on a state value: float32 stores each state value once per step, and
 * each value is computed from earlier stored ones, so a few roundings of 2^-24 add up.
 */
export const STATE_RELATIVE = 1e-6;

/** Asserts that each state value is within STATE_RELATIVE of the float64 reference. */
export function assertCloseRelative(actual: ArrayLike<number>, expected: readonly number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    assert.ok(error <= STATE_RELATIVE * Math.abs(expected[i]), `${label}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

/**
 * Asserts that every weight with a nonzero gradient moves by more than 100 times `tolerance`
 * in each reference step, so a comparison at `tolerance` can tell a wrong step from rounding.
 */
export function assertStepsExceed(trajectory: readonly (readonly number[])[], initial: readonly number[], tolerance: number): void {
  let previous = initial;
  trajectory.forEach((weights, step) => {
    weights.forEach((w, i) => {
      const change = Math.abs(w - previous[i]);
      if (change !== 0) assert.ok(change > 100 * tolerance, `reference step ${step + 1} moves weight ${i} by only ${change}`);
    });
    previous = weights;
  });
}

/** Asserts equal bytes, naming the first differing element. */
export function assertBitIdentical(actual: Float32Array, expected: Float32Array, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const same = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength).equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength));
  if (same) return;
  const index = actual.findIndex((v, i) => !Object.is(v, expected[i]));
  assert.fail(`${label}: element ${index} is ${actual[index]}, expected ${expected[index]}`);
}

/** Asserts that updating [0, split) then [split, n) gives the bytes of one update over [0, n). */
export function assertSplitMatchesWhole(create: () => Optimizer, initial: readonly number[], gradients: readonly (readonly number[])[], split: number): void {
  const whole = runSteps(create(), initial, gradients);
  const parts = runSteps(create(), initial, gradients, [split]);
  assertBitIdentical(parts.weights, whole.weights, 'weights');
  assertBitIdentical(parts.state, whole.state, 'state');
}

/** Asserts that createOptimizer(className, getConfig()) rebuilds an equal optimizer of the same class. */
export function assertConfigRoundTrip(original: Optimizer): void {
  const copy = createOptimizer(original.className, original.getConfig());
  assert.equal(copy.constructor, original.constructor);
  assert.equal(copy.className, original.className);
  assert.deepEqual(copy.getConfig(), original.getConfig());
  assert.equal(copy.slotsPerParam, original.slotsPerParam);
}
