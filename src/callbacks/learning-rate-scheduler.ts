/**
 * LearningRateScheduler: sets the optimizer's learning rate at the start of every epoch to
 * `schedule(epoch, currentRate)`, as Keras 3's keras.callbacks.LearningRateScheduler does. fit()
 * sends optimizer.learningRate with every batch's task, so the workers use the new rate from the
 * epoch's first batch on. The epoch logs and History get `learning_rate`, the rate each epoch
 * trained with, as in Keras 3.
 *
 * NOTE: resuming fit() from a checkpoint (resumeFrom) restores the checkpoint's learning rate
 * and then calls the schedule again for the resumed epoch. A schedule that multiplies the
 * current rate, instead of computing it from the epoch as stepDecay and cosineDecay do, is thus
 * applied twice to that epoch.
 */
import { formatValue } from '../errors.js';
import { BaseCallback } from './base-callback.js';
import type { Schedule } from './schedules.js';

const WHERE = 'LearningRateScheduler';

export class LearningRateScheduler extends BaseCallback {
  readonly recordsLearningRate = true;
  readonly schedule: Schedule;

  constructor(schedule: Schedule) {
    super();
    if (typeof schedule !== 'function') {
      throw new TypeError(`${WHERE}: schedule must be a function (epoch, learningRate) => learningRate, got ${formatValue(schedule)}.`);
    }
    this.schedule = schedule;
  }

  onEpochBegin(epoch: number): void {
    const optimizer = this.model.optimizer;
    if (optimizer === null) throw new Error('unreachable: fit() runs only on a compiled model');
    const rate = this.schedule(epoch, optimizer.learningRate);
    if (typeof rate !== 'number' || !Number.isFinite(rate) || rate < 0) {
      throw new RangeError(`${WHERE}: the schedule returned ${formatValue(rate)} for epoch ${epoch}; it must return a finite number >= 0.`);
    }
    optimizer.learningRate = rate;
  }
}
