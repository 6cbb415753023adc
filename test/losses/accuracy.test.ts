import assert from 'node:assert/strict';
import { test } from 'node:test';

import { countCorrect } from '../../src/metrics/accuracy.js';

test('accuracy sparse labels 3 rows', () => {
  // Argmaxes 1, 2 and 1 (an all-negative row) against labels 1, 0 and 1.
  const output = Float32Array.from([0.1, 0.7, 0.2, 0.3, 0.3, 0.4, -3, -1, -2]);
  assert.equal(countCorrect(output, Float32Array.from([1, 0, 1]), 3, 3, 1), 2);
});

test('accuracy argmax tie goes to first', () => {
  const output = Float32Array.from([0.4, 0.4, 0.2, 0.1, 0.45, 0.45]);
  assert.equal(countCorrect(output, Float32Array.from([0, 1]), 2, 3, 1), 2);
  assert.equal(countCorrect(output, Float32Array.from([1, 2]), 2, 3, 1), 0);
});

test('accuracy one-hot targets 2 rows', () => {
  const output = Float32Array.from([0.1, 0.9, 0.6, 0.4]);
  const targets = Float32Array.from([0, 1, 0, 1]);
  assert.equal(countCorrect(output, targets, 2, 2, 2), 1);
});

test('accuracy binary width 1 threshold 0.5', () => {
  // 0.7 vs 1 and 0.2 vs 0 match; 0.5 is not above 0.5, so it misses target 1; 0.51 misses 0.
  const output = Float32Array.from([0.7, 0.2, 0.5, 0.51]);
  const targets = Float32Array.from([1, 0, 1, 0]);
  assert.equal(countCorrect(output, targets, 4, 1, 1), 2);
});

test('accuracy counts only the first n rows', () => {
  const output = Float32Array.from([0.9, 0.1, 0.9, 0.1]);
  assert.equal(countCorrect(output, Float32Array.from([0, 0]), 1, 2, 1), 1);
});
