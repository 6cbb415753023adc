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
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '../core/atomic-write.js';
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
  shuffle: boolean;
  backend: string;
  trainCount: number;
  validationCount: number;
  /** sha256 of the training inputs and targets, so a resume on other data is rejected. */
  dataSha256: string;
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
}

export interface Checkpoint {
  meta: CheckpointMeta;
  weights: Float32Array;
  optimizerState: Float32Array;
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
  const metaBytes = Buffer.from(JSON.stringify(checkpoint.meta), 'utf8');
  const metaEnd = 4 + metaBytes.length;
  const padded = Math.ceil(metaEnd / 4) * 4;
  const payload = Buffer.alloc(padded + checkpoint.weights.byteLength + checkpoint.optimizerState.byteLength);
  payload.writeUInt32LE(metaBytes.length, 0);
  metaBytes.copy(payload, 4);
  const weights = checkpoint.weights;
  const state = checkpoint.optimizerState;
  payload.set(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength), padded);
  payload.set(new Uint8Array(state.buffer, state.byteOffset, state.byteLength), padded + weights.byteLength);
  const sha256 = createHash('sha256').update(payload).digest('hex');
  const header = JSON.stringify({ format: CHECKPOINT_FORMAT, version: CHECKPOINT_VERSION, sha256, payloadBytes: payload.length });
  return Buffer.concat([Buffer.from(`${header}\n`, 'utf8'), payload]);
}

/**
 * Writes `DIR/checkpoint.bin` atomically (see src/core/atomic-write.ts): a crash at any moment
 * leaves the previous checkpoint intact.
 */
export async function writeCheckpoint(dir: string, checkpoint: Checkpoint): Promise<void> {
  await mkdir(dir, { recursive: true });
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

function checkMeta(path: string, value: unknown): CheckpointMeta {
  const meta = value as Partial<CheckpointMeta> | null;
  if (meta === null || typeof meta !== 'object') fail(path, 'the metadata is not a JSON object');
  const optimizer = meta.optimizer;
  const partial = meta.partial;
  const valid =
    typeof meta.topology === 'object' &&
    meta.topology !== null &&
    Array.isArray(meta.topology.layers) &&
    Array.isArray(meta.topology.inputShape) &&
    isCount(meta.weightCount) &&
    typeof optimizer === 'object' &&
    optimizer !== null &&
    typeof optimizer.className === 'string' &&
    isCount(optimizer.stateCount) &&
    isCount(optimizer.step) &&
    isCount(meta.rngState) &&
    isCount(meta.epoch) &&
    isCount(meta.batch) &&
    typeof partial === 'object' &&
    partial !== null &&
    typeof partial.lossSum === 'number' &&
    isCount(partial.correct) &&
    isCount(partial.seen) &&
    typeof meta.settings === 'object' &&
    meta.settings !== null &&
    typeof meta.history === 'object' &&
    meta.history !== null &&
    Array.isArray(meta.history.epoch);
  if (!valid) fail(path, 'the metadata lacks fields or has fields of the wrong type');
  return meta as CheckpointMeta;
}

/** Reads and verifies `DIR/checkpoint.bin`; throws CheckpointError naming the file and the problem. */
export async function readCheckpoint(dir: string): Promise<Checkpoint> {
  const path = join(dir, CHECKPOINT_FILE);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    fail(path, `the file cannot be read (${reason})`, 'Give the directory that checkpointDir (train.js: --checkpoint-dir) wrote to');
  }
  const newline = bytes.indexOf(0x0a);
  let header: { format?: unknown; version?: unknown; sha256?: unknown; payloadBytes?: unknown } | null = null;
  try {
    if (newline > 0) header = JSON.parse(bytes.subarray(0, newline).toString('utf8'));
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
  const payload = bytes.subarray(newline + 1);
  if (!isCount(header.payloadBytes) || payload.length !== header.payloadBytes) {
    fail(path, `the payload has ${payload.length} bytes but the header records ${JSON.stringify(header.payloadBytes)} (the file is truncated or has extra bytes)`);
  }
  const sha256 = createHash('sha256').update(payload).digest('hex');
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
  const expected = padded + 4 * (meta.weightCount + meta.optimizer.stateCount);
  if (payload.length !== expected) {
    fail(path, `the payload has ${payload.length} bytes but ${meta.weightCount} weights and ${meta.optimizer.stateCount} optimizer state values need ${expected}`);
  }
  // Copy into fresh buffers, because the payload's float data need not be 4-byte aligned in `bytes`.
  const floats = new Float32Array(meta.weightCount + meta.optimizer.stateCount);
  new Uint8Array(floats.buffer).set(payload.subarray(padded));
  return { meta, weights: floats.subarray(0, meta.weightCount), optimizerState: floats.subarray(meta.weightCount) };
}
