/**
 * RMSprop (Hinton, 2012, Coursera "Neural Networks for Machine Learning", lecture 6e) as
 * Keras 3 defines it (keras/src/optimizers/rmsprop.py), with plain (not Nesterov) momentum
 * and an optional centered form:
 *
 *   v = rho v + (1 - rho) g^2
 *   centered:  a = rho a + (1 - rho) g;  d = v - a^2 + epsilon
 *   otherwise: d = v + epsilon
 *   step = lr g / sqrt(d)
 *   momentum > 0: m = momentum m + step;  w -= m
 *   otherwise:    w -= step
 *
 * State slots, in order: v, then m when momentum > 0, then a when centered.
 * Defaults are Keras's: lr 0.001, rho 0.9, momentum 0, epsilon 1e-7, centered false.
 * Deviation: rho and momentum must be in [0, 1), as for Adam and SGD here. Keras also accepts
 * 1, where v stays 0 and every step is lr g / sqrt(epsilon), or m never decays.
 */
import { Optimizer, type OptimizerUpdate, checkBoolean, checkPositive, checkUnitInterval } from './optimizer.js';
import type { ClippingArgs } from './clipping.js';

export interface RMSpropArgs extends ClippingArgs {
  learningRate?: number;
  rho?: number;
  momentum?: number;
  epsilon?: number;
  centered?: boolean;
}

export const RMSPROP_DEFAULTS = { learningRate: 0.001, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false } as const;

export class RMSprop extends Optimizer {
  readonly className = 'RMSprop';
  readonly slotsPerParam: number;
  readonly rho: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly centered: boolean;

  constructor(args: RMSpropArgs = {}) {
    super(args.learningRate ?? RMSPROP_DEFAULTS.learningRate, 'RMSprop');
    this.setClipping(args);
    this.rho = checkUnitInterval(args.rho ?? RMSPROP_DEFAULTS.rho, 'rho', 'RMSprop');
    this.momentum = checkUnitInterval(args.momentum ?? RMSPROP_DEFAULTS.momentum, 'momentum', 'RMSprop');
    this.epsilon = checkPositive(args.epsilon ?? RMSPROP_DEFAULTS.epsilon, 'epsilon', 'RMSprop');
    this.centered = checkBoolean(args.centered ?? RMSPROP_DEFAULTS.centered, 'centered', 'RMSprop');
    this.slotsPerParam = 1 + (this.momentum > 0 ? 1 : 0) + (this.centered ? 1 : 0);
  }

  getConfig(): Record<string, unknown> {
    return { learningRate: this.learningRate, rho: this.rho, momentum: this.momentum, epsilon: this.epsilon, centered: this.centered };
  }

  applyRange({ weights, grads, state, paramCount, start, end, learningRate }: OptimizerUpdate): void {
    const { rho, momentum, epsilon, centered } = this;
    const hasMomentum = momentum > 0;
    // Slot offsets into state. An offset of a slot that this configuration does not keep is never read.
    const momentumOffset = paramCount;
    const averageOffset = hasMomentum ? 2 * paramCount : paramCount;
    for (let i = start; i < end; i++) {
      const g = grads[i];
      const v = rho * state[i] + (1 - rho) * g * g;
      state[i] = v;
      let denominator = v + epsilon;
      if (centered) {
        const a = rho * state[averageOffset + i] + (1 - rho) * g;
        state[averageOffset + i] = a;
        denominator -= a * a;
      }
      const step = (learningRate * g) / Math.sqrt(denominator);
      if (hasMomentum) {
        const m = momentum * state[momentumOffset + i] + step;
        state[momentumOffset + i] = m;
        weights[i] -= m;
      } else {
        weights[i] -= step;
      }
    }
  }
}
