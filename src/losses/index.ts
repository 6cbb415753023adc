/** Loss registry: the names compile() accepts, as TensorFlow.js spells them. */
import { formatValue } from '../errors.js';
import { CategoricalCrossentropy, SparseCategoricalCrossentropy } from './cross-entropy.js';
import type { Loss, LossName } from './loss.js';
import { MeanSquaredError } from './mean-squared-error.js';

export type { Loss, LossName } from './loss.js';

const LOSSES: Record<LossName, () => Loss> = {
  sparseCategoricalCrossentropy: () => new SparseCategoricalCrossentropy(),
  categoricalCrossentropy: () => new CategoricalCrossentropy(),
  meanSquaredError: () => new MeanSquaredError(),
};

/** Keras snake_case aliases of the same losses. */
const ALIASES: Record<string, LossName> = {
  sparse_categorical_crossentropy: 'sparseCategoricalCrossentropy',
  categorical_crossentropy: 'categoricalCrossentropy',
  mean_squared_error: 'meanSquaredError',
  mse: 'meanSquaredError',
};

export function getLoss(name: unknown): Loss {
  const key = typeof name === 'string' ? (ALIASES[name] ?? name) : '';
  if (!Object.hasOwn(LOSSES, key)) {
    throw new RangeError(`Unknown loss ${formatValue(name)}; use one of ${Object.keys(LOSSES).join(', ')}.`);
  }
  return LOSSES[key as LossName]();
}
