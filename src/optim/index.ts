/** Optimizer registry: names and configurations that compile() and workers accept. */
import { formatValue } from '../errors.js';
import { Adadelta, type AdadeltaArgs } from './adadelta.js';
import { Adagrad, type AdagradArgs } from './adagrad.js';
import { Adam, type AdamArgs } from './adam.js';
import { AdamW, type AdamWArgs } from './adamw.js';
import type { ClippingArgs } from './clipping.js';
import type { Optimizer } from './optimizer.js';
import { RMSprop, type RMSpropArgs } from './rmsprop.js';
import { SGD, type SGDArgs } from './sgd.js';

export { Optimizer, fillInitialState } from './optimizer.js';
export { Adadelta, Adagrad, Adam, AdamW, RMSprop, SGD };

/** Keyed by the lower-case Keras class name, so 'AdamW' and 'adamw' both match. */
const OPTIMIZERS: Record<string, (config: Record<string, unknown>) => Optimizer> = {
  adam: (config) => new Adam(config as AdamArgs),
  sgd: (config) => new SGD(config as SGDArgs),
  rmsprop: (config) => new RMSprop(config as RMSpropArgs),
  adadelta: (config) => new Adadelta(config as AdadeltaArgs),
  adagrad: (config) => new Adagrad(config as AdagradArgs),
  adamw: (config) => new AdamW(config as AdamWArgs),
};

/** Names that createOptimizer accepts, in lower case. */
export const OPTIMIZER_NAMES: readonly string[] = Object.keys(OPTIMIZERS);

/**
 * Creates an optimizer from a name (e.g. 'adam', 'rmsprop', or a Keras class name) and its config.
 * The config may also hold the clipping options clipnorm, globalClipnorm and clipvalue, which
 * every optimizer accepts (src/optim/clipping.ts).
 */
export function createOptimizer(name: unknown, config: Record<string, unknown> = {}): Optimizer {
  const key = typeof name === 'string' ? name.toLowerCase() : '';
  if (!Object.hasOwn(OPTIMIZERS, key)) {
    throw new RangeError(`Unknown optimizer ${formatValue(name)}; use one of ${OPTIMIZER_NAMES.join(', ')}.`);
  }
  const { clipnorm, globalClipnorm, clipvalue, ...rule } = config;
  return OPTIMIZERS[key](rule).setClipping({ clipnorm, globalClipnorm, clipvalue } as ClippingArgs);
}
