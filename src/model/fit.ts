/**
 * The fit() loop: epochs of shuffled batches on the parallel runner, validation after each
 * epoch, callbacks around every batch and epoch.
 *
 * The loop emits events through callbacks and never prints. Randomness comes from one Rng
 * seeded by `seed`: the epoch shuffle and a per-epoch dropout seed are drawn from it, so a
 * seeded run is reproducible for any thread count.
 */
import { Rng } from '../core/random.js';
import type { Tensor } from '../core/tensor.js';
import type { TestFaultKind } from '../coordinator/messages.js';
import { NonFiniteError, StateError, ValueError, WorkerError, formatValue } from '../errors.js';
import { type Callback, History, type Logs } from './callbacks.js';
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
   * any shuffling) are held out, so put data in random order first if it is sorted.
   */
  validationSplit?: number;
  /** Explicit validation data [x, y]; takes precedence over validationSplit. */
  validationData?: [Tensor, Tensor];
  /** Seed of shuffling and dropout; default 0. */
  seed?: number;
  callbacks?: Callback | Callback[];
  /** Worker threads; default the number of cores; 0 runs on the calling thread. */
  threads?: number;
  /** Samples per micro-batch, the unit of work of one task; default 16. Results depend on it. */
  microBatchSize?: number;
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
  const entry = firstNonFiniteParam < 0 ? undefined : model.paramEntries.find((e) => firstNonFiniteParam < e.offset + e.size);
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
  if (args.validationData !== undefined) {
    const [vx, vy] = args.validationData;
    validationCount = checkInputs(vx, first, 'validationData[0]');
    const vTargets = prepareTargets(vy, validationCount, last, loss, 'validationData[1]');
    validation = describeDataset(vx, vTargets, targetWidth, null);
  } else if (validationSplit > 0) {
    // Keras: split_at = floor(N * (1 - validationSplit)); the tail is validation.
    trainCount = Math.floor(count * (1 - validationSplit));
    validationCount = count - trainCount;
    if (trainCount === 0 || validationCount === 0) {
      throw new ValueError(`fit(): validationSplit ${validationSplit} of ${count} samples leaves ${trainCount} for training and ${validationCount} for validation; both need at least one.`);
    }
    validation = describeDataset(shared.slice(trainCount, count), targets.subarray(trainCount * targetWidth), targetWidth, null);
  }

  const order = new Int32Array(new SharedArrayBuffer(trainCount * Int32Array.BYTES_PER_ELEMENT));
  const train = describeDataset(shared.slice(0, trainCount), targets.subarray(0, trainCount * targetWidth), targetWidth, order);
  const runner = model.getRunner(args.threads, Math.min(batchSize, trainCount), microBatchSize);
  const optimizer = model.optimizer;
  if (optimizer === null) throw new Error('unreachable: compiled model without optimizer');

  const callbacks = args.callbacks === undefined ? [] : Array.isArray(args.callbacks) ? args.callbacks : [args.callbacks];
  const history = new History();
  const stepsPerEpoch = Math.ceil(trainCount / batchSize);
  history.params = { epochs, batchSize, samples: trainCount, validationSamples: validationCount, steps: stepsPerEpoch, threads: runner.threads, microBatchSize };
  const rng = new Rng(args.seed ?? 0);
  const shuffle = args.shuffle ?? true;
  model.stopTraining = false;

  for (const cb of callbacks) await cb.onTrainBegin?.({});
  for (let epoch = 0; epoch < epochs && !model.stopTraining; epoch++) {
    for (const cb of callbacks) await cb.onEpochBegin?.(epoch, {});
    for (let i = 0; i < trainCount; i++) order[i] = i;
    if (shuffle) rng.shuffle(order);
    const epochSeed = rng.nextUint32();
    let lossSum = 0;
    let correct = 0;
    let seen = 0;
    for (let batch = 0; batch < stepsPerEpoch && !model.stopTraining; batch++) {
      const start = batch * batchSize;
      const size = Math.min(batchSize, trainCount - start);
      for (const cb of callbacks) await cb.onBatchBegin?.(batch, { batch, size });
      const result = await runner.trainBatch({
        dataset: train,
        orderOffset: start,
        batchSize: size,
        epoch,
        batch,
        seed: epochSeed,
        step: model.nextOptimizerStep(),
        learningRate: optimizer.learningRate,
        stopOnNonFinite,
        fault: testFault !== undefined && testFault.epoch === epoch && testFault.batch === batch ? testFault.kind : undefined,
      });
      if (stopOnNonFinite && (result.firstNonFiniteParam >= 0 || !Number.isFinite(result.lossSum))) {
        throw nonFiniteError(model, epoch, batch, result.lossSum / size, result.firstNonFiniteParam);
      }
      lossSum += result.lossSum;
      correct += result.correct;
      seen += size;
      const batchLogs: Logs = { batch, size, loss: result.lossSum / size, accuracy: result.correct / size };
      for (const cb of callbacks) await cb.onBatchEnd?.(batch, batchLogs);
    }
    // Train metrics are means over the samples this epoch trained on, as Keras reports them.
    const logs: Logs = { loss: lossSum / seen, accuracy: correct / seen };
    if (validation !== null) {
      const v = await runner.evaluate(validation);
      logs.val_loss = v.lossSum / validationCount;
      logs.val_accuracy = v.correct / validationCount;
    }
    history.record(epoch, logs);
    for (const cb of callbacks) await cb.onEpochEnd?.(epoch, logs);
  }
  for (const cb of callbacks) await cb.onTrainEnd?.({});
  return history;
}
