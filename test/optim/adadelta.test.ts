import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Adadelta, type AdadeltaArgs } from '../../src/optim/adadelta.js';
import { createOptimizer } from '../../src/optim/index.js';
import { assertClose, assertCloseRelative, assertConfigRoundTrip, assertSplitMatchesWhole, assertStepsExceed, runSteps } from './harness.js';
import type { ClippingArgs } from '../../src/optim/clipping.js';

/** The update rule's own arguments, all given; clipping is tested in clipping.test.ts. */
type UpdateRuleArgs<T> = Required<Omit<T, keyof ClippingArgs>>;

// Keras's Adadelta:
//   Eg  = rho Eg + (1 - rho) g^2
//   dx  = -sqrt(Edx + epsilon) / sqrt(Eg + epsilon) * g     (Edx of the previous step)
//   Edx = rho Edx + (1 - rho) dx^2
//   w  += lr dx
// The reference below runs that formula in float64. Weights and gradients are exact in
// float32, so only the float32 storage of weights and state rounds.

const GRADIENTS = [
  [0.25, -0.125, 0, 3],
  [0.125, 0.375, 0, 3],
  [-0.5, 0.25, 0, -1],
];

interface Reference {
  /** Weights after each step. */
  trajectory: number[][];
  gradAverage: number[];
  deltaAverage: number[];
}

function adadeltaReference(args: UpdateRuleArgs<AdadeltaArgs>, initial: readonly number[], gradients: readonly number[][]): Reference {
  const { learningRate, rho, epsilon } = args;
  const w = [...initial];
  const gradAverage = initial.map(() => 0);
  const deltaAverage = initial.map(() => 0);
  const trajectory: number[][] = [];
  for (const g of gradients) {
    for (let i = 0; i < w.length; i++) {
      gradAverage[i] = rho * gradAverage[i] + (1 - rho) * g[i] * g[i];
      const dx = (-Math.sqrt(deltaAverage[i] + epsilon) / Math.sqrt(gradAverage[i] + epsilon)) * g[i];
      deltaAverage[i] = rho * deltaAverage[i] + (1 - rho) * dx * dx;
      w[i] += learningRate * dx;
    }
    trajectory.push([...w]);
  }
  return { trajectory, gradAverage, deltaAverage };
}

const DEFAULTS: UpdateRuleArgs<AdadeltaArgs> = { learningRate: 0.001, rho: 0.95, epsilon: 1e-7 };

// With lr 0.001 a step is about 1.4e-6, so those weights sit near 1e-3, where three float32
// roundings stay below 2e-9. With lr 1 the steps are about 1.4e-3 and the weights near 1.
const CASES: { title: string; args: UpdateRuleArgs<AdadeltaArgs>; initial: number[]; tolerance: number }[] = [
  { title: 'defaults', args: DEFAULTS, initial: [0.001, -0.002, 0.004, 0], tolerance: 2e-9 },
  { title: 'lr 1', args: { ...DEFAULTS, learningRate: 1 }, initial: [0.5, -0.25, 1, 0], tolerance: 2e-7 },
  { title: 'lr 1 rho 0.8 epsilon 1e-6', args: { learningRate: 1, rho: 0.8, epsilon: 1e-6 }, initial: [0.5, -0.25, 1, 0], tolerance: 2e-7 },
];

for (const { title, args, initial, tolerance } of CASES) {
  for (const steps of [1, 3]) {
    test(`Adadelta ${title} ${steps} steps`, () => {
      const gradients = GRADIENTS.slice(0, steps);
      const reference = adadeltaReference(args, initial, gradients);
      assertStepsExceed(reference.trajectory, initial, tolerance);
      const { weights, state } = runSteps(new Adadelta(args), initial, gradients);
      assertClose(weights, reference.trajectory[steps - 1], tolerance, 'w');
      assertCloseRelative(state.subarray(0, 4), reference.gradAverage, 'Eg');
      assertCloseRelative(state.subarray(4), reference.deltaAverage, 'Edx');
    });
  }
}

test('Adadelta zero gradient leaves weight', () => {
  const { weights } = runSteps(new Adadelta({ learningRate: 1 }), [0.5, -0.25, 1, 0], GRADIENTS);
  assert.equal(weights[2], 1);
});

test('Adadelta split range matches one range', () => {
  const create = (): Adadelta => new Adadelta({ learningRate: 1, rho: 0.8 });
  for (const split of [1, 2, 3]) assertSplitMatchesWhole(create, [0.5, -0.25, 1, 0], GRADIENTS, split);
});

test('Adadelta defaults and state slots', () => {
  const adadelta = new Adadelta();
  assert.deepEqual(adadelta.getConfig(), { learningRate: 0.001, rho: 0.95, epsilon: 1e-7 });
  assert.equal(adadelta.className, 'Adadelta');
  assert.equal(adadelta.slotsPerParam, 2);
});

test('Adadelta config round trip', () => {
  assertConfigRoundTrip(new Adadelta());
  assertConfigRoundTrip(new Adadelta({ learningRate: 1, rho: 0.9, epsilon: 1e-5 }));
  assert.ok(createOptimizer('adadelta') instanceof Adadelta);
});

const OPTION_ERRORS: { args: Record<string, unknown>; message: string }[] = [
  { args: { learningRate: -1 }, message: 'Adadelta: learningRate must be a positive finite number, got -1.' },
  { args: { rho: 1 }, message: 'Adadelta: rho must be a number in [0, 1), got 1.' },
  { args: { rho: Number.NaN }, message: 'Adadelta: rho must be a number in [0, 1), got NaN.' },
  { args: { epsilon: 0 }, message: 'Adadelta: epsilon must be a positive finite number, got 0.' },
  { args: { epsilon: '1e-7' }, message: 'Adadelta: epsilon must be a positive finite number, got "1e-7".' },
];

for (const { args, message } of OPTION_ERRORS) {
  const [[option, value]] = Object.entries(args);
  test(`Adadelta ${option} ${String(value)} rejected`, () => {
    assert.throws(() => new Adadelta(args as AdadeltaArgs), { name: 'RangeError', message });
  });
}
