/**
 * Command-line options of train.js, parsed with commander. Every value is checked here, so
 * an invalid option ends the program with one line naming the option, the value and what is
 * accepted (exit status 2) before anything is loaded.
 */
import { availableParallelism } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';

import { UsageError, integer, nonEmpty, parseCommand } from './command.js';

export { UsageError } from './command.js';

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  threads: number;
  lr: number | undefined;
  optimizer: 'adam' | 'sgd' | 'rmsprop' | 'adadelta' | 'adagrad' | 'adamw';
  validationSplit: number;
  /** Hold out a seeded, class-stratified random draw instead of the last samples. */
  validationSplitShuffle: boolean;
  seed: number;
  data: string | undefined;
  limit: number | undefined;
  testLimit: number | undefined;
  save: string | undefined;
  /** Directory that report.html, the HTML training report, is written to. */
  report: string | undefined;
  json: boolean;
  download: boolean;
  /** Base URL that missing MNIST files are downloaded from, in place of the public mirrors. */
  mirror: string | undefined;
  microBatchSize: number;
  backend: 'auto' | 'js' | 'wasm';
  /** Stop with an error when a loss or gradient is NaN or infinite. */
  stopOnNan: boolean;
  /** Directory that checkpoint.bin is written to, at each epoch end and every checkpointEvery batches. */
  checkpointDir: string | undefined;
  checkpointEvery: number | undefined;
  /** Checkpoint directory to resume from; epochs is then the total, counting the epochs already run. */
  resume: string | undefined;
  /** Clip each weight tensor's gradient to this L2 norm (the optimizer's clipnorm); undefined: off. */
  clipnorm: number | undefined;
  /** Clip every gradient element to [-clipvalue, clipvalue] (the optimizer's clipvalue); undefined: off. */
  clipvalue: number | undefined;
  /** Patience of early stopping on val_loss, restoring the best weights; undefined: off. */
  earlyStopping: number | undefined;
  /** CSV file that receives one row of epoch logs per epoch. */
  csvLog: string | undefined;
  /** Per-epoch learning-rate schedule (see LR_SCHEDULE_DEFAULTS). */
  lrSchedule: 'step' | 'cosine' | undefined;
  /** Randomly rotate, shift and zoom the training images (fit's augment: true, MNIST_AUGMENT). */
  augment: boolean;
}

export const TRAIN_DEFAULTS = {
  epochs: 5,
  batchSize: 128,
  threads: availableParallelism(),
  optimizer: 'adam',
  validationSplit: 0.1,
  seed: 1,
  microBatchSize: 16,
} as const;

/** --lr-schedule step: the rate is multiplied by stepFactor every stepEvery epochs. */
export const LR_SCHEDULE_DEFAULTS = { stepEvery: 2, stepFactor: 0.5 } as const;

function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n >= 1) {
    throw new InvalidArgumentError('expected a number from 0 up to (not including) 1.');
  }
  return n;
}

function httpUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected an http:// or https:// URL.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidArgumentError('expected an http:// or https:// URL.');
  return value;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number.');
  return n;
}

