import assert from 'node:assert/strict';
import { test } from 'node:test';

import { GlobalAveragePooling2D, type GlobalAveragePooling2DArgs } from '../../src/layers/global-average-pooling2d.js';
import { buildLayers } from '../../src/model/build.js';
import { checkLayerGradients, forwardFloat64 } from '../helpers/gradient-check.js';

test('GlobalAveragePooling2D 2x3x2 forward by hand', () => {
  // Channel 0 is 1..6 and channel 1 is 10, 20, ..., 60, interleaved channels-last.
  const x = [1, 10, 2, 20, 3, 30, 4, 40, 5, 50, 6, 60];
  const y = forwardFloat64(new GlobalAveragePooling2D(), [2, 3, 2], x, 1, []);
  assert.deepEqual(Array.from(y), [21 / 6, 210 / 6]);
});

test('GlobalAveragePooling2D batch 2 averages each sample', () => {
  const first = [1, 2, 3, 4];
  const second = [-8, 0, 0, 4];
  const y = forwardFloat64(new GlobalAveragePooling2D(), [2, 2, 1], [...first, ...second], 2, []);
  assert.deepEqual(Array.from(y), [2.5, -1]);
});

test('GlobalAveragePooling2D keepdims gives the same values', () => {
  const x = [1, 10, 2, 20, 3, 30, 4, 40];
  const flat = forwardFloat64(new GlobalAveragePooling2D(), [2, 2, 2], x, 1, []);
  const withKeepdims = forwardFloat64(new GlobalAveragePooling2D({ keepdims: true }), [2, 2, 2], x, 1, []);
  assert.deepEqual(Array.from(withKeepdims), Array.from(flat));
  assert.deepEqual(Array.from(flat), [2.5, 25]);
});

for (const [index, inputShape] of [[3, 4, 2], [1, 5, 3], [4, 1, 1]].entries()) {
  for (const keepdims of [false, true]) {
    test(`GlobalAveragePooling2D ${inputShape.join('x')} keepdims ${keepdims} gradients`, () => {
      checkLayerGradients({ layer: new GlobalAveragePooling2D({ keepdims }), inputShape, batch: 2, seed: 70 + index });
    });
  }
}

const SHAPE_CASES: { args: GlobalAveragePooling2DArgs; input: number[]; output: number[] }[] = [
  { args: {}, input: [7, 7, 64], output: [64] },
  { args: { keepdims: false }, input: [3, 5, 2], output: [2] },
  { args: { keepdims: true }, input: [3, 5, 2], output: [1, 1, 2] },
];

for (const { args, input, output } of SHAPE_CASES) {
  test(`GlobalAveragePooling2D shape [${input}] keepdims ${args.keepdims ?? 'default'} is [${output}]`, () => {
    const layer = new GlobalAveragePooling2D(args);
    buildLayers([layer], input);
    assert.deepEqual(layer.outputShape, output);
    assert.equal(layer.countParams(), 0);
  });
}

test('GlobalAveragePooling2D config uses Keras keys', () => {
  assert.deepEqual(new GlobalAveragePooling2D({ keepdims: true }).getConfig(), {
    name: 'global_average_pooling2d',
    keepdims: true,
    dataFormat: 'channels_last',
  });
});

const WHERE = "GlobalAveragePooling2D 'global_average_pooling2d'";

test('GlobalAveragePooling2D keepdims "yes" rejected', () => {
  assert.throws(() => new GlobalAveragePooling2D({ keepdims: 'yes' } as unknown as GlobalAveragePooling2DArgs), {
    name: 'TypeError',
    message: `${WHERE}: keepdims must be a boolean, got "yes".`,
  });
});

test('GlobalAveragePooling2D dataFormat channelsFirst rejected', () => {
  assert.throws(() => new GlobalAveragePooling2D({ dataFormat: 'channelsFirst' } as unknown as GlobalAveragePooling2DArgs), {
    name: 'RangeError',
    message: `${WHERE}: dataFormat must be 'channels_last' (channels-first data is not supported), got "channelsFirst".`,
  });
});

test('GlobalAveragePooling2D rank-1 input rejected', () => {
  assert.throws(() => buildLayers([new GlobalAveragePooling2D()], [12]), {
    name: 'ShapeError',
    message:
      "Layer 'global_average_pooling2d' (GlobalAveragePooling2D) expects a rank-3 input per sample [None, height, width, channels]; got input shape [None, 12].",
  });
});
