import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import type { ActivationName } from '../../src/layers/activations.js';
import { convGeometry } from '../../src/kernels/conv2d.js';
import { conv2dForwardNaive } from '../../src/kernels/conv2d-naive.js';
import { Conv2D, type Conv2DArgs, usesWinograd } from '../../src/layers/conv2d.js';
import type { Padding } from '../../src/layers/layer.js';
import { buildLayers } from '../../src/model/build.js';
import { checkLayerGradients, createFloat64Layer, forwardFloat64, minAbs, uniformArray } from '../helpers/gradient-check.js';

/** 1, 2, ..., h*w as one single-channel image, row by row. */
function rampImage(h: number, w: number): number[] {
  return Array.from({ length: h * w }, (_, i) => i + 1);
}

test('Conv2D 3x3x1 kernel 2x2 valid forward by hand', () => {
  // x = [[1, 2, 3], [4, 5, 6], [7, 8, 9]], kernel [[1, 2], [3, 4]], bias 1:
  //   y[0,0] = 1*1 + 2*2 + 3*4 + 4*5 + 1 = 38    y[0,1] = 1*2 + 2*3 + 3*5 + 4*6 + 1 = 48
  //   y[1,0] = 1*4 + 2*5 + 3*7 + 4*8 + 1 = 68    y[1,1] = 1*5 + 2*6 + 3*8 + 4*9 + 1 = 78
  const layer = new Conv2D({ filters: 1, kernelSize: 2 });
  const y = forwardFloat64(layer, [3, 3, 1], rampImage(3, 3), 1, [1, 2, 3, 4, 1]);
  assert.deepEqual(Array.from(y), [38, 48, 68, 78]);
});

test('Conv2D 3x3x1 kernel 3x3 same forward by hand', () => {
  // An all-ones kernel sums each 3x3 neighbourhood; positions outside the image count as 0.
  const layer = new Conv2D({ filters: 1, kernelSize: 3, padding: 'same', useBias: false });
  const y = forwardFloat64(layer, [3, 3, 1], rampImage(3, 3), 1, new Array(9).fill(1));
  assert.deepEqual(Array.from(y), [12, 21, 16, 27, 45, 33, 24, 39, 28]);
});

test('Conv2D 4x4x1 kernel 3x3 same stride 2 forward by hand', () => {
  // out = ceil(4 / 2) = 2 and the total padding is (2 - 1) * 2 + 3 - 4 = 1, which TensorFlow
  // puts below and right, so the windows cover rows/columns {0..2} and {2..4}, 4 being padding.
  //   y[0,0] = 1+2+3 + 5+6+7 + 9+10+11 = 54     y[0,1] = 3+4 + 7+8 + 11+12 = 45
  //   y[1,0] = 9+10+11 + 13+14+15 = 72          y[1,1] = 11+12 + 15+16 = 54
  const layer = new Conv2D({ filters: 1, kernelSize: 3, strides: 2, padding: 'same', useBias: false });
  const y = forwardFloat64(layer, [4, 4, 1], rampImage(4, 4), 1, new Array(9).fill(1));
  assert.deepEqual(Array.from(y), [54, 45, 72, 54]);
});

test('Conv2D 5x5x1 kernel 3x3 valid stride 2 forward by hand', () => {
  // Windows start at rows/columns 0 and 2; the centre tap (kernel [1, 1]) picks x[2p+1, 2q+1].
  const kernel = new Array(9).fill(0);
  kernel[4] = 1;
  const layer = new Conv2D({ filters: 1, kernelSize: 3, strides: 2, useBias: false });
  const y = forwardFloat64(layer, [5, 5, 1], rampImage(5, 5), 1, kernel);
  assert.deepEqual(Array.from(y), [7, 9, 17, 19]);
});

test('Conv2D 1x1 kernel mixes 2 channels into 2 filters', () => {
  // Kernel [1, 1, C=2, K=2] = [[1, 0], [1, -1]] (rows are input channels), bias [0.5, 0]:
  //   pixel [1, 2] -> [1 + 2 + 0.5, 0 - 2 + 0] = [3.5, -2]
  //   pixel [3, -1] -> [3 - 1 + 0.5, 0 + 1 + 0] = [2.5, 1]
  const layer = new Conv2D({ filters: 2, kernelSize: 1 });
  const y = forwardFloat64(layer, [1, 2, 2], [1, 2, 3, -1], 1, [1, 0, 1, -1, 0.5, 0]);
  assert.deepEqual(Array.from(y), [3.5, -2, 2.5, 1]);
});

