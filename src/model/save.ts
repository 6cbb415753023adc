/**
 * Saving and loading models in the TensorFlow.js layers format: a model.json with the
 * Keras-style topology (snake_case layer configs) and a weights manifest, plus one
 * weights.bin of little-endian float32 values in manifest order. Kernels keep Keras layouts:
 * convolutions [kh, kw, in, out], dense [in, out].
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { ValueError } from '../errors.js';
import { deserializeLayer } from '../layers/index.js';
import { Sequential } from './sequential.js';

export const MODEL_FORMAT = 'layers-model';
export const GENERATED_BY = 'shardnet 0.1.0';
const WEIGHTS_FILE = 'weights.bin';

const TO_KERAS_KEYS: Record<string, string> = {
  kernelSize: 'kernel_size',
  useBias: 'use_bias',
  poolSize: 'pool_size',
};
const FROM_KERAS_KEYS: Record<string, string> = Object.fromEntries(Object.entries(TO_KERAS_KEYS).map(([k, v]) => [v, k]));

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
}

function toKerasConfig(config: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(config)) out[TO_KERAS_KEYS[key] ?? key] = value;
  return out;
}

/** Writes a file through a temporary name and a rename, so a crash never leaves half a file. */
async function writeAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
}

/** Saves topology and weights to `dir` (created if needed) as model.json and weights.bin. */
export async function saveModel(model: Sequential, dir: string): Promise<void> {
  const entries = model.paramEntries;
  const weights = model.flatWeights;
  const layers = model.layers.map((layer, i) => {
    const config = toKerasConfig(layer.getConfig());
    if (i === 0) config.batch_input_shape = [null, ...model.inputShape];
    return { class_name: layer.className, config };
  });
  const manifest: WeightSpec[] = entries.map((e) => ({ name: e.name, shape: e.spec.shape, dtype: 'float32' }));
  const json = {
    format: MODEL_FORMAT,
    generatedBy: GENERATED_BY,
    convertedBy: null,
    modelTopology: {
      class_name: 'Sequential',
      config: { name: model.name, layers },
      keras_version: GENERATED_BY,
      backend: 'shardnet',
    },
    weightsManifest: [{ paths: [WEIGHTS_FILE], weights: manifest }],
  };
  await mkdir(dir, { recursive: true });
  // Little-endian float32 is the in-memory layout on every platform Node supports here.
  const bytes = new Uint8Array(weights.byteLength);
  bytes.set(new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength));
  await writeAtomically(join(dir, WEIGHTS_FILE), bytes);
  await writeAtomically(join(dir, 'model.json'), `${JSON.stringify(json, null, 2)}\n`);
}

function fail(file: string, problem: string): never {
  throw new ValueError(`Cannot load model ${file}: ${problem}.`);
}

/** Loads a model saved by saveModel (or a TensorFlow.js Sequential of supported layers). */
export async function loadModel(dir: string): Promise<Sequential> {
  const jsonPath = join(dir, 'model.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (error) {
    fail(jsonPath, `it is not readable JSON (${(error as Error).message})`);
  }
  const root = parsed as { modelTopology?: { class_name?: unknown; config?: { name?: unknown; layers?: unknown } }; weightsManifest?: unknown };
  const topology = root?.modelTopology;
  if (topology?.class_name !== 'Sequential' || !Array.isArray(topology.config?.layers)) {
    fail(jsonPath, 'modelTopology must be a Sequential with a layers array');
  }
  const layerEntries = topology.config.layers as { class_name?: unknown; config?: Record<string, unknown> }[];
  const modelName = typeof topology.config.name === 'string' ? topology.config.name : undefined;
  const model = new Sequential({ name: modelName });
  layerEntries.forEach((entry, i) => {
    if (entry === null || typeof entry !== 'object' || typeof entry.config !== 'object' || entry.config === null) {
      fail(jsonPath, `layer ${i} has no config object`);
    }
    const config: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(entry.config)) {
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') fail(jsonPath, `layer ${i} has a forbidden key ${key}`);
      config[FROM_KERAS_KEYS[key] ?? key] = value;
    }
    const batchInputShape = config.batch_input_shape ?? config.batchInputShape;
    delete config.batch_input_shape;
    delete config.batchInputShape;
    if (Array.isArray(batchInputShape)) config.inputShape = batchInputShape.slice(1);
    model.add(deserializeLayer({ className: String(entry.class_name), config }));
  });
  const manifestGroups = root.weightsManifest;
  if (!Array.isArray(manifestGroups)) fail(jsonPath, 'weightsManifest is missing');
  const flat = model.flatWeights;
  const expected = model.paramEntries;
  const specs: WeightSpec[] = [];
  const chunks: Uint8Array[] = [];
  for (const group of manifestGroups as { paths?: unknown; weights?: unknown }[]) {
    if (!Array.isArray(group?.paths) || !Array.isArray(group.weights)) fail(jsonPath, 'a weightsManifest group lacks paths or weights');
    for (const path of group.paths) {
      if (typeof path !== 'string' || path.includes('/') || path.includes('\\') || path.startsWith('.')) {
        fail(jsonPath, `weights path ${JSON.stringify(path)} must be a plain file name in the model directory`);
      }
      chunks.push(new Uint8Array(await readFile(join(dir, path))));
    }
    specs.push(...(group.weights as WeightSpec[]));
  }
  if (specs.length !== expected.length) fail(jsonPath, `the manifest lists ${specs.length} weights but the topology has ${expected.length}`);
  const total = chunks.reduce((sum, c) => sum + c.length, 0);
  if (total !== flat.length * 4) fail(jsonPath, `the weight files hold ${total} bytes but the model needs ${flat.length * 4}`);
  const bytes = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  specs.forEach((spec, i) => {
    const e = expected[i];
    if (spec?.dtype !== 'float32') fail(jsonPath, `weight ${i} (${String(spec?.name)}) has dtype ${String(spec?.dtype)}; only float32 is supported`);
    if (!Array.isArray(spec.shape) || spec.shape.join() !== e.spec.shape.join()) {
      fail(jsonPath, `weight ${String(spec.name)} has shape [${String(spec.shape)}] but layer '${e.layer.name}' needs [${e.spec.shape.join(', ')}]`);
    }
  });
  new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength).set(bytes);
  return model;
}

export { writeAtomically };
