/**
 * TerminateOnNaN: stops training after a batch whose loss is NaN or infinite, as Keras 3's
 * keras.callbacks.TerminateOnNaN does. It matters only with fit's stopOnNonFinite: false,
 * because by default fit() already raises a NonFiniteError before that batch's update. Here the
 * update of the non-finite batch has been applied when training stops, as in Keras.
 *
 * Deviation: Keras prints a line when it stops training; this callback prints nothing and
 * records where it stopped in stoppedEpoch and stoppedBatch.
 */
import type { Logs } from '../model/callbacks.js';
import { BaseCallback } from './base-callback.js';

export class TerminateOnNaN extends BaseCallback {
  /** Epoch and batch (from 0) of the non-finite loss, or -1 while training has not been stopped. */
  stoppedEpoch = -1;
  stoppedBatch = -1;
  private epoch = 0;

  onTrainBegin(): void {
    this.stoppedEpoch = -1;
    this.stoppedBatch = -1;
  }

  onEpochBegin(epoch: number): void {
    this.epoch = epoch;
  }

  onBatchEnd(batch: number, logs?: Logs): void {
    const loss = logs?.loss;
    if (loss === undefined || Number.isFinite(loss)) return;
    this.stoppedEpoch = this.epoch;
    this.stoppedBatch = batch;
    this.model.stopTraining = true;
  }
}
