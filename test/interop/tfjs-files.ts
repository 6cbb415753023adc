/**
 * Moves models between model directories (model.json plus weight files, the layout that
 * saveModel writes) and TensorFlow.js. The pure-JavaScript @tensorflow/tfjs package has no
 * file-system IOHandler in Node.js (that comes with tfjs-node), so these helpers read and write
 * the files themselves and hand TensorFlow.js the artifacts in memory.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';

/** Selects the TensorFlow.js cpu backend and turns off its console notes (prod mode). */
export async function useTfjsCpu(): Promise<void> {
  tf.enableProdMode();
  await tf.setBackend('cpu');
  await tf.ready();
}

interface ModelJson {
  modelTopology: object;
  format?: string;
  generatedBy?: string;
  convertedBy?: string | null;
  weightsManifest: tf.io.WeightsManifestConfig;
}

/** Reads model.json and joins every weight file of every manifest group, in manifest order. */
export async function readModelDir(dir: string): Promise<tf.io.ModelArtifacts> {
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelJson;
  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const chunks: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const path of group.paths) chunks.push(new Uint8Array(await readFile(join(dir, path))));
  }
  const weightData = joinBytes(chunks);
  return {
    modelTopology: json.modelTopology,
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy ?? null,
    weightSpecs,
    weightData: weightData.buffer as ArrayBuffer,
  };
}

/** IOHandler that loads the model directory `dir`, for tf.loadLayersModel. */
export function directoryLoader(dir: string): tf.io.IOHandler {
  return { load: () => readModelDir(dir) };
}

export interface ShardLayout {
  /** Number of consecutive weights in each manifest group, adding up to the weight count. */
  groupSizes: number[];
  /** Maximum bytes per weight file. A file may end inside a weight, as TensorFlow.js shards do. */
  shardBytes: number;
}

/**
 * Writes TensorFlow.js artifacts to `dir` as model.json and weight files. Without `layout` all
 * weights go to one weights.bin. With it, each group's bytes are cut into files named as
 * TensorFlow.js names its shards (group1-shard1of2.bin). Returns the weight file names.
 */
export async function writeModelDir(dir: string, artifacts: tf.io.ModelArtifacts, layout?: ShardLayout): Promise<string[]> {
  const specs = artifacts.weightSpecs ?? [];
  const rawData = artifacts.weightData ?? new ArrayBuffer(0);
  const data = joinBytes((Array.isArray(rawData) ? rawData : [rawData]).map((buffer) => new Uint8Array(buffer)));
  const groupSizes = layout?.groupSizes ?? [specs.length];
  if (groupSizes.reduce((a, b) => a + b, 0) !== specs.length) {
    throw new RangeError(`groupSizes ${JSON.stringify(groupSizes)} must add up to the ${specs.length} weights.`);
  }

  await mkdir(dir, { recursive: true });
  const manifest: tf.io.WeightsManifestConfig = [];
  const files: string[] = [];
  let specAt = 0;
  let byteAt = 0;
  for (const [g, count] of groupSizes.entries()) {
    const weights = specs.slice(specAt, specAt + count);
    specAt += count;
    const groupBytes = weights.reduce((sum, spec) => sum + 4 * spec.shape.reduce((a, b) => a * b, 1), 0);
    const groupData = data.subarray(byteAt, byteAt + groupBytes);
    byteAt += groupBytes;
    const shardBytes = layout?.shardBytes ?? Math.max(groupBytes, 1);
    const shardCount = Math.max(1, Math.ceil(groupBytes / shardBytes));
    const paths: string[] = [];
    for (let s = 0; s < shardCount; s++) {
      const path = layout === undefined ? 'weights.bin' : `group${g + 1}-shard${s + 1}of${shardCount}.bin`;
      await writeFile(join(dir, path), groupData.subarray(s * shardBytes, (s + 1) * shardBytes));
      paths.push(path);
    }
    manifest.push({ paths, weights });
    files.push(...paths);
  }
  if (byteAt !== data.length) throw new RangeError(`The weight specs cover ${byteAt} bytes but the weight data has ${data.length}.`);

  const json: ModelJson = {
    modelTopology: artifacts.modelTopology as object,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy ?? null,
    weightsManifest: manifest,
  };
  await writeFile(join(dir, 'model.json'), `${JSON.stringify(json, null, 2)}\n`);
  return files;
}

/** Saves a TensorFlow.js model to `dir` through tf.io.withSaveHandler and writeModelDir. */
export async function saveTfjsModel(model: tf.LayersModel, dir: string, layout?: ShardLayout): Promise<string[]> {
  let files: string[] = [];
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      files = await writeModelDir(dir, artifacts, layout);
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return files;
}

function joinBytes(chunks: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/**
 * Returns `count` seeded single-channel images of `size` x `size` with labels 0..classes-1.
 * Image i has noise in [0, 0.5) plus a bright row at the label's position, so a small
 * network learns the labels within a few epochs.
 */
export function stripeImages(count: number, size: number, classes: number, seed: number): { x: Tensor; y: Tensor } {
  const rng = new Rng(seed);
  const x = Tensor.zeros([count, size, size, 1]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    const label = i % classes;
    y.data[i] = label;
    const row = Math.floor(((label + 0.5) * size) / classes);
    for (let p = 0; p < size * size; p++) {
      x.data[i * size * size + p] = 0.5 * rng.next() + (Math.floor(p / size) === row ? 0.5 : 0);
    }
  }
  return { x, y };
}

/** Index of the largest value in each row of a [N, K] array. */
export function argmaxRows(values: ArrayLike<number>, columns: number): number[] {
  const classes: number[] = [];
  for (let start = 0; start < values.length; start += columns) {
    let best = 0;
    for (let k = 1; k < columns; k++) if (values[start + k] > values[start + best]) best = k;
    classes.push(best);
  }
  return classes;
}

/** Largest absolute difference between two arrays of the same length. */
export function maxAbsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new RangeError(`Lengths differ: ${a.length} and ${b.length}.`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

/** Copies a shardnet tensor into a TensorFlow.js tensor. */
export function toTfjs(x: Tensor): tf.Tensor {
  return tf.tensor(x.data, [...x.shape]);
}

/** Runs a TensorFlow.js model in inference mode on a shardnet tensor and returns the flat output. */
export function tfjsPredict(model: tf.LayersModel, x: Tensor): Float32Array {
  return tf.tidy(() => (model.predict(toTfjs(x)) as tf.Tensor).dataSync() as Float32Array);
}
