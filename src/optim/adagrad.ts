/**
 * Adagrad (Duchi, Hazan and Singer, 2011, "Adaptive Subgradient Methods for Online Learning
 * and Stochastic Optimization") as Keras 3 defines it (keras/src/optimizers/adagrad.py):
 *
 *   acc = acc + g^2
 *   w  -= lr g / sqrt(acc + epsilon)
 *
 * The accumulator, the only state slot, starts at initialAccumulatorValue, not 0.
 * Defaults are Keras's: lr 0.001, initialAccumulatorValue 0.1, epsilon 1e-7.
 */
import { Optimizer, type OptimizerUpdate, checkNonNegative, checkPositive } from './optimizer.js';
import type { ClippingArgs } from './clipping.js';

export interface AdagradArgs extends ClippingArgs {
  learningRate?: number;
  initialAccumulatorValue?: number;
  epsilon?: number;
}

export const ADAGRAD_DEFAULTS = { learningRate: 0.001, initialAccumulatorValue: 0.1, epsilon: 1e-7 } as const;

export class Adagrad extends Optimizer {
  readonly className = 'Adagrad';
  readonly slotsPerParam = 1;
  readonly initialAccumulatorValue: number;
  readonly epsilon: number;

  constructor(args: AdagradArgs = {}) {
    super(args.learningRate ?? ADAGRAD_DEFAULTS.learningRate, 'Adagrad');
    this.setClipping(args);
    this.initialAccumulatorValue = checkNonNegative(args.initialAccumulatorValue ?? ADAGRAD_DEFAULTS.initialAccumulatorValue, 'initialAccumulatorValue', 'Adagrad');
    this.epsilon = checkPositive(args.epsilon ?? ADAGRAD_DEFAULTS.epsilon, 'epsilon', 'Adagrad');
  }

  getConfig(): Record<string, unknown> {
    return { learningRate: this.learningRate, initialAccumulatorValue: this.initialAccumulatorValue, epsilon: this.epsilon };
  }

  override initialStateValue(_slot: number): number {
    return this.initialAccumulatorValue;
  }

  applyRange({ weights, grads, state, start, end, learningRate }: OptimizerUpdate): void {
    const epsilon = this.epsilon;
    for (let i = start; i < end; i++) {
      const g = grads[i];
      const accumulator = state[i] + g * g;
      state[i] = accumulator;
      weights[i] -= (learningRate * g) / Math.sqrt(accumulator + epsilon);
    }
  }
}
