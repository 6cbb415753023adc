/**
 * Saving and loading models in the TensorFlow.js layers format: a model.json with the
 * Keras-style topology (snake_case layer configs) and a weights manifest, plus one
 * weights.bin of little-endian float32 values in manifest order. Kernels keep Keras layouts:
 * convolutions [kh, kw, in, out], dense [in, out]. The manifest lists weights in Keras order
 * (per layer; BatchNormalization: gamma, beta, moving_mean, moving_variance), which differs
 * from the flat buffer's order when a model has non-trainable weights (see buildLayers).
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomically } from '../core/atomic-write.js';
import { makeDirectory } from '../core/make-directory.js';
import { ValueError, formatValue } from '../errors.js';
import { LAYER_CLASS_NAMES, deserializeLayer } from '../layers/index.js';
import { type ParamEntry, buildLayers, totalParams } from './build.js';
import { Sequential } from './sequential.js';

export const MODEL_FORMAT = 'layers-model';
export const GENERATED_BY = 'shardnet 0.1.0';
const WEIGHTS_FILE = 'weights.bin';

const TO_KERAS_KEYS: Record<string, string> = {
  kernelSize: 'kernel_size',
  useBias: 'use_bias',
  poolSize: 'pool_size',
  kernelRegularizer: 'kernel_regularizer',
  targetShape: 'target_shape',
  dataFormat: 'data_format',
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
  // A regularizer is a nested Keras object: { class_name: 'L1L2', config: { l1, l2 } }, as TensorFlow.js writes it.
  if (isPlainObject(config.kernelRegularizer)) {
    const { className, config: factors } = config.kernelRegularizer;
    out.kernel_regularizer = { class_name: className, config: factors };
  }
  return out;
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
  await makeDirectory(dir);
  // Little-endian float32 is the in-memory layout on every platform Node supports here.
  const bytes = new Uint8Array(weights.byteLength);
  let at = 0;
  for (const e of entries) {
    bytes.set(new Uint8Array(weights.buffer, weights.byteOffset + e.offset * 4, e.size * 4), at);
    at += e.size * 4;
  }
  await writeFileAtomically(join(dir, WEIGHTS_FILE), bytes);
  await writeFileAtomically(join(dir, 'model.json'), `${JSON.stringify(json, null, 2)}\n`);
}

function fail(file: string, problem: string, cause?: unknown): never {
  throw new ValueError(`Cannot load model ${file}: ${problem}.`, cause === undefined ? undefined : { cause });
}

/** Keys that would reach Object.prototype when copied into a configuration object. */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** Deepest nesting of arrays and objects accepted inside one layer config. */
const MAX_CONFIG_DEPTH = 32;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Walks `config` without recursion and raises a ValueError on a forbidden key at any depth or
 * on nesting deeper than MAX_CONFIG_DEPTH.
 */
function checkConfigKeys(config: Record<string, unknown>, file: string, where: string): void {
  const pending: { value: unknown; path: string; depth: number }[] = [{ value: config, path: 'config', depth: 1 }];
  while (pending.length > 0) {
    const { value, path, depth } = pending.pop()!;
    if (value === null || typeof value !== 'object') continue;
    if (depth > MAX_CONFIG_DEPTH) fail(file, `${where} nests deeper than ${MAX_CONFIG_DEPTH} levels at ${path}`);
    if (Array.isArray(value)) {
      value.forEach((item, i) => pending.push({ value: item, path: `${path}[${i}]`, depth: depth + 1 }));
      continue;
    }
    for (const [key, item] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(key)) fail(file, `${where} has a forbidden key ${JSON.stringify(key)} at ${path}`);
      pending.push({ value: item, path: `${path}.${key}`, depth: depth + 1 });
    }
  }
}

/** Rebuilds layer `index` from its model.json entry and adds it to `model`. */
function addLayer(model: Sequential, entry: unknown, index: number, file: string): void {
  const where = `layer ${index}`;
  if (!isPlainObject(entry) || !isPlainObject(entry.config)) fail(file, `${where} has no config object`);
  const className = entry.class_name;
  if (typeof className !== 'string' || !LAYER_CLASS_NAMES.includes(className)) {
    fail(file, `${where} has unknown class_name ${formatValue(className)}. Supported classes: ${LAYER_CLASS_NAMES.join(', ')}`);
  }
  checkConfigKeys(entry.config, file, where);
  const config: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(entry.config)) config[FROM_KERAS_KEYS[key] ?? key] = value;
  const batchInputShape = config.batch_input_shape ?? config.batchInputShape;
  delete config.batch_input_shape;
  delete config.batchInputShape;
  if (Array.isArray(batchInputShape)) config.inputShape = batchInputShape.slice(1);
  try {
    model.add(deserializeLayer({ className, config }));
  } catch (error) {
    // The layer's message is a sentence; fail() adds the final period.
    fail(file, `${where} (${className}) has an invalid config: ${(error as Error).message.replace(/\.$/, '')}`, error);
  }
}

/** Returns whether `shape` is an array of the same integers as `expected`. */
function sameShape(shape: unknown, expected: readonly number[]): boolean {
  return Array.isArray(shape) && shape.length === expected.length && shape.every((size, i) => size === expected[i]);
}

/**
 * Returns the file names of a weightsManifest group. Each must name a file directly inside the
 * model directory, so a manifest cannot read files elsewhere. Names that start with a dot or
 * contain a slash, a backslash, a colon or a NUL byte are rejected.
 */