test('Conv2D relu 2x2 valid forward by hand', () => {
  // Kernel [[1, 0], [0, -1]] gives x[p,q] - x[p+1,q+1] = -4 everywhere; bias 5 lifts it to 1
  // and bias 3 leaves -1, which relu clamps.
  const x = rampImage(3, 3);
  const kernel = [1, 0, 0, -1];
  assert.deepEqual(Array.from(forwardFloat64(new Conv2D({ filters: 1, kernelSize: 2, activation: 'relu' }), [3, 3, 1], x, 1, [...kernel, 5])), [1, 1, 1, 1]);
  assert.deepEqual(Array.from(forwardFloat64(new Conv2D({ filters: 1, kernelSize: 2, activation: 'relu' }), [3, 3, 1], x, 1, [...kernel, 3])), [0, 0, 0, 0]);
});

test('Conv2D batch 2 rows are independent', () => {
  // The second image is the first times -1, so with no bias its output is negated.
  const layer = new Conv2D({ filters: 1, kernelSize: 2, useBias: false });
  const image = rampImage(3, 3);
  const y = forwardFloat64(layer, [3, 3, 1], [...image, ...image.map((v) => -v)], 2, [1, 2, 3, 4]);
  assert.deepEqual(Array.from(y), [37, 47, 67, 77, -37, -47, -67, -77]);
});

interface ConvCase {
  inputShape: [number, number, number];
  filters: number;
  kernelSize: number | [number, number];
  strides: number;
  padding: Padding;
  useBias: boolean;
  activation: ActivationName;
}

function describeConv(c: ConvCase): string {
  const kernel = Array.isArray(c.kernelSize) ? c.kernelSize.join('x') : `${c.kernelSize}x${c.kernelSize}`;
  return `${c.inputShape.join('x')} k${kernel} f${c.filters} ${c.padding} s${c.strides}${c.useBias ? '' : ' nobias'} ${c.activation}`;
}

function convArgs(c: ConvCase): Conv2DArgs {
  return { filters: c.filters, kernelSize: c.kernelSize, strides: c.strides, padding: c.padding, useBias: c.useBias, activation: c.activation };
}

const GRADIENT_CASES: ConvCase[] = [
  { inputShape: [5, 5, 1], filters: 2, kernelSize: 3, strides: 1, padding: 'valid', useBias: true, activation: 'linear' },
  { inputShape: [4, 4, 3], filters: 2, kernelSize: 3, strides: 1, padding: 'same', useBias: true, activation: 'linear' },
  { inputShape: [5, 5, 3], filters: 2, kernelSize: 3, strides: 2, padding: 'valid', useBias: false, activation: 'linear' },
  { inputShape: [5, 4, 1], filters: 3, kernelSize: 3, strides: 2, padding: 'same', useBias: true, activation: 'tanh' },
  { inputShape: [4, 5, 3], filters: 2, kernelSize: [2, 3], strides: 2, padding: 'same', useBias: false, activation: 'sigmoid' },
  { inputShape: [4, 4, 1], filters: 2, kernelSize: 2, strides: 1, padding: 'same', useBias: false, activation: 'linear' },
  { inputShape: [3, 3, 3], filters: 3, kernelSize: 2, strides: 1, padding: 'valid', useBias: true, activation: 'softmax' },
  { inputShape: [4, 4, 2], filters: 3, kernelSize: 1, strides: 1, padding: 'valid', useBias: true, activation: 'tanh' },
];

for (const [index, c] of GRADIENT_CASES.entries()) {
  test(`Conv2D ${describeConv(c)} batch 2 gradients`, () => {
    checkLayerGradients({ layer: new Conv2D(convArgs(c)), inputShape: c.inputShape, batch: 2, seed: 20 + index });
  });
}

test('Conv2D 5x5x3 k3x3 f2 same s1 relu batch 2 gradients', () => {
  const c: ConvCase = { inputShape: [5, 5, 3], filters: 2, kernelSize: 3, strides: 1, padding: 'same', useBias: true, activation: 'relu' };
  const rng = new Rng(31);
  const x = uniformArray(2 * 75, rng);
  const weights = uniformArray(3 * 3 * 3 * 2 + 2, rng);
  // Central differences are only valid away from the ReLU kink: check the linear outputs.
  const z = forwardFloat64(new Conv2D({ ...convArgs(c), activation: 'linear' }), c.inputShape, x, 2, weights);
  assert.ok(minAbs(z) > 1e-3, `a pre-activation is ${minAbs(z)} from the ReLU kink`);
  assert.ok(z.some((v) => v < 0), 'no pre-activation is negative, so the zero branch of ReLU is not covered');
  assert.ok(z.some((v) => v > 0), 'no pre-activation is positive, so the identity branch of ReLU is not covered');
  checkLayerGradients({ layer: new Conv2D(convArgs(c)), inputShape: c.inputShape, batch: 2, seed: 31, x, weights });
});

