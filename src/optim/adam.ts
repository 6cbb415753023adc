/**
 * Adam (Kingma and Ba, 2015, "Adam: A Method for Stochastic Optimization"), in the form Keras
 * and TensorFlow use, with epsilon added outside the bias correction:
 *
 *   m = beta1 m + (1 - beta1) g
 *   v = beta2 v + (1 - beta2) g^2
 *   w -= lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)
 *
 * Defaults are Keras's: lr 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7.
 */
import { Optimizer, type OptimizerUpdate, checkPositive, checkUnitInterval } from './optimizer.js';
import type { ClippingArgs } from './clipping.js';

export interface AdamArgs extends ClippingArgs {
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export const ADAM_DEFAULTS = { learningRate: 0.001, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;

export class Adam extends Optimizer {
  readonly className = 'Adam';
  readonly slotsPerParam = 2;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;

  constructor(args: AdamArgs = {}) {
    super(args.learningRate ?? ADAM_DEFAULTS.learningRate, 'Adam');
    this.setClipping(args);
    this.beta1 = checkUnitInterval(args.beta1 ?? ADAM_DEFAULTS.beta1, 'beta1', 'Adam');
    this.beta2 = checkUnitInterval(args.beta2 ?? ADAM_DEFAULTS.beta2, 'beta2', 'Adam');
    this.epsilon = checkPositive(args.epsilon ?? ADAM_DEFAULTS.epsilon, 'epsilon', 'Adam');
  }

  getConfig(): Record<string, unknown> {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  applyRange({ weights, grads, state, paramCount, start, end, step, learningRate }: OptimizerUpdate): void {
    const { beta1, beta2, epsilon } = this;
    const alpha = (learningRate * Math.sqrt(1 - beta2 ** step)) / (1 - beta1 ** step);
    const vOffset = paramCount;
    for (let i = start; i < end; i++) {
      const g = grads[i];
      const m = beta1 * state[i] + (1 - beta1) * g;
      const v = beta2 * state[vOffset + i] + (1 - beta2) * g * g;
      state[i] = m;
      state[vOffset + i] = v;
      weights[i] -= (alpha * m) / (Math.sqrt(v) + epsilon);
    }
  }
}
