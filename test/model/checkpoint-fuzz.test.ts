/**
 * Property-based tests of checkpoint loading. A real checkpoint is written once, then damaged
 * in many ways: truncated, extended, overwritten bytes, random files, lying lengths, and
 * metadata edited at random and re-signed with a valid checksum so that it reaches the
 * structural checks. Every case must end in a CheckpointError, or in a load whose resume
 * either trains or raises a CheckpointError (or a NonFiniteError for a valid but huge learning rate). Any other error, or a hang, fails the test.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import fc from 'fast-check';

import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { CheckpointError, NonFiniteError } from '../../src/errors.js';
import { layers } from '../../src/layers/index.js';
import { CHECKPOINT_FILE, readCheckpoint } from '../../src/model/checkpoint.js';
import type { FitArgs } from '../../src/model/fit.js';
import { Sequential } from '../../src/model/sequential.js';

/** Fixed seed, so a failing run reproduces. fast-check prints the counterexample. */
const SEED = 31337;

const INPUT_SHAPE = [4, 4, 1];
const FIT: FitArgs = { batchSize: 8, microBatchSize: 4, validationSplit: 0.25, seed: 5, threads: 0 };

function syntheticData(count: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(9);
  const x = Tensor.zeros([count, ...INPUT_SHAPE]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    y.data[i] = rng.int(3);
    for (let p = 0; p < 16; p++) x.data[i * 16 + p] = rng.next();
  }
  return { x, y };
}

// 48 samples with validationSplit 0.25 leave 36 for training: batches of 8, 8, 8, 8, 4.
const DATA = syntheticData(48);

