#!/usr/bin/env node
/**
 * predict.js: classifies PNG images and IDX image files with a model saved by train.js --save.
 * A PNG becomes a 28x28 MNIST-style digit (see src/data/digit-preprocess.ts); an IDX file
 * contributes every image in it, as pixels / 255. `--help` lists the options.
 *
 * Images are classified CHUNK_IMAGES at a time, and each chunk's results are written before the
 * next chunk is filled. Memory therefore depends on the largest file, not on the number of images.
 */
import { once } from 'node:events';
import type { Stats } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { extname } from 'node:path';

import { parsePredictOptions, type PredictOptions } from './cli/predict-options.js';
import { UsageError } from './cli/options.js';
import { Tensor, shapeSize } from './core/tensor.js';
import { DIGIT_FIELD_SIZE, preprocessDigit } from './data/digit-preprocess.js';
import { DataFormatError } from './data/errors.js';
import { DEFAULT_MAX_DECOMPRESSED_BYTES, type IdxArray, decodeMaybeGzipAsync, isGzip, parseIdx } from './data/idx.js';
import { decodePng, isPng } from './data/png.js';
import { ShapeError, ValueError, formatShape } from './errors.js';
import { loadModel } from './model/save.js';
import type { Sequential } from './model/sequential.js';

/** Source of one classified image: `index` is its position in an IDX file, null for a PNG. */
interface ImageLabel {
  file: string;
  index: number | null;
  blank: boolean;
}

/** Images per model.predict call, 3 MiB of float32 input for 28x28 images. */
const CHUNK_IMAGES = 1024;

/**
 * Largest input file, in bytes. It equals the IDX loader's limit on decompressed data, and
 * files are checked against it before any is read.
 */
const MAX_INPUT_BYTES = DEFAULT_MAX_DECOMPRESSED_BYTES;

/** Number of classes listed per image in the text output. */
const TOP_CLASSES = 3;

const INPUT_FIX = 'Give PNG images or IDX image files (raw or gzip-compressed).';

/** Largest deviation of a row sum from 1 for the outputs to count as probabilities. */
const PROBABILITY_SUM_TOLERANCE = 1e-3;

/** Returns whether a PNG's 28x28 digit fits `inputShape`: [28, 28, 1], [28, 28] or [784]. */
function acceptsDigit(inputShape: readonly number[]): boolean {
  const side = DIGIT_FIELD_SIZE;
  const shape = inputShape.join(',');
  return shape === `${side},${side},1` || shape === `${side},${side}` || shape === `${side * side}`;
}

/** Returns whether IDX images of `imageShape` fit `inputShape`, exactly or without a trailing channel of 1. */
function acceptsIdx(imageShape: readonly number[], inputShape: readonly number[]): boolean {
  const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((size, i) => size === b[i]);
  if (same(imageShape, inputShape)) return true;
  return inputShape[inputShape.length - 1] === 1 && same(imageShape, inputShape.slice(0, -1));
}

/** Returns what a non-regular file is, for the error that rejects it. */
function describeFileType(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isFIFO()) return 'a named pipe';
  if (info.isSocket()) return 'a socket';
  return 'a special file';
}

function readError(path: string, error: unknown): UsageError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
  return new UsageError(`cannot read ${path}: ${reason}.`, 1);
}

/**
 * Checks every input before any is read, because a device such as /dev/zero would be read
 * without end, and a file above MAX_INPUT_BYTES would be read only to be rejected.
 */
async function checkInputFiles(files: readonly string[]): Promise<void> {
  for (const file of files) {
    let info: Stats;
    try {
      info = await stat(file);
    } catch (error) {
      throw readError(file, error);
    }
    if (!info.isFile()) {
      throw new UsageError(`cannot read ${file}: it is ${describeFileType(info)}, not a regular file. Give a PNG or IDX file.`, 1);
    }
    if (info.size > MAX_INPUT_BYTES) {
      throw new UsageError(`cannot read ${file}: it is ${info.size} bytes, more than the ${MAX_INPUT_BYTES} bytes (2 GiB) accepted. Give a smaller PNG or IDX file.`, 1);
    }
  }
}

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    throw readError(path, error);
  }
}

/** Parses an IDX file, replacing the loader's advice (aimed at the MNIST download) with advice for this command. */
async function parseIdxInput(bytes: Uint8Array, file: string): Promise<IdxArray> {
  if (!isGzip(bytes) && !(bytes.length >= 2 && bytes[0] === 0 && bytes[1] === 0)) {
    const found = Array.from(bytes.subarray(0, 4), (byte) => byte.toString(16).padStart(2, '0')).join(' ');
    throw new DataFormatError(file, `neither a PNG nor an IDX file (it starts with ${found === '' ? 'nothing, the file is empty' : found})`, INPUT_FIX);
  }
  try {
    return parseIdx(await decodeMaybeGzipAsync(bytes, file), file);
  } catch (error) {
    if (error instanceof DataFormatError) throw new DataFormatError(file, error.problem, INPUT_FIX);
    throw error;
  }
}

