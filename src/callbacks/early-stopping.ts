/**
 * EarlyStopping: stops training when the monitored quantity has not improved for `patience`
 * epochs, with the arguments and rules of Keras 3's keras.callbacks.EarlyStopping (verbose and
 * startFromEpoch are not supported).
 *
 * An epoch improves when its value beats the best so far by more than minDelta. The wait
 * counter counts epochs since the last improvement, and it restarts only when the value also
 * beats `baseline`, when one is set. Training stops at the end of the epoch where the counter
 * reaches patience (epoch 0 never stops). With restoreBestWeights, the weights of the best
 * epoch are copied at the end of that epoch and written back in onTrainEnd, whether or not
 * training stopped early, as Keras 3 does. That copy is the flat weight buffer only; the
 * optimizer state is not restored, as in Keras.
 *
 * Checkpoints carry the wait counter, the best value and epoch, the stopped epoch and the best
 * weights, so a fit() resumed from one stops and restores exactly as an uninterrupted run. A
 * checkpoint of a run that this callback stopped resumes stopped: it trains no further epoch.
 */
import type { CallbackState, Logs } from '../model/callbacks.js';
import { checkFinite, checkFlag, checkInteger, checkOptions, checkString, stateNumber } from './args.js';
import { BaseCallback } from './base-callback.js';
import { type MonitorMode, checkMode, isImprovement, monitorDirection, readMonitor } from './monitor.js';

export interface EarlyStoppingArgs {
  /** Epoch log key to watch; default 'val_loss'. */
  monitor?: string;
  /** Smallest change that counts as an improvement; its absolute value is used; default 0. */
  minDelta?: number;
  /** Epochs without improvement before training stops; default 0. */
  patience?: number;
  /** 'min', 'max', or 'auto' (from the key: loss is minimized, accuracy maximized); default 'auto'. */
  mode?: MonitorMode;
  /** Value the monitored quantity must beat; default none. */
  baseline?: number;
  /** Write back the weights of the best epoch when training ends; default false. */
  restoreBestWeights?: boolean;
}

const WHERE = 'EarlyStopping';
const OPTIONS = ['monitor', 'minDelta', 'patience', 'mode', 'baseline', 'restoreBestWeights'] as const;

export class EarlyStopping extends BaseCallback {
  readonly monitor: string;
  readonly minDelta: number;
  readonly patience: number;
  readonly mode: MonitorMode;
  readonly baseline: number | undefined;
  readonly restoreBestWeights: boolean;
  /** Epochs since the last improvement. */
  wait = 0;
  /** Best monitored value so far, or null before the first one. */
  best: number | null = null;
  /** Epoch (from 0) of the best value, or -1 before the first one. */
  bestEpoch = -1;
  /** Epoch (from 0) at whose end this callback stopped training, or -1 when it did not. */
  stoppedEpoch = -1;
  private readonly direction: 'min' | 'max';
  /** Copy of the flat weights at the best epoch, reused across fits. */
  private bestWeights: Float32Array | null = null;
  private haveBestWeights = false;
  private readonly warning = { warned: false };

  constructor(args?: EarlyStoppingArgs) {
    super();
    const options = checkOptions(args, OPTIONS, WHERE);
    this.monitor = checkString(options.monitor ?? 'val_loss', 'monitor', WHERE);
    this.minDelta = Math.abs(checkFinite(options.minDelta ?? 0, 'minDelta', WHERE));
    this.patience = checkInteger(options.patience ?? 0, 'patience', WHERE, 0);
    this.mode = checkMode(options.mode ?? 'auto', WHERE);
    this.baseline = options.baseline === undefined ? undefined : checkFinite(options.baseline, 'baseline', WHERE);
    this.restoreBestWeights = checkFlag(options.restoreBestWeights ?? false, 'restoreBestWeights', WHERE);
    this.direction = monitorDirection(this.monitor, this.mode, WHERE);
  }

  onTrainBegin(): void {
    this.wait = 0;
    this.best = null;
    this.bestEpoch = -1;
    this.stoppedEpoch = -1;
    this.warning.warned = false;
    this.haveBestWeights = false;
  }

  onEpochEnd(epoch: number, logs?: Logs): void {
    const current = readMonitor(logs, this.monitor, WHERE, 'it cannot stop training', this.warning);
    if (current === undefined) return;
    // Keras keeps the first monitored epoch's weights even when that epoch does not improve.
    if (this.restoreBestWeights && !this.haveBestWeights) {
      this.saveWeights();
      this.bestEpoch = epoch;
    }
    this.wait++;
    if (isImprovement(current, this.best, this.minDelta, this.direction)) {
      this.best = current;
      this.bestEpoch = epoch;
      if (this.restoreBestWeights) this.saveWeights();
      if (this.baseline === undefined || isImprovement(current, this.baseline, this.minDelta, this.direction)) this.wait = 0;
      return;
    }
    if (this.wait >= this.patience && epoch > 0) {
      this.stoppedEpoch = epoch;
      this.model.stopTraining = true;
    }
  }

  getCheckpointState(): CallbackState {
    const values = { wait: this.wait, best: this.best, bestEpoch: this.bestEpoch, stoppedEpoch: this.stoppedEpoch };
    const arrays = this.haveBestWeights && this.bestWeights !== null ? [this.bestWeights] : [];
    return { values, arrays };
  }

  setCheckpointState({ values, arrays }: CallbackState): void {
    this.wait = stateNumber(values, 'wait', WHERE);
    this.best = stateNumber(values, 'best', WHERE, true);
    this.bestEpoch = stateNumber(values, 'bestEpoch', WHERE);
    this.stoppedEpoch = stateNumber(values, 'stoppedEpoch', WHERE);
    this.haveBestWeights = arrays.length === 1 && arrays[0].length === this.model.flatWeights.length;
    this.bestWeights = this.haveBestWeights ? arrays[0].slice() : null;
    if (this.stoppedEpoch >= 0) this.model.stopTraining = true;
  }

  onTrainEnd(): void {
    if (this.restoreBestWeights && this.haveBestWeights && this.bestWeights !== null) this.model.flatWeights.set(this.bestWeights);
  }

  private saveWeights(): void {
    const weights = this.model.flatWeights;
    if (this.bestWeights === null || this.bestWeights.length !== weights.length) this.bestWeights = new Float32Array(weights.length);
    this.bestWeights.set(weights);
    this.haveBestWeights = true;
  }
}
