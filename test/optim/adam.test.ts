import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ADAM_DEFAULTS, Adam, type AdamArgs } from '../../src/optim/adam.js';

// Keras's Adam, with epsilon outside the bias correction:
//   m = beta1 m + (1 - beta1) g
//   v = beta2 v + (1 - beta2) g^2
//   w -= lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)
// Expected values below come from that formula in float64 (Python 3.11). Weights and
// gradients are exact in float32, so only the float32 storage of the results rounds.

const W0 = [0.5, -0.25, 1, 0];
const G1 = [0.25, -0.125, 0, 3];
const G2 = [0.125, 0.375, -0.25, 3];

/** Far below the smallest nonzero change of one step here (about 7.4e-4). */
const TOLERANCE = 2e-7;

interface AdamRun {
  weights: Float32Array;
  state: Float32Array;
}

function runAdam(args: AdamArgs, gradients: number[][], learningRate: number): AdamRun {
  const adam = new Adam(args);
  const weights = Float32Array.from(W0);
  const state = new Float32Array(adam.slotsPerParam * W0.length);
  gradients.forEach((g, i) => {
    adam.applyRange({ weights, grads: Float32Array.from(g), state, paramCount: W0.length, start: 0, end: W0.length, step: i + 1, learningRate });
  });
  return { weights, state };
}

/** Relative error of two float32 roundings: state is stored in float32. */
const FLOAT32_RELATIVE = 2.5e-7;

function assertCloseRelative(actual: ArrayLike<number>, expected: readonly number[], label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    const error = Math.abs(actual[i] - expected[i]);
    assert.ok(error <= FLOAT32_RELATIVE * Math.abs(expected[i]), `${label}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

function assertClose(actual: ArrayLike<number>, expected: readonly number[], tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${label}[${i}]: got ${actual[i]}, expected ${expected[i]}`);
  }
}

test('Adam defaults one step', () => {
  // t = 1: m = 0.1 g, v = 0.001 g^2, so each nonzero g moves w by about lr = 0.001 against
  // its sign; g = 0 leaves w alone.
  const { weights, state } = runAdam({}, [G1], ADAM_DEFAULTS.learningRate);
  assertClose(weights, [0.49900001264895066, -0.2490000252975813, 1, -0.0009999989459085576], TOLERANCE, 'w');
  assertCloseRelative(state.subarray(0, 4), [0.025, -0.0125, 0, 0.3], 'm');
  assertCloseRelative(state.subarray(4), [6.25e-5, 1.5625e-5, 0, 0.009], 'v');
});

test('Adam defaults two steps bias correction', () => {
  // t = 2 uses lr sqrt(1 - 0.999^2) / (1 - 0.9^2).
  const { weights, state } = runAdam({}, [G1, G2], ADAM_DEFAULTS.learningRate);
  assertClose(weights, [0.49806784356064965, -0.24949421117719367, 1.000744127411017, -0.0019999982003667052], TOLERANCE, 'w');
  assertCloseRelative(state.subarray(0, 4), [0.035, 0.02625, -0.025, 0.57], 'm');
  assertCloseRelative(state.subarray(4), [7.80625e-5, 1.56234375e-4, 6.25e-5, 0.017991], 'v');
});

test('Adam lr 0.01 beta1 0.8 beta2 0.99 epsilon 1e-3 one step', () => {
  // epsilon 1e-3 is large against sqrt(v), so the steps differ from lr.
  const { weights } = runAdam({ learningRate: 0.01, beta1: 0.8, beta2: 0.99, epsilon: 1e-3 }, [G1], 0.01);
  assertClose(weights, [0.49038461538461536, -0.24074074074074073, 1, -0.009966777408637873], TOLERANCE, 'w');
});

test('Adam uses the update learningRate', () => {
  // applyRange takes the rate of the step, which fit() reads from optimizer.learningRate.
  const slow = runAdam({ learningRate: 0.5 }, [G1], 0.001).weights;
  assertClose(slow, [0.49900001264895066, -0.2490000252975813, 1, -0.0009999989459085576], TOLERANCE, 'w');
});

test('Adam range [1, 3) leaves the rest', () => {
  const adam = new Adam();
  const weights = Float32Array.from(W0);
  const state = new Float32Array(8);
  adam.applyRange({ weights, grads: Float32Array.from(G1), state, paramCount: 4, start: 1, end: 3, step: 1, learningRate: 0.001 });
  assert.equal(weights[0], 0.5);
  assert.equal(weights[3], 0);
  assert.ok(Math.abs(weights[1] - -0.2490000252975813) <= TOLERANCE, `w[1] = ${weights[1]}`);
  assert.deepEqual(Array.from(state), [0, Math.fround(-0.0125), 0, 0, 0, Math.fround(1.5625e-5), 0, 0]);
});

test('Adam defaults and config', () => {
  const adam = new Adam();
  assert.deepEqual(adam.getConfig(), { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
  assert.equal(adam.slotsPerParam, 2);
  assert.equal(adam.className, 'Adam');
});

const OPTION_ERRORS: { args: Record<string, unknown>; message: string | RegExp }[] = [
  { args: { learningRate: -1 }, message: 'Adam: learningRate must be a positive finite number, got -1.' },
  { args: { learningRate: 0 }, message: 'Adam: learningRate must be a positive finite number, got 0.' },
  { args: { learningRate: Number.POSITIVE_INFINITY }, message: /^Adam: learningRate must be a positive finite number, got / },
  { args: { beta1: 1 }, message: 'Adam: beta1 must be a number in [0, 1), got 1.' },
  { args: { beta2: -0.5 }, message: 'Adam: beta2 must be a number in [0, 1), got -0.5.' },
  { args: { epsilon: 0 }, message: 'Adam: epsilon must be a positive finite number, got 0.' },
];

for (const { args, message } of OPTION_ERRORS) {
  const [[option, value]] = Object.entries(args);
  test(`Adam ${option} ${String(value)} rejected`, () => {
    assert.throws(() => new Adam(args as AdamArgs), { name: 'RangeError', message });
  });
}
