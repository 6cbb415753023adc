/**
 * ReduceLROnPlateau: multiplies the learning rate by `factor` when the monitored quantity has not
 * improved for `patience` epochs, with the arguments and rules of Keras 3's
 * keras.callbacks.ReduceLROnPlateau (verbose is not supported).
 *
 * At each epoch end: during a cooldown the counter of epochs without improvement stays at 0. An
 * epoch improves when its value beats the best by more than minDelta. Otherwise, outside a
 * cooldown, the counter grows, and when it reaches patience the rate becomes
 * max(rate * factor, minLr), provided the rate is above minLr. The counter then restarts and a
 * cooldown of `cooldown` epochs begins. In 'auto' mode a key containing 'acc' is maximized and
 * any other minimized, as in Keras. The epoch logs and History get `learning_rate`, the rate
 * the epoch trained with (before any reduction at its end), as in Keras 3.
 *
 * Checkpoints carry the best value, the counter and the cooldown, and the learning rate is
 * part of the optimizer's state, so a fit() resumed from one reduces the rate exactly when an
 * uninterrupted run does.
 */
import { formatValue } from '../errors.js';
import type { CallbackState, Logs } from '../model/callbacks.js';
import { checkFinite, checkInteger, checkOptions, checkString, stateNumber } from './args.js';
import { BaseCallback } from './base-callback.js';
import { type MonitorMode, checkMode, readMonitor } from './monitor.js';

export interface ReduceLROnPlateauArgs {
  /** Epoch log key to watch; default 'val_loss'. */
  monitor?: string;
  /** Factor the rate is multiplied by, in (0, 1); default 0.1. */
  factor?: number;
  /** Epochs without improvement before the rate is reduced; default 10. */
  patience?: number;
  /** 'min', 'max', or 'auto' (maximize a key containing 'acc', else minimize); default 'auto'. */
  mode?: MonitorMode;
  /** Smallest change that counts as an improvement; default 1e-4. */
  minDelta?: number;
  /** Epochs after a reduction during which no further reduction happens; default 0. */
  cooldown?: number;
  /** Lower bound of the rate; default 0. */
  minLr?: number;
}

const WHERE = 'ReduceLROnPlateau';
const OPTIONS = ['monitor', 'factor', 'patience', 'mode', 'minDelta', 'cooldown', 'minLr'] as const;

export class ReduceLROnPlateau extends BaseCallback {
  readonly recordsLearningRate = true;
  readonly monitor: string;
  readonly factor: number;
  readonly patience: number;
  readonly mode: MonitorMode;
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minLr: number;
  /** Epochs without improvement outside a cooldown. */
  wait = 0;
  /** Epochs of cooldown left. */
  cooldownCounter = 0;
  /** Best monitored value so far (Infinity or -Infinity before the first). */
  best: number;
  private readonly maximize: boolean;
  private readonly warning = { warned: false };

  constructor(args?: ReduceLROnPlateauArgs) {
    super();
    const options = checkOptions(args, OPTIONS, WHERE);
    this.monitor = checkString(options.monitor ?? 'val_loss', 'monitor', WHERE);
    const factor = options.factor ?? 0.1;
    if (typeof factor !== 'number' || !(factor > 0 && factor < 1)) {
      throw new RangeError(`${WHERE}: factor must be a number in (0, 1), the multiplier of the learning rate, got ${formatValue(factor)}.`);
    }
    this.factor = factor;
    this.patience = checkInteger(options.patience ?? 10, 'patience', WHERE, 0);
    this.mode = checkMode(options.mode ?? 'auto', WHERE);
    this.minDelta = checkFinite(options.minDelta ?? 1e-4, 'minDelta', WHERE);
    this.cooldown = checkInteger(options.cooldown ?? 0, 'cooldown', WHERE, 0);
    this.minLr = checkFinite(options.minLr ?? 0, 'minLr', WHERE, 0);
    this.maximize = this.mode === 'max' || (this.mode === 'auto' && this.monitor.includes('acc'));
    this.best = this.maximize ? -Infinity : Infinity;
  }

  onTrainBegin(): void {
    this.best = this.maximize ? -Infinity : Infinity;
    this.wait = 0;
    this.cooldownCounter = 0;
    this.warning.warned = false;
  }

  getCheckpointState(): CallbackState {
    return { values: { best: this.best, wait: this.wait, cooldownCounter: this.cooldownCounter }, arrays: [] };
  }

  setCheckpointState({ values }: CallbackState): void {
    this.best = stateNumber(values, 'best', WHERE);
    this.wait = stateNumber(values, 'wait', WHERE);
    this.cooldownCounter = stateNumber(values, 'cooldownCounter', WHERE);
  }

  onEpochEnd(_epoch: number, logs?: Logs): void {
    const current = readMonitor(logs, this.monitor, WHERE, 'the learning rate stays as it is', this.warning);
    if (current === undefined) return;
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.wait = 0;
    }
    const improved = this.maximize ? current > this.best + this.minDelta : current < this.best - this.minDelta;
    if (improved) {
      this.best = current;
      this.wait = 0;
      return;
    }
    if (this.cooldownCounter > 0) return;
    this.wait++;
    if (this.wait < this.patience) return;
    const optimizer = this.model.optimizer;
    if (optimizer === null) throw new Error('unreachable: fit() runs only on a compiled model');
    // Keras compares with min_lr rounded to float32, the type of its learning-rate variable.
    if (optimizer.learningRate > Math.fround(this.minLr)) {
      optimizer.learningRate = Math.max(optimizer.learningRate * this.factor, this.minLr);
      this.cooldownCounter = this.cooldown;
      this.wait = 0;
    }
  }
}
