/**
 * The fit() loop: epochs of shuffled batches on the parallel runner, validation after each
 * epoch, callbacks around every batch and epoch.
 *
 * The loop emits events through callbacks and never prints. Randomness comes from one Rng
 * seeded by `seed`: the epoch shuffle and a per-epoch dropout seed are drawn from it, so a
 * seeded run is reproducible for any thread count.
 */
import { join } from 'node:path';

import { Rng } from '../core/random.js';
import { type AugmentOptions, augmentSpec, resolveAugment } from '../data/augment.js';
import { classesOf, gatherRows, splitIndices } from '../data/split.js';
import { Tensor } from '../core/tensor.js';
import type { TestFaultKind } from '../coordinator/messages.js';
import { CheckpointError, NonFiniteError, StateError, ValueError, WorkerError, formatValue } from '../errors.js';
import { getBackend } from '../gemm/backend.js';
import { type Callback, type CallbackState, History, type Logs } from './callbacks.js';
import { type Checkpoint, type CheckpointSettings, CHECKPOINT_FILE, describeTopology, hashArrays, readCheckpoint, writeCheckpoint } from './checkpoint.js';
import { checkInputs, describeDataset, prepareTargets } from './dataset.js';
import { DEFAULT_MICRO_BATCH_SIZE, type Sequential } from './sequential.js';

/** For tests only: a fault that one gradient task of batch `batch` in epoch `epoch` raises. */
export interface TestFault {
  kind: TestFaultKind;
  /** Epoch and batch index, counted from 0. */
  epoch: number;
  batch: number;
}

export interface FitArgs {
  /** Number of passes over the training data; default 1. */
  epochs?: number;
  /** Samples per gradient step; default 32, as in Keras. */
  batchSize?: number;
  /** Reshuffle the training samples before each epoch; default true. */
  shuffle?: boolean;
  /**
   * Fraction of the samples held out for validation. As in Keras, the LAST samples (before
   * any shuffling) are held out, so put data in random order first if it is sorted, or set
   * validationSplitShuffle.
   */
  validationSplit?: number;
  /**
   * Hold out a seeded random, class-stratified draw of the same size instead of the last
   * samples (see trainValidationSplit in src/data/split.ts); default false. The draw uses
   * `seed`, so it is the same on every run and thread count.
   */
  validationSplitShuffle?: boolean;
  /** Explicit validation data [x, y]; takes precedence over validationSplit. */
  validationData?: [Tensor, Tensor];
  /** Seed of shuffling and dropout; default 0. */
  seed?: number;
  /**
   * Hooks called around training, each epoch and each batch, in list order (see Callback).
   * A callback ends training by setting `model.stopTraining = true`. Set in onBatchEnd, it skips
   * the rest of the epoch, which still ends with validation and onEpochEnd. Set in onEpochBegin,
   * it skips that whole epoch. Set in onEpochEnd, it keeps the next epoch from starting.
   */
  callbacks?: Callback | Callback[];
  /** Worker threads; default the number of cores; 0 runs on the calling thread. */
  threads?: number;
  /** Samples per micro-batch, the unit of work of one task; default 16. Results depend on it. */
  microBatchSize?: number;
  /**
   * Random affine augmentation of the training samples, which must be [H, W, C] images. Give
   * an object of ranges (AugmentOptions), or true for MNIST_AUGMENT: rotation 10 degrees,
   * shifts 0.1, zoom 0.1 and no shear. Default off. A sample's transform depends only on the
   * seed, the epoch and its index, so results are the same for any thread count. Validation
   * data is never augmented.
   */
  augment?: boolean | AugmentOptions;
  /**
   * Stop with a NonFiniteError, before the optimizer step, when a batch's loss or gradient is
   * NaN or infinite; default true. With false, training goes on and the history shows the NaN.
   */
  stopOnNonFinite?: boolean;
  /**
   * For tests only: makes a worker fail on purpose ('throw' an error, or 'exit' its thread), to
   * exercise the WorkerError path. Never set it in real training.
   */
  testFault?: TestFault;
  /**
   * Directory to write checkpoint.bin to, replacing it atomically: at the end of every epoch,
   * and every `checkpointEvery` batches within an epoch when that is set.
   */
  checkpointDir?: string;
  /** Batches between checkpoints within an epoch; default none, only at the end of each epoch. */
  checkpointEvery?: number;
  /**
   * When `stopTraining` ends the loop within an epoch, also write a checkpoint at the batch
   * reached, so a resume continues from there; default false. Needs checkpointDir. The cut-short
   * epoch then gets no validation, history entry or onEpochEnd: the resumed run finishes it and
   * records it once.
   */
  checkpointOnStop?: boolean;
  /**
   * Checkpoint directory to resume from. The model must have the checkpoint's layers and
   * optimizer and be compiled; its weights and optimizer state are replaced. fit() continues
   * until `epochs` epochs in total, and the result is bit-identical to one uninterrupted run
   * for any thread count. batchSize, microBatchSize, seed, validationSplit, shuffle, backend,
   * the sample counts and the sha256 of x and y (and of validationData) must be as in the checkpointed run, and so must
   * the optimizer's settings except its learning rate. The learning rate is restored from the
   * checkpoint, like the optimizer state, because callbacks such as LearningRateScheduler may
   * have changed it. Callbacks that implement getCheckpointState (EarlyStopping, ModelCheckpoint,
   * ReduceLROnPlateau) get their state back, and must be the same classes in the same order.
   */
  resumeFrom?: string;
  /**
   * Settings of the caller, such as command-line options, that a checkpoint records and a resume
   * must match, as JSON values; default none. train.js records --lr, --lr-schedule and
   * --early-stopping there.
   */
  runSettings?: Record<string, unknown>;
}