/** Returns the uint8 images of an IDX file, [N, ...imageShape], after checking that they fit `inputShape`. */
async function parseIdxImages(bytes: Uint8Array, file: string, inputShape: readonly number[]): Promise<{ count: number; pixels: Uint8Array }> {
  const idx = await parseIdxInput(bytes, file);
  const imageShape = idx.shape.slice(1);
  const withoutChannel = inputShape.length > 1 && inputShape[inputShape.length - 1] === 1 ? ` or [N, ${inputShape.slice(0, -1).join(', ')}]` : '';
  const fix = `Give uint8 images of shape [N, ${inputShape.join(', ')}]${withoutChannel}.`;
  if (idx.dtype !== 'uint8') throw new DataFormatError(file, `images have dtype ${idx.dtype}, expected uint8 pixels`, fix);
  if (idx.shape.length < 2 || !acceptsIdx(imageShape, inputShape)) {
    throw new DataFormatError(file, `shape ${formatShape(idx.shape)} does not match the model input ${formatShape(inputShape)}`, fix);
  }
  const count = idx.shape[0];
  if (count === 0) throw new DataFormatError(file, `contains no images (shape ${formatShape(idx.shape)})`, fix);
  return { count, pixels: idx.data };
}

/** Class indices ordered by decreasing probability; ties keep the lower class first. */
function rankClasses(probabilities: Float32Array): number[] {
  return Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a] || a - b);
}

/** Returns whether a row of outputs is a probability distribution, as a softmax output is. */
function isProbabilityRow(row: Float32Array): boolean {
  return row.every((p) => p >= 0) && Math.abs(row.reduce((sum, p) => sum + p, 0) - 1) <= PROBABILITY_SUM_TOLERANCE;
}

/**
 * Text of the output document: `start` before the first image, one `image` entry per image,
 * then `end`. The JSON form writes `{ model, predictions: [...] }` one prediction at a time,
 * so the whole document is never held in memory.
 */
interface OutputFormat {
  start: string;
  image(label: ImageLabel, outputs: Float32Array, first: boolean): string;
  end: string;
}

function jsonFormat(model: string): OutputFormat {
  return {
    start: `{"model":${JSON.stringify(model)},"predictions":[`,
    image: (label, outputs, first) => {
      const prediction = { file: label.file, index: label.index, predicted: rankClasses(outputs)[0], probabilities: Array.from(outputs), blank: label.blank };
      return `${first ? '' : ','}${JSON.stringify(prediction)}`;
    },
    end: ']}\n',
  };
}

const TEXT_FORMAT: OutputFormat = {
  start: '',
  image: (label, outputs) => {
    const ranked = rankClasses(outputs);
    const top = ranked.slice(0, TOP_CLASSES).map((c) => `${c} ${outputs[c].toFixed(4)}`);
    const name = label.index === null ? label.file : `${label.file}[${label.index}]`;
    return `${name}: ${ranked[0]} (${top.join(', ')})\n`;
  },
  end: '',
};

/** Writes to stdout and waits for the pipe to drain when its buffer is full, so output never piles up in memory. */
async function writeOut(text: string): Promise<void> {
  if (text !== '' && !process.stdout.write(text)) await once(process.stdout, 'drain');
}

/**
 * Classifies images in chunks of CHUNK_IMAGES. The caller fills nextRow() with an image and
 * calls add(), and flushes when add() returns true. A flush runs the model on the chunk and
 * writes its results, so nothing about an image is kept after it is written.
 */
class ChunkedClassifier {
  /** [CHUNK_IMAGES, ...inputShape], in shared memory so that model.predict() does not copy it. */
  private readonly input: Tensor;
  private readonly imageSize: number;
  private readonly labels: ImageLabel[] = [];
  private written = 0;
  private warnedRawOutputs = false;

  constructor(
    private readonly model: Sequential,
    private readonly options: PredictOptions,
    private readonly format: OutputFormat,
    private readonly warn: (line: string) => void,
  ) {
    this.imageSize = shapeSize(model.inputShape);
    this.input = Tensor.zeros([CHUNK_IMAGES, ...model.inputShape], { shared: true });
  }

  /** Returns the input row of the next image, [...inputShape] row-major, to be filled before add(). */
  nextRow(): Float32Array {
    const offset = this.labels.length * this.imageSize;
    return this.input.data.subarray(offset, offset + this.imageSize);
  }

  /** Records the image in nextRow() and returns whether the chunk is full and must be flushed. */
  add(label: ImageLabel): boolean {
    this.labels.push(label);
    return this.labels.length === CHUNK_IMAGES;
  }

