import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseTrainOptions } from '../../src/cli/options.js';
import type { DatasetDescriptor } from '../../src/coordinator/messages.js';
import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import {
  type AffineParams,
  type AugmentConfig,
  type AugmentSpec,
  ImageAugmenter,
  MNIST_AUGMENT,
  buildAffineMatrices,
  createAffineScratch,
  createMatrix3,
  drawAffineParams,
  resolveAugment,
  warpBilinear,
  warpBilinearReference,
} from '../../src/data/augment.js';
import { ShapeError } from '../../src/errors.js';
import { layers } from '../../src/layers/index.js';
import { describeDataset } from '../../src/model/dataset.js';
import type { FitArgs } from '../../src/model/fit.js';
import { Sequential } from '../../src/model/sequential.js';

const IDENTITY: AffineParams = { rotation: 0, shiftX: 0, shiftY: 0, zoom: 1, shear: 0 };
const NO_AUGMENT: AugmentConfig = { rotationRange: 0, widthShiftRange: 0, heightShiftRange: 0, zoomLower: 1, zoomUpper: 1, shearRange: 0 };
const WIDE: AugmentConfig = { rotationRange: 180, widthShiftRange: 0.5, heightShiftRange: 0.5, zoomLower: 0.5, zoomUpper: 2, shearRange: 40 };

/** The 3x3 single-channel image with pixel (y, x) = 1 + x + 3y, that is 1..9 in row order. */
const RAMP_3X3 = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]);

/** Warps a whole [H, W, C] image with the transform `params`, through the fast or the reference warp. */
function warp(src: Float32Array, height: number, width: number, channels: number, params: Partial<AffineParams>, reference = false): Float32Array {
  const inverse = createMatrix3();
  buildAffineMatrices(inverse, createAffineScratch(), { ...IDENTITY, ...params }, height, width);
  const dst = new Float32Array(src.length).fill(Number.NaN);
  (reference ? warpBilinearReference : warpBilinear)(dst, 0, src, 0, height, width, channels, inverse);
  return dst;
}

