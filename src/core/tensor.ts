/**
 * Tensor: a dense row-major float32 array with a shape.
 *
 * Data may live in ordinary or SharedArrayBuffer memory. Worker threads read shared tensors
 * without copies, so datasets given to fit() are moved into shared memory once (see
 * `toShared`). `toNdarray` and `Tensor.fromNdarray` convert to and from the ndarray package's
 * views for interop with the scijs ecosystem.
 */
import ndarray from 'ndarray';
import type { NdArray } from 'ndarray';
import { ShapeError, formatShape, formatValue } from '../errors.js';

/** Number of elements of a shape: the product of its dimensions (1 for a scalar). */
export function shapeSize(shape: readonly number[]): number {
  let size = 1;
  for (const d of shape) size *= d;
  return size;
}

/** Row-major strides of a shape, in elements. */
export function rowMajorStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let stride = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = stride;
    stride *= shape[i];
  }
  return strides;
}

function checkShape(shape: readonly number[]): void {
  if (!Array.isArray(shape)) {
    throw new ShapeError(`Tensor shape must be an array of dimensions such as [2, 3], got ${formatValue(shape)}.`);
  }
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new ShapeError(`Tensor shape ${formatShape(shape)} is invalid: every dimension must be a non-negative integer.`);
    }
  }
}

/** Allocates a float32 array of `length` elements in SharedArrayBuffer memory. */
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}

export class Tensor {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly data: Float32Array;

  constructor(data: Float32Array, shape: readonly number[]) {
    if (!(data instanceof Float32Array)) {
      throw new ShapeError(`Tensor data must be a Float32Array, got ${formatValue(data)}; the constructor takes (data, shape).`);
    }
    checkShape(shape);
    const size = shapeSize(shape);
    if (data.length !== size) {
      throw new ShapeError(
        `Tensor data has ${data.length} elements but shape ${formatShape(shape)} needs ${size}.`,
      );
    }
    this.data = data;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(rowMajorStrides(shape));
  }

  /** A tensor of zeros; with `shared`, its data lives in a SharedArrayBuffer. */
  static zeros(shape: readonly number[], options: { shared?: boolean } = {}): Tensor {
    checkShape(shape);
    const size = shapeSize(shape);
    return new Tensor(options.shared ? sharedFloat32(size) : new Float32Array(size), shape);
  }

  /** Copies an ndarray view (any strides) into a new contiguous tensor. */
  static fromNdarray(array: NdArray): Tensor {
    const shape = array.shape.slice();
    const out = Tensor.zeros(shape);
    const strides = out.strides;
    const index = new Array<number>(shape.length).fill(0);
    for (let flat = 0; flat < out.size; flat++) {
      let rest = flat;
      for (let axis = 0; axis < shape.length; axis++) {
        index[axis] = Math.floor(rest / strides[axis]);
        rest -= index[axis] * strides[axis];
      }
      out.data[flat] = Number(array.get(...index));
    }
    return out;
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return this.data.length;
  }

  /** True when the data lives in SharedArrayBuffer memory that worker threads can read. */
  get isShared(): boolean {
    return this.data.buffer instanceof SharedArrayBuffer;
  }

  /** Returns this tensor if its data is shared, else a shared copy. */
  toShared(): Tensor {
    if (this.isShared) return this;
    const copy = sharedFloat32(this.size);
    copy.set(this.data);
    return new Tensor(copy, this.shape);
  }

  /** Returns a view with another shape of the same size; no data is copied. */
  reshape(shape: readonly number[]): Tensor {
    const resolved = resolveReshape(this.shape, shape);
    return new Tensor(this.data, resolved);
  }

  /** Returns a view of rows [start, end) along the first axis; no data is copied. */
  slice(start: number, end: number): Tensor {
    const rows = this.shape[0];
    if (this.rank === 0 || !Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > rows || start > end) {
      throw new RangeError(`Tensor.slice(${start}, ${end}) is out of range for shape ${formatShape(this.shape)}.`);
    }
    const rowSize = this.strides[0];
    return new Tensor(this.data.subarray(start * rowSize, end * rowSize), [end - start, ...this.shape.slice(1)]);
  }

