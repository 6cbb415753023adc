/**
 * Training checkpoints: one file, DIR/checkpoint.bin, from which fit() resumes with results
 * bit-identical to an uninterrupted run.
 *
 * Layout: a one-line JSON header `{"format":"shardnet-checkpoint","version":1,"sha256":...,
 * "payloadBytes":...}` ending in '\n', then the payload. The payload is a little-endian uint32
 * length, that many bytes of JSON metadata (topology, optimizer, fit position, settings,
 * history), zero padding to a multiple of 4 bytes, the float32 weights and the float32
 * optimizer state. The header's sha256 covers the whole payload.
 */
import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '../core/atomic-write.js';
import { makeDirectory } from '../core/make-directory.js';
import { CheckpointError } from '../errors.js';
import { serializeLayer } from '../layers/index.js';
import type { Sequential } from './sequential.js';

export const CHECKPOINT_FORMAT = 'shardnet-checkpoint';
export const CHECKPOINT_VERSION = 1;
export const CHECKPOINT_FILE = 'checkpoint.bin';

/** Fit settings that must be equal on resume, or the continued run would differ. */
export interface CheckpointSettings {
  batchSize: number;
  microBatchSize: number;
  seed: number;
  validationSplit: number;
  validationSplitShuffle: boolean;
  shuffle: boolean;
  backend: string;
  trainCount: number;
  validationCount: number;
  /** sha256 of the training inputs and targets, so a resume on other data is rejected. */
  dataSha256: string;
  /** The resolved augmentation ranges as JSON, "null" when off. */
  augment: string;
  /** fit's runSettings as JSON, "null" when none. */
  runSettings: string;
}

/** The metadata part of a checkpoint. */
export interface CheckpointMeta {
  topology: { inputShape: number[]; layers: { className: string; config: Record<string, unknown> }[] };
  weightCount: number;
  optimizer: { className: string; config: Record<string, unknown>; stateCount: number; step: number };
  /** State of the fit Rng at the start of `epoch`, before its shuffle and dropout seed are drawn. */
  rngState: number;
  /** Position of the next batch to run, counted from 0. Batch 0 means the epoch has not started. */
  epoch: number;
  batch: number;
  /** Sums of the batches of `epoch` that already ran, for the epoch's mean loss and accuracy. */
  partial: { lossSum: number; correct: number; seen: number };
  settings: CheckpointSettings;
  history: { epoch: number[]; history: Record<string, number[]> };
  /**
   * State of the callbacks that keep some (getCheckpointState), in list order: JSON values,
   * and the lengths of their float arrays, which follow the optimizer state in the payload.
   */
  callbacks: { className: string; values: Record<string, unknown>; arrayLengths: number[] }[];
}

/** A callback's state as a checkpoint stores it. */
export interface CallbackCheckpointState {
  className: string;
  values: Record<string, unknown>;
  arrays: Float32Array[];
}

export interface Checkpoint {
  meta: CheckpointMeta;
  weights: Float32Array;
  optimizerState: Float32Array;
  /** The arrays of each entry of meta.callbacks, in the same order. */
  callbackArrays: Float32Array[][];
}

/** Returns the model's layers and input shape in the form a checkpoint stores. */
export function describeTopology(model: Sequential): CheckpointMeta['topology'] {
  return {
    inputShape: model.inputShape,
    layers: model.layers.map((layer) => {
      const { className, config } = serializeLayer(layer);
      // Layer names depend on how many models the process built, not on the computation.
      const { name: _name, ...rest } = config as Record<string, unknown>;
      return { className, config: rest };
    }),
  };
}

function encodeCheckpoint(checkpoint: Checkpoint): Buffer {
  const metaBytes = Buffer.from(JSON.stringify(encodeMeta(checkpoint.meta)), 'utf8');
  const metaEnd = 4 + metaBytes.length;
  const padded = Math.ceil(metaEnd / 4) * 4;
  const arrays = [checkpoint.weights, checkpoint.optimizerState, ...checkpoint.callbackArrays.flat()];
  const payload = Buffer.alloc(padded + arrays.reduce((sum, a) => sum + a.byteLength, 0));
  payload.writeUInt32LE(metaBytes.length, 0);
  metaBytes.copy(payload, 4);
  let offset = padded;
  for (const a of arrays) {
    payload.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), offset);
    offset += a.byteLength;
  }
  const sha256 = createHash('sha256').update(payload).digest('hex');
  const header = JSON.stringify({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, sha256, payloadBytes: payload.length });
  return Buffer.concat([Buffer.from(`${header}\n`, 'utf8'), payload]);
}