  /** Classifies the images added since the last flush and writes their results. */
  async flush(): Promise<void> {
    const count = this.labels.length;
    if (count === 0) return;
    const x = count === CHUNK_IMAGES ? this.input : new Tensor(this.input.data.subarray(0, count * this.imageSize), [count, ...this.model.inputShape]);
    const output = await this.model.predict(x, { threads: this.options.threads });

    const classes = this.model.outputShape[0];
    let text = this.written === 0 ? this.format.start : '';
    for (let i = 0; i < count; i++) {
      const row = output.data.subarray(i * classes, (i + 1) * classes);
      if (!this.warnedRawOutputs && !isProbabilityRow(row)) {
        this.warnedRawOutputs = true;
        this.warn(`the outputs of ${this.options.model} are not probabilities (a row has a negative value or does not sum to 1, unlike a softmax output), so the scores printed are raw outputs.`);
      }
      text += this.format.image(this.labels[i], row, this.written + i === 0);
    }
    this.written += count;
    this.labels.length = 0;
    await writeOut(text);
  }

  /** Flushes the last chunk and ends the output document. */
  async finish(): Promise<void> {
    await this.flush();
    await writeOut(this.format.end);
  }
}

async function classifyPng(bytes: Uint8Array, file: string, classifier: ChunkedClassifier, inputShape: readonly number[], warn: (line: string) => void): Promise<void> {
  if (!acceptsDigit(inputShape)) {
    throw new ShapeError(`${file}: a PNG is converted to a 28x28 grayscale digit, but the model expects input ${formatShape(inputShape)}. Use a model with input [28, 28, 1].`);
  }
  const digit = preprocessDigit(decodePng(bytes, file));
  if (digit.blank) warn(`${file}: the image is blank (no ink stands out from the background), so a blank 28x28 image is classified.`);
  classifier.nextRow().set(digit.pixels);
  if (classifier.add({ file, index: null, blank: digit.blank })) await classifier.flush();
}

async function classifyIdx(bytes: Uint8Array, file: string, classifier: ChunkedClassifier, inputShape: readonly number[]): Promise<void> {
  const { count, pixels } = await parseIdxImages(bytes, file, inputShape);
  const size = shapeSize(inputShape);
  for (let index = 0; index < count; index++) {
    const row = classifier.nextRow();
    const imageOffset = index * size;
    for (let i = 0; i < size; i++) row[i] = pixels[imageOffset + i] / 255;
    if (classifier.add({ file, index, blank: false })) await classifier.flush();
  }
}

/** Reads and classifies one file, as a PNG when it has the PNG signature or a .png name, else as IDX. */
async function classifyFile(file: string, classifier: ChunkedClassifier, inputShape: readonly number[], warn: (line: string) => void): Promise<void> {
  const bytes = await readInput(file);
  if (isPng(bytes) || extname(file).toLowerCase() === '.png') await classifyPng(bytes, file, classifier, inputShape, warn);
  else await classifyIdx(bytes, file, classifier, inputShape);
}

async function predict(options: PredictOptions): Promise<number> {
  const warn = (line: string) => process.stderr.write(`predict.js: warning: ${line}\n`);
  await checkInputFiles(options.files);
  const model = await loadModel(options.model);
  try {
    if (model.outputShape.length !== 1) {
      throw new ShapeError(`${options.model}: the model's output has shape ${formatShape(model.outputShape)}, but predict.js needs one score per class, [classes].`);
    }
    const format = options.json ? jsonFormat(options.model) : TEXT_FORMAT;
    const classifier = new ChunkedClassifier(model, options, format, warn);
    for (const file of options.files) await classifyFile(file, classifier, model.inputShape, warn);
    await classifier.finish();
  } finally {
    await model.dispose();
  }
  return 0;
}

/** Errors whose message is the whole story; anything else also gets its stack. */
const EXPECTED_ERRORS = [DataFormatError, ShapeError, ValueError];

export async function main(argv: string[]): Promise<number> {
  let options: PredictOptions;
  try {
    options = parsePredictOptions(argv, { out: (s) => process.stdout.write(s) });
  } catch (error) {
    if (error instanceof UsageError) {
      if (error.exitCode !== 0) process.stderr.write(`predict.js: ${error.message} (see --help)\n`);
      return error.exitCode;
    }
    throw error;
  }
  try {
    return await predict(options);
  } catch (error) {
    if (error instanceof UsageError || EXPECTED_ERRORS.some((type) => error instanceof type)) {
      process.stderr.write(`predict.js: ${(error as Error).message}\n`);
      return error instanceof UsageError ? error.exitCode : 1;
    }
    throw error;
  }
}

// A closed pipe (predict.js | head) is the reader's choice, not a failure worth a stack trace.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  process.stderr.write(`predict.js: cannot write to standard output: ${error.message}\n`);
  process.exit(1);
});

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`predict.js: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
