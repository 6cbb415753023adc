/**
 * Training callbacks in the TensorFlow.js shape: plain objects with optional hooks, each of
 * which may return a promise that fit() awaits. `History` records the per-epoch logs.
 */

/** Metric values of a batch or epoch, e.g. { loss, accuracy, val_loss, val_accuracy }. */
export type Logs = Record<string, number>;

export interface Callback {
  onTrainBegin?(logs?: Logs): void | Promise<void>;
  onTrainEnd?(logs?: Logs): void | Promise<void>;
  onEpochBegin?(epoch: number, logs?: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs?: Logs): void | Promise<void>;
  onBatchBegin?(batch: number, logs?: Logs): void | Promise<void>;
  onBatchEnd?(batch: number, logs?: Logs): void | Promise<void>;
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