function checkTestFault(value: unknown): TestFault | undefined {
  if (value === undefined) return undefined;
  const fault = value as Partial<TestFault>;
  const valid =
    typeof value === 'object' &&
    value !== null &&
    (fault.kind === 'throw' || fault.kind === 'exit') &&
    Number.isInteger(fault.epoch) &&
    Number.isInteger(fault.batch);
  if (!valid) {
    throw new TypeError(`fit(): testFault must be { kind: 'throw' | 'exit', epoch: integer, batch: integer }, got ${formatValue(value)}.`);
  }
  return fault as TestFault;
}

/** Builds the NonFiniteError for a batch whose loss sum or gradient is not finite. */
function nonFiniteError(model: Sequential, epoch: number, batch: number, loss: number, firstNonFiniteParam: number): NonFiniteError {
  const entry = firstNonFiniteParam < 0 ? undefined : model.paramEntries.find((e) => e.offset <= firstNonFiniteParam && firstNonFiniteParam < e.offset + e.size);
  const layer = entry === undefined ? null : entry.layer.name;
  const gradient =
    entry === undefined
      ? 'every gradient is finite'
      : `the first layer with a non-finite gradient is '${entry.layer.name}' (${entry.name}, element ${firstNonFiniteParam - entry.offset})`;
  return new NonFiniteError(
    `fit(): non-finite values at epoch ${epoch}, batch ${batch} (counted from 0): the loss is ${loss} and ${gradient}. ` +
      'Training stopped before this optimizer step. Lower the learning rate or check the weights and data, or set stopOnNonFinite to false (train.js: --no-stop-on-nan) to keep going.',
    epoch,
    batch,
    layer,
    loss,
  );
}

function checkIntOption(value: unknown, option: string, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new RangeError(`fit(): ${option} must be an integer >= ${min}, got ${formatValue(value)}.`);
  }
  return value;
}

export async function runFit(model: Sequential, x: Tensor, y: Tensor, args: FitArgs): Promise<History> {
  model.requireCompiled('fit');
  const disposals = model.beginFit();
  let history: History;
  try {
    history = await fitLoop(model, x, y, args);
  } catch (error) {
    // When dispose() tore the worker pool down under the running fit, say so instead of
    // passing on the pool's termination error.
    if (model.endFit(disposals)) {
      throw new StateError(`dispose() was called on model '${model.name}' while fit() was running; training stopped.`, { cause: error });
    }
    // A pool with a failed worker is not reused: close it (a pool given to usePool() stays
    // open for its owner to close).
    if (error instanceof WorkerError) await model.dispose();
    throw error;
  }
  model.endFit(disposals);
  return history;
}

function checkPath(value: unknown, option: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new TypeError(`fit(): ${option} must be a non-empty directory path, got ${formatValue(value)}.`);
  return value;
}

