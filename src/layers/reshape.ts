/**
 * Reshape: gives each sample a new shape with the same number of values,
 * [N, ...inputShape] -> [N, ...targetShape].
 *
 * One entry of targetShape may be -1 (TensorFlow.js also writes it as null), and it takes the
 * size that keeps the number of values per sample. Row-major data needs no copy, so forward and
 * backward pass their buffers through, as Flatten does.
 */
import { formatShape, formatValue } from '../errors.js';
import type { FloatArray } from '../gemm/types.js';
import { Layer, type LayerArgs, type LayerRuntime } from './layer.js';

export interface ReshapeArgs extends LayerArgs {
  /** Per-sample output shape without the batch, e.g. [7, 7, 64]. At most one entry may be -1. */
  targetShape: (number | null)[];
}

export class Reshape extends Layer {
  readonly className = 'Reshape';
  /** The shape as given, with an unknown size written as -1. */
  readonly targetShape: number[];

  constructor(args: ReshapeArgs) {
    super(args, 'reshape');
    this.targetShape = checkTargetShape(args.targetShape, `Reshape '${this.name}'`);
  }

  computeOutputShape(inputShape: number[]): number[] {
    const inputSize = inputShape.reduce((a, b) => a * b, 1);
    const unknownAxis = this.targetShape.indexOf(-1);
    const knownSize = this.targetShape.reduce((a, b) => (b === -1 ? a : a * b), 1);
    const target = formatShape([null, ...this.targetShape]);
    if (unknownAxis < 0) {
      if (knownSize !== inputSize) {
        throw this.shapeError(`cannot reshape ${inputSize} values per sample to target shape ${target} (${knownSize} values)`, inputShape);
      }
      return this.targetShape.slice();
    }
    if (inputSize % knownSize !== 0) {
      throw this.shapeError(
        `cannot reshape ${inputSize} values per sample to target shape ${target}, because ${inputSize} is not a multiple of ${knownSize}`,
        inputShape,
      );
    }
    const outputShape = this.targetShape.slice();
    outputShape[unknownAxis] = inputSize / knownSize;
    return outputShape;
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name, targetShape: this.targetShape.slice() };
  }

  createRuntime<T extends FloatArray>(): LayerRuntime<T> {
    return new ReshapeRuntime<T>();
  }
}

/** Checks that targetShape is a non-empty array of positive integers with at most one -1 or null, and returns it with null as -1. */
function checkTargetShape(value: unknown, where: string): number[] {
  const rule = 'targetShape must be a non-empty array of positive integers, with at most one -1 for a size to infer';
  if (!Array.isArray(value) || value.length === 0) throw new RangeError(`${where}: ${rule}, got ${formatValue(value)}.`);
  const shape = value.map((d: unknown) => (d === null ? -1 : d));
  const valid = shape.every((d) => d === -1 || (typeof d === 'number' && Number.isInteger(d) && d > 0));
  const unknownCount = shape.filter((d) => d === -1).length;
  if (!valid || unknownCount > 1) throw new RangeError(`${where}: ${rule}, got ${formatValue(value)}.`);
  return shape as number[];
}

class ReshapeRuntime<T extends FloatArray> implements LayerRuntime<T> {
  // Both are set to the caller's buffers on first use; these empty arrays are placeholders.
  y = new Float32Array(0) as unknown as T;
  dX = new Float32Array(0) as unknown as T;

  forward(x: T): void {
    this.y = x;
  }

  backward(_x: T, dY: T, _n: number, computeDX: boolean): void {
    if (computeDX) this.dX = dY;
  }
}
