import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tensor } from '../../src/core/tensor.js';
import { ShapeError, formatShape, formatValue } from '../../src/errors.js';

test('swapped Tensor arguments name the order and stay short', () => {
  const data = new Float32Array(100_000);
  const error = (() => {
    try {
      new Tensor([10, 10_000] as unknown as Float32Array, data as unknown as number[]);
    } catch (e) {
      return e;
    }
    return null;
  })();
  assert.ok(error instanceof ShapeError, `expected a ShapeError, got ${String(error)}`);
  assert.match(error.message, /Tensor data must be a Float32Array, got \[10,10000\]; the constructor takes \(data, shape\)/);
});

test('a typed array as shape is described by type and length', () => {
  assert.throws(() => new Tensor(new Float32Array(4), new Float32Array(4) as unknown as number[]), {
    name: 'ShapeError',
    message: 'Tensor shape must be an array of dimensions such as [2, 3], got a Float32Array of 4 elements.',
  });
});

test('formatValue cuts long values and counts what it cut', () => {
  const text = formatValue('x'.repeat(1000));
  assert.ok(text.length < 260, `length ${text.length}`);
  assert.match(text, /^"x+\.\.\. \(802 more characters\)$/);
  assert.equal(formatValue(new Int8Array(3)), 'an Int8Array of 3 elements');
  assert.equal(formatValue(new DataView(new ArrayBuffer(5))), 'a DataView of 5 bytes');
  assert.equal(formatValue(Number.NaN), 'NaN');
});

test('formatShape cuts a very long shape', () => {
  const shape = new Array<number>(500).fill(7);
  const text = formatShape(shape);
  assert.ok(text.length < 260, `length ${text.length}`);
  assert.match(text, /^\[7, 7, .*\.\.\. \(\d+ more characters\)$/);
  assert.equal(formatShape([null, 28, 28, 1]), '[None, 28, 28, 1]');
});