/**
 * Writes `DIR/checkpoint.bin` atomically (see src/core/atomic-write.ts): a crash at any moment
 * leaves the previous checkpoint intact.
 */
export async function writeCheckpoint(dir: string, checkpoint: Checkpoint): Promise<void> {
  await makeDirectory(dir);
  await writeFileAtomically(join(dir, CHECKPOINT_FILE), encodeCheckpoint(checkpoint));
}

const DAMAGED = 'The file is damaged or incomplete: resume from an earlier checkpoint, or train again without resuming';

function fail(path: string, problem: string, advice = DAMAGED): never {
  throw new CheckpointError(`Cannot load checkpoint ${path}: ${problem}. ${advice}.`);
}

/** Returns the sha256 (hex) of the bytes of `arrays`, in order. */
export function hashArrays(arrays: readonly Float32Array[]): string {
  const hash = createHash('sha256');
  for (const array of arrays) hash.update(new Uint8Array(array.buffer, array.byteOffset, array.byteLength));
  return hash.digest('hex');
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * JSON has no NaN or Infinity, and a run with stopOnNonFinite off can record them in its loss
 * sums and history, so the metadata writes non-finite numbers as these strings.
 */
const NON_FINITE: Record<string, number> = { NaN: Number.NaN, Infinity: Number.POSITIVE_INFINITY, '-Infinity': Number.NEGATIVE_INFINITY };

function encodeNumber(value: number): number | string {
  return Number.isFinite(value) ? value : String(value);
}

/** Returns the number that `value` encodes, or undefined when it encodes none. */
function decodeNumber(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value === 'string' && Object.hasOwn(NON_FINITE, value)) return NON_FINITE[value];
  return undefined;
}

/** Replaces non-finite numbers anywhere in `value` by { nonFinite: "NaN" | "Infinity" | "-Infinity" }. */
function encodeNonFinite(value: unknown): unknown {
  if (typeof value === 'number') return Number.isFinite(value) ? value : { nonFinite: String(value) };
  if (Array.isArray(value)) return value.map(encodeNonFinite);
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encodeNonFinite(v)]));
  return value;
}

/** Undoes encodeNonFinite. */
function decodeNonFinite(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decodeNonFinite);
  if (isObject(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === 'nonFinite' && typeof value.nonFinite === 'string' && Object.hasOwn(NON_FINITE, value.nonFinite)) {
      return NON_FINITE[value.nonFinite];
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeNonFinite(v)]));
  }
  return value;
}

function encodeMeta(meta: CheckpointMeta): CheckpointMeta {
  const history = Object.fromEntries(Object.entries(meta.history.history).map(([key, values]) => [key, values.map(encodeNumber)]));
  return {
    ...meta,
    partial: { ...meta.partial, lossSum: encodeNumber(meta.partial.lossSum) as number },
    history: { epoch: meta.history.epoch, history: history as Record<string, number[]> },
    callbacks: meta.callbacks.map((c) => ({ ...c, values: encodeNonFinite(c.values) as Record<string, unknown> })),
  };
}

const SETTING_TYPES: Record<keyof CheckpointSettings, 'count' | 'number' | 'boolean' | 'string'> = {
  batchSize: 'count',
  microBatchSize: 'count',
  seed: 'number',
  validationSplit: 'number',
  validationSplitShuffle: 'boolean',
  shuffle: 'boolean',
  backend: 'string',
  trainCount: 'count',
  validationCount: 'count',
  dataSha256: 'string',
  augment: 'string',
  runSettings: 'string',
};