/** Compares the checkpoint with the model and fit settings, then copies its state into the model. */
function restoreCheckpoint(model: Sequential, dir: string, checkpoint: Checkpoint, settings: CheckpointSettings): void {
  const { meta } = checkpoint;
  const where = `Cannot resume from checkpoint ${join(dir, CHECKPOINT_FILE)}`;
  const mismatch = (what: string, saved: unknown, current: unknown): never => {
    throw new CheckpointError(`${where}: ${what} is ${formatValue(current)} but the checkpoint has ${formatValue(saved)}. Resume with the model, data and fit settings of the checkpointed run.`);
  };
  if (JSON.stringify(meta.topology) !== JSON.stringify(describeTopology(model))) {
    mismatch('the model topology', meta.topology, describeTopology(model));
  }
  const optimizer = model.optimizer;
  if (optimizer === null) throw new Error('unreachable: compiled model without optimizer');
  // The learning rate is training state, which callbacks may change, so it is restored below
  // instead of compared.
  const { learningRate: savedRate, ...savedConfig } = meta.optimizer.config;
  const { learningRate: _currentRate, ...currentConfig } = optimizer.configWithClipping();
  const saved = { className: meta.optimizer.className, config: savedConfig };
  const current = { className: optimizer.className, config: currentConfig };
  if (JSON.stringify(saved) !== JSON.stringify(current)) mismatch('the optimizer', saved, current);
  if (typeof savedRate !== 'number' || !Number.isFinite(savedRate) || savedRate < 0) {
    throw new CheckpointError(`${where}: the checkpoint's learning rate is ${formatValue(savedRate)}, expected a finite number >= 0. Train again without resuming to write a new checkpoint.`);
  }
  for (const key of Object.keys(settings) as (keyof CheckpointSettings)[]) {
    const what = key === 'dataSha256' ? 'the sha256 of x, y and validationData' : key;
    if (meta.settings[key] !== settings[key]) mismatch(what, meta.settings[key], settings[key]);
  }
  const weights = model.flatWeights;
  const state = model.optimizerStateArray;
  if (checkpoint.weights.length !== weights.length || checkpoint.optimizerState.length !== state.length) {
    mismatch('the weight and optimizer state size', [checkpoint.weights.length, checkpoint.optimizerState.length], [weights.length, state.length]);
  }
  weights.set(checkpoint.weights);
  state.set(checkpoint.optimizerState);
  model.optimizerStepCount = meta.optimizer.step;
  optimizer.learningRate = savedRate;
}

/**
 * Gives each stateful callback its state from the checkpoint. The stateful callbacks must be
 * of the same classes, in the same order, as in the checkpointed run.
 */
function restoreCallbackStates(dir: string, checkpoint: Checkpoint, stateful: Callback[]): void {
  const saved = checkpoint.meta.callbacks.map((c) => c.className);
  const current = stateful.map((cb) => cb.constructor.name);
  if (JSON.stringify(saved) !== JSON.stringify(current)) {
    throw new CheckpointError(
      `Cannot resume from checkpoint ${join(dir, CHECKPOINT_FILE)}: the callbacks with state are ${formatValue(current)} but the checkpoint has ${formatValue(saved)}. Resume with the callbacks of the checkpointed run.`,
    );
  }
  stateful.forEach((cb, i) => cb.setCheckpointState?.({ values: checkpoint.meta.callbacks[i].values, arrays: checkpoint.callbackArrays[i] }));
}

/** Returns runSettings, checking that it is a plain object of JSON values or undefined. */
function checkRunSettings(value: unknown): Record<string, unknown> | null {
  if (value === undefined) return null;
  const plain = typeof value === 'object' && value !== null && !Array.isArray(value);
  let json: string | undefined;
  try {
    json = plain ? JSON.stringify(value) : undefined;
  } catch {
    json = undefined;
  }
  if (json === undefined || JSON.stringify(JSON.parse(json)) !== json) {
    throw new TypeError(`fit(): runSettings must be an object of JSON values, got ${formatValue(value)}.`);
  }
  return value as Record<string, unknown>;
}

/** Returns fit's callbacks as a list, checking that each is an object. */
function checkCallbacks(value: unknown): Callback[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  list.forEach((callback, i) => {
    if (callback === null || typeof callback !== 'object') {
      const where = Array.isArray(value) ? `callbacks[${i}]` : 'callbacks';
      throw new TypeError(`fit(): ${where} must be an object with hooks such as onEpochEnd, got ${formatValue(callback)}.`);
    }
  });
  return list as Callback[];
}

/**
 * Returns the learning rate that the next batch uses. Callbacks may set optimizer.learningRate
 * between batches, so it is checked before every batch.
 */
