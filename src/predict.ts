#!/usr/bin/env node
/**
 * predict.js: classifies PNG images and IDX image files with a model saved by train.js --save.
 * A PNG becomes a 28x28 MNIST-style digit (see src/data/digit-preprocess.ts); an IDX file
 * contributes every image in it, as pixels / 255. `--help` lists the options.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';

import { parsePredictOptions, type PredictOptions } from './cli/predict-options.js';
import { UsageError } from './cli/options.js';
import { Tensor, shapeSize } from './core/tensor.js';
import { DIGIT_FIELD_SIZE, preprocessDigit } from './data/digit-preprocess.js';
import { DataFormatError } from './data/errors.js';
import { type IdxArray, decodeMaybeGzipAsync, isGzip, parseIdx } from './data/idx.js';
import { decodePng, isPng } from './data/png.js';
import { ShapeError, ValueError, formatShape } from './errors.js';
import { loadModel } from './model/save.js';

/** One image to classify: `index` is its position in an IDX file, null for a PNG. */
interface Sample {
  file: string;
  index: number | null;
  /** Model input values, [...inputShape] row-major. */
  pixels: Float32Array;
  blank: boolean;
}

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

async function readInput(path: string): Promise<Uint8Array> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (error as Error).message;
    throw new UsageError(`cannot read ${path}: ${reason}.`, 1);
  }
}

function pngSample(bytes: Uint8Array, file: string, inputShape: readonly number[], warn: (line: string) => void): Sample {
  if (!acceptsDigit(inputShape)) {
    throw new ShapeError(`${file}: a PNG is converted to a 28x28 grayscale digit, but the model expects input ${formatShape(inputShape)}. Use a model with input [28, 28, 1].`);
  }
  const digit = preprocessDigit(decodePng(bytes, file));
  if (digit.blank) warn(`${file}: the image is blank (no ink stands out from the background), so a blank 28x28 image is classified.`);
  return { file, index: null, pixels: digit.pixels, blank: digit.blank };
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

async function idxSamples(bytes: Uint8Array, file: string, inputShape: readonly number[]): Promise<Sample[]> {
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
  const size = shapeSize(imageShape);
  const pixels = Float32Array.from(idx.data, (value) => value / 255);
  return Array.from({ length: count }, (_, index) => ({ file, index, pixels: pixels.subarray(index * size, (index + 1) * size), blank: false }));
}

/** Reads every file; a file is a PNG when it has the PNG signature or a .png name, else IDX. */
async function readSamples(files: readonly string[], inputShape: readonly number[], warn: (line: string) => void): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (const file of files) {
    const bytes = await readInput(file);
    if (isPng(bytes) || extname(file).toLowerCase() === '.png') samples.push(pngSample(bytes, file, inputShape, warn));
    else for (const sample of await idxSamples(bytes, file, inputShape)) samples.push(sample);
  }
  return samples;
}

/** Class indices ordered by decreasing probability; ties keep the lower class first. */
function rankClasses(probabilities: Float32Array): number[] {
  return Array.from(probabilities.keys()).sort((a, b) => probabilities[b] - probabilities[a] || a - b);
}

function label(sample: Sample): string {
  return sample.index === null ? sample.file : `${sample.file}[${sample.index}]`;
}

async function predict(options: PredictOptions): Promise<number> {
  const warn = (line: string) => process.stderr.write(`predict.js: warning: ${line}\n`);
  const model = await loadModel(options.model);
  const outputShape = model.outputShape;
  if (outputShape.length !== 1) {
    throw new ShapeError(`${options.model}: the model's output has shape ${formatShape(outputShape)}, but predict.js needs one score per class, [classes].`);
  }
  const inputShape = model.inputShape;
  const samples = await readSamples(options.files, inputShape, warn);

  const size = shapeSize(inputShape);
  const x = Tensor.zeros([samples.length, ...inputShape]);
  samples.forEach((sample, i) => x.data.set(sample.pixels, i * size));
  let output: Tensor;
  try {
    output = await model.predict(x, { threads: options.threads });
  } finally {
    await model.dispose();
  }

  const classes = outputShape[0];
  const rows = samples.map((_, i) => output.data.subarray(i * classes, (i + 1) * classes));
  const probabilities = rows.every((row) => row.every((p) => p >= 0) && Math.abs(row.reduce((sum, p) => sum + p, 0) - 1) <= PROBABILITY_SUM_TOLERANCE);
  if (!probabilities) warn(`the outputs of ${options.model} are not probabilities (a row has a negative value or does not sum to 1, unlike a softmax output), so the scores printed are raw outputs.`);

  if (options.json) {
    const predictions = samples.map((sample, i) => ({
      file: sample.file,
      index: sample.index,
      predicted: rankClasses(rows[i])[0],
      probabilities: Array.from(rows[i]),
      blank: sample.blank,
    }));
    process.stdout.write(`${JSON.stringify({ model: options.model, predictions })}\n`);
    return 0;
  }
  samples.forEach((sample, i) => {
    const ranked = rankClasses(rows[i]);
    const top = ranked.slice(0, TOP_CLASSES).map((c) => `${c} ${rows[i][c].toFixed(4)}`);
    process.stdout.write(`${label(sample)}: ${ranked[0]} (${top.join(', ')})\n`);
  });
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
