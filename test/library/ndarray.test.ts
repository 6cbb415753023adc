/**
 * Tensor.toNdarray and Tensor.fromNdarray: views share memory one way, copies follow the
 * view's shape, strides and offset the other way, including transposed, stepped, sliced and
 * reversed views.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import ndarray from 'ndarray';
import type { NdArray } from 'ndarray';

import { Tensor } from '../../src/core/tensor.js';

/** Returns a row-major [shape] tensor whose element at flat index i is i + 0.5. */
function counting(shape: number[]): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return new Tensor(Float32Array.from({ length: size }, (_, i) => i + 0.5), shape);
}

/** Reads every element of `view` from its data, offset and strides, in row-major order of its shape. */
function readAll(view: NdArray): number[] {
  const values: number[] = [];
  const index = new Array<number>(view.dimension).fill(0);
  const size = view.shape.reduce((a, b) => a * b, 1);
  for (let n = 0; n < size; n++) {
    const at = index.reduce((sum, i, axis) => sum + i * view.stride[axis], view.offset);
    values.push(Number((view.data as ArrayLike<number>)[at]));
    for (let axis = view.dimension - 1; axis >= 0; axis--) {
      if (++index[axis] < view.shape[axis]) break;
      index[axis] = 0;
    }
  }
  return values;
}

describe('Tensor and ndarray', () => {
  it('toNdarray views the same memory', () => {
    const t = counting([2, 3, 4]);
    const view = t.toNdarray();
    assert.deepEqual(view.shape, [2, 3, 4]);
    assert.deepEqual(view.stride, [12, 4, 1]);
    assert.equal(view.data, t.data);
    assert.equal(view.get(1, 2, 3), t.data[23]);
    view.set(0, 1, 2, -7);
    assert.equal(t.data[6], -7);
  });

  it('round trip copies data and shape', () => {
    const t = counting([3, 5]);
    const back = Tensor.fromNdarray(t.toNdarray());
    assert.deepEqual(back.shape, [3, 5]);
    assert.deepEqual(Array.from(back.data), Array.from(t.data));
    assert.notEqual(back.data.buffer, t.data.buffer, 'the result owns its memory');
    t.data[0] = 99;
    assert.equal(back.data[0], 0.5);
  });

  it('transposed view is copied in its own order', () => {
    const t = counting([2, 3]);
    const transposed = t.toNdarray().transpose(1, 0);
    const copy = Tensor.fromNdarray(transposed);
    assert.deepEqual(copy.shape, [3, 2]);
    assert.deepEqual(Array.from(copy.data), [0.5, 3.5, 1.5, 4.5, 2.5, 5.5]);
  });

  it('NCHW view transposed to NHWC', () => {
    // Images stored channels-first, as many image libraries keep them, become the
    // channels-last batches that Conv2D takes.
    const nchw = counting([2, 3, 4, 5]);
    const nhwc = Tensor.fromNdarray(nchw.toNdarray().transpose(0, 2, 3, 1));
    assert.deepEqual(nhwc.shape, [2, 4, 5, 3]);
    for (const [n, h, w, c] of [[0, 0, 0, 0], [1, 3, 4, 2], [0, 2, 1, 1], [1, 0, 3, 0]]) {
      assert.equal(nhwc.data[((n * 4 + h) * 5 + w) * 3 + c], nchw.data[((n * 3 + c) * 4 + h) * 5 + w], `[${n}, ${h}, ${w}, ${c}]`);
    }
  });

  it('stepped, sliced and reversed views', () => {
    const base = counting([6, 7]).toNdarray();
    const cases: [string, NdArray][] = [
      ['every second row and third column', base.step(2, 3)],
      ['reversed rows', base.step(-1)],
      ['reversed columns, every second', base.step(1, -2)],
      ['slice with an offset', base.hi(5, 6).lo(2, 1)],
      ['picked column', base.pick(null, 4)],
      ['transposed slice', base.lo(1, 2).transpose(1, 0)],
    ];
    for (const [name, view] of cases) {
      const copy = Tensor.fromNdarray(view);
      assert.deepEqual(copy.shape, view.shape, `${name}: shape`);
      assert.deepEqual(Array.from(copy.data), readAll(view), `${name}: values`);
    }
    assert.deepEqual(Array.from(Tensor.fromNdarray(base.step(-1)).data.subarray(0, 7)), [35.5, 36.5, 37.5, 38.5, 39.5, 40.5, 41.5]);
    assert.deepEqual(Array.from(Tensor.fromNdarray(base.step(2, 3)).data), [0.5, 3.5, 6.5, 14.5, 17.5, 20.5, 28.5, 31.5, 34.5]);
  });

  it('other element types become float32', () => {
    const doubles = Tensor.fromNdarray(ndarray(new Float64Array([0.1, 2, 3.5, -4]), [2, 2]));
    assert.deepEqual(Array.from(doubles.data), Array.from(Float32Array.from([0.1, 2, 3.5, -4])));
    const bytes = Tensor.fromNdarray(ndarray(new Uint8Array([0, 128, 255]), [3]));
    assert.deepEqual(Array.from(bytes.data), [0, 128, 255]);
    const plain = Tensor.fromNdarray(ndarray([1, 2, 3, 4, 5, 6], [3, 2]).transpose(1, 0));
    assert.deepEqual(Array.from(plain.data), [1, 3, 5, 2, 4, 6]);
  });

  it('scalar and empty views', () => {
    const scalar = Tensor.fromNdarray(ndarray(new Float32Array([0, 4.25]), [], [], 1));
    assert.deepEqual(scalar.shape, []);
    assert.deepEqual(Array.from(scalar.data), [4.25]);
    const empty = Tensor.fromNdarray(ndarray(new Float32Array(0), [0, 3]));
    assert.deepEqual(empty.shape, [0, 3]);
    assert.equal(empty.size, 0);
  });
});
