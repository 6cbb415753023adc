/**
 * Stochastic gradient descent with optional momentum and Nesterov momentum, as Keras
 * defines them:
 *
 *   plain:     w -= lr g
 *   momentum:  v = momentum v - lr g;  w += v
 *   nesterov:  v = momentum v - lr g;  w += momentum v - lr g
 *
 * Defaults are Keras's: lr 0.01, momentum 0, nesterov false.
 */
import { formatValue } from '../errors.js';
import { Optimizer, type OptimizerUpdate, checkUnitInterval } from './optimizer.js';
import type { ClippingArgs } from './clipping.js';

export interface SGDArgs extends ClippingArgs {
  learningRate?: number;
  momentum?: number;
  nesterov?: boolean;
}

export const SGD_DEFAULTS = { learningRate: 0.01, momentum: 0, nesterov: false } as const;

export class SGD extends Optimizer {
  readonly className = 'SGD';
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly slotsPerParam: number;

  constructor(args: SGDArgs = {}) {
    super(args.learningRate ?? SGD_DEFAULTS.learningRate, 'SGD');
    this.setClipping(args);
    this.momentum = checkUnitInterval(args.momentum ?? SGD_DEFAULTS.momentum, 'momentum', 'SGD');
    this.nesterov = args.nesterov ?? SGD_DEFAULTS.nesterov;
    if (typeof this.nesterov !== 'boolean') {
      throw new TypeError(`SGD: nesterov must be a boolean, got ${formatValue(args.nesterov)}.`);
    }
    this.slotsPerParam = this.momentum > 0 ? 1 : 0;
  }

  getConfig(): Record<string, unknown> {
    return { learningRate: this.learningRate, momentum: this.momentum, nesterov: this.nesterov };
  }

  applyRange({ weights, grads, state, start, end, learningRate }: OptimizerUpdate): void {
    const momentum = this.momentum;
    if (momentum === 0) {
      for (let i = start; i < end; i++) weights[i] -= learningRate * grads[i];
      return;
    }
    for (let i = start; i < end; i++) {
      const step = learningRate * grads[i];
      const velocity = momentum * state[i] - step;
      state[i] = velocity;
      weights[i] += this.nesterov ? momentum * velocity - step : velocity;
    }
  }
}