function randomImage(rng: Rng, length: number): Float32Array {
  const image = new Float32Array(length);
  for (let i = 0; i < length; i++) image[i] = rng.uniform(-1, 1);
  return image;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tolerance, `${label}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

function assertBitIdentical(actual: Float32Array, expected: Float32Array, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const index = actual.findIndex((v, i) => !Object.is(v, expected[i]));
  assert.equal(index, -1, `${label}: element ${index} is ${actual[index]}, expected ${expected[index]}`);
}

test('warp with identity parameters copies 5x7x3 exactly', () => {
  const src = randomImage(new Rng(1), 5 * 7 * 3);
  assertBitIdentical(warp(src, 5, 7, 3, {}), src, 'fast');
  assertBitIdentical(warp(src, 5, 7, 3, {}, true), src, 'reference');
});

test('augmenter with zero ranges copies every sample exactly', () => {
  const spec: AugmentSpec = { config: NO_AUGMENT, height: 4, width: 6, channels: 2 };
  const augmenter = new ImageAugmenter(spec);
  const src = randomImage(new Rng(2), 3 * 48);
  const dst = new Float32Array(src.length);
  augmenter.setEpoch(123, 4);
  for (let i = 0; i < 3; i++) augmenter.augment(dst, i * 48, src, i * 48, i);
  assertBitIdentical(dst, src, 'augmented rows');
});

test('warp shift 0.5 px right blends neighbors', () => {
  // The source of output (x, y) is (x - 0.5, y), halfway to the left neighbor, which is 0 outside.
  const expected = [0.5, 1.5, 2.5, 2, 4.5, 5.5, 3.5, 7.5, 8.5];
  assertClose(warp(RAMP_3X3, 3, 3, 1, { shiftX: 0.5 }), expected, 0, 'fast');
  assertClose(warp(RAMP_3X3, 3, 3, 1, { shiftX: 0.5 }, true), expected, 0, 'reference');
});

test('warp shift 1 px down moves rows', () => {
  assertClose(warp(RAMP_3X3, 3, 3, 1, { shiftY: 1 }), [0, 0, 0, 1, 2, 3, 4, 5, 6], 0, 'shifted');
});

test('warp shift past the border fills 0', () => {
  assertClose(warp(RAMP_3X3, 3, 3, 1, { shiftX: 3.5, shiftY: -0.25 }), new Float32Array(9), 0, 'shifted out');
});

test('warp rotation 90 degrees turns 3x3 clockwise', () => {
  // Output (x, y) samples source (y, 2 - x) about the center (1, 1).
  assertClose(warp(RAMP_3X3, 3, 3, 1, { rotation: Math.PI / 2 }), [7, 4, 1, 8, 5, 2, 9, 6, 3], 1e-6, 'rotated');
});

test('warp rotation 45 degrees gives bilinear values', () => {
  const out = warp(RAMP_3X3, 3, 3, 1, { rotation: Math.PI / 4 });
  const s = Math.SQRT1_2;
  // Output (0, 0) samples source (1 - sqrt 2, 1): a fraction 2 - sqrt 2 of pixel (0, 1) = 4, the rest is 0.
  assert.ok(Math.abs(out[0] - (2 - Math.SQRT2) * 4) < 1e-6, `out[0, 0] = ${out[0]}`);
  // Output (1, 0) samples source (1 - s, 1 - s), inside the ramp 1 + x + 3y, which bilinear
  // interpolation reproduces: 1 + 4 (1 - s) = 5 - 2 sqrt 2.
  assert.ok(Math.abs(out[1] - (1 + 4 * (1 - s))) < 1e-6, `out[0, 1] = ${out[1]}`);
  assert.ok(Math.abs(out[4] - 5) < 1e-6, `center = ${out[4]}`);
});

test('warp zoom 2 samples halfway to the center', () => {
  // Output (x, y) samples (1 + (x - 1) / 2, 1 + (y - 1) / 2), inside the ramp 1 + x + 3y.
  const expected = [3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7];
  assertClose(warp(RAMP_3X3, 3, 3, 1, { zoom: 2 }), expected, 1e-6, 'zoomed');
});

test('warp shear 45 degrees slides rows', () => {
  // The forward map adds tan(45) * (y - 1) to x, so output (x, y) samples (x - y + 1, y).
  assertClose(warp(RAMP_3X3, 3, 3, 1, { shear: Math.PI / 4 }), [2, 3, 0, 4, 5, 6, 0, 7, 8], 1e-6, 'sheared');
});

test('warp 3 channels matches each channel warped alone', () => {
  const rng = new Rng(3);
  const src = randomImage(rng, 6 * 5 * 3);
  const params = { rotation: 0.3, shiftX: 0.7, shiftY: -1.2, zoom: 1.1, shear: 0.1 };
  const all = warp(src, 6, 5, 3, params);
  for (let c = 0; c < 3; c++) {
    const plane = src.filter((_, i) => i % 3 === c);
    const warped = warp(plane, 6, 5, 1, params);
    assertBitIdentical(all.filter((_, i) => i % 3 === c), warped, `channel ${c}`);
  }
});

test('warp matches reference on seeded random shapes', () => {
  const rng = new Rng(4);
  const shapes = [
    [1, 1, 1],
    [2, 3, 1],
    [5, 7, 3],
    [13, 9, 4],
    [28, 28, 1],
  ];
  const inverse = createMatrix3();
  const scratch = createAffineScratch();
  const params: AffineParams = { ...IDENTITY };
  for (const [height, width, channels] of shapes) {
    const size = height * width * channels;
    for (let trial = 0; trial < 20; trial++) {
      // Both warps write into the middle of larger buffers, so offsets and overruns are checked too.
      const src = randomImage(rng, size + 5);
      drawAffineParams(params, WIDE, height, width, 99, trial, height * 1000 + width);
      buildAffineMatrices(inverse, scratch, params, height, width);
      const fast = new Float32Array(size + 6).fill(7);
      const reference = new Float32Array(size + 6).fill(7);
      warpBilinear(fast, 3, src, 5, height, width, channels, inverse);
      warpBilinearReference(reference, 3, src, 5, height, width, channels, inverse);
      assertClose(fast, reference, 1e-6, `${height}x${width}x${channels} trial ${trial}`);
      assert.deepEqual([...fast.subarray(0, 3), ...fast.subarray(size + 3)], [7, 7, 7, 7, 7, 7], 'elements outside the destination');
    }
  }
});

test('draw depends only on seed, epoch and index', () => {
  const draw = (seed: number, epoch: number, index: number): AffineParams => drawAffineParams({ ...IDENTITY }, WIDE, 28, 28, seed, epoch, index);
  assert.deepEqual(draw(5, 2, 17), draw(5, 2, 17));
  assert.notDeepEqual(draw(5, 3, 17), draw(5, 2, 17), 'epoch');
  assert.notDeepEqual(draw(5, 2, 18), draw(5, 2, 17), 'index');
  assert.notDeepEqual(draw(6, 2, 17), draw(5, 2, 17), 'seed');
});

test('draw stays within the ranges', () => {
  const params: AffineParams = { ...IDENTITY };
  const extremes = { rotation: 0, shiftX: 0, shiftY: 0, zoomMin: Infinity, zoomMax: 0, shear: 0 };
  for (let index = 0; index < 2000; index++) {
    drawAffineParams(params, WIDE, 20, 10, 1, 0, index);
    assert.ok(Math.abs(params.rotation) <= Math.PI, `rotation ${params.rotation}`);
    assert.ok(Math.abs(params.shiftX) <= 5, `shiftX ${params.shiftX}`);
    assert.ok(Math.abs(params.shiftY) <= 10, `shiftY ${params.shiftY}`);
    assert.ok(params.zoom >= 0.5, `zoom ${params.zoom}`);
    assert.ok(params.zoom <= 2, `zoom ${params.zoom}`);
    assert.ok(Math.abs(params.shear) <= (40 * Math.PI) / 180, `shear ${params.shear}`);
    extremes.rotation = Math.max(extremes.rotation, Math.abs(params.rotation));
    extremes.shiftX = Math.max(extremes.shiftX, Math.abs(params.shiftX));
    extremes.zoomMin = Math.min(extremes.zoomMin, params.zoom);
    extremes.zoomMax = Math.max(extremes.zoomMax, params.zoom);
  }
  // 2000 uniform draws come within 1% of each end of their range.
  assert.ok(extremes.rotation > 0.99 * Math.PI, `largest rotation ${extremes.rotation}`);
  assert.ok(extremes.shiftX > 0.99 * 5, `largest shiftX ${extremes.shiftX}`);
  assert.ok(extremes.zoomMin < 0.52, `smallest zoom ${extremes.zoomMin}`);
  assert.ok(extremes.zoomMax > 1.98, `largest zoom ${extremes.zoomMax}`);
});

test('augmenter output ignores earlier samples', () => {
  const spec: AugmentSpec = { config: WIDE, height: 7, width: 6, channels: 2 };
  const src = randomImage(new Rng(5), 10 * 84);
  const fresh = new ImageAugmenter(spec);
  const used = new ImageAugmenter(spec);
  const expected = new Float32Array(84);
  const actual = new Float32Array(84);
  fresh.setEpoch(11, 1);
  fresh.augment(expected, 0, src, 9 * 84, 9);
  used.setEpoch(11, 0);
  for (let i = 0; i < 9; i++) used.augment(actual, 0, src, i * 84, i);
  used.setEpoch(11, 1);
  used.augment(actual, 0, src, 9 * 84, 9);
  assertBitIdentical(actual, expected, 'sample 9');
  used.setEpoch(11, 2);
  used.augment(actual, 0, src, 9 * 84, 9);
  assert.ok(actual.some((v, i) => v !== expected[i]), 'epoch 2 gives the same image as epoch 1');
});

test('resolveAugment true gives MNIST ranges', () => {
  assert.deepEqual(resolveAugment(true, 'fit()'), {
    rotationRange: MNIST_AUGMENT.rotationRange,
    widthShiftRange: MNIST_AUGMENT.widthShiftRange,
    heightShiftRange: MNIST_AUGMENT.heightShiftRange,
    zoomLower: 0.9,
    zoomUpper: 1.1,
    shearRange: 0,
  });
  assert.equal(resolveAugment(false, 'fit()'), null);
  assert.equal(resolveAugment(undefined, 'fit()'), null);
  assert.deepEqual(resolveAugment({ zoomRange: [0.8, 1.5] }, 'fit()'), { ...NO_AUGMENT, zoomLower: 0.8, zoomUpper: 1.5 });
});

test('resolveAugment rejects bad values, naming them', () => {
  const cases: [unknown, ErrorConstructor, RegExp][] = [
    ['yes', TypeError, /augment must be true, false or an object.*got "yes"/],
    [{ rotationRange: -5 }, RangeError, /augment\.rotationRange must be a number of degrees in \[0, 180\], got -5/],
    [{ rotationRange: 200 }, RangeError, /augment\.rotationRange .* got 200/],
    [{ widthShiftRange: 1 }, RangeError, /augment\.widthShiftRange must be a fraction of the width in \[0, 1\), got 1/],
    [{ heightShiftRange: Number.NaN }, RangeError, /augment\.heightShiftRange .* got NaN/],
    [{ shearRange: 90 }, RangeError, /augment\.shearRange .* got 90/],
    [{ shearRange: '10' }, TypeError, /augment\.shearRange must be a number, got "10"/],
    [{ zoomRange: 1 }, RangeError, /augment\.zoomRange must be a number in \[0, 1\) or a pair \[lower, upper\], got 1/],
    [{ zoomRange: [2, 1] }, RangeError, /augment\.zoomRange .*0 < lower <= upper.* got \[2,1\]/],
    [{ zoomRange: [0, 1] }, RangeError, /augment\.zoomRange .* got \[0,1\]/],
    [{ zoomRange: [1] }, TypeError, /augment\.zoomRange must be a number or a pair .* got \[1\]/],
    [{ rotation: 10 }, TypeError, /augment has unknown option "rotation"\. The options are rotationRange/],
  ];
  for (const [value, type, message] of cases) {
    assert.throws(() => resolveAugment(value, 'fit()'), (error: Error) => error instanceof type && message.test(error.message), formatCase(value));
  }
});

function formatCase(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

const INPUT_SHAPE = [8, 8, 1];

/** Seeded 8x8 images whose label (0..3) is the quadrant holding a bright 3x3 blob. */
function blobData(count: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([count, ...INPUT_SHAPE]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    const label = rng.int(4);
    y.data[i] = label;
    const top = (label >> 1) * 4 + rng.int(2);
    const left = (label & 1) * 4 + rng.int(2);
    for (let p = 0; p < 64; p++) {
      const row = Math.floor(p / 8);
      const col = p % 8;
      const inBlob = row >= top && row < top + 3 && col >= left && col < left + 3;
      x.data[i * 64 + p] = (inBlob ? 0.8 : 0) + 0.2 * rng.next();
    }
  }
  return { x, y };
}

const DATA = blobData(96, 21);

/** Conv2D(4, 3x3, relu) -> MaxPooling2D -> Flatten -> Dense(4, softmax). */
function smallConvNet(): Sequential {
  const model = new Sequential({ seed: 3 });
  model.add(layers.conv2d({ filters: 4, kernelSize: 3, activation: 'relu', inputShape: INPUT_SHAPE }));
  model.add(layers.maxPooling2d({ poolSize: 2 }));
  model.add(layers.flatten());
  model.add(layers.dense({ units: 4, activation: 'softmax' }));
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

async function trainedWeights(args: FitArgs): Promise<{ weights: Float32Array; loss: number[] }> {
  const model = smallConvNet();
  try {
    const history = await model.fit(DATA.x, DATA.y, { epochs: 2, batchSize: 32, seed: 9, ...args });
    return { weights: model.flatWeights.slice(), loss: history.history.loss };
  } finally {
    await model.dispose();
  }
}

test('fit augment gives the same weights on threads 0 and 2', async () => {
  const inline = await trainedWeights({ augment: { rotationRange: 20, widthShiftRange: 0.2, heightShiftRange: 0.1, zoomRange: 0.2, shearRange: 10 }, threads: 0 });
  const workers = await trainedWeights({ augment: { rotationRange: 20, widthShiftRange: 0.2, heightShiftRange: 0.1, zoomRange: 0.2, shearRange: 10 }, threads: 2 });
  assertBitIdentical(workers.weights, inline.weights, 'weights');
  const plain = await trainedWeights({ threads: 0 });
  assert.ok(plain.weights.some((v, i) => v !== inline.weights[i]), 'augmented training gives the weights of plain training');
  assert.notDeepEqual(inline.loss, plain.loss, 'augmented and plain losses');
});

test('fit augment leaves validation unaugmented', async () => {
  const model = smallConvNet();
  try {
    // Shifts up to 0.9 of the size move most blobs out of the image, so an augmented
    // validation pass would give a different loss than evaluate() on the same data.
    const history = await model.fit(DATA.x, DATA.y, { epochs: 1, batchSize: 32, seed: 9, threads: 0, augment: { widthShiftRange: 0.9, heightShiftRange: 0.9 }, validationData: [DATA.x, DATA.y] });
    const evaluated = await model.evaluate(DATA.x, DATA.y, { threads: 0 });
    assert.equal(history.history.val_loss[0], evaluated.loss);
    assert.notEqual(history.history.loss[0], evaluated.loss, 'the training loss shows no augmentation');
  } finally {
    await model.dispose();
  }
});

test('fit augment transforms each training sample once per epoch', async () => {
  // With threads 0 the tasks run on this thread, so a spy on the class records every call.
  const { setEpoch, augment } = ImageAugmenter.prototype;
  const calls: string[] = [];
  let epoch = -1;
  ImageAugmenter.prototype.setEpoch = function (this: ImageAugmenter, seed: number, e: number): void {
    epoch = e;
    setEpoch.call(this, seed, e);
  };
  ImageAugmenter.prototype.augment = function (this: ImageAugmenter, dst: Float32Array, dstOffset: number, src: Float32Array, srcOffset: number, index: number): void {
    calls.push(`${epoch}:${index}`);
    augment.call(this, dst, dstOffset, src, srcOffset, index);
  };
  const model = smallConvNet();
  try {
    await model.fit(DATA.x, DATA.y, { epochs: 2, batchSize: 32, seed: 9, threads: 0, augment: true, validationSplit: 0.25 });
    await model.evaluate(DATA.x, DATA.y, { threads: 0 });
    await model.predict(DATA.x, { threads: 0 });
  } finally {
    ImageAugmenter.prototype.setEpoch = setEpoch;
    ImageAugmenter.prototype.augment = augment;
    await model.dispose();
  }
  // 96 samples with validationSplit 0.25 leave rows 0..71 for training.
  const expected = [0, 1].flatMap((e) => Array.from({ length: 72 }, (_, index) => `${e}:${index}`));
  assert.deepEqual(calls.sort(), expected.sort());
});

test('evaluate and predict tasks ignore a dataset augment', async () => {
  const model = smallConvNet();
  try {
    await model.fit(DATA.x, DATA.y, { epochs: 1, batchSize: 32, seed: 9, threads: 0 });
    const runner = model.getRunner(0, 32, undefined, 'infer');
    const targets = Float32Array.from(DATA.y.data);
    const spec: AugmentSpec = { config: { ...NO_AUGMENT, widthShiftRange: 0.9, heightShiftRange: 0.9 }, height: 8, width: 8, channels: 1 };
    const plain = describeDataset(DATA.x, targets, 1, null);
    const augmented: DatasetDescriptor = { ...describeDataset(DATA.x, targets, 1, null), augment: spec };
    assert.deepEqual(await runner.evaluate(augmented, { purpose: 'evaluate' }), await runner.evaluate(plain, { purpose: 'evaluate' }));
    assertBitIdentical(await runner.predict(augmented, 4, { purpose: 'predict' }), await runner.predict(plain, 4, { purpose: 'predict' }), 'predictions');
  } finally {
    await model.dispose();
  }
});

test('fit augment rejects bad options before training', async () => {
  const model = smallConvNet();
  try {
    await assert.rejects(model.fit(DATA.x, DATA.y, { augment: { rotationRange: -1 }, threads: 0 }), /fit\(\): augment\.rotationRange .* got -1/);
    await assert.rejects(model.fit(DATA.x, DATA.y, { augment: 1 as unknown as boolean, threads: 0 }), /fit\(\): augment must be true, false or an object.* got 1/);
    assert.equal(model.optimizerStepCount, 0, 'optimizer steps taken');
  } finally {
    await model.dispose();
  }
});

test('fit augment rejects samples that are not images', async () => {
  const model = new Sequential({ seed: 1 });
  model.add(layers.dense({ units: 2, activation: 'softmax', inputShape: [4] }));
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
  try {
    const x = Tensor.zeros([8, 4]);
    const y = Tensor.zeros([8]);
    await assert.rejects(model.fit(x, y, { augment: true, threads: 0 }), (error: Error) => error instanceof ShapeError && /augment needs image samples .* the samples have shape \[4\]/.test(error.message));
  } finally {
    await model.dispose();
  }
});

test('train.js --augment sets augment', () => {
  const write = { out: () => {}, err: () => {} };
  assert.equal(parseTrainOptions(['--augment'], write).augment, true);
  assert.equal(parseTrainOptions([], write).augment, false);
});
