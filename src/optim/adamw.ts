/**
 * AdamW (Loshchilov and Hutter, 2019, "Decoupled Weight Decay Regularization") as Keras 3
 * defines it (keras/src/optimizers/adamw.py and the weight decay in base_optimizer.py): each
 * weight first decays by lr * weightDecay, then takes the Adam step of ./adam.ts:
 *
 *   w -= lr weightDecay w
 *   m  = beta1 m + (1 - beta1) g
 *   v  = beta2 v + (1 - beta2) g^2
 *   w -= lr sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + epsilon)
 *
 * As in Keras, the decay applies to every parameter, biases included, and the decayed weight
 * is rounded to float32 before the Adam step. State slots, in order: m, v.
 * Defaults are Keras's: lr 0.001, weightDecay 0.004, beta1 0.9, beta2 0.999, epsilon 1e-7.
 */
import { Optimizer, type OptimizerUpdate, checkNonNegative, checkPositive, checkUnitInterval } from './optimizer.js';
import type { ClippingArgs } from './clipping.js';

export interface AdamWArgs extends ClippingArgs {
  learningRate?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
}

export const ADAMW_DEFAULTS = { learningRate: 0.001, weightDecay: 0.004, beta1: 0.9, beta2: 0.999, epsilon: 1e-7 } as const;

export class AdamW extends Optimizer {
  readonly className = 'AdamW';
  readonly slotsPerParam = 2;
  readonly weightDecay: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;

  constructor(args: AdamWArgs = {}) {
    super(args.learningRate ?? ADAMW_DEFAULTS.learningRate, 'AdamW');
    this.setClipping(args);
    this.weightDecay = checkNonNegative(args.weightDecay ?? ADAMW_DEFAULTS.weightDecay, 'weightDecay', 'AdamW');
    this.beta1 = checkUnitInterval(args.beta1 ?? ADAMW_DEFAULTS.beta1, 'beta1', 'AdamW');
    this.beta2 = checkUnitInterval(args.beta2 ?? ADAMW_DEFAULTS.beta2, 'beta2', 'AdamW');
    this.epsilon = checkPositive(args.epsilon ?? ADAMW_DEFAULTS.epsilon, 'epsilon', 'AdamW');
  }

  getConfig(): Record<string, unknown> {
    return { learningRate: this.learningRate, weightDecay: this.weightDecay, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }

  applyRange({ weights, grads, state, paramCount, start, end, step, learningRate }: OptimizerUpdate): void {
    const { beta1, beta2, epsilon } = this;
    const decay = learningRate * this.weightDecay;
    const alpha = (learningRate * Math.sqrt(1 - beta2 ** step)) / (1 - beta1 ** step);
    const vOffset = paramCount;
    for (let i = start; i < end; i++) {
      weights[i] -= decay * weights[i];
      const g = grads[i];
      const m = beta1 * state[i] + (1 - beta1) * g;
      const v = beta2 * state[vOffset + i] + (1 - beta2) * g * g;
      state[i] = m;
      state[vOffset + i] = v;
      weights[i] -= (alpha * m) / (Math.sqrt(v) + epsilon);
    }
  }
}
