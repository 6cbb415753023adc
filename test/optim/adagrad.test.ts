import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Adagrad, type AdagradArgs } from '../../src/optim/adagrad.js';
import { createOptimizer, fillInitialState } from '../../src/optim/index.js';
import { assertClose, assertCloseRelative, assertConfigRoundTrip, assertSplitMatchesWhole, assertStepsExceed, runSteps } from './harness.js';
import type { ClippingArgs } from '../../src/optim/clipping.js';

/** The update rule's own arguments, all given; clipping is tested in clipping.test.ts. */
type UpdateRuleArgs<T> = Required<Omit<T, keyof ClippingArgs>>;

// Keras's Adagrad, with the accumulator starting at initialAccumulatorValue:
//   acc = acc + g^2
//   w  -= lr g / sqrt(acc + epsilon)
// The reference below runs that formula in float64, except that the accumulator starts from
// the float32 rounding of initialAccumulatorValue, which is what a float32 state can hold.
// Weights and gradients are exact in float32.

const W0 = [0.5, -0.25, 1, 0];
const GRADIENTS = [
  [0.25, -0.125, 0, 3],
  [0.125, 0.375, 0, 3],
  [-0.5, 0.25, 0, -1],
];

/** Three float32 roundings of weights below 1 (each at most 2^-25), with margin. */
const TOLERANCE = 2e-7;

interface Reference {
  /** Weights after each step. */
  trajectory: number[][];
  accumulator: number[];
}

function adagradReference(args: UpdateRuleArgs<AdagradArgs>, initial: readonly number[], gradients: readonly number[][]): Reference {
  const { learningRate, initialAccumulatorValue, epsilon } = args;
  const w = [...initial];
  const accumulator = initial.map(() => Math.fround(initialAccumulatorValue));
  const trajectory: number[][] = [];
  for (const g of gradients) {
    for (let i = 0; i < w.length; i++) {
      accumulator[i] += g[i] * g[i];
      w[i] -= (learningRate * g[i]) / Math.sqrt(accumulator[i] + epsilon);
    }
    trajectory.push([...w]);
  }
  return { trajectory, accumulator };
}

const DEFAULTS: UpdateRuleArgs<AdagradArgs> = { learningRate: 0.001, initialAccumulatorValue: 0.1, epsilon: 1e-7 };

const CASES: { title: string; args: UpdateRuleArgs<AdagradArgs> }[] = [
  { title: 'defaults', args: DEFAULTS },
  { title: 'lr 0.1 initialAccumulatorValue 0', args: { ...DEFAULTS, learningRate: 0.1, initialAccumulatorValue: 0 } },
  { title: 'lr 0.2 initialAccumulatorValue 0.3 epsilon 1e-6', args: { learningRate: 0.2, initialAccumulatorValue: 0.3, epsilon: 1e-6 } },
];

for (const { title, args } of CASES) {
  for (const steps of [1, 3]) {
    test(`Adagrad ${title} ${steps} steps`, () => {
      const gradients = GRADIENTS.slice(0, steps);
      const reference = adagradReference(args, W0, gradients);
      assertStepsExceed(reference.trajectory, W0, TOLERANCE);
      const { weights, state } = runSteps(new Adagrad(args), W0, gradients);
      assertClose(weights, reference.trajectory[steps - 1], TOLERANCE, 'w');
      assertCloseRelative(state, reference.accumulator, 'accumulator');
    });
  }
}

test('Adagrad state starts at initialAccumulatorValue', () => {
  const adagrad = new Adagrad({ initialAccumulatorValue: 0.25 });
  assert.equal(adagrad.initialStateValue(0), 0.25);
  const state = new Float32Array(4);
  fillInitialState(adagrad, state, 4);
  assert.deepEqual(Array.from(state), [0.25, 0.25, 0.25, 0.25]);
});

test('Adagrad zero gradient leaves weight and accumulator', () => {
  const { weights, state } = runSteps(new Adagrad(), W0, GRADIENTS);
  assert.equal(weights[2], 1);
  assert.equal(state[2], Math.fround(0.1));
});

test('Adagrad split range matches one range', () => {
  const create = (): Adagrad => new Adagrad({ learningRate: 0.2, initialAccumulatorValue: 0.3 });
  for (const split of [1, 2, 3]) assertSplitMatchesWhole(create, W0, GRADIENTS, split);
});

test('Adagrad defaults and state slots', () => {
  const adagrad = new Adagrad();
  assert.deepEqual(adagrad.getConfig(), { learningRate: 0.001, initialAccumulatorValue: 0.1, epsilon: 1e-7 });
  assert.equal(adagrad.className, 'Adagrad');
  assert.equal(adagrad.slotsPerParam, 1);
});

test('Adagrad config round trip', () => {
  assertConfigRoundTrip(new Adagrad());
  assertConfigRoundTrip(new Adagrad({ learningRate: 0.5, initialAccumulatorValue: 0.2, epsilon: 1e-5 }));
  assert.ok(createOptimizer('adagrad') instanceof Adagrad);
});

const OPTION_ERRORS: { args: Record<string, unknown>; message: string }[] = [
  { args: { learningRate: 0 }, message: 'Adagrad: learningRate must be a positive finite number, got 0.' },
  { args: { initialAccumulatorValue: -0.1 }, message: 'Adagrad: initialAccumulatorValue must be a non-negative finite number, got -0.1.' },
  { args: { initialAccumulatorValue: Number.POSITIVE_INFINITY }, message: 'Adagrad: initialAccumulatorValue must be a non-negative finite number, got Infinity.' },
  { args: { epsilon: 0 }, message: 'Adagrad: epsilon must be a positive finite number, got 0.' },
];

for (const { args, message } of OPTION_ERRORS) {
  const [[option, value]] = Object.entries(args);
  test(`Adagrad ${option} ${String(value)} rejected`, () => {
    assert.throws(() => new Adagrad(args as AdagradArgs), { name: 'RangeError', message });
  });
}
