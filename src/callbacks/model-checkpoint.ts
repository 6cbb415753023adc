/**
 * ModelCheckpoint: saves the model with saveModel (model.json and weights.bin in a directory)
 * at the end of each epoch, or only when the monitored quantity improves, as Keras 3's
 * keras.callbacks.ModelCheckpoint does with its default save_freq='epoch'.
 *
 * `filepath` names the directory and may hold placeholders: {epoch} is the 1-based epoch
 * number, as Keras formats it, and any epoch log key works too, e.g. 'ckpt/{epoch:02d}-
 * {val_loss:.4f}' (see filepath-template.ts). Without placeholders each save replaces the last.
 * Deviation: Keras writes one .keras or .h5 file; this writes the TensorFlow.js layers format,
 * which loadModel reads, and saves no optimizer state.
 *
 * With saveBestOnly, a save happens only when the monitored value beats the best so far
 * (strictly). When the key is missing from the logs, one warning is emitted and the model is
 * saved anyway, as Keras 3 does.
 *
 * Training checkpoints (fit's checkpointDir) carry the best value, so a fit() resumed from one
 * saves at the same epochs as an uninterrupted run.
 */
import type { CallbackState, Logs } from '../model/callbacks.js';
import { saveModel } from '../model/save.js';
import { checkFlag, checkOptions, checkString, stateNumber } from './args.js';
import { BaseCallback } from './base-callback.js';
import { type FilepathTemplate, formatFilepath, parseFilepathTemplate } from './filepath-template.js';
import { type MonitorMode, checkMode, isImprovement, monitorDirection, readMonitor } from './monitor.js';

export interface ModelCheckpointArgs {
  /** Epoch log key that saveBestOnly compares; default 'val_loss'. */
  monitor?: string;
  /** Save only when the monitored value improves; default false (save every epoch). */
  saveBestOnly?: boolean;
  /** 'min', 'max', or 'auto' (from the key: loss is minimized, accuracy maximized); default 'auto'. */
  mode?: MonitorMode;
}

const WHERE = 'ModelCheckpoint';
const OPTIONS = ['monitor', 'saveBestOnly', 'mode'] as const;

export class ModelCheckpoint extends BaseCallback {
  readonly filepath: string;
  readonly monitor: string;
  readonly saveBestOnly: boolean;
  readonly mode: MonitorMode;
  /** Best monitored value so far, or null before the first save with saveBestOnly. */
  best: number | null = null;
  /** Directory of the most recent save, or null before the first. */
  lastSaved: string | null = null;
  private readonly template: FilepathTemplate;
  private readonly direction: 'min' | 'max' | null;
  private readonly warning = { warned: false };

  constructor(filepath: string, args?: ModelCheckpointArgs) {
    super();
    this.filepath = checkString(filepath, 'filepath', WHERE);
    this.template = parseFilepathTemplate(this.filepath, WHERE);
    const options = checkOptions(args, OPTIONS, WHERE);
    this.monitor = checkString(options.monitor ?? 'val_loss', 'monitor', WHERE);
    this.saveBestOnly = checkFlag(options.saveBestOnly ?? false, 'saveBestOnly', WHERE);
    this.mode = checkMode(options.mode ?? 'auto', WHERE);
    // The direction only matters with saveBestOnly, so other monitors need no mode then.
    this.direction = this.saveBestOnly ? monitorDirection(this.monitor, this.mode, WHERE) : null;
  }

  onTrainBegin(): void {
    this.best = null;
    this.warning.warned = false;
  }

  getCheckpointState(): CallbackState {
    return { values: { best: this.best }, arrays: [] };
  }

  setCheckpointState({ values }: CallbackState): void {
    this.best = stateNumber(values, 'best', WHERE, true);
  }

  async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    const dir = formatFilepath(this.template, { ...logs, epoch: epoch + 1 }, WHERE);
    if (this.direction !== null) {
      const current = readMonitor(logs, this.monitor, WHERE, 'it saves every epoch', this.warning);
      if (current !== undefined) {
        if (!isImprovement(current, this.best, 0, this.direction)) return;
        this.best = current;
      }
    }
    await saveModel(this.model, dir);
    this.lastSaved = dir;
  }
}