function checkLearningRate(value: unknown, epoch: number, batch: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new ValueError(`fit(): the optimizer's learningRate is ${formatValue(value)} at epoch ${epoch}, batch ${batch} (counted from 0); a callback or schedule must set a finite number >= 0.`);
  }
  return value;
}

async function fitLoop(model: Sequential, x: Tensor, y: Tensor, args: FitArgs): Promise<History> {
  const loss = model.requireCompiled('fit');
  const epochs = checkIntOption(args.epochs ?? 1, 'epochs', 0);
  const batchSize = checkIntOption(args.batchSize ?? 32, 'batchSize', 1);
  const microBatchSize = checkIntOption(args.microBatchSize ?? DEFAULT_MICRO_BATCH_SIZE, 'microBatchSize', 1);
  const stopOnNonFinite = args.stopOnNonFinite ?? true;
  if (typeof stopOnNonFinite !== 'boolean') {
    throw new TypeError(`fit(): stopOnNonFinite must be a boolean, got ${formatValue(stopOnNonFinite)}.`);
  }
  const testFault = checkTestFault(args.testFault);
  const augment = resolveAugment(args.augment, 'fit()');
  const checkpointDir = checkPath(args.checkpointDir, 'checkpointDir');
  const resumeFrom = checkPath(args.resumeFrom, 'resumeFrom');
  const checkpointEvery = args.checkpointEvery === undefined ? undefined : checkIntOption(args.checkpointEvery, 'checkpointEvery', 1);
  if (checkpointEvery !== undefined && checkpointDir === undefined) {
    throw new ValueError('fit(): checkpointEvery needs checkpointDir, the directory to write checkpoints to.');
  }
  const checkpointOnStop = args.checkpointOnStop ?? false;
  if (typeof checkpointOnStop !== 'boolean') {
    throw new TypeError(`fit(): checkpointOnStop must be a boolean, got ${formatValue(checkpointOnStop)}.`);
  }
  if (checkpointOnStop && checkpointDir === undefined) {
    throw new ValueError('fit(): checkpointOnStop needs checkpointDir, the directory to write checkpoints to.');
  }
  // Read and verify the checkpoint before any worker starts.
  const checkpoint = resumeFrom === undefined ? null : await readCheckpoint(resumeFrom);
  const validationSplit = args.validationSplit ?? 0;
  if (typeof validationSplit !== 'number' || !(validationSplit >= 0 && validationSplit < 1)) {
    throw new RangeError(`fit(): validationSplit must be a number in [0, 1), got ${formatValue(validationSplit)}.`);
  }
  const first = model.layers[0];
  const last = model.layers[model.layers.length - 1];
  const count = checkInputs(x, first);
  const targets = prepareTargets(y, count, last, loss);
  const targetWidth = targets.length / count;

  let trainCount = count;
  let validation: ReturnType<typeof describeDataset> | null = null;
  let validationCount = 0;
  const shared = x.toShared();
  let trainX = shared;
  let trainTargets = targets;
  const validationSplitShuffle = args.validationSplitShuffle ?? false;
  if (typeof validationSplitShuffle !== 'boolean') {
    throw new TypeError(`fit(): validationSplitShuffle must be a boolean, got ${formatValue(validationSplitShuffle)}.`);
  }
  // Arrays whose sha256 a checkpoint records, so that a resume on other data is rejected.
  const hashed: Float32Array[] = [x.data, targets];
  if (args.validationData !== undefined) {
    const [vx, vy] = args.validationData;
    validationCount = checkInputs(vx, first, 'validationData[0]');
    const vTargets = prepareTargets(vy, validationCount, last, loss, 'validationData[1]');
    validation = describeDataset(vx, vTargets, targetWidth, null);
    hashed.push(vx.data, vTargets);
  } else if (validationSplit > 0) {
    // Keras: split_at = floor(N * (1 - validationSplit)); the tail is validation.
    trainCount = Math.floor(count * (1 - validationSplit));
    validationCount = count - trainCount;
    if (trainCount === 0 || validationCount === 0) {
      throw new ValueError(`fit(): validationSplit ${validationSplit} of ${count} samples leaves ${trainCount} for training and ${validationCount} for validation; both need at least one.`);
    }
    if (validationSplitShuffle) {
      const indices = splitIndices(count, validationCount, args.seed ?? 0, classesOf(targets, targetWidth));
      trainX = gatherRows(shared, indices.train);
      trainTargets = gatherRows(new Tensor(targets, [count, targetWidth]), indices.train).data;
      const vx = gatherRows(shared, indices.validation);
      const vTargets = gatherRows(new Tensor(targets, [count, targetWidth]), indices.validation).data;
      validation = describeDataset(vx, vTargets, targetWidth, null);
    } else {
      trainX = shared.slice(0, trainCount);
      trainTargets = targets.subarray(0, trainCount * targetWidth);
      validation = describeDataset(shared.slice(trainCount, count), targets.subarray(trainCount * targetWidth), targetWidth, null);
    }
  }

  const order = new Int32Array(new SharedArrayBuffer(trainCount * Int32Array.BYTES_PER_ELEMENT));
  const train = describeDataset(trainX, trainTargets, targetWidth, order);
  train.augment = augmentSpec(augment, first.inputShape, 'fit()');
  const runner = model.getRunner(args.threads, Math.min(batchSize, trainCount), microBatchSize);
  const optimizer = model.optimizer;
  if (optimizer === null) throw new Error('unreachable: compiled model without optimizer');

  const callbacks = checkCallbacks(args.callbacks);
  // Keras 3 adds learning_rate to the epoch logs when a LearningRateScheduler or
  // ReduceLROnPlateau runs; callbacks that set recordsLearningRate ask for the same.
  const recordLearningRate = callbacks.some((cb) => cb.recordsLearningRate === true);
  const history = new History();
  const stepsPerEpoch = Math.ceil(trainCount / batchSize);
  history.params = { epochs, batchSize, samples: trainCount, validationSamples: validationCount, steps: stepsPerEpoch, threads: runner.threads, microBatchSize };
  const seed = args.seed ?? 0;
  const rng = new Rng(seed);
  const shuffle = args.shuffle ?? true;
  const checkpointing = checkpointDir !== undefined || checkpoint !== null;
  const dataSha256 = checkpointing ? hashArrays(hashed) : '';
  const settings: CheckpointSettings = {
    batchSize,
    microBatchSize,
    seed,
    validationSplit,
    validationSplitShuffle,
    shuffle,
    backend: getBackend(),
    trainCount,
    validationCount,
    dataSha256,
    augment: JSON.stringify(augment),
    runSettings: JSON.stringify(checkRunSettings(args.runSettings)),
  };
  if (args.validationData !== undefined) {
    settings.validationSplit = 0;
    settings.validationSplitShuffle = false;
  }
  model.stopTraining = false;

  // Position of the next batch; a resumed run starts at the checkpoint's position.
  let firstEpoch = 0;
  let firstBatch = 0;
  let partial = { lossSum: 0, correct: 0, seen: 0 };
  if (checkpoint !== null && resumeFrom !== undefined) {
    restoreCheckpoint(model, resumeFrom, checkpoint, settings);
    const { meta } = checkpoint;
    rng.setState(meta.rngState);
    firstEpoch = meta.epoch;
    firstBatch = meta.batch;
    partial = { ...meta.partial };
    meta.history.epoch.forEach((epoch, i) => {
      history.record(epoch, Object.fromEntries(Object.entries(meta.history.history).map(([key, values]) => [key, values[i]])));
    });
  }

  // Callbacks whose state checkpoints carry, such as EarlyStopping's best value and weights.
  const stateful = callbacks.filter((cb) => typeof cb.getCheckpointState === 'function');
  const saveCheckpoint = async (epoch: number, batch: number, rngState: number, sums: typeof partial): Promise<void> => {
    if (checkpointDir === undefined) return;
    const states = stateful.map((cb) => (cb.getCheckpointState as () => CallbackState)());
    await writeCheckpoint(checkpointDir, {
      meta: {
        topology: describeTopology(model),
        weightCount: model.flatWeights.length,
        optimizer: { className: optimizer.className, config: optimizer.configWithClipping(), stateCount: model.optimizerStateArray.length, step: model.optimizerStepCount },
        rngState,
        epoch,
        batch,
        partial: sums,
        settings,
        history: { epoch: history.epoch, history: history.history },
        callbacks: states.map((state, i) => ({ className: stateful[i].constructor.name, values: state.values, arrayLengths: state.arrays.map((a) => a.length) })),
      },
      weights: model.flatWeights,
      optimizerState: model.optimizerStateArray,
      callbackArrays: states.map((state) => state.arrays),
    });
  };

  for (const cb of callbacks) {
    cb.setModel?.(model);
    cb.setParams?.(history.params);
  }
  for (const cb of callbacks) await cb.onTrainBegin?.({});
  if (checkpoint !== null && resumeFrom !== undefined) restoreCallbackStates(resumeFrom, checkpoint, stateful);
  let lastLogs: Logs = {};
  for (let epoch = firstEpoch; epoch < epochs && !model.stopTraining; epoch++) {
    for (const cb of callbacks) await cb.onEpochBegin?.(epoch, {});
    // A stop requested at the start of an epoch skips the whole epoch.
    if (model.stopTraining) break;
    // The shuffle and the dropout seed are the Rng's first draws of the epoch, so its state
    // here is all a checkpoint needs to regenerate them.
    const epochRngState = rng.getState();
    for (let i = 0; i < trainCount; i++) order[i] = i;
    if (shuffle) rng.shuffle(order);
    const epochSeed = rng.nextUint32();
    const resuming = epoch === firstEpoch;
    let lossSum = resuming ? partial.lossSum : 0;
    let correct = resuming ? partial.correct : 0;
    let seen = resuming ? partial.seen : 0;
    for (let batch = resuming ? firstBatch : 0; batch < stepsPerEpoch && !model.stopTraining; batch++) {
      const start = batch * batchSize;
      const size = Math.min(batchSize, trainCount - start);
      for (const cb of callbacks) await cb.onBatchBegin?.(batch, { batch, size });
      const learningRate = checkLearningRate(optimizer.learningRate, epoch, batch);
      const result = await runner.trainBatch({
        dataset: train,
        orderOffset: start,
        batchSize: size,
        epoch,
        batch,
        seed: epochSeed,
        step: model.optimizerStepCount + 1,
        learningRate,
        stopOnNonFinite,
        fault: testFault !== undefined && testFault.epoch === epoch && testFault.batch === batch ? testFault.kind : undefined,
      });
      if (stopOnNonFinite && (result.firstNonFiniteParam >= 0 || !Number.isFinite(result.lossSum))) {
        // The runner skipped this step, so the step count stays where it was.
        throw nonFiniteError(model, epoch, batch, result.lossSum / size, result.firstNonFiniteParam);
      }
      model.nextOptimizerStep();
      lossSum += result.lossSum;
      correct += result.correct;
      seen += size;
      const batchLogs: Logs = { batch, size, loss: result.lossSum / size, accuracy: result.correct / size };
      // The end-of-epoch checkpoint covers the last batch.
      const midEpoch = batch + 1 < stepsPerEpoch;
      const scheduled = checkpointEvery !== undefined && (batch + 1) % checkpointEvery === 0 && midEpoch;
      if (scheduled) await saveCheckpoint(epoch, batch + 1, epochRngState, { lossSum, correct, seen });
      for (const cb of callbacks) await cb.onBatchEnd?.(batch, batchLogs);
      if (checkpointOnStop && model.stopTraining && midEpoch && !scheduled) {
        await saveCheckpoint(epoch, batch + 1, epochRngState, { lossSum, correct, seen });
      }
    }
    const complete = seen === trainCount;
    // An epoch that a resumable stop cut short is not recorded: the resumed run finishes it and
    // records it then, so logs and callbacks see each epoch once.
    if (!complete && checkpointOnStop) break;
    // Train metrics are means over the samples this epoch trained on, as Keras reports them.
    const logs: Logs = { loss: lossSum / seen, accuracy: correct / seen };
    if (validation !== null) {
      const v = await runner.evaluate(validation);
      logs.val_loss = v.lossSum / validationCount;
      logs.val_accuracy = v.correct / validationCount;
    }
    // The rate of the epoch's last batch, before any onEpochEnd hook changes it.
    if (recordLearningRate) logs.learning_rate = optimizer.learningRate;
    history.record(epoch, logs);
    for (const cb of callbacks) await cb.onEpochEnd?.(epoch, logs);
    lastLogs = logs;
    // Written after onEpochEnd, so that callback state includes this epoch. An epoch cut short
    // by stopTraining is not complete; its last mid-epoch checkpoint stays.
    if (complete) await saveCheckpoint(epoch + 1, 0, rng.getState(), { lossSum: 0, correct: 0, seen: 0 });
  }
  // As in Keras 3, onTrainEnd receives the logs of the last epoch that ran.
  for (const cb of callbacks) await cb.onTrainEnd?.({ ...lastLogs });
  return history;
}