  /** Reads one element by its full index. */
  get(...index: number[]): number {
    if (index.length !== this.rank) {
      throw new RangeError(`Tensor.get needs ${this.rank} indices for shape ${formatShape(this.shape)}, got ${index.length}.`);
    }
    let flat = 0;
    for (let axis = 0; axis < index.length; axis++) {
      const i = index[axis];
      if (!Number.isInteger(i) || i < 0 || i >= this.shape[axis]) {
        throw new RangeError(`Index ${i} on axis ${axis} is out of range for shape ${formatShape(this.shape)}.`);
      }
      flat += i * this.strides[axis];
    }
    return this.data[flat];
  }

  /** Returns an ndarray view over the same memory. */
  toNdarray(): NdArray<Float32Array> {
    return ndarray(this.data, this.shape.slice(), this.strides.slice());
  }

  /** Copies the data into a plain nested JavaScript array. */
  toArray(): unknown {
    const build = (axis: number, offset: number): unknown => {
      if (axis === this.rank) return this.data[offset];
      const out: unknown[] = [];
      for (let i = 0; i < this.shape[axis]; i++) out.push(build(axis + 1, offset + i * this.strides[axis]));
      return out;
    };
    return build(0, 0);
  }
}

/** Resolves one -1 entry in a reshape target and checks that the sizes agree. */
function resolveReshape(from: readonly number[], to: readonly number[]): number[] {
  const size = shapeSize(from);
  const unknown = to.filter((d) => d === -1).length;
  if (unknown > 1) throw new ShapeError(`reshape target ${formatShape(to)} has more than one -1.`);
  const known = to.reduce((p, d) => (d === -1 ? p : p * d), 1);
  const inferred = known === 0 ? 0 : size / known;
  const resolved = to.map((d) => (d === -1 ? inferred : d));
  if (shapeSize(resolved) !== size || resolved.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new ShapeError(`Cannot reshape ${formatShape(from)} (${size} elements) to ${formatShape(to)}.`);
  }
  return resolved;
}

/** Flattens a nested array of numbers, recording its shape. */
function flattenNested(values: unknown, shape: number[], out: number[], depth: number): void {
  if (Array.isArray(values)) {
    if (shape.length === depth) shape.push(values.length);
    else if (shape[depth] !== values.length) {
      throw new ShapeError(`Nested array is ragged at depth ${depth}: expected length ${shape[depth]}, got ${values.length}.`);
    }
    for (const v of values) flattenNested(v, shape, out, depth + 1);
  } else if (typeof values === 'number') {
    if (shape.length !== depth) throw new ShapeError(`Nested array is ragged: a number appears at depth ${depth}.`);
    out.push(values);
  } else {
    throw new TypeError(`Tensor values must be numbers, got ${typeof values}.`);
  }
}

/**
 * Creates a tensor from a typed array or nested number arrays. A flat input needs `shape`;
 * a nested one infers it.
 */
export function tensor(values: ArrayLike<number> | unknown[], shape?: readonly number[]): Tensor {
  if (shape !== undefined) {
    const flat: number[] = [];
    const inferred: number[] = [];
    const data =
      values instanceof Float32Array
        ? values
        : ArrayBuffer.isView(values)
          ? Float32Array.from(values as ArrayLike<number>)
          : (flattenNested(values, inferred, flat, 0), Float32Array.from(flat));
    return new Tensor(data, shape);
  }
  if (ArrayBuffer.isView(values)) {
    const data = values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
    return new Tensor(data, [data.length]);
  }
  const flat: number[] = [];
  const inferred: number[] = [];
  flattenNested(values, inferred, flat, 0);
  return new Tensor(Float32Array.from(flat), inferred);
}