/** Returns the first problem of the metadata's structure, or null when it has none. */
function metaProblem(meta: Record<string, unknown>): string | null {
  const { topology, optimizer, partial, settings, history } = meta;
  if (!isObject(topology) || !Array.isArray(topology.inputShape) || !topology.inputShape.every(isCount)) return 'topology.inputShape is not a list of sizes';
  if (!Array.isArray(topology.layers) || !topology.layers.every((l) => isObject(l) && typeof l.className === 'string' && isObject(l.config))) {
    return 'topology.layers is not a list of { className, config } objects';
  }
  if (!isCount(meta.weightCount)) return 'weightCount is not a count';
  if (!isObject(optimizer) || typeof optimizer.className !== 'string' || !isObject(optimizer.config)) return 'optimizer lacks its className or config';
  if (!isCount(optimizer.stateCount) || !isCount(optimizer.step)) return 'optimizer.stateCount or optimizer.step is not a count';
  if (!isCount(meta.rngState) || meta.rngState > 0xffffffff) return 'rngState is not a 32-bit unsigned integer';
  if (!isCount(meta.epoch) || !isCount(meta.batch)) return 'epoch or batch is not a count';

  if (!isObject(settings)) return 'settings is not an object';
  for (const [key, type] of Object.entries(SETTING_TYPES)) {
    const value = settings[key];
    const ok = type === 'count' ? isCount(value) : typeof value === type;
    if (!ok) return `settings.${key} is ${JSON.stringify(value)}, not a ${type}`;
  }
  if (!isObject(partial) || decodeNumber(partial.lossSum) === undefined || !isCount(partial.correct) || !isCount(partial.seen)) {
    return 'partial lacks lossSum, correct or seen';
  }

  const batchSize = settings.batchSize as number;
  const trainCount = settings.trainCount as number;
  if (partial.correct > partial.seen || partial.seen !== Math.min(meta.batch * batchSize, trainCount) || (meta.batch > 0 && partial.seen >= trainCount)) {
    return `the position (batch ${meta.batch}, ${partial.seen} samples seen, ${partial.correct} correct) does not fit ${trainCount} training samples in batches of ${batchSize}`;
  }

  if (!isObject(history) || !Array.isArray(history.epoch) || !history.epoch.every(isCount)) return 'history.epoch is not a list of epoch numbers';
  if (history.epoch.length > meta.epoch) return `history has ${history.epoch.length} epochs but the checkpoint is at epoch ${meta.epoch}`;
  if (!isObject(history.history)) return 'history.history is not an object';
  for (const [key, values] of Object.entries(history.history)) {
    if (!Array.isArray(values) || values.length !== history.epoch.length || !values.every((v) => decodeNumber(v) !== undefined)) {
      return `history.history.${key} is not a list of ${history.epoch.length} numbers`;
    }
  }

  const callbacks = meta.callbacks ?? [];
  const validCallback = (c: unknown): boolean =>
    isObject(c) && typeof c.className === 'string' && isObject(c.values) && Array.isArray(c.arrayLengths) && c.arrayLengths.every(isCount);
  if (!Array.isArray(callbacks) || !callbacks.every(validCallback)) return 'callbacks is not a list of { className, values, arrayLengths } objects';
  return null;
}

function checkMeta(path: string, value: unknown): CheckpointMeta {
  if (!isObject(value)) fail(path, 'the metadata is not a JSON object');
  const problem = metaProblem(value);
  if (problem !== null) fail(path, `the metadata is invalid: ${problem}`);
  const meta = value as unknown as CheckpointMeta;
  meta.callbacks = (meta.callbacks ?? []).map((c) => ({ ...c, values: decodeNonFinite(c.values) as Record<string, unknown> }));
  meta.partial.lossSum = decodeNumber(meta.partial.lossSum) as number;
  for (const values of Object.values(meta.history.history)) {
    values.forEach((v, i) => {
      values[i] = decodeNumber(v) as number;
    });
  }
  return meta;
}