test('Conv2D 6x5x1 k3x3 f3 same s1 relu batch 2 gradients', () => {
  // One input channel, as in the first layer of an MNIST network, with the fused bias and relu.
  const c: ConvCase = { inputShape: [6, 5, 1], filters: 3, kernelSize: 3, strides: 1, padding: 'same', useBias: true, activation: 'relu' };
  const rng = new Rng(37);
  const x = uniformArray(2 * 30, rng);
  const weights = uniformArray(3 * 3 * 1 * 3 + 3, rng);
  const z = forwardFloat64(new Conv2D({ ...convArgs(c), activation: 'linear' }), c.inputShape, x, 2, weights);
  assert.ok(minAbs(z) > 1e-3, `a pre-activation is ${minAbs(z)} from the ReLU kink`);
  assert.ok(z.some((v) => v < 0), 'no pre-activation is negative, so the zero branch of ReLU is not covered');
  assert.ok(z.some((v) => v > 0), 'no pre-activation is positive, so the identity branch of ReLU is not covered');
  checkLayerGradients({ layer: new Conv2D(convArgs(c)), inputShape: c.inputShape, batch: 2, seed: 37, x, weights });
});

/** The lowering a built layer's float64 runtime picked, 'winograd' or 'im2col'. */
function runtimeMethod(args: Conv2DArgs, inputShape: number[]): unknown {
  const counted = new Conv2D(args);
  buildLayers([counted], inputShape);
  const built = createFloat64Layer(new Conv2D(args), inputShape, new Float64Array(counted.countParams()), 1);
  return (built.runtime as unknown as { method: unknown }).method;
}

// Winograd F(2x2, 3x3) runs for 3x3, stride 1, 'valid', even output size and more than one
// input channel; the gradient checks below cover both lowerings.
const WINOGRAD_GRADIENT_CASES: { c: ConvCase; winograd: boolean }[] = [
  { c: { inputShape: [6, 6, 3], filters: 4, kernelSize: 3, strides: 1, padding: 'valid', useBias: true, activation: 'linear' }, winograd: true },
  { c: { inputShape: [6, 8, 2], filters: 3, kernelSize: 3, strides: 1, padding: 'valid', useBias: false, activation: 'tanh' }, winograd: true },
  { c: { inputShape: [4, 6, 3], filters: 2, kernelSize: 3, strides: 1, padding: 'valid', useBias: true, activation: 'softmax' }, winograd: true },
  { c: { inputShape: [7, 6, 3], filters: 4, kernelSize: 3, strides: 1, padding: 'valid', useBias: true, activation: 'linear' }, winograd: false },
  { c: { inputShape: [6, 6, 1], filters: 4, kernelSize: 3, strides: 1, padding: 'valid', useBias: true, activation: 'linear' }, winograd: false },
];

for (const [index, { c, winograd }] of WINOGRAD_GRADIENT_CASES.entries()) {
  test(`Conv2D ${describeConv(c)} batch 3 gradients (${winograd ? 'winograd' : 'im2col'})`, () => {
    assert.equal(runtimeMethod(convArgs(c), c.inputShape), winograd ? 'winograd' : 'im2col');
    checkLayerGradients({ layer: new Conv2D(convArgs(c)), inputShape: c.inputShape, batch: 3, seed: 60 + index });
  });
}

test('Conv2D winograd 6x6x3 k3x3 f4 relu batch 2 gradients', () => {
  const c: ConvCase = { inputShape: [6, 6, 3], filters: 4, kernelSize: 3, strides: 1, padding: 'valid', useBias: true, activation: 'relu' };
  const rng = new Rng(43);
  const x = uniformArray(2 * 108, rng);
  const weights = uniformArray(3 * 3 * 3 * 4 + 4, rng);
  const z = forwardFloat64(new Conv2D({ ...convArgs(c), activation: 'linear' }), c.inputShape, x, 2, weights);
  assert.ok(minAbs(z) > 1e-3, `a pre-activation is ${minAbs(z)} from the ReLU kink`);
  assert.ok(z.some((v) => v < 0), 'no pre-activation is negative, so the zero branch of ReLU is not covered');
  assert.ok(z.some((v) => v > 0), 'no pre-activation is positive, so the identity branch of ReLU is not covered');
  assert.equal(runtimeMethod(convArgs(c), c.inputShape), 'winograd');
  checkLayerGradients({ layer: new Conv2D(convArgs(c)), inputShape: c.inputShape, batch: 2, seed: 43, x, weights });
});

