import assert from 'node:assert/strict';
import { test } from 'node:test';

import { activationBackward, activationForward, checkActivation } from '../../src/layers/activations.js';

test('sigmoid of -1000 and 1000 is 0 and 1', () => {
  const y = new Float64Array(3);
  activationForward('sigmoid', y, Float64Array.from([-1000, 0, 1000]), 1, 3);
  assert.deepEqual(Array.from(y), [0, 0.5, 1]);
});

test('softmax of logits 1000 apart is one-hot', () => {
  const y = new Float32Array(3);
  activationForward('softmax', y, Float32Array.from([1000, 0, -1000]), 1, 3);
  assert.deepEqual(Array.from(y), [1, 0, 0]);
});

test('softmax works along each row of 2x2', () => {
  // softmax([0, ln 3]) = [1/4, 3/4]; the second row is the first shifted by 100.
  const y = new Float64Array(4);
  activationForward('softmax', y, Float64Array.from([0, Math.log(3), 100, 100 + Math.log(3)]), 2, 2);
  for (const [i, expected] of [0.25, 0.75, 0.25, 0.75].entries()) {
    assert.ok(Math.abs(y[i] - expected) < 1e-12, `y[${i}] = ${y[i]}`);
  }
});

test('relu backward uses y > 0', () => {
  // z = 0 gives y = 0 and a zero gradient, as the subgradient Keras uses.
  const dZ = new Float64Array(3);
  activationBackward('relu', dZ, Float64Array.from([5, 6, 7]), Float64Array.from([0, 2, 0]), 1, 3);
  assert.deepEqual(Array.from(dZ), [0, 6, 0]);
});

test('softmax backward of uniform dY is 0', () => {
  // sum_j y_j = 1, so adding a constant to dY leaves dZ = y (dY - dY.y) unchanged at 0.
  const dZ = new Float64Array(3);
  activationBackward('softmax', dZ, Float64Array.from([2, 2, 2]), Float64Array.from([0.2, 0.3, 0.5]), 1, 3);
  for (const v of dZ) assert.ok(Math.abs(v) < 1e-15, `dZ value ${v}`);
});

test('checkActivation undefined is linear', () => {
  assert.equal(checkActivation(undefined, 'here'), 'linear');
});

test('checkActivation ReLU uppercase rejected', () => {
  assert.throws(() => checkActivation('ReLU', 'Dense'), {
    name: 'RangeError',
    message: 'Dense: activation "ReLU" is not supported; use one of linear, relu, sigmoid, tanh, softmax.',
  });
});