export function buildTrainCommand(): Command {
  return new Command('train.js')
    .description('Train the Keras MNIST CNN on worker threads and report training, validation and test accuracy.')
    .addOption(new Option('--epochs <n>', 'passes over the training data').default(TRAIN_DEFAULTS.epochs).argParser(integer(1)))
    .addOption(new Option('--batch-size <n>', 'samples per gradient step').default(TRAIN_DEFAULTS.batchSize).argParser(integer(1)))
    .addOption(new Option('--threads <n>', 'worker threads').default(TRAIN_DEFAULTS.threads, `${TRAIN_DEFAULTS.threads}, the number of cores`).argParser(integer(1, 1024)))
    .addOption(new Option('--clipnorm <norm>', "clip each weight tensor's gradient to this L2 norm before the optimizer step (Keras clipnorm)").argParser(positiveNumber))
    .addOption(new Option('--clipvalue <value>', 'clip every gradient element to [-value, value] before the optimizer step (Keras clipvalue)').argParser(positiveNumber))
    .addOption(new Option('--lr <rate>', 'learning rate (default: 0.01 for sgd, 0.001 for the others)').argParser(positiveNumber))
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adam', 'sgd', 'rmsprop', 'adadelta', 'adagrad', 'adamw']).default(TRAIN_DEFAULTS.optimizer))
    .addOption(new Option('--validation-split <fraction>', 'fraction of the training data held out for validation (the last samples, as in Keras)').default(TRAIN_DEFAULTS.validationSplit).argParser(fraction))
    .addOption(new Option('--validation-split-shuffle', 'hold out a random draw, stratified by class and seeded by --seed, instead of the last samples').default(false))
    .addOption(new Option('--seed <n>', 'seed of weight initialization, shuffling and dropout').default(TRAIN_DEFAULTS.seed).argParser(integer(0, 2 ** 32 - 1)))
    .addOption(new Option('--data <dir>', 'directory of the MNIST IDX files (default: $MNIST_DIR, else data/mnist)').argParser(nonEmpty))
    .addOption(new Option('--limit <n>', 'train on the first n training samples only').argParser(integer(1)))
    .addOption(new Option('--test-limit <n>', 'evaluate on the first n test samples only').argParser(integer(1)))
    .addOption(new Option('--save <dir>', 'write the trained model (model.json and weights.bin, TensorFlow.js layers format) to this directory').argParser(nonEmpty))
    .addOption(new Option('--report <dir>', 'write an HTML report (report.html: learning curves, final metrics, test confusion matrix, misclassified digits) to this directory').argParser(nonEmpty))
    .addOption(new Option('--json', 'print one JSON object with the history and final metrics on stdout; logs go to stderr').default(false))
    .addOption(new Option('--no-download', 'fail instead of downloading missing MNIST files'))
    .addOption(new Option('--mirror <url>', 'download missing MNIST files from this base URL (http or https) instead of the public mirrors; the sha256 checks still apply').argParser(httpUrl))
    .addOption(new Option('--backend <name>', 'kernels: wasm (WebAssembly SIMD), js (plain TypeScript), or auto (the fastest supported)').choices(['auto', 'js', 'wasm']).default('auto'))
    .addOption(new Option('--micro-batch-size <n>', 'samples per worker task; results depend on it, not on --threads').default(TRAIN_DEFAULTS.microBatchSize).argParser(integer(1)))
    .addOption(new Option('--augment', 'randomly rotate (up to 10 degrees), shift (up to 0.1 of the size) and zoom (0.9 to 1.1) each training image, anew every epoch').default(false))
    .addOption(new Option('--no-stop-on-nan', 'keep training when a loss or gradient is NaN or infinite (by default training stops with an error naming the epoch, batch and layer)'))
    .addOption(new Option('--checkpoint-dir <dir>', 'write a checkpoint (checkpoint.bin) to this directory at the end of each epoch, replacing the previous one').argParser(nonEmpty))
    .addOption(new Option('--checkpoint-every <n>', 'also write a checkpoint every n batches within an epoch (needs --checkpoint-dir)').argParser(integer(1)))
    .addOption(new Option('--early-stopping <patience>', 'stop when val_loss has not improved for this many epochs, then restore the weights of the best epoch (needs --validation-split above 0)').argParser(integer(0)))
    .addOption(new Option('--csv-log <file>', 'write the epoch logs (loss, accuracy, val_loss, ...) to this CSV file, one row per epoch; with --resume, rows are appended').argParser(nonEmpty))
    .addOption(new Option('--lr-schedule <name>', `learning rate per epoch: step multiplies --lr by ${LR_SCHEDULE_DEFAULTS.stepFactor} every ${LR_SCHEDULE_DEFAULTS.stepEvery} epochs; cosine decays it from --lr towards 0 over --epochs (cosine annealing)`).choices(['step', 'cosine']))
    .addOption(new Option('--resume <dir>', 'resume training from the checkpoint in this directory; --epochs is the total number of epochs, counting those already run, and the other settings must be as in the checkpointed run').argParser(nonEmpty))
    .allowExcessArguments(false)
    .showSuggestionAfterError(true);
}

/**
 * Parses argv (without the node and script entries). Throws UsageError for invalid input;
 * help and version output are written by commander and reported with exit code 0.
 */
export function parseTrainOptions(argv: string[], write: { out: (s: string) => void; err: (s: string) => void }): TrainOptions {
  const command = parseCommand(buildTrainCommand(), argv, write);
  const o = command.opts();
  if (o.earlyStopping !== undefined && o.validationSplit === 0) {
    throw new UsageError('--early-stopping monitors val_loss, which needs --validation-split above 0.', 2);
  }
  if (o.clipnorm !== undefined && o.clipvalue !== undefined) {
    throw new UsageError('--clipnorm and --clipvalue cannot be combined, as in Keras; give one of them.', 2);
  }
  if (o.checkpointEvery !== undefined && o.checkpointDir === undefined) {
    throw new UsageError('--checkpoint-every needs --checkpoint-dir, the directory to write checkpoints to.', 2);
  }
  return {
    epochs: o.epochs,
    batchSize: o.batchSize,
    threads: o.threads,
    lr: o.lr,
    optimizer: o.optimizer,
    validationSplit: o.validationSplit,
    validationSplitShuffle: o.validationSplitShuffle,
    seed: o.seed,
    data: o.data,
    limit: o.limit,
    testLimit: o.testLimit,
    save: o.save,
    report: o.report,
    json: o.json,
    download: o.download,
    mirror: o.mirror,
    microBatchSize: o.microBatchSize,
    backend: o.backend,
    stopOnNan: o.stopOnNan,
    checkpointDir: o.checkpointDir,
    checkpointEvery: o.checkpointEvery,
    resume: o.resume,
    clipnorm: o.clipnorm,
    clipvalue: o.clipvalue,
    earlyStopping: o.earlyStopping,
    csvLog: o.csvLog,
    lrSchedule: o.lrSchedule,
    augment: o.augment,
  };
}
