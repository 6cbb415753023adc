import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Adam } from '../../src/optim/adam.js';
import { AdamW, type AdamWArgs } from '../../src/optim/adamw.js';
import { createOptimizer } from '../../src/optim/index.js';
import { assertBitIdentical, assertClose, assertCloseRelative, assertConfigRoundTrip, assertSplitMatchesWhole, assertStepsExceed, runSteps } from './harness.js';
import type { ClippingArgs } from '../../src/optim/clipping.js';

/** The update rule's own arguments, all given; clipping is tested in clipping.test.ts. */
type UpdateRuleArgs<T> = Required<Omit<T, keyof ClippingArgs>>;

// Keras's AdamW: decoupled weight decay, then the Adam step at step t:
//   w -= lr weightDecay w
//   m  = beta1 m + (1 - beta1) g
//   v  = beta2 v + (1 - beta2) g^2
//   w -= lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)
// The reference below runs that formula in float64. Weights and gradients are exact in
// float32, so only the float32 storage of weights and state rounds.

const W0 = [0.5, -0.25, 0, 1];
const GRADIENTS = [
  [0.25, -0.125, 0, 3],
  [0.125, 0.375, 0, 3],
  [-0.5, 0.25, 0, -1],
];

/** Six float32 roundings of weights below 1 (each at most 2^-25), with margin. */
const TOLERANCE = 2.5e-7;

interface Reference {
  /** Weights after each step. */
  trajectory: number[][];
  m: number[];
  v: number[];
}

function adamwReference(args: UpdateRuleArgs<AdamWArgs>, initial: readonly number[], gradients: readonly number[][]): Reference {
  const { learningRate, weightDecay, beta1, beta2, epsilon } = args;
  const w = [...initial];
  const m = initial.map(() => 0);
  const v = initial.map(() => 0);
  const trajectory: number[][] = [];
  gradients.forEach((g, index) => {
    const t = index + 1;
    for (let i = 0; i < w.length; i++) {
      w[i] -= learningRate * weightDecay * w[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g[i];
      v[i] = beta2 * v[i] + (1 - beta2) * g[i] * g[i];
      w[i] -= ((learningRate * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t)) * (m[i] / (Math.sqrt(v[i]) + epsilon));
    }
    trajectory.push([...w]);
  });
  return { trajectory, m, v };
}

const DEFAULTS: UpdateRuleArgs<AdamWArgs> = { learningRate: 0.001, weightDecay: 0.004, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 };

const CASES: { title: string; args: UpdateRuleArgs<AdamWArgs> }[] = [
  { title: 'defaults', args: DEFAULTS },
  { title: 'lr 0.01 weightDecay 0.5', args: { ...DEFAULTS, learningRate: 0.01, weightDecay: 0.5 } },
  { title: 'lr 0.01 weightDecay 0.1 beta1 0.8 beta2 0.99 epsilon 1e-3', args: { learningRate: 0.01, weightDecay: 0.1, beta1: 0.8, beta2: 0.99, epsilon: 1e-3 } },
];

for (const { title, args } of CASES) {
  for (const steps of [1, 3]) {
    test(`AdamW ${title} ${steps} steps`, () => {
      const gradients = GRADIENTS.slice(0, steps);
      const reference = adamwReference(args, W0, gradients);
      assertStepsExceed(reference.trajectory, W0, TOLERANCE);
      const { weights, state } = runSteps(new AdamW(args), W0, gradients);
      assertClose(weights, reference.trajectory[steps - 1], TOLERANCE, 'w');
      assertCloseRelative(state.subarray(0, 4), reference.m, 'm');
      assertCloseRelative(state.subarray(4), reference.v, 'v');
    });
  }
}

test('AdamW zero gradient only decays', () => {
  // With g = 0 the Adam step is 0, so each step multiplies w by 1 - lr weightDecay.
  const { weights } = runSteps(new AdamW({ learningRate: 0.01, weightDecay: 0.5 }), [1, -0.5], [[0, 0], [0, 0], [0, 0]]);
  assertClose(weights, [0.995 ** 3, -0.5 * 0.995 ** 3], 2e-7, 'w');
});

test('AdamW weightDecay 0 equals Adam bits', () => {
  const adamw = runSteps(new AdamW({ weightDecay: 0 }), W0, GRADIENTS);
  const adam = runSteps(new Adam(), W0, GRADIENTS);
  assertBitIdentical(adamw.weights, adam.weights, 'weights');
  assertBitIdentical(adamw.state, adam.state, 'state');
});

test('AdamW split range matches one range', () => {
  const create = (): AdamW => new AdamW({ learningRate: 0.01, weightDecay: 0.5 });
  for (const split of [1, 2, 3]) assertSplitMatchesWhole(create, W0, GRADIENTS, split);
});

test('AdamW defaults and state slots', () => {
  const adamw = new AdamW();
  assert.deepEqual(adamw.getConfig(), { learningRate: 0.001, weightDecay: 0.004, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 });
  assert.equal(adamw.className, 'AdamW');
  assert.equal(adamw.slotsPerParam, 2);
});

test('AdamW config round trip', () => {
  assertConfigRoundTrip(new AdamW());
  assertConfigRoundTrip(new AdamW({ learningRate: 0.5, weightDecay: 0.008, beta1: 0.5, beta2: 0.67, epsilon: 1e-5 }));
  assert.ok(createOptimizer('adamw') instanceof AdamW);
});

const OPTION_ERRORS: { args: Record<string, unknown>; message: string }[] = [
  { args: { learningRate: 0 }, message: 'AdamW: learningRate must be a positive finite number, got 0.' },
  { args: { weightDecay: -0.004 }, message: 'AdamW: weightDecay must be a non-negative finite number, got -0.004.' },
  { args: { weightDecay: '0.004' }, message: 'AdamW: weightDecay must be a non-negative finite number, got "0.004".' },
  { args: { beta1: 1 }, message: 'AdamW: beta1 must be a number in [0, 1), got 1.' },
  { args: { beta2: -0.5 }, message: 'AdamW: beta2 must be a number in [0, 1), got -0.5.' },
  { args: { epsilon: 0 }, message: 'AdamW: epsilon must be a positive finite number, got 0.' },
];

for (const { args, message } of OPTION_ERRORS) {
  const [[option, value]] = Object.entries(args);
  test(`AdamW ${option} ${String(value)} rejected`, () => {
    assert.throws(() => new AdamW(args as AdamWArgs), { name: 'RangeError', message });
  });
}
