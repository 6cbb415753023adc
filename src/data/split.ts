/**
 * Seeded, stratified train/validation split. Each class gives the validation set a share of
 * its samples proportional to its size, so rare classes are not left out of validation by
 * chance. Shares are rounded with the largest-remainder method, so the validation set has
 * exactly the requested size, the same size that Keras's tail split would have.
 */
import { Rng } from '../core/random.js';
import { Tensor } from '../core/tensor.js';
import { ShapeError, ValueError, formatValue } from '../errors.js';

export interface SplitIndices {
  /** Indices of the training samples, ascending. */
  train: Int32Array;
  /** Indices of the validation samples, ascending. */
  validation: Int32Array;
}

/**
 * Returns the class of each row of `targets` (`width` values per row): the label itself for
 * one value per row, the position of the 1 for one-hot rows. Returns null when the targets
 * are not class labels (fractional values, or rows that are not one-hot), for example the
 * targets of a regression.
 */
export function classesOf(targets: Float32Array, width: number): Int32Array | null {
  const count = targets.length / width;
  const classes = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    if (width === 1) {
      const label = targets[i];
      if (!Number.isInteger(label) || label < 0) return null;
      classes[i] = label;
      continue;
    }
    let hot = -1;
    for (let j = 0; j < width; j++) {
      const v = targets[i * width + j];
      if (v === 1 && hot === -1) hot = j;
      else if (v !== 0) return null;
    }
    if (hot === -1) return null;
    classes[i] = hot;
  }
  return classes;
}

/**
 * Splits `count` samples into training and validation indices, `validationCount` of them for
 * validation. With `classes`, each class contributes in proportion to its size; without, the
 * validation samples are a seeded random draw. The result depends only on the arguments.
 */
export function splitIndices(count: number, validationCount: number, seed: number, classes: Int32Array | null): SplitIndices {
  if (!Number.isInteger(validationCount) || validationCount < 1 || validationCount >= count) {
    throw new ValueError(`A validation split of ${validationCount} of ${count} samples leaves no samples for training or validation; both need at least one.`);
  }
  const rng = new Rng(seed);
  const inValidation = new Uint8Array(count);
  const groups = groupByClass(count, classes);
  const quotas = largestRemainderQuotas(groups.map((g) => g.length), validationCount, count);
  groups.forEach((members, c) => {
    rng.shuffle(members);
    for (let k = 0; k < quotas[c]; k++) inValidation[members[k]] = 1;
  });

  const train = new Int32Array(count - validationCount);
  const validation = new Int32Array(validationCount);
  let t = 0;
  let v = 0;
  for (let i = 0; i < count; i++) {
    if (inValidation[i] === 1) validation[v++] = i;
    else train[t++] = i;
  }
  return { train, validation };
}

/** Returns the sample indices of each class in ascending order; one group without classes. */
function groupByClass(count: number, classes: Int32Array | null): Int32Array[] {
  if (classes === null) return [Int32Array.from({ length: count }, (_, i) => i)];
  let classCount = 0;
  for (const c of classes) classCount = Math.max(classCount, c + 1);
  const sizes = new Int32Array(classCount);
  for (const c of classes) sizes[c]++;
  const groups = Array.from(sizes, (size) => new Int32Array(size));
  const filled = new Int32Array(classCount);
  for (let i = 0; i < count; i++) groups[classes[i]][filled[classes[i]]++] = i;
  return groups;
}

/**
 * Returns how many samples of each group go to validation: floor(size * total / count) each,
 * plus one for the groups with the largest remainders (ties go to the lower group index)
 * until the quotas add up to `total`.
 */
export function largestRemainderQuotas(sizes: readonly number[], total: number, count: number): number[] {
  const quotas = sizes.map((size) => Math.floor((size * total) / count));
  let missing = total - quotas.reduce((a, b) => a + b, 0);
  const byRemainder = sizes
    .map((size, c) => ({ c, remainder: (size * total) % count }))
    .filter(({ c }) => quotas[c] < sizes[c])
    .sort((a, b) => b.remainder - a.remainder || a.c - b.c);
  for (const { c } of byRemainder) {
    if (missing === 0) break;
    quotas[c]++;
    missing--;
  }
  return quotas;
}

/** Returns a new shared-memory tensor with the rows `indices` of `t`, in that order. */
export function gatherRows(t: Tensor, indices: Int32Array): Tensor {
  const rowSize = t.shape[0] === 0 ? 0 : t.size / t.shape[0];
  const out = Tensor.zeros([indices.length, ...t.shape.slice(1)], { shared: true });
  indices.forEach((row, i) => out.data.set(t.data.subarray(row * rowSize, (row + 1) * rowSize), i * rowSize));
  return out;
}

export interface TrainValidationSplit {
  train: [Tensor, Tensor];
  validation: [Tensor, Tensor];
}

/**
 * Splits samples and targets into training and validation sets, holding out the same number
 * of samples as Keras's validationSplit (N - floor(N * (1 - fraction))), but drawn at random
 * with `seed` and stratified by class when `y` contains class labels (integers, or one-hot rows).
 * Both sets keep the original sample order.
 */
export function trainValidationSplit(x: Tensor, y: Tensor, fraction: number, seed = 0): TrainValidationSplit {
  if (typeof fraction !== 'number' || !(fraction > 0 && fraction < 1)) {
    throw new RangeError(`trainValidationSplit(): fraction must be a number in (0, 1), got ${formatValue(fraction)}.`);
  }
  const count = x.shape[0];
  if (y.shape[0] !== count) {
    throw new ShapeError(`trainValidationSplit(): x has ${count} samples but y has ${y.shape[0]}; give one target row per sample.`);
  }
  const validationCount = count - Math.floor(count * (1 - fraction));
  const width = count === 0 ? 1 : y.size / count;
  const { train, validation } = splitIndices(count, validationCount, seed, classesOf(y.data, width));
  return {
    train: [gatherRows(x, train), gatherRows(y, train)],
    validation: [gatherRows(x, validation), gatherRows(y, validation)],
  };
}