test('Conv2D winograd weights changed in place', () => {
  const inputShape = [6, 8, 3];
  const layer = new Conv2D({ filters: 5, kernelSize: 3, useBias: false });
  const rng = new Rng(47);
  const weights = uniformArray(3 * 3 * 3 * 5, rng);
  const built = createFloat64Layer(layer, inputShape, weights, 2);
  assert.equal((built.runtime as unknown as { method: unknown }).method, 'winograd');
  const x = uniformArray(2 * 6 * 8 * 3, rng);
  const g = convGeometry(6, 8, 3, 3, 3, 5, 1, 1, 'valid');
  for (let call = 0; call < 3; call++) {
    built.runtime.forward(x, 2, { training: false, seed: 0, epoch: 0, sampleIds: new Int32Array(2), sampleIdOffset: 0 });
    const expected = new Float64Array(2 * 4 * 6 * 5);
    conv2dForwardNaive(expected, x, weights, 2, g);
    for (let i = 0; i < expected.length; i++) {
      assert.ok(Math.abs(built.runtime.y[i] - expected[i]) < 1e-12, `call ${call}: y[${i}] is ${built.runtime.y[i]}, expected ${expected[i]}`);
    }
    // An optimizer step writes the shared weights in place.
    for (let i = 0; i < weights.length; i++) weights[i] = weights[i] * 0.5 + 0.25;
  }
});

const LOWERING_CASES: { title: string; geometry: Parameters<typeof convGeometry>; winograd: boolean }[] = [
  { title: '26x26x32 k3x3 f64 valid s1', geometry: [26, 26, 32, 3, 3, 64, 1, 1, 'valid'], winograd: true },
  { title: '6x6x3 k3x3 f4 valid s1', geometry: [6, 6, 3, 3, 3, 4, 1, 1, 'valid'], winograd: true },
  { title: '28x28x1 k3x3 f32 valid s1 (one channel)', geometry: [28, 28, 1, 3, 3, 32, 1, 1, 'valid'], winograd: false },
  { title: '7x6x3 k3x3 valid s1 (odd output height)', geometry: [7, 6, 3, 3, 3, 4, 1, 1, 'valid'], winograd: false },
  { title: '6x7x3 k3x3 valid s1 (odd output width)', geometry: [6, 7, 3, 3, 3, 4, 1, 1, 'valid'], winograd: false },
  { title: '6x6x3 k3x3 same s1', geometry: [6, 6, 3, 3, 3, 4, 1, 1, 'same'], winograd: false },
  { title: '8x8x3 k3x3 valid s2', geometry: [8, 8, 3, 3, 3, 4, 2, 2, 'valid'], winograd: false },
  { title: '6x6x3 k2x2 valid s1', geometry: [6, 6, 3, 2, 2, 4, 1, 1, 'valid'], winograd: false },
  { title: '6x6x3 k1x3 valid s1', geometry: [6, 6, 3, 1, 3, 4, 1, 1, 'valid'], winograd: false },
];

for (const { title, geometry, winograd } of LOWERING_CASES) {
  test(`Conv2D ${title} uses ${winograd ? 'winograd' : 'im2col'}`, () => {
    assert.equal(usesWinograd(convGeometry(...geometry)), winograd);
  });
}

const SHAPE_CASES: { args: Conv2DArgs; input: number[]; output: number[] }[] = [
  { args: { filters: 32, kernelSize: 3 }, input: [28, 28, 1], output: [26, 26, 32] },
  { args: { filters: 64, kernelSize: 3 }, input: [26, 26, 32], output: [24, 24, 64] },
  { args: { filters: 4, kernelSize: 3, padding: 'same' }, input: [7, 9, 3], output: [7, 9, 4] },
  { args: { filters: 4, kernelSize: 3, strides: 2, padding: 'same' }, input: [7, 8, 3], output: [4, 4, 4] },
  { args: { filters: 2, kernelSize: 3, strides: 2 }, input: [7, 8, 1], output: [3, 3, 2] },
  { args: { filters: 2, kernelSize: [1, 3], strides: [1, 2] }, input: [5, 7, 2], output: [5, 3, 2] },
];

