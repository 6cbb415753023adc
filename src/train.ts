#!/usr/bin/env node
/**
 * train.js: trains the Keras MNIST CNN on MNIST with worker-thread data parallelism, then
 * evaluates it on the samples it trained on, the validation split and the test set.
 * `--help` lists the options.
 */
import { open, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { CSVLogger, EarlyStopping, LearningRateScheduler, cosineDecay, stepDecay } from './callbacks/index.js';
import { InterruptHandler, SIGNAL_EXIT_CODES, resumeCommand } from './cli/interrupts.js';
import { LR_SCHEDULE_DEFAULTS, parseTrainOptions, UsageError, type TrainOptions } from './cli/options.js';
import { ProgressLogger, formatMetric } from './cli/progress.js';
import { makeDirectory } from './core/make-directory.js';
import { Tensor } from './core/tensor.js';
import { DataFormatError, DatasetMissingError } from './data/errors.js';
import { type MnistSplit, loadMnist, renderDownloadProgress } from './data/mnist.js';
import { trainValidationSplit } from './data/split.js';
import { CheckpointError, NonFiniteError, ShapeError, StateError, ValueError, WorkerError } from './errors.js';
import { getBackend, setBackend } from './gemm/backend.js';
import type { Callback, Logs } from './model/callbacks.js';
import { type Checkpoint, readCheckpoint } from './model/checkpoint.js';
import { saveModel } from './model/save.js';
import { mnistCnn } from './models/mnist-cnn.js';
import { createOptimizer } from './optim/index.js';
import { misclassifiedIndices, predictedClasses } from './report/confusion.js';
import { misclassifiedDigits } from './report/digits.js';
import { REPORT_CLASSES } from './report/html.js';
import { writeReport } from './report/write.js';

interface SplitMetrics {
  loss: number;
  accuracy: number;
  samples: number;
}

function toTensors(split: MnistSplit, start: number, end: number): { x: Tensor; y: Tensor } {
  const x = new Tensor(split.images.subarray(start * 784, end * 784), [end - start, 28, 28, 1]);
  const y = new Tensor(Float32Array.from(split.labels.subarray(start, end)), [end - start]);
  return { x, y };
}

/**
 * Creates the --save directory before training, so that a path that cannot hold the model
 * fails in a second instead of after the whole run.
 */
async function prepareSaveDir(dir: string, option = '--save'): Promise<void> {
  try {
    await makeDirectory(dir);
    await checkNotVirtual(dir);
    // Permission bits do not tell (root passes access() checks on /proc and /sys), so a file is
    // created and removed.
    const probe = join(dir, `.shardnet-write-test-${process.pid}`);
    await writeFile(probe, 'x', { flag: 'wx' });
    await rm(probe, { force: true });
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new UsageError(`${option} ${dir}: cannot create or write this directory (${reason}); give a writable directory path.`, 2);
  }
}

/** Linux file systems that only look like files: procfs and sysfs (statfs magic numbers). */
const VIRTUAL_FILE_SYSTEMS = new Set([0x9fa0, 0x62656572]);

/** Throws when `path` lies on procfs or sysfs, where writes fail or do something else. */
async function checkNotVirtual(path: string): Promise<void> {
  const info = await statfs(path).catch(() => null);
  if (info !== null && VIRTUAL_FILE_SYSTEMS.has(info.type)) throw new Error('on /proc or /sys, which hold no files');
}

/** Checks before training that the --csv-log file can be written: its directory exists and it is no directory. */
async function checkCsvLogPath(path: string): Promise<void> {
  const fail = (problem: string): never => {
    throw new UsageError(`--csv-log ${path}: ${problem}; give a file path in an existing, writable directory.`, 2);
  };
  const parent = dirname(resolve(path));
  const parentInfo = await stat(parent).catch(() => null);
  if (parentInfo === null || !parentInfo.isDirectory()) fail(`the directory ${parent} does not exist`);
  const existing = await stat(path).catch(() => null);
  if (existing !== null && !existing.isFile()) fail('it is not a regular file');
  try {
    await checkNotVirtual(parent);
    // Opening for append creates nothing new and changes no byte of an existing file.
    const handle = await open(path, existing === null ? 'wx' : 'a');
    await handle.close();
    if (existing === null) await rm(path, { force: true });
  } catch (error) {
    fail(`it is not writable (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** Reads and verifies the --resume checkpoint before the data is loaded. */
async function readResumeCheckpoint(dir: string): Promise<Checkpoint> {
  try {
    return await readCheckpoint(dir);
  } catch (error) {
    if (error instanceof CheckpointError) throw new UsageError(`--resume ${dir}: ${error.message}`, 2);
    throw error;
  }
}

/** Writes to stderr where an interrupted run stopped and the command line that resumes it. */
async function reportInterrupt(signal: string, options: TrainOptions, argv: string[]): Promise<void> {
  const dir = options.checkpointDir;
  if (dir === undefined) {
    process.stderr.write(`train.js: training stopped by ${signal}. No checkpoint was written because --checkpoint-dir is not set, so a new run starts from the beginning.\n`);
    return;
  }
  let checkpoint: Checkpoint;
  try {
    checkpoint = await readCheckpoint(dir);
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    process.stderr.write(`train.js: training stopped by ${signal} before a checkpoint was written (${error.message})\n`);
    return;
  }
  const { epoch, batch } = checkpoint.meta;
  const position = batch === 0 ? `the start of epoch ${epoch + 1}` : `epoch ${epoch + 1} after batch ${batch}`;
  process.stderr.write(
    `train.js: training stopped by ${signal}. The checkpoint in ${dir} is at ${position}. ` +
      `Resume with:\n  ${resumeCommand(argv, dir)}\n`,
  );
}

/**
 * Returns the callbacks of --lr-schedule, --early-stopping and --csv-log, in that order, so the
 * CSV rows include learning_rate and the early stop checks each epoch before its row is written.
 */
function optionCallbacks(options: TrainOptions, initialRate: number, earlyStopping: EarlyStopping | null): Callback[] {
  const callbacks: Callback[] = [];
  if (options.lrSchedule === 'step') callbacks.push(new LearningRateScheduler(stepDecay(initialRate, LR_SCHEDULE_DEFAULTS.stepEvery, LR_SCHEDULE_DEFAULTS.stepFactor)));
  if (options.lrSchedule === 'cosine') callbacks.push(new LearningRateScheduler(cosineDecay(initialRate, options.epochs)));
  if (earlyStopping !== null) callbacks.push(earlyStopping);
  // A resumed run appends to the rows of the run it continues.
  if (options.csvLog !== undefined) callbacks.push(new CSVLogger(options.csvLog, { append: options.resume !== undefined }));
  return callbacks;
}

async function train(options: TrainOptions, argv: string[], interrupts: InterruptHandler): Promise<number> {
  const log = options.json ? process.stderr : process.stdout;
  const print = (line: string) => log.write(`${line}\n`);

  if (options.save !== undefined) await prepareSaveDir(options.save);
  if (options.report !== undefined) await prepareSaveDir(options.report, '--report');
  if (options.checkpointDir !== undefined) await prepareSaveDir(options.checkpointDir, '--checkpoint-dir');
  if (options.csvLog !== undefined) await checkCsvLogPath(options.csvLog);
  const resumed = options.resume === undefined ? null : await readResumeCheckpoint(options.resume);
  if (resumed !== null && resumed.meta.epoch >= options.epochs) {
    print(`The checkpoint in ${options.resume} is at epoch ${resumed.meta.epoch} of --epochs ${options.epochs}, so no epoch is left to train; give a larger --epochs to train more.`);
  }
  const data = await loadMnist({
    dataDir: options.data,
    download: options.download,
    mirrors: options.mirror === undefined ? undefined : [options.mirror],
    onProgress: (info) => renderDownloadProgress(info, process.stderr),
  });
  const available = data.train.count;
  const total = Math.min(options.limit ?? available, available);
  const trainCount = Math.floor(total * (1 - options.validationSplit));
  if (trainCount < 1 || (options.validationSplit > 0 && trainCount === total)) {
    throw new UsageError(`--validation-split ${options.validationSplit} of ${total} samples leaves no samples for training or validation; use more samples or another split.`, 2);
  }
  const all = toTensors(data.train, 0, total);
  const test = toTensors(data.test, 0, Math.min(options.testLimit ?? data.test.count, data.test.count));

  setBackend(options.backend);
  const model = mnistCnn({ seed: options.seed });
  const optimizer = createOptimizer(options.optimizer, {
    ...(options.lr === undefined ? {} : { learningRate: options.lr }),
    clipnorm: options.clipnorm,
    clipvalue: options.clipvalue,
  });
  model.compile({ optimizer, loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const summary: string[] = [];
  model.summary((line) => {
    summary.push(line);
    print(line);
  });
  // From here the first SIGINT or SIGTERM stops training after the current batch.
  interrupts.beginTraining(() => {
    model.stopTraining = true;
  });
  print(
    `Training on ${trainCount} samples, validating on ${total - trainCount}, testing on ${test.x.shape[0]}: ` +
      `epochs=${options.epochs} batch_size=${options.batchSize} threads=${options.threads} optimizer=${options.optimizer} ` +
      `lr=${optimizer.learningRate} seed=${options.seed} backend=${getBackend()} augment=${options.augment ? 'on' : 'off'}`,
  );

  const stepsPerEpoch = Math.ceil(trainCount / options.batchSize);
  const progress = new ProgressLogger({ epochs: options.epochs, stepsPerEpoch, batchSize: options.batchSize, stream: log });
  // fit() clears stopTraining when it starts, so a signal that came before is applied again.
  const reapplyStop: Callback = {
    onTrainBegin: () => {
      if (interrupts.signal !== null) model.stopTraining = true;
    },
  };
  const earlyStopping = options.earlyStopping === undefined ? null : new EarlyStopping({ monitor: 'val_loss', patience: options.earlyStopping, restoreBestWeights: true });
  const initialRate = optimizer.learningRate;
  const trainStart = performance.now();
  const history = await model.fit(all.x, all.y, {
    epochs: options.epochs,
    batchSize: options.batchSize,
    validationSplit: options.validationSplit,
    validationSplitShuffle: options.validationSplitShuffle,
    seed: options.seed,
    threads: options.threads,
    microBatchSize: options.microBatchSize,
    stopOnNonFinite: options.stopOnNan,
    callbacks: [progress, reapplyStop, ...optionCallbacks(options, initialRate, earlyStopping)],
    checkpointDir: options.checkpointDir,
    checkpointEvery: options.checkpointEvery,
    checkpointOnStop: options.checkpointDir !== undefined,
    resumeFrom: options.resume,
    augment: options.augment,
    // A resumed run must use the rate, schedule and early stopping of the run it continues. A
    // cosine schedule also depends on the number of epochs it spans.
    runSettings: {
      lr: options.lr ?? null,
      lrSchedule: options.lrSchedule ?? null,
      earlyStopping: options.earlyStopping ?? null,
      scheduleEpochs: options.lrSchedule === 'cosine' ? options.epochs : null,
    },
  });
  interrupts.endTraining();
  if (interrupts.signal !== null) {
    // The model is not fully trained, so it is neither evaluated nor saved.
    await model.dispose();
    await reportInterrupt(interrupts.signal, options, argv);
    return SIGNAL_EXIT_CODES[interrupts.signal];
  }
  const trainSeconds = (performance.now() - trainStart) / 1000;
  if (earlyStopping !== null && earlyStopping.stoppedEpoch >= 0) {
    print(`early stopping after epoch ${earlyStopping.stoppedEpoch + 1}; restored the weights of epoch ${earlyStopping.bestEpoch + 1} (val_loss ${formatMetric(earlyStopping.best as number)})`);
  }
  // A resumed run trains only the samples after the checkpoint's position.
  const samplesBefore = resumed === null ? 0 : resumed.meta.epoch * trainCount + resumed.meta.partial.seen;
  // history.epoch counts the epochs that ran, fewer than --epochs after an early stop.
  const samplesPerSecond = Math.max(0, trainCount * history.epoch.length - samplesBefore) / trainSeconds;

  const evaluateSplit = async (x: Tensor, y: Tensor): Promise<SplitMetrics> => {
    const result = await model.evaluate(x, y);
    return { ...result, samples: x.shape[0] };
  };
  // The same samples that fit() trained and validated on: the split depends only on the data,
  // the fraction and the seed.
  let trained = toTensors(data.train, 0, trainCount);
  let heldOut = total > trainCount ? toTensors(data.train, trainCount, total) : null;
  if (options.validationSplitShuffle && options.validationSplit > 0) {
    const split = trainValidationSplit(all.x, all.y, options.validationSplit, options.seed);
    trained = { x: split.train[0], y: split.train[1] };
    heldOut = { x: split.validation[0], y: split.validation[1] };
  }
  const final: Record<string, SplitMetrics | null> = {
    train: await evaluateSplit(trained.x, trained.y),
    validation: heldOut === null ? null : await evaluateSplit(heldOut.x, heldOut.y),
    test: await evaluateSplit(test.x, test.y),
  };
  const gap = (final.train as SplitMetrics).accuracy - (final.test as SplitMetrics).accuracy;
  for (const [name, m] of Object.entries(final)) {
    if (m !== null) print(`${name.padEnd(10)} loss: ${formatMetric(m.loss)} - accuracy: ${m.accuracy.toFixed(4)} (${m.samples} ${m.samples === 1 ? 'sample' : 'samples'})`);
  }
  print(`train-test accuracy gap: ${gap.toFixed(4)}`);
  print(`training: ${trainSeconds.toFixed(1)}s, ${Math.round(samplesPerSecond)} samples/s on ${options.threads} threads`);

  // The run's settings, as --json prints them and the report shows them.
  const settings = {
    epochs: options.epochs,
    batchSize: options.batchSize,
    optimizer: options.optimizer,
    learningRate: optimizer.learningRate,
    validationSplit: options.validationSplit,
    validationSplitShuffle: options.validationSplitShuffle,
    seed: options.seed,
    limit: options.limit ?? null,
    testLimit: options.testLimit ?? null,
    microBatchSize: options.microBatchSize,
    stopOnNan: options.stopOnNan,
    clipnorm: options.clipnorm ?? null,
    clipvalue: options.clipvalue ?? null,
    backend: getBackend(),
    augment: options.augment,
  };

  if (options.report !== undefined) {
    const predictions = predictedClasses((await model.predict(test.x)).data, REPORT_CLASSES);
    const misclassified = misclassifiedIndices(test.y.data, predictions);
    const path = await writeReport(options.report, {
      history: history.history,
      epochs: history.epoch.map((epoch) => epoch + 1),
      final: { train: final.train as SplitMetrics, validation: final.validation, test: final.test as SplitMetrics },
      testLabels: test.y.data,
      testPredictions: predictions,
      misclassified: misclassifiedDigits(misclassified, test.y.data, predictions, test.x.data),
      summary: summary.join('\n'),
      settings,
      throughput: { samplesPerSecond, trainSeconds, threads: options.threads },
      generatedAt: new Date().toISOString(),
    });
    print(`wrote report to ${path}`);
  }
  if (options.save !== undefined) {
    await saveModel(model, options.save);
    print(`saved model to ${options.save}`);
  }
  await model.dispose();

  if (options.json) {
    // rssMiB is null for the epochs that a resumed run took from its checkpoint.
    const epochs: (Logs | Record<string, number | null>)[] = history.epoch.map((epoch, i) => ({
      ...Object.fromEntries(Object.entries(history.history).map(([k, v]) => [k, v[i]])),
      rssMiB: progress.rssMiB.get(epoch) ?? null,
    }));
    const report = {
      epochs,
      final,
      trainTestAccuracyGap: gap,
      samplesPerSecond,
      trainSeconds,
      threads: options.threads,
      settings,
    };
    process.stdout.write(`${JSON.stringify(report)}\n`);
  }
  return 0;
}

/** Errors whose message is the whole story; anything else also gets its stack. */
const EXPECTED_ERRORS = [DataFormatError, DatasetMissingError, ShapeError, ValueError, StateError, WorkerError, NonFiniteError, CheckpointError];

export async function main(argv: string[]): Promise<number> {
  let options: TrainOptions;
  try {
    options = parseTrainOptions(argv, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.exitCode !== 0) process.stderr.write(`train.js: ${error.message} (see --help)\n`);
      return error.exitCode;
    }
    throw error;
  }
  const interrupts = new InterruptHandler(process.stderr);
  interrupts.install();
  try {
    return await train(options, argv, interrupts);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`train.js: ${error.message}\n`);
      return error.exitCode;
    }
    // A checkpoint that does not fit the options is a usage error, like a damaged one.
    if (error instanceof CheckpointError && options.resume !== undefined) {
      process.stderr.write(`train.js: --resume ${options.resume}: ${error.message}\n`);
      return 2;
    }
    // File-system errors (EISDIR, EACCES, ENOSPC...) carry a message that names the path.
    const systemError = typeof (error as NodeJS.ErrnoException).code === 'string' && (error as NodeJS.ErrnoException).syscall !== undefined;
    if (systemError || EXPECTED_ERRORS.some((type) => error instanceof type)) {
      process.stderr.write(`train.js: ${(error as Error).message}\n`);
      return 1;
    }
    throw error;
  } finally {
    interrupts.uninstall();
  }
}

// A closed pipe (train.js | head) is the reader's choice, not a failure worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.stderr.write(`train.js: cannot write to standard output: ${error.message}\n`);
  process.exit(1);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`train.js: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
