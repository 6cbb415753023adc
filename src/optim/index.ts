/** Optimizer registry: names and configurations that compile() and workers accept. */
import { formatValue } from '../errors.js';
import { Adam, type AdamArgs } from './adam.js';
import type { Optimizer } from './optimizer.js';
import { SGD, type SGDArgs } from './sgd.js';

export { Optimizer } from './optimizer.js';
export { Adam, SGD };

const OPTIMIZERS: Record<string, (config: Record<string, unknown>) => Optimizer> = {
  adam: (config) => new Adam(config as AdamArgs),
  sgd: (config) => new SGD(config as SGDArgs),
};

/** Creates an optimizer from a name ('adam', 'sgd', or a Keras class name) and its config. */
export function createOptimizer(name: unknown, config: Record<string, unknown> = {}): Optimizer {
  const key = typeof name === 'string' ? name.toLowerCase() : '';
  if (!Object.hasOwn(OPTIMIZERS, key)) {
    throw new RangeError(`Unknown optimizer ${formatValue(name)}; use one of ${Object.keys(OPTIMIZERS).join(', ')}.`);
  }
  return OPTIMIZERS[key](config);
}
