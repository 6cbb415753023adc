/**
 * Checks fit/evaluate/predict inputs against the model and moves them into shared memory.
 *
 * Errors name the layer, the rule, and the expected and actual shapes or values, and list
 * every violation found before throwing.
 */
import type { DatasetDescriptor } from '../coordinator/messages.js';
import { Tensor, sharedFloat32 } from '../core/tensor.js';
import { ShapeError, ValueError, formatShape } from '../errors.js';
import type { Layer } from '../layers/layer.js';
import type { Loss } from '../losses/loss.js';

let nextDatasetId = 1;

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Checks that x is [N, ...inputShape] with finite values; returns N. */
export function checkInputs(x: unknown, first: Layer, argName = 'x'): number {
  if (!(x instanceof Tensor)) {
    throw new TypeError(`${argName} must be a Tensor, got ${x === null ? 'null' : typeof x}.`);
  }
  const expected = first.inputShape;
  if (x.rank !== expected.length + 1 || !sameShape(x.shape.slice(1), expected)) {
    throw new ShapeError(
      `Input of layer '${first.name}' (${first.className}) must have shape ${formatShape([null, ...expected])}; ` +
        `got ${argName} with shape ${formatShape(x.shape)}.`,
    );
  }
  const count = x.shape[0];
  if (count === 0) throw new ValueError(`${argName} has no samples; give at least one.`);
  const data = x.data;
  const rowSize = x.strides[0];
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i])) {
      throw new ValueError(`${argName} contains ${data[i]} at sample ${Math.floor(i / rowSize)}; inputs must be finite numbers.`);
    }
  }
  return count;
}

/**
 * Checks y against the loss and the output layer and returns the targets as a shared
 * [N, targetWidth] float32 array.
 */
export function prepareTargets(y: unknown, count: number, last: Layer, loss: Loss, argName = 'y'): Float32Array {
  if (!(y instanceof Tensor)) {
    throw new TypeError(`${argName} must be a Tensor, got ${y === null ? 'null' : typeof y}.`);
  }
  const outputShape = last.outputShape;
  const outputWidth = outputShape.reduce((a, b) => a * b, 1);
  const where = `Output layer '${last.name}' (${last.className}, output ${formatShape([null, ...outputShape])}) with loss ${loss.name}`;
  if (y.shape[0] !== count) {
    throw new ShapeError(`${argName} has ${y.shape[0]} samples but the inputs have ${count}; give one target per sample.`);
  }
  const targets = sharedFloat32(count * loss.targetWidth(outputWidth));
  if (loss.name === 'sparseCategoricalCrossentropy') {
    const ok = y.rank === 1 || (y.rank === 2 && y.shape[1] === 1);
    if (!ok) throw new ShapeError(`${where} expects integer class labels of shape [${count}] or [${count}, 1]; got ${formatShape(y.shape)}.`);
    for (let i = 0; i < count; i++) {
      const label = y.data[i];
      if (!Number.isInteger(label) || label < 0 || label >= outputWidth) {
        throw new ValueError(`${where} expects integer labels in [0, ${outputWidth - 1}]; sample ${i} has label ${label}.`);
      }
      targets[i] = label;
    }
    return targets;
  }
  const expected = [count, ...outputShape];
  if (!sameShape(y.shape, expected) && !(y.rank === 2 && y.shape[1] === outputWidth)) {
    throw new ShapeError(`${where} expects targets of shape ${formatShape(expected)}; got ${formatShape(y.shape)}.`);
  }
  for (let i = 0; i < y.data.length; i++) {
    if (!Number.isFinite(y.data[i])) {
      throw new ValueError(`${argName} contains ${y.data[i]} at sample ${Math.floor(i / outputWidth)}; targets must be finite numbers.`);
    }
  }
  targets.set(y.data);
  return targets;
}

/** Describes rows of x (moved to shared memory if needed) and their targets for workers. */
export function describeDataset(x: Tensor, targets: Float32Array | null, targetWidth: number, order: Int32Array | null): DatasetDescriptor {
  const shared = x.toShared();
  const inputSize = x.rank > 1 ? x.strides[0] : 1;
  return {
    id: nextDatasetId++,
    x: shared.data.buffer as SharedArrayBuffer,
    xByteOffset: shared.data.byteOffset,
    inputSize,
    y: targets === null ? null : (targets.buffer as SharedArrayBuffer),
    yByteOffset: targets === null ? 0 : targets.byteOffset,
    targetWidth,
    count: x.shape[0],
    order: order === null ? null : (order.buffer as SharedArrayBuffer),
  };
}