function tinyNet(): Sequential {
  const model = new Sequential({ seed: 2 });
  model.add(layers.conv2d({ filters: 2, kernelSize: 3, activation: 'relu', inputShape: INPUT_SHAPE }));
  model.add(layers.flatten());
  model.add(layers.dense({ units: 3, activation: 'softmax' }));
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

let root = '';
let original: Buffer = Buffer.alloc(0);
let caseCount = 0;

/** Writes `bytes` as the checkpoint of a fresh directory and returns the directory. */
function checkpointDir(bytes: Uint8Array): string {
  const dir = join(root, `case-${caseCount++}`);
  mkdirSync(dir);
  writeFileSync(join(dir, CHECKPOINT_FILE), bytes);
  return dir;
}

/** Splits a checkpoint file into its header object, metadata object and float bytes. */
function split(file: Buffer): { header: Record<string, unknown>; meta: Record<string, unknown>; floats: Buffer } {
  const newline = file.indexOf(0x0a);
  const header = JSON.parse(file.subarray(0, newline).toString('utf8')) as Record<string, unknown>;
  const payload = file.subarray(newline + 1);
  const metaLength = payload.readUInt32LE(0);
  const meta = JSON.parse(payload.subarray(4, 4 + metaLength).toString('utf8')) as Record<string, unknown>;
  const padded = Math.ceil((4 + metaLength) / 4) * 4;
  return { header, meta, floats: payload.subarray(padded) };
}

/** Builds a checkpoint file around `metaJson` with a correct checksum and payload length. */
function signed(metaJson: string, floats: Buffer, header: Record<string, unknown> = {}): Buffer {
  const metaBytes = Buffer.from(metaJson, 'utf8');
  const padded = Math.ceil((4 + metaBytes.length) / 4) * 4;
  const payload = Buffer.alloc(padded + floats.length);
  payload.writeUInt32LE(metaBytes.length, 0);
  metaBytes.copy(payload, 4);
  floats.copy(payload, padded);
  const sha256 = createHash('sha256').update(payload).digest('hex');
  const line = JSON.stringify({ format: 'shardnet-checkpoint', version: 1, sha256, payloadBytes: payload.length, ...header });
  return Buffer.concat([Buffer.from(`${line}\n`, 'utf8'), payload]);
}

/** Asserts that reading the checkpoint in `dir` raises a CheckpointError naming the file. */
async function assertRejected(dir: string): Promise<void> {
  await assert.rejects(readCheckpoint(dir), (error: unknown) => {
    assert.ok(error instanceof CheckpointError, `expected a CheckpointError, got ${String(error)}`);
    assert.ok(error.message.includes(join(dir, CHECKPOINT_FILE)), error.message);
    return true;
  });
}

/** Returns every path from the root of a JSON value to one of its parts, as lists of keys. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  const out: (string | number)[][] = [prefix];
  if (Array.isArray(value)) {
    // Long float lists would crowd out the rest, so only their first entries are visited.
    value.slice(0, 3).forEach((item, i) => out.push(...paths(item, [...prefix, i])));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) out.push(...paths(item, [...prefix, key]));
  }
  return out;
}

/** Replaces (or deletes, when `replacement` is undefined) the part of `root` at `path`. */
function edit(root: unknown, path: (string | number)[], replacement: unknown): unknown {
  if (path.length === 0) return replacement;
  const copy = structuredClone(root) as Record<string | number, unknown>;
  let parent = copy;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path[path.length - 1];
  if (replacement === undefined) {
    if (Array.isArray(parent)) parent.splice(last as number, 1);
    else delete parent[last];
  } else {
    parent[last] = replacement;
  }
  return copy;
}

/** Values that sit at the edges of what the checks accept. */
const EDGE_VALUES = fc.constantFrom<unknown>(
  undefined, null, -1, 0, 1, 0.5, 2 ** 32, 2 ** 53, 1e308, -0, 'NaN', 'Infinity', '', '__proto__', [], {}, [1, 2], true,
);

describe('checkpoint files under fuzzing', () => {
  before(async () => {
    root = mkdtempSync(join(tmpdir(), 'shardnet-checkpoint-fuzz-'));
    const dir = join(root, 'source');
    const model = tinyNet();
    try {
      // Stop after batch 2 of epoch 1, so the checkpoint contains history and a mid-epoch position.
      let epoch = -1;
      await model.fit(DATA.x, DATA.y, {
        ...FIT,
        epochs: 3,
        checkpointDir: dir,
        checkpointOnStop: true,
        callbacks: {
          onEpochBegin: (e) => {
            epoch = e;
          },
          onBatchEnd: (b) => {
            if (epoch === 1 && b === 2) model.stopTraining = true;
          },
        },
      });
    } finally {
      await model.dispose();
    }
    original = readFileSync(join(dir, CHECKPOINT_FILE));
    const loaded = await readCheckpoint(dir);
    assert.equal(loaded.meta.epoch, 1);
    assert.equal(loaded.meta.batch, 3);
  });

  after(() => {
    rmSync(root, { recursive: true, force: true });
  });

  it('rejects every truncation', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: original.length - 1 }), async (length) => {
        await assertRejected(checkpointDir(original.subarray(0, length)));
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('rejects appended bytes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 64 }), async (extra) => {
        await assertRejected(checkpointDir(Buffer.concat([original, extra])));
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('rejects any changed byte', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: original.length - 1 }), fc.integer({ min: 1, max: 255 }), async (position, delta) => {
        const bytes = Buffer.from(original);
        bytes[position] = (bytes[position] + delta) & 0xff;
        await assertRejected(checkpointDir(bytes));
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('rejects random files', async () => {
    const withHeader = fc.uint8Array({ maxLength: 2048 }).map((rest) => Buffer.concat([Buffer.from('{"format":"shardnet-checkpoint","version":1}\n'), rest]));
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 4096 }), withHeader), async (bytes) => {
        await assertRejected(checkpointDir(bytes));
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('rejects lying lengths without large allocations', async () => {
    const { meta, floats } = split(original);
    const metaJson = JSON.stringify(meta);
    const before = process.memoryUsage().arrayBuffers;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constantFrom(-1, 1.5, 2 ** 53, '12')), async (lie) => {
        // A header that records a wrong payload size.
        const file = signed(metaJson, floats, { payloadBytes: lie });
        if (typeof lie !== 'number' || lie !== file.length - file.indexOf(0x0a) - 1) await assertRejected(checkpointDir(file));
        // A metadata length field that points past the metadata, re-signed so the checksum passes.
        const good = signed(metaJson, floats);
        const newline = good.indexOf(0x0a);
        const payload = Buffer.from(good.subarray(newline + 1));
        if (typeof lie === 'number' && Number.isInteger(lie) && lie !== Buffer.byteLength(metaJson)) {
          payload.writeUInt32LE(lie >>> 0, 0);
          const sha256 = createHash('sha256').update(payload).digest('hex');
          const line = JSON.stringify({ format: 'shardnet-checkpoint', version: 1, sha256, payloadBytes: payload.length });
          await assertRejected(checkpointDir(Buffer.concat([Buffer.from(`${line}\n`), payload])));
        }
      }),
      { seed: SEED, numRuns: 100 },
    );
    const growth = process.memoryUsage().arrayBuffers - before;
    assert.ok(growth < 64 * 2 ** 20, `ArrayBuffer memory grew by ${growth} bytes`);
  });

  it('rejects huge weight counts before allocating', async () => {
    const { meta, floats } = split(original);
    for (const weightCount of [2 ** 31, 2 ** 40, Number.MAX_SAFE_INTEGER]) {
      const lying = { ...meta, weightCount };
      const before = process.memoryUsage().arrayBuffers;
      await assertRejected(checkpointDir(signed(JSON.stringify(lying), floats)));
      const growth = process.memoryUsage().arrayBuffers - before;
      assert.ok(growth < 64 * 2 ** 20, `weightCount ${weightCount}: ArrayBuffer memory grew by ${growth} bytes`);
    }
  });

  it('re-signed metadata edits load safely or fail cleanly', async () => {
    const { meta, floats } = split(original);
    const allPaths = paths(meta);
    let loaded = 0;
    let rejected = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: allPaths.length - 1 }),
        fc.oneof(EDGE_VALUES, fc.jsonValue({ maxDepth: 2 })),
        async (pathIndex, replacement) => {
          const edited = edit(meta, allPaths[pathIndex], replacement);
          const json = JSON.stringify(edited) ?? 'null';
          const dir = checkpointDir(signed(json, floats));
          let checkpointRead = true;
          try {
            await readCheckpoint(dir);
          } catch (error) {
            assert.ok(error instanceof CheckpointError, `path ${allPaths[pathIndex].join('.')}: expected a CheckpointError, got ${String(error)}`);
            checkpointRead = false;
            rejected++;
          }
          if (!checkpointRead) return;
          // The file passed the structural checks, so resuming must train or raise a CheckpointError.
          loaded++;
          const model = tinyNet();
          try {
            await model.fit(DATA.x, DATA.y, { ...FIT, epochs: 2, resumeFrom: dir });
          } catch (error) {
            // A huge but valid learning rate makes the loss NaN, which stops training with its own error.
            const typed = error instanceof CheckpointError || error instanceof NonFiniteError;
            assert.ok(typed, `path ${allPaths[pathIndex].join('.')}: resume raised ${String(error)}`);
          } finally {
            await model.dispose();
          }
        },
      ),
      { seed: SEED, numRuns: 250, includeErrorInReport: true },
    );
    // Both branches must be reached, or the property checked less than it claims.
    assert.ok(rejected > 0, 'no edit was rejected');
    assert.ok(loaded > 0, 'no edit loaded');
  });
});
