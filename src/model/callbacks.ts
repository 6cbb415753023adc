/**
 * Training callbacks in the TensorFlow.js shape: plain objects with optional hooks, each of
 * which may return a promise that fit() awaits. `History` records the per-epoch logs.
 */
import type { Sequential } from './sequential.js';

/** Metric values of a batch or epoch, e.g. { loss, accuracy, val_loss, val_accuracy }. */
export type Logs = Record<string, number>;

/**
 * Hooks that fit() calls in list order. Batch logs hold `batch`, `size`, `loss` and `accuracy`
 * of that batch. Epoch logs hold the epoch means `loss` and `accuracy`, plus `val_loss` and
 * `val_accuracy` when there is validation data, plus `learning_rate` when a callback sets
 * `recordsLearningRate`. onTrainEnd receives the logs of the last epoch that ran. Epochs and
 * batches count from 0.
 */
export interface Callback {
  /** Called by fit() before onTrainBegin with the model being trained. */
  setModel?(model: Sequential): void;
  /** Called by fit() before onTrainBegin with History.params. */
  setParams?(params: Record<string, unknown>): void;
  /**
   * When true, fit() adds `learning_rate`, the optimizer's learning rate at the end of the
   * epoch's batches, to the epoch logs before it records them and calls onEpochEnd.
   */
  readonly recordsLearningRate?: boolean;
  /**
   * Returns the state that a fit() resumed from a checkpoint needs to continue exactly as an
   * uninterrupted run would: JSON values (non-finite numbers allowed) and float arrays. fit()
   * stores it in every checkpoint.
   */
  getCheckpointState?(): CallbackState;
  /** Restores a getCheckpointState() result; a resumed fit() calls it right after onTrainBegin. */
  setCheckpointState?(state: CallbackState): void;
  onTrainBegin?(logs?: Logs): void | Promise<void>;
  onTrainEnd?(logs?: Logs): void | Promise<void>;
  onEpochBegin?(epoch: number, logs?: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs?: Logs): void | Promise<void>;
  onBatchBegin?(batch: number, logs?: Logs): void | Promise<void>;
  onBatchEnd?(batch: number, logs?: Logs): void | Promise<void>;
}

/** A callback's state in a checkpoint. */
export interface CallbackState {
  values: Record<string, unknown>;
  arrays: Float32Array[];
}

/** Result of fit(): the epochs run and each metric's value per epoch. */
export class History {
  readonly epoch: number[] = [];
  readonly history: Record<string, number[]> = {};
  /** The fit settings: epochs, batch size, samples, steps per epoch, threads. */
  params: Record<string, unknown> = {};

  record(epoch: number, logs: Logs): void {
    this.epoch.push(epoch);
    for (const [key, value] of Object.entries(logs)) {
      (this.history[key] ??= []).push(value);
    }
  }
}
