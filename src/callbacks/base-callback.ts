/**
 * BaseCallback: the base class of the built-in callbacks, which need the model that fit()
 * trains (TensorFlow.js's Callback class, with setModel and setParams).
 */
import { StateError } from '../errors.js';
import type { Callback } from '../model/callbacks.js';
import type { Sequential } from '../model/sequential.js';

export abstract class BaseCallback implements Callback {
  /** History.params of the running fit(): epochs, batchSize, samples, steps and more. */
  params: Record<string, unknown> = {};
  private attached: Sequential | null = null;

  setModel(model: Sequential): void {
    this.attached = model;
  }

  setParams(params: Record<string, unknown>): void {
    this.params = params;
  }

  /** The model that fit() trains; a StateError before fit() has started. */
  get model(): Sequential {
    if (this.attached === null) {
      throw new StateError(`${this.constructor.name} has no model yet; pass it to model.fit(x, y, { callbacks: [...] }) instead of calling its hooks directly.`);
    }
    return this.attached;
  }
}
