import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Dropout, type DropoutArgs } from '../../src/layers/dropout.js';
import type { StepContext } from '../../src/layers/layer.js';
import { buildLayers } from '../../src/model/build.js';
import { INFERENCE_STEP, checkLayerGradients, createFloat64Layer, forwardFloat64 } from '../helpers/gradient-check.js';

function trainingStep(sampleIds: number[], options: { seed?: number; epoch?: number; offset?: number } = {}): StepContext {
  return {
    training: true,
    seed: options.seed ?? 7,
    epoch: options.epoch ?? 0,
    sampleIds: Int32Array.from(sampleIds),
    sampleIdOffset: options.offset ?? 0,
  };
}

/** Returns the Dropout output for rows of ones: each value is 0 (dropped) or 1 / (1 - rate) (kept). */
function maskOf(args: DropoutArgs, width: number, step: StepContext, rows: number): Float64Array {
  return forwardFloat64(new Dropout(args), [width], new Float64Array(rows * width).fill(1), rows, [], step);
}

function countDifferences(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let count = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) count++;
  return count;
}

test('Dropout rate 0.5 training zeroes or doubles each value', () => {
  const x = Array.from({ length: 16 }, (_, i) => i + 1);
  const y = forwardFloat64(new Dropout({ rate: 0.5, seed: 1 }), [8], x, 2, [], trainingStep([0, 1]));
  let dropped = 0;
  for (let i = 0; i < x.length; i++) {
    assert.ok(y[i] === 0 || y[i] === 2 * x[i], `y[${i}] = ${y[i]} is neither 0 nor 2 * ${x[i]}`);
    if (y[i] === 0) dropped++;
  }
  assert.ok(dropped > 0, 'no value was dropped');
  assert.ok(dropped < x.length, 'every value was dropped');
});

test('Dropout rate 0.3 drops about 30% of 4000 values', () => {
  const mask = maskOf({ rate: 0.3, seed: 2 }, 2000, trainingStep([5, 6]), 2);
  const keep = 1 / 0.7;
  let dropped = 0;
  for (const v of mask) {
    assert.ok(v === 0 || v === keep, `mask value ${v} is neither 0 nor ${keep}`);
    if (v === 0) dropped++;
  }
  // The standard deviation of the dropped fraction is sqrt(0.3 * 0.7 / 4000) = 0.0072.
  const fraction = dropped / mask.length;
  assert.ok(Math.abs(fraction - 0.3) < 0.03, `dropped fraction ${fraction}`);
});

test('Dropout inference is the identity', () => {
  const x = [0.5, -1, 2, 3, -4, 5];
  const y = forwardFloat64(new Dropout({ rate: 0.5, seed: 3 }), [3], x, 2, [], INFERENCE_STEP);
  assert.deepEqual(Array.from(y), x);
});

test('Dropout rate 0 training is the identity', () => {
  const x = [0.5, -1, 2, 3, -4, 5];
  const y = forwardFloat64(new Dropout({ rate: 0, seed: 3 }), [3], x, 2, [], trainingStep([0, 1]));
  assert.deepEqual(Array.from(y), x);
});

test('Dropout backward after inference passes dY through', () => {
  const built = createFloat64Layer(new Dropout({ rate: 0.5, seed: 4 }), [3], new Float64Array(0), 1);
  const x = Float64Array.from([1, 2, 3]);
  built.runtime.forward(x, 1, INFERENCE_STEP);
  built.runtime.backward(x, Float64Array.from([4, 5, 6]), 1, true, new Float64Array(0), 0, false);
  assert.deepEqual(Array.from(built.runtime.dX.slice(0, 3)), [4, 5, 6]);
});

test('Dropout mask follows sample id, not row', () => {
  const width = 64;
  const args = { rate: 0.5, seed: 5 };
  const forward = maskOf(args, width, trainingStep([3, 7]), 2);
  const swapped = maskOf(args, width, trainingStep([7, 3]), 2);
  assert.deepEqual(Array.from(swapped.slice(0, width)), Array.from(forward.slice(width)));
  assert.deepEqual(Array.from(swapped.slice(width)), Array.from(forward.slice(0, width)));
  assert.ok(countDifferences(forward.slice(0, width), forward.slice(width)) > 0, 'samples 3 and 7 should get different masks');
});

test('Dropout reads sample ids from sampleIdOffset', () => {
  const args = { rate: 0.5, seed: 6 };
  const direct = maskOf(args, 32, trainingStep([3, 7]), 2);
  const offset = maskOf(args, 32, trainingStep([9, 9, 3, 7], { offset: 2 }), 2);
  assert.deepEqual(Array.from(offset), Array.from(direct));
});

test('Dropout mask is repeatable for one step', () => {
  const args = { rate: 0.5, seed: 7 };
  assert.deepEqual(Array.from(maskOf(args, 64, trainingStep([1, 2]), 2)), Array.from(maskOf(args, 64, trainingStep([1, 2]), 2)));
});

test('Dropout mask changes with epoch, step seed and layer seed', () => {
  const base = maskOf({ rate: 0.5, seed: 8 }, 256, trainingStep([1]), 1);
  const nextEpoch = maskOf({ rate: 0.5, seed: 8 }, 256, trainingStep([1], { epoch: 1 }), 1);
  const otherStepSeed = maskOf({ rate: 0.5, seed: 8 }, 256, trainingStep([1], { seed: 8 }), 1);
  const otherLayerSeed = maskOf({ rate: 0.5, seed: 9 }, 256, trainingStep([1]), 1);
  // Two independent masks of rate 0.5 differ in about half of the 256 values.
  for (const [label, mask] of [
    ['epoch', nextEpoch],
    ['step seed', otherStepSeed],
    ['layer seed', otherLayerSeed],
  ] as const) {
    const differences = countDifferences(base, mask);
    assert.ok(differences > 64, `changing the ${label} changed only ${differences} of 256 mask values`);
  }
});

test('Dropout rate 0.4 training batch 2 gradients', () => {
  checkLayerGradients({
    layer: new Dropout({ rate: 0.4, seed: 10 }),
    inputShape: [3, 4],
    batch: 2,
    seed: 60,
    step: trainingStep([11, 4], { seed: 12345, epoch: 2 }),
  });
});

test('Dropout inference batch 2 gradients', () => {
  checkLayerGradients({ layer: new Dropout({ rate: 0.4, seed: 10 }), inputShape: [6], batch: 2, seed: 61 });
});

test('Dropout shape [3,4,5] is unchanged', () => {
  const layer = new Dropout({ rate: 0.2, seed: 0 });
  buildLayers([layer], [3, 4, 5]);
  assert.deepEqual(layer.outputShape, [3, 4, 5]);
  assert.equal(layer.countParams(), 0);
});

for (const rate of [1, -0.1, '0.5']) {
  test(`Dropout rate ${typeof rate === 'string' ? `'${rate}'` : rate} rejected`, () => {
    assert.throws(() => new Dropout({ rate: rate as number }), {
      name: 'RangeError',
      message: `Dropout 'dropout': rate must be a number in [0, 1), got ${JSON.stringify(rate)}.`,
    });
  });
}

test('Dropout rate NaN rejected', () => {
  assert.throws(() => new Dropout({ rate: Number.NaN }), { name: 'RangeError', message: /^Dropout 'dropout': rate must be a number in \[0, 1\), got / });
});
