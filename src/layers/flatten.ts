/**
 * Flatten: reshapes each sample to rank 1, [N, ...] -> [N, product of the rest].
 *
 * Row-major data needs no copy, so forward and backward pass their buffers through.
 */
import type { FloatArray } from '../gemm/types.js';
import { Layer, type LayerArgs, type LayerRuntime } from './layer.js';

export class Flatten extends Layer {
  readonly className = 'Flatten';

  constructor(args: LayerArgs = {}) {
    super(args, 'flatten');
  }

  computeOutputShape(inputShape: number[]): number[] {
    return [inputShape.reduce((a, b) => a * b, 1)];
  }

  getConfig(): Record<string, unknown> {
    return { name: this.name };
  }

  createRuntime<T extends FloatArray>(): LayerRuntime<T> {
    return new FlattenRuntime<T>();
  }
}

class FlattenRuntime<T extends FloatArray> implements LayerRuntime<T> {
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
