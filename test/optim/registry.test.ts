import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Adam, SGD, createOptimizer } from '../../src/optim/index.js';

test('createOptimizer adam with config', () => {
  const adam = createOptimizer('adam', { learningRate: 0.01, beta1: 0.8 });
  assert.ok(adam instanceof Adam);
  assert.deepEqual(adam.getConfig(), { learningRate: 0.01, beta1: 0.8, beta2: 0.999, epsilon: 1e-7 });
});

test('createOptimizer Keras class name SGD', () => {
  const sgd = createOptimizer('SGD', { momentum: 0.9, nesterov: true });
  assert.ok(sgd instanceof SGD);
  assert.deepEqual(sgd.getConfig(), { learningRate: 0.01, momentum: 0.9, nesterov: true });
});

test('createOptimizer config round trip', () => {
  // Workers rebuild the optimizer from className and getConfig().
  const original = new Adam({ learningRate: 0.003, beta2: 0.98, epsilon: 1e-6 });
  const copy = createOptimizer(original.className, original.getConfig());
  assert.deepEqual(copy.getConfig(), original.getConfig());
});

test('createOptimizer rmsprop rejected', () => {
  assert.throws(() => createOptimizer('rmsprop'), { name: 'RangeError', message: 'Unknown optimizer "rmsprop"; use one of adam, sgd.' });
});
