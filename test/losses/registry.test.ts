import assert from 'node:assert/strict';
import { test } from 'node:test';

import { getLoss } from '../../src/losses/index.js';

for (const [name, expected] of [
  ['sparseCategoricalCrossentropy', 'sparseCategoricalCrossentropy'],
  ['sparse_categorical_crossentropy', 'sparseCategoricalCrossentropy'],
  ['categorical_crossentropy', 'categoricalCrossentropy'],
  ['mse', 'meanSquaredError'],
  ['mean_squared_error', 'meanSquaredError'],
] as const) {
  test(`getLoss '${name}' is ${expected}`, () => {
    assert.equal(getLoss(name).name, expected);
  });
}

test('getLoss hinge rejected', () => {
  assert.throws(() => getLoss('hinge'), {
    name: 'RangeError',
    message: 'Unknown loss "hinge"; use one of sparseCategoricalCrossentropy, categoricalCrossentropy, meanSquaredError.',
  });
});

test('getLoss toString rejected', () => {
  // An inherited property name must not pass as a loss.
  assert.throws(() => getLoss('toString'), { name: 'RangeError' });
});
