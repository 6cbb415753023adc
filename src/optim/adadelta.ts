/**
 * Adadelta (Zeiler, 2012, "ADADELTA: An Adaptive Learning Rate Method") as Keras 3 defines it
 * (keras/src/optimizers/adadelta.py), which scales the paper's update by a learning rate:
 *
 *   Eg  = rho Eg + (1 - rho) g^2
 *   dx  = -sqrt(Edx + epsilon) / sqrt(Eg + epsilon) * g
 *   Edx = rho Edx + (1 - rho) dx^2
 *   w  += lr dx
 *
 * dx uses the Edx of the previous step. State slots, in order: Eg, Edx.
 * Defaults are Keras's: lr 0.001, rho 0.95, epsilon 1e-7. The paper's form is lr 1.
 */
import { Optimizer, type OptimizerUpdate, checkPositive, checkUnitInterval } from './optimizer.js';
import type { ClippingArgs } from './clipping.js';

export interface AdadeltaArgs extends ClippingArgs {
  learningRate?: number;
  rho?: number;
  epsilon?: number;
}

export const ADADELTA_DEFAULTS = { learningRate: 0.001, rho: 0.95, epsilon: 1e-7 } as const;

export class Adadelta extends Optimizer {
  readonly className = 'Adadelta';
  readonly slotsPerParam = 2;
  readonly rho: number;
  readonly epsilon: number;

  constructor(args: AdadeltaArgs = {}) {
    super(args.learningRate ?? ADADELTA_DEFAULTS.learningRate, 'Adadelta');
    this.setClipping(args);
    this.rho = checkUnitInterval(args.rho ?? ADADELTA_DEFAULTS.rho, 'rho', 'Adadelta');
    this.epsilon = checkPositive(args.epsilon ?? ADADELTA_DEFAULTS.epsilon, 'epsilon', 'Adadelta');
  }

  getConfig(): Record<string, unknown> {
    return { learningRate: this.learningRate, rho: this.rho, epsilon: this.epsilon };
  }

  applyRange({ weights, grads, state, paramCount, start, end, learningRate }: OptimizerUpdate): void {
    const { rho, epsilon } = this;
    const deltaOffset = paramCount;
    for (let i = start; i < end; i++) {
      const g = grads[i];
      const gradAverage = rho * state[i] + (1 - rho) * g * g;
      const delta = (-Math.sqrt(state[deltaOffset + i] + epsilon) / Math.sqrt(gradAverage + epsilon)) * g;
      state[i] = gradAverage;
      state[deltaOffset + i] = rho * state[deltaOffset + i] + (1 - rho) * delta * delta;
      weights[i] += learningRate * delta;
    }
  }
}
