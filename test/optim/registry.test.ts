import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Adadelta, Adagrad, Adam, AdamW, type Optimizer, RMSprop, SGD, createOptimizer } from '../../src/optim/index.js';

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

const NAMES: { names: string[]; type: new () => Optimizer }[] = [
  { names: ['rmsprop', 'RMSprop', 'RMSPROP'], type: RMSprop },
  { names: ['adadelta', 'Adadelta'], type: Adadelta },
  { names: ['adagrad', 'Adagrad'], type: Adagrad },
  { names: ['adamw', 'AdamW'], type: AdamW },
];

for (const { names, type } of NAMES) {
  test(`createOptimizer ${names.join(' ')}`, () => {
    for (const name of names) {
      const optimizer = createOptimizer(name);
      assert.ok(optimizer instanceof type, `${name} created ${optimizer.className}`);
      assert.equal(optimizer.className.toLowerCase(), names[0]);
    }
  });
}

test('createOptimizer passes config to RMSprop', () => {
  const rmsprop = createOptimizer('RMSprop', { learningRate: 0.01, centered: true });
  assert.deepEqual(rmsprop.getConfig(), { learningRate: 0.01, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: true });
});

test('createOptimizer nadam rejected', () => {
  assert.throws(() => createOptimizer('nadam'), { name: 'RangeError', message: 'Unknown optimizer "nadam"; use one of adam, sgd, rmsprop, adadelta, adagrad, adamw.' });
});

test('createOptimizer bad config names the value', () => {
  assert.throws(() => createOptimizer('adagrad', { initialAccumulatorValue: -1 }), { name: 'RangeError', message: 'Adagrad: initialAccumulatorValue must be a non-negative finite number, got -1.' });
});