for (const { args, input, output } of SHAPE_CASES) {
  const kernel = Array.isArray(args.kernelSize) ? args.kernelSize.join('x') : args.kernelSize;
  const strides = Array.isArray(args.strides) ? args.strides.join('x') : (args.strides ?? 1);
  test(`Conv2D shape [${input}] k${kernel} s${strides} ${args.padding ?? 'valid'} is [${output}]`, () => {
    const layer = new Conv2D(args);
    buildLayers([layer], input);
    assert.deepEqual(layer.outputShape, output);
  });
}

test('Conv2D params [3,3,3,8] plus bias', () => {
  const layer = new Conv2D({ filters: 8, kernelSize: 3 });
  buildLayers([layer], [6, 6, 3]);
  assert.deepEqual(
    layer.paramSpecs().map((s) => [s.name, s.shape]),
    [
      ['kernel', [3, 3, 3, 8]],
      ['bias', [8]],
    ],
  );
  assert.equal(layer.countParams(), 3 * 3 * 3 * 8 + 8);
  const noBias = new Conv2D({ filters: 8, kernelSize: 3, useBias: false });
  buildLayers([noBias], [6, 6, 3]);
  assert.equal(noBias.countParams(), 3 * 3 * 3 * 8);
});

test('Conv2D runtime buffers sized for maxBatch 3', () => {
  const layer = new Conv2D({ filters: 2, kernelSize: 3 });
  const built = createFloat64Layer(layer, [5, 5, 1], new Float64Array(20), 3);
  assert.equal(built.runtime.y.length, 3 * 3 * 3 * 2);
  assert.equal(built.runtime.dX.length, 3 * 5 * 5 * 1);
});

const WHERE = "Conv2D 'conv2d'";

const OPTION_ERRORS: { title: string; args: Record<string, unknown>; message: string }[] = [
  { title: 'filters 0', args: { filters: 0, kernelSize: 3 }, message: `${WHERE}: filters must be a positive integer, got 0.` },
  { title: 'filters -2', args: { filters: -2, kernelSize: 3 }, message: `${WHERE}: filters must be a positive integer, got -2.` },
  { title: 'kernelSize 0', args: { filters: 2, kernelSize: 0 }, message: `${WHERE}: kernelSize must be a positive integer, got 0.` },
  {
    title: 'kernelSize [3]',
    args: { filters: 2, kernelSize: [3] },
    message: `${WHERE}: kernelSize must be a positive integer or a pair of them, got [3].`,
  },
  { title: 'strides [1, 0]', args: { filters: 2, kernelSize: 3, strides: [1, 0] }, message: `${WHERE}: strides must be a positive integer, got 0.` },
  { title: "padding 'full'", args: { filters: 2, kernelSize: 3, padding: 'full' }, message: `${WHERE}: padding must be 'valid' or 'same', got "full".` },
  {
    title: "activation 'gelu'",
    args: { filters: 2, kernelSize: 3, activation: 'gelu' },
    message: `${WHERE}: activation "gelu" is not supported; use one of linear, relu, sigmoid, tanh, softmax.`,
  },
];

for (const { title, args, message } of OPTION_ERRORS) {
  test(`Conv2D ${title} rejected`, () => {
    assert.throws(() => new Conv2D(args as unknown as Conv2DArgs), { name: 'RangeError', message });
  });
}

test('Conv2D rank-2 input rejected', () => {
  const layer = new Conv2D({ filters: 2, kernelSize: 3 });
  assert.throws(() => buildLayers([layer], [28, 28]), {
    name: 'ShapeError',
    message: "Layer 'conv2d' (Conv2D) expects a rank-3 input per sample [None, height, width, channels]; got input shape [None, 28, 28].",
  });
});

test('Conv2D 3x3 valid on 2x5 input rejected', () => {
  const layer = new Conv2D({ filters: 2, kernelSize: 3 });
  assert.throws(() => buildLayers([layer], [2, 5, 1]), {
    name: 'ShapeError',
    message: "Layer 'conv2d' (Conv2D) with padding 'valid' needs an input at least as large as its 3x3 kernel; got input shape [None, 2, 5, 1].",
  });
});

test('Conv2D 3x3 same on 2x2 input accepted', () => {
  const layer = new Conv2D({ filters: 2, kernelSize: 3, padding: 'same' });
  buildLayers([layer], [2, 2, 1]);
  assert.deepEqual(layer.outputShape, [2, 2, 2]);
});
