import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import { MeanSquaredError } from '../../src/losses/mean-squared-error.js';
import { assertNoMismatches, compareWithCentralDifferences, uniformArray } from '../helpers/gradient-check.js';

test('MSE 2 rows of 3 by hand', () => {
  // Row 0: y - t = [1, 0, -2], mean of squares 5 / 3. Row 1: y - t = [0.5, 0.5, 0.5], mean 0.25.
  const output = Float64Array.from([1, 2, 3, 1, 1, 1]);
  const targets = Float64Array.from([0, 2, 5, 0.5, 0.5, 0.5]);
  const dOut = new Float64Array(6);
  const total = new MeanSquaredError().compute(dOut, output, null, targets, 2, 3, 0.5);
  assert.ok(Math.abs(total - (5 / 3 + 0.25)) < 1e-15, `loss sum ${total}`);
  // Gradient of 0.5 * sum: 0.5 * 2 (y - t) / 3.
  const expected = [1, 0, -2, 0.5, 0.5, 0.5].map((d) => d / 3);
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(dOut[i] - expected[i]) < 1e-15, `dOut[${i}] = ${dOut[i]}, expected ${expected[i]}`);
});

test('MSE ignores logits', () => {
  const loss = new MeanSquaredError();
  assert.equal(loss.fusesSoftmax, false);
  assert.equal(loss.targetWidth(4), 4);
  const output = Float64Array.from([1, 2]);
  const targets = Float64Array.from([0, 0]);
  assert.equal(loss.compute(null, output, Float64Array.from([50, 60]), targets, 1, 2, 1), 2.5);
});

test('MSE 3 rows of 4 gradients', () => {
  const rng = new Rng(80);
  const output = uniformArray(12, rng, -2, 2);
  const targets = uniformArray(12, rng, -2, 2);
  const loss = new MeanSquaredError();
  const dOut = new Float64Array(12);
  loss.compute(dOut, output, null, targets, 3, 4, 0.25);
  const objective = (): number => 0.25 * loss.compute(null, output, null, targets, 3, 4, 1);
  const result = compareWithCentralDifferences('output', objective, output, Array.from(output.keys()), dOut);
  assertNoMismatches('meanSquaredError', [result], 1e-6);
});