/** Reads and verifies `DIR/checkpoint.bin`; throws CheckpointError naming the file and the problem. */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const path = join(dir, CHECKPOINT_FILE);
  const bytes = await readVerifiedFile(path);
  const newline = bytes.indexOf(0x0a);
  const payload = bytes.subarray(newline + 1);
  const sha256 = createHash('sha256').update(payload).digest('hex');
  const header = parseHeader(path, bytes.subarray(0, newline));
  if (sha256 !== header.sha256) fail(path, `the sha256 checksum of the payload is ${sha256}, expected ${String(header.sha256)}`);

  if (payload.length < 4) fail(path, 'the payload is too short to hold the metadata length');
  const metaLength = payload.readUInt32LE(0);
  if (4 + metaLength > payload.length) fail(path, `the metadata length ${metaLength} exceeds the payload`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload.subarray(4, 4 + metaLength).toString('utf8'));
  } catch (error) {
    fail(path, `the metadata is not valid JSON (${(error as Error).message})`);
  }
  const meta = checkMeta(path, parsed);
  const padded = Math.ceil((4 + metaLength) / 4) * 4;
  const callbackValues = meta.callbacks.reduce((sum, c) => sum + c.arrayLengths.reduce((a, b) => a + b, 0), 0);
  const floatCount = meta.weightCount + meta.optimizer.stateCount + callbackValues;
  const expected = padded + 4 * floatCount;
  if (payload.length !== expected) {
    fail(
      path,
      `the payload has ${payload.length} bytes but ${meta.weightCount} weights, ${meta.optimizer.stateCount} optimizer state values and ${callbackValues} callback values need ${expected}`,
    );
  }
  // Copy into fresh buffers, because the payload's float data need not be 4-byte aligned in `bytes`.
  const floats = new Float32Array(floatCount);
  new Uint8Array(floats.buffer).set(payload.subarray(padded));
  let offset = meta.weightCount + meta.optimizer.stateCount;
  const callbackArrays = meta.callbacks.map((c) =>
    c.arrayLengths.map((length) => {
      const array = floats.slice(offset, offset + length);
      offset += length;
      return array;
    }),
  );
  return {
    meta,
    weights: floats.subarray(0, meta.weightCount),
    optimizerState: floats.subarray(meta.weightCount, meta.weightCount + meta.optimizer.stateCount),
    callbackArrays,
  };
}

interface CheckpointHeader {
  format?: unknown;
  version?: unknown;
  sha256?: unknown;
  payloadBytes?: unknown;
}

/** Parses and checks the header line (without its newline); throws CheckpointError. */
function parseHeader(path: string, line: Buffer): CheckpointHeader {
  let header: CheckpointHeader | null = null;
  try {
    if (line.length > 0) header = JSON.parse(line.toString('utf8'));
  } catch {
    header = null;
  }
  if (header === null || typeof header !== 'object') fail(path, `the file does not start with a ${CHECKPOINT_FORMAT} header line`);
  if (header.format !== CHECKPOINT_FORMAT) {
    fail(path, `the format is ${JSON.stringify(header.format)}, expected "${CHECKPOINT_FORMAT}"`, 'Give a checkpoint that fit() wrote with checkpointDir');
  }
  if (header.version !== CHECKPOINT_VERSION) {
    fail(path, `the version is ${JSON.stringify(header.version)}, expected ${CHECKPOINT_VERSION}`, 'Train again with this version of shardnet to write a new checkpoint');
  }
  return header;
}

/** Maximum length searched for the header line, which checkpoints write in about 200 bytes. */
const MAX_HEADER_BYTES = 4096;

/**
 * Reads the file after checking, from its header line and its size on disk, that the size is
 * the one the header records, so a damaged or foreign large file is rejected without reading it.
 */
async function readVerifiedFile(path: string): Promise<Buffer> {
  const unreadable = (error: unknown): never => {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    return fail(path, `the file cannot be read (${reason})`, 'Give the directory that checkpointDir (train.js: --checkpoint-dir) wrote to');
  };
  let handle: FileHandle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    return unreadable(error);
  }
  try {
    const { size } = await handle.stat();
    const start = Buffer.alloc(Math.min(size, MAX_HEADER_BYTES));
    await handle.read(start, 0, start.length, 0);
    const newline = start.indexOf(0x0a);
    if (newline <= 0) fail(path, `the file does not start with a ${CHECKPOINT_FORMAT} header line`);
    const header = parseHeader(path, start.subarray(0, newline));
    const payloadBytes = size - newline - 1;
    if (!isCount(header.payloadBytes) || payloadBytes !== header.payloadBytes) {
      fail(path, `the payload has ${payloadBytes} bytes but the header records ${JSON.stringify(header.payloadBytes)} (the file is truncated or has extra bytes)`);
    }
    const bytes = Buffer.alloc(size);
    let read = 0;
    while (read < size) {
      const { bytesRead } = await handle.read(bytes, read, size - read, read);
      if (bytesRead === 0) fail(path, `the file ended after ${read} of ${size} bytes while it was read`);
      read += bytesRead;
    }
    return bytes;
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    return unreadable(error);
  } finally {
    await handle.close();
  }
}
