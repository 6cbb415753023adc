import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SGD, type SGDArgs } from '../../src/optim/sgd.js';

// Keras's SGD:
//   plain:     w -= lr g
//   momentum:  v = momentum v - lr g;  w += v
//   nesterov:  v = momentum v - lr g;  w += momentum v - lr g
// Expected values below come from those formulas in float64 (Python 3.11), with lr 0.1 and
// momentum 0.9. Weights and gradients are exact in float32.

const W0 = [0.5, -0.25, 1];
const G1 = [0.25, -0.125, 2];
const G2 = [0.5, 0.25, -1];

/** Far below the smallest change of one step here (0.0125). */
const TOLERANCE = 1e-7;

function runSgd(args: SGDArgs, gradients: number[][]): { weights: Float32Array; state: Float32Array } {
  const sgd = new SGD(args);
  const weights = Float32Array.from(W0);
  const state = new Float32Array(Math.max(1, sgd.slotsPerParam * W0.length));
  gradients.forEach((g, i) => {
    sgd.applyRange({ weights, grads: Float32Array.from(g), state, paramCount: W0.length, start: 0, end: W0.length, step: i + 1, learningRate: sgd.learningRate });
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

test('SGD lr 0.1 one step', () => {
  assertClose(runSgd({ learningRate: 0.1 }, [G1]).weights, [0.475, -0.2375, 0.8], TOLERANCE, 'w');
});

test('SGD lr 0.1 two steps', () => {
  assertClose(runSgd({ learningRate: 0.1 }, [G1, G2]).weights, [0.425, -0.2625, 0.9], TOLERANCE, 'w');
});

test('SGD momentum 0.9 one step', () => {
  // v = -lr g, so the first step equals plain SGD.
  const { weights, state } = runSgd({ learningRate: 0.1, momentum: 0.9 }, [G1]);
  assertClose(weights, [0.475, -0.2375, 0.8], TOLERANCE, 'w');
  assertCloseRelative(state, [-0.025, 0.0125, -0.2], 'v');
});

test('SGD momentum 0.9 two steps', () => {
  const { weights, state } = runSgd({ learningRate: 0.1, momentum: 0.9 }, [G1, G2]);
  assertClose(weights, [0.4025, -0.25125, 0.72], TOLERANCE, 'w');
  assertCloseRelative(state, [-0.0725, -0.01375, -0.08], 'v');
});

test('SGD nesterov momentum 0.9 one step', () => {
  // w += 0.9 v - lr g with v = -lr g: a step of 1.9 lr g.
  const { weights, state } = runSgd({ learningRate: 0.1, momentum: 0.9, nesterov: true }, [G1]);
  assertClose(weights, [0.4525, -0.22625, 0.62], TOLERANCE, 'w');
  assertCloseRelative(state, [-0.025, 0.0125, -0.2], 'v');
});

test('SGD nesterov momentum 0.9 two steps', () => {
  const { weights } = runSgd({ learningRate: 0.1, momentum: 0.9, nesterov: true }, [G1, G2]);
  assertClose(weights, [0.33725, -0.263625, 0.648], TOLERANCE, 'w');
});

test('SGD range [1, 2) leaves the rest', () => {
  const sgd = new SGD({ learningRate: 0.1, momentum: 0.9 });
  const weights = Float32Array.from(W0);
  const state = new Float32Array(3);
  sgd.applyRange({ weights, grads: Float32Array.from(G1), state, paramCount: 3, start: 1, end: 2, step: 1, learningRate: 0.1 });
  assert.deepEqual(Array.from(weights), [0.5, Math.fround(-0.2375), 1]);
  assert.deepEqual(Array.from(state), [0, Math.fround(0.0125), 0]);
});

test('SGD defaults and state slots', () => {
  const sgd = new SGD();
  assert.deepEqual(sgd.getConfig(), { learningRate: 0.01, momentum: 0, nesterov: false });
  assert.equal(sgd.slotsPerParam, 0);
  assert.equal(new SGD({ momentum: 0.5 }).slotsPerParam, 1);
});

const OPTION_ERRORS: { args: Record<string, unknown>; name: string; message: string }[] = [
  { args: { learningRate: -1 }, name: 'RangeError', message: 'SGD: learningRate must be a positive finite number, got -1.' },
  { args: { learningRate: '0.1' }, name: 'RangeError', message: 'SGD: learningRate must be a positive finite number, got "0.1".' },
  { args: { momentum: 1 }, name: 'RangeError', message: 'SGD: momentum must be a number in [0, 1), got 1.' },
  { args: { momentum: -0.1 }, name: 'RangeError', message: 'SGD: momentum must be a number in [0, 1), got -0.1.' },
  { args: { nesterov: 'yes' }, name: 'TypeError', message: 'SGD: nesterov must be a boolean, got "yes".' },
];

for (const { args, name, message } of OPTION_ERRORS) {
  const [[option, value]] = Object.entries(args);
  test(`SGD ${option} ${JSON.stringify(value)} rejected`, () => {
    assert.throws(() => new SGD(args as SGDArgs), { name, message });
  });
}