function groupPaths(group: unknown, file: string): string[] {
  if (!isPlainObject(group) || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
    fail(file, 'a weightsManifest group lacks paths or weights');
  }
  for (const path of group.paths) {
    if (
      typeof path !== 'string' ||
      path === '' ||
      path.startsWith('.') ||
      /[/\\\0:]/.test(path)
    ) {
      fail(file, `weights path ${formatValue(path)} must be a plain file name in the model directory`);
    }
  }
  return group.paths as string[];
}

/** Loads a model saved by saveModel (or a TensorFlow.js Sequential of supported layers). */
export async function loadModel(dir: string): Promise<Sequential> {
  const jsonPath = join(dir, 'model.json');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(jsonPath, 'utf8'));
  } catch (error) {
    fail(jsonPath, `it is not readable JSON (${(error as Error).message})`, error);
  }
  if (!isPlainObject(parsed)) fail(jsonPath, `the top level must be a JSON object, found ${describeJsonType(parsed)}`);
  const topology = parsed.modelTopology;
  if (!isPlainObject(topology) || topology.class_name !== 'Sequential' || !isPlainObject(topology.config) || !Array.isArray(topology.config.layers)) {
    fail(jsonPath, 'modelTopology must be a Sequential with a layers array');
  }
  const layerEntries: unknown[] = topology.config.layers;
  if (layerEntries.length === 0) fail(jsonPath, 'modelTopology has no layers');
  const modelName = typeof topology.config.name === 'string' ? topology.config.name : undefined;
  const model = new Sequential({ name: modelName });
  layerEntries.forEach((entry, i) => addLayer(model, entry, i, jsonPath));

  // Shapes and sizes come from the layers alone, so everything below is checked before the
  // weight buffer (and any file) is allocated or read.
  const expected = buildLayers(model.layers, model.inputShape);
  const paramCount = totalParams(expected);

  const manifestGroups = parsed.weightsManifest;
  if (!Array.isArray(manifestGroups)) fail(jsonPath, 'weightsManifest is missing');
  const paths: string[] = [];
  const specs: unknown[] = [];
  for (const group of manifestGroups) {
    paths.push(...groupPaths(group, jsonPath));
    specs.push(...((group as { weights: unknown[] }).weights));
  }
  if (specs.length !== expected.length) fail(jsonPath, `the manifest lists ${specs.length} weights but the topology has ${expected.length}`);
  const order = manifestOrder(specs, expected);
  specs.forEach((spec, i) => {
    const e = order[i];
    if (!isPlainObject(spec)) fail(jsonPath, `weight ${i} in the manifest is ${describeJsonType(spec)}, not an object`);
    const name = formatValue(spec.name);
    if (spec.dtype !== 'float32') fail(jsonPath, `weight ${i} (${name}) has dtype ${formatValue(spec.dtype)}; only float32 is supported`);
    if (!sameShape(spec.shape, e.spec.shape)) {
      fail(jsonPath, `weight ${i} (${name}) has shape ${formatValue(spec.shape)} but layer '${e.layer.name}' needs [${e.spec.shape.join(', ')}]`);
    }
  });

  const sizes: number[] = [];
  for (const path of paths) {
    try {
      const info = await stat(join(dir, path));
      if (!info.isFile()) fail(jsonPath, `weights path ${JSON.stringify(path)} is not a regular file`);
      sizes.push(info.size);
    } catch (error) {
      if (error instanceof ValueError) throw error;
      fail(jsonPath, `cannot read weights file ${JSON.stringify(path)} (${(error as Error).message})`, error);
    }
  }
  const total = sizes.reduce((sum, size) => sum + size, 0);
  if (total !== paramCount * 4) fail(jsonPath, `the weight files hold ${total} bytes but the model needs ${paramCount * 4}`);

  const flat = model.flatWeights;
  const bytes = new Uint8Array(flat.byteLength);
  let at = 0;
  for (const path of paths) {
    let chunk: Uint8Array;
    try {
      chunk = new Uint8Array(await readFile(join(dir, path)));
    } catch (error) {
      fail(jsonPath, `cannot read weights file ${JSON.stringify(path)} (${(error as Error).message})`, error);
    }
    if (at + chunk.length > bytes.length) fail(jsonPath, `weights file ${JSON.stringify(path)} grew while it was read`);
    bytes.set(chunk, at);
    at += chunk.length;
  }
  if (at !== bytes.length) fail(jsonPath, 'the weight files shrank while they were read');
  const flatBytes = new Uint8Array(flat.buffer, flat.byteOffset, flat.byteLength);
  at = 0;
  for (const e of order) {
    flatBytes.set(bytes.subarray(at, at + e.size * 4), e.offset * 4);
    at += e.size * 4;
  }
  return model;
}

/**
 * Returns the model weight that each manifest weight fills. When the manifest names are
 * exactly the model's weight names, they are matched by name, because TensorFlow.js
 * (tfjs-layers Container.weights) lists the trainable weights of all layers before the
 * non-trainable ones. Otherwise they are matched by
 * position, so a manifest whose converter named the weights differently still loads.
 */
function manifestOrder(specs: readonly unknown[], expected: readonly ParamEntry[]): ParamEntry[] {
  const byName = new Map(expected.map((e) => [e.name, e]));
  const names = specs.map((spec) => (isPlainObject(spec) && typeof spec.name === 'string' ? spec.name : null));
  const matched = names.map((name) => (name === null ? undefined : byName.get(name)));
  const allNamed = matched.every((e) => e !== undefined) && new Set(names).size === names.length;
  return allNamed ? (matched as ParamEntry[]) : expected.slice();
}

/** Names the JSON type of `value` for error messages: null, array, object, string, number or boolean. */
function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

