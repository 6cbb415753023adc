import assert from 'node:assert/strict';
import { test } from 'node:test';

import { createOptimizer } from '../../src/optim/index.js';
import { RMSprop, type RMSpropArgs } from '../../src/optim/rmsprop.js';
import { assertClose, assertCloseRelative, assertConfigRoundTrip, assertSplitMatchesWhole, assertStepsExceed, runSteps } from './harness.js';
import type { ClippingArgs } from '../../src/optim/clipping.js';

/** The update rule's own arguments, all given; clipping is tested in clipping.test.ts. */
type UpdateRuleArgs<T> = Required<Omit<T, keyof ClippingArgs>>;

// Keras's RMSprop:
//   v = rho v + (1 - rho) g^2
//   centered:  a = rho a + (1 - rho) g;  d = v - a^2 + epsilon
//   otherwise: d = v + epsilon
//   step = lr g / sqrt(d)
//   momentum > 0: m = momentum m + step;  w -= m
//   otherwise:    w -= step
// The reference below runs that formula in float64. Weights and gradients are exact in
// float32, so only the float32 storage of weights and state rounds.

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
  v: number[];
  m: number[];
  a: number[];
}

function rmspropReference(args: UpdateRuleArgs<RMSpropArgs>, initial: readonly number[], gradients: readonly number[][]): Reference {
  const { learningRate, rho, momentum, epsilon, centered } = args;
  const w = [...initial];
  const v = initial.map(() => 0);
  const m = initial.map(() => 0);
  const a = initial.map(() => 0);
  const trajectory: number[][] = [];
  for (const g of gradients) {
    for (let i = 0; i < w.length; i++) {
      v[i] = rho * v[i] + (1 - rho) * g[i] * g[i];
      let d = v[i] + epsilon;
      if (centered) {
        a[i] = rho * a[i] + (1 - rho) * g[i];
        d = v[i] - a[i] * a[i] + epsilon;
      }
      const step = (learningRate * g[i]) / Math.sqrt(d);
      if (momentum > 0) {
        m[i] = momentum * m[i] + step;
        w[i] -= m[i];
      } else {
        w[i] -= step;
      }
    }
    trajectory.push([...w]);
  }
  return { trajectory, v, m, a };
}

const DEFAULTS: UpdateRuleArgs<RMSpropArgs> = { learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false };

const CASES: { title: string; args: UpdateRuleArgs<RMSpropArgs> }[] = [
  { title: 'defaults', args: DEFAULTS },
  { title: 'momentum 0.9', args: { ...DEFAULTS, momentum: 0.9 } },
  { title: 'centered', args: { ...DEFAULTS, centered: true } },
  { title: 'lr 0.01 rho 0.8 momentum 0.5 epsilon 1e-4 centered', args: { learningRate: 0.01, rho: 0.8, momentum: 0.5, epsilon: 1e-4, centered: true } },
];

for (const { title, args } of CASES) {
  for (const steps of [1, 3]) {
    test(`RMSprop ${title} ${steps} steps`, () => {
      const gradients = GRADIENTS.slice(0, steps);
      const reference = rmspropReference(args, W0, gradients);
      assertStepsExceed(reference.trajectory, W0, TOLERANCE);
      const { weights, state } = runSteps(new RMSprop(args), W0, gradients);
      assertClose(weights, reference.trajectory[steps - 1], TOLERANCE, 'w');

      // Slots in order: v, then m when momentum > 0, then a when centered.
      const slots = [reference.v];
      if (args.momentum > 0) slots.push(reference.m);
      if (args.centered) slots.push(reference.a);
      assert.equal(state.length, slots.length * W0.length);
      slots.forEach((expected, slot) => assertCloseRelative(state.subarray(slot * W0.length, (slot + 1) * W0.length), expected, `state slot ${slot}`));
    });
  }
}

test('RMSprop zero gradient leaves weight', () => {
  const { weights } = runSteps(new RMSprop({ centered: true }), W0, GRADIENTS);
  assert.equal(weights[2], 1);
});

test('RMSprop Keras docstring example', () => {
  // keras/src/optimizers/rmsprop.py (Keras 3): lr 0.1 on loss w^2 / 2 from w = 10 gives 9.683772.
  const { weights } = runSteps(new RMSprop({ learningRate: 0.1 }), [10], [[10]]);
  assert.ok(Math.abs(weights[0] - 9.683772) < 1e-6, `w = ${weights[0]}`);
});

test('RMSprop split range matches one range', () => {
  const create = (): RMSprop => new RMSprop({ learningRate: 0.01, momentum: 0.5, centered: true });
  for (const split of [1, 2, 3]) assertSplitMatchesWhole(create, W0, GRADIENTS, split);
});

test('RMSprop defaults and state slots', () => {
  const rmsprop = new RMSprop();
  assert.deepEqual(rmsprop.getConfig(), { learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false });
  assert.equal(rmsprop.className, 'RMSprop');
  assert.equal(rmsprop.slotsPerParam, 1);
  assert.equal(new RMSprop({ momentum: 0.9 }).slotsPerParam, 2);
  assert.equal(new RMSprop({ centered: true }).slotsPerParam, 2);
  assert.equal(new RMSprop({ momentum: 0.9, centered: true }).slotsPerParam, 3);
});

test('RMSprop config round trip', () => {
  assertConfigRoundTrip(new RMSprop());
  assertConfigRoundTrip(new RMSprop({ learningRate: 0.02, rho: 0.8, momentum: 0.5, epsilon: 1e-5, centered: true }));
  assert.ok(createOptimizer('rmsprop') instanceof RMSprop);
});

const OPTION_ERRORS: { args: Record<string, unknown>; name: string; message: string }[] = [
  { args: { learningRate: 0 }, name: 'RangeError', message: 'RMSprop: learningRate must be a positive finite number, got 0.' },
  { args: { rho: 1 }, name: 'RangeError', message: 'RMSprop: rho must be a number in [0, 1), got 1.' },
  { args: { rho: -0.1 }, name: 'RangeError', message: 'RMSprop: rho must be a number in [0, 1), got -0.1.' },
  { args: { momentum: 1 }, name: 'RangeError', message: 'RMSprop: momentum must be a number in [0, 1), got 1.' },
  { args: { epsilon: 0 }, name: 'RangeError', message: 'RMSprop: epsilon must be a positive finite number, got 0.' },
  { args: { epsilon: -1e-7 }, name: 'RangeError', message: 'RMSprop: epsilon must be a positive finite number, got -1e-7.' },
  { args: { centered: 'yes' }, name: 'TypeError', message: 'RMSprop: centered must be a boolean, got "yes".' },
];

for (const { args, name, message } of OPTION_ERRORS) {
  const [[option, value]] = Object.entries(args);
  test(`RMSprop ${option} ${JSON.stringify(value)} rejected`, () => {
    assert.throws(() => new RMSprop(args as RMSpropArgs), { name, message });
  });
}
