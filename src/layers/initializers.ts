/**
 * Weight initializers, with Keras defaults: Glorot (Xavier) uniform kernels, zero biases, and
 * ones for BatchNormalization's gamma and moving variance.
 * Glorot uniform draws from U(-limit, limit) with limit = sqrt(6 / (fanIn + fanOut))
 * (Glorot and Bengio, 2010).
 */
import type { Rng } from '../core/random.js';
import type { ParamSpec } from './layer.js';

/** Fills weights[offset .. offset + size) for one parameter. */
export function initializeParam(spec: ParamSpec, weights: Float32Array, offset: number, rng: Rng): void {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  switch (spec.initializer) {
    case 'zeros':
      weights.fill(0, offset, offset + size);
      return;
    case 'ones':
      weights.fill(1, offset, offset + size);
      return;
    case 'glorotUniform': {
      const limit = Math.sqrt(6 / (spec.fanIn + spec.fanOut));
      for (let i = 0; i < size; i++) weights[offset + i] = rng.uniform(-limit, limit);
      return;
    }
  }
}
