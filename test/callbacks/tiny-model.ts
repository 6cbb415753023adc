/** Tiny seeded models and data for the callback tests. */
import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { layers } from '../../src/layers/index.js';
import { Sequential } from '../../src/model/sequential.js';

export const FEATURES = 6;

/**
 * Returns `count` seeded samples of FEATURES values in [0, 1) with labels 0..2; feature
 * `label` is larger by 1, so the task is learnable.
 */
export function tinyData(count: number, seed = 5): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([count, FEATURES]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    const label = rng.int(3);
    y.data[i] = label;
    for (let f = 0; f < FEATURES; f++) x.data[i * FEATURES + f] = rng.next() + (f === label ? 1 : 0);
  }
  return { x, y };
}

/** Dense(8, relu) -> Dense(3, softmax), compiled with `optimizer` (default Adam). */
export function tinyModel(optimizer: 'adam' | 'sgd' = 'adam'): Sequential {
  const model = new Sequential({ seed: 3 });
  model.add(layers.dense({ units: 8, activation: 'relu', inputShape: [FEATURES] }));
  model.add(layers.dense({ units: 3, activation: 'softmax' }));
  model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

/** Asserts equal bytes; returns a message naming the first differing element, or null. */
export function firstDifference(actual: Float32Array, expected: Float32Array): string | null {
  if (actual.length !== expected.length) return `length ${actual.length}, expected ${expected.length}`;
  const index = actual.findIndex((value, i) => !Object.is(value, expected[i]));
  return index < 0 ? null : `element ${index} is ${actual[index]}, expected ${expected[index]}`;
}
