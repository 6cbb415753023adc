/**
 * Property-based tests of loadModel: small random models round-trip through saveModel, and
 * mutated model.json or weights.bin files raise a ValueError that starts with
 * "Cannot load model", never a TypeError, RangeError or crash from deeper code.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import fc from 'fast-check';

import { ValueError } from '../../src/errors.js';
import { Conv2D, Dense, Dropout, Flatten, LAYER_CLASS_NAMES, MaxPooling2D } from '../../src/layers/index.js';
import type { Layer } from '../../src/layers/index.js';
import { loadModel, saveModel } from '../../src/model/save.js';
import { Sequential } from '../../src/model/sequential.js';

const SEED = 20240611;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface ModelJson {
  modelTopology: { class_name: string; config: { name: string; layers: { class_name: string; config: Record<string, Json> }[] } };
  weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[];
  [key: string]: Json | object;
}

/** Recipe for a small Sequential model: either dense-only or convolution, pooling, dense. */
const modelRecipe = fc.oneof(
  fc.record({
    kind: fc.constant('dense' as const),
    features: fc.integer({ min: 1, max: 6 }),
    units: fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 3 }),
    useBias: fc.boolean(),
    dropout: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('conv' as const),
    size: fc.integer({ min: 3, max: 6 }),
    channels: fc.integer({ min: 1, max: 2 }),
    filters: fc.integer({ min: 1, max: 3 }),
    kernelSize: fc.integer({ min: 1, max: 3 }),
    padding: fc.constantFrom('valid' as const, 'same' as const),
    pool: fc.boolean(),
    units: fc.integer({ min: 1, max: 4 }),
  }),
);

type ModelRecipe = typeof modelRecipe extends fc.Arbitrary<infer R> ? R : never;

function buildModel(recipe: ModelRecipe, weightSeed: number): Sequential {
  const layers: Layer[] = [];
  if (recipe.kind === 'dense') {
    recipe.units.forEach((units, i) => {
      const args = { units, useBias: recipe.useBias, activation: i === recipe.units.length - 1 ? ('softmax' as const) : ('relu' as const) };
      layers.push(i === 0 ? new Dense({ ...args, inputShape: [recipe.features] }) : new Dense(args));
      if (recipe.dropout && i === 0) layers.push(new Dropout({ rate: 0.25 }));
    });
  } else {
    layers.push(
      new Conv2D({
        filters: recipe.filters,
        kernelSize: recipe.kernelSize,
        padding: recipe.padding,
        activation: 'relu',
        inputShape: [recipe.size, recipe.size, recipe.channels],
      }),
    );
    if (recipe.pool) layers.push(new MaxPooling2D({ poolSize: 2, padding: 'same' }));
    layers.push(new Flatten({}), new Dense({ units: recipe.units }));
  }
  const model = new Sequential({ layers });
  // Distinct non-trivial values, so a shifted or swapped weight would not compare equal.
  const weights = model.flatWeights;
  for (let i = 0; i < weights.length; i++) weights[i] = Math.fround(Math.sin(weightSeed + i * 1.618) * 3);
  return model;
}

let scratch = '';
let counter = 0;

async function freshDir(): Promise<string> {
  counter += 1;
  const dir = join(scratch, `model-${counter}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Saves a model built from `recipe` and returns its directory and parsed model.json. */
async function savedModel(recipe: ModelRecipe): Promise<{ dir: string; json: ModelJson; model: Sequential }> {
  const model = buildModel(recipe, counter);
  const dir = await freshDir();
  await saveModel(model, dir);
  const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as ModelJson;
  return { dir, json, model };
}

async function writeModelJson(dir: string, json: unknown): Promise<void> {
  await writeFile(join(dir, 'model.json'), typeof json === 'string' ? json : JSON.stringify(json));
}

/** Asserts that loading `dir` rejects with a ValueError from loadModel whose message contains every fragment. */
async function expectLoadError(dir: string, fragments: string[] = []): Promise<void> {
  let loaded: Sequential;
  try {
    loaded = await loadModel(dir);
  } catch (error) {
    if (!(error instanceof ValueError)) {
      assert.fail(`expected a ValueError, got ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    }
    assert.equal(error.name, 'ValueError');
    assert.ok(error.message.startsWith(`Cannot load model ${join(dir, 'model.json')}: `), error.message);
    assert.doesNotMatch(error.message, /[^.]\.\.(\s|$)/, 'a sentence ends with two periods');
    for (const fragment of fragments) {
      assert.ok(error.message.includes(fragment), `message lacks "${fragment}": ${error.message}`);
    }
    return;
  }
  assert.fail(`expected a ValueError, but model '${loaded.name}' loaded with ${loaded.layers.length} layers`);
}

/** Defines `key` as an own enumerable property, so JSON.stringify writes it even for "__proto__". */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Picks layer `index` modulo the layer count. */
function layerAt(json: ModelJson, index: number): { class_name: string; config: Record<string, Json> } {
  const layers = json.modelTopology.config.layers;
  return layers[index % layers.length];
}

function weightAt(json: ModelJson, index: number): { name: string; shape: number[]; dtype: string } {
  const weights = json.weightsManifest[0].weights;
  return weights[index % weights.length];
}

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'load-model-fuzz-'));
});

after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe('loadModel properties', { timeout: 30_000 }, () => {
  test('saved models round-trip', async () => {
    await fc.assert(
      fc.asyncProperty(modelRecipe, async (recipe) => {
        const { dir, model } = await savedModel(recipe);
        const loaded = await loadModel(dir);
        assert.deepEqual(
          loaded.layers.map((layer) => [layer.className, layer.getConfig()]),
          model.layers.map((layer) => [layer.className, layer.getConfig()]),
        );
        assert.deepEqual(loaded.inputShape, model.inputShape);
        assert.deepEqual(Array.from(loaded.flatWeights), Array.from(model.flatWeights));
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  test('unknown layer classes rejected', async () => {
    const className = fc.oneof(
      fc.string().filter((name) => !LAYER_CLASS_NAMES.includes(name)),
      fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'Object', 'dense', 'Layer', 'Conv2d'),
      fc.constantFrom<Json>(null, 7, true, ['Dense'], { name: 'Dense' }),
    );
    await fc.assert(
      fc.asyncProperty(modelRecipe, fc.nat(), className, async (recipe, index, name) => {
        const { dir, json } = await savedModel(recipe);
        (layerAt(json, index) as { class_name: Json }).class_name = name;
        await writeModelJson(dir, json);
        await expectLoadError(dir, ['class_name']);
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  test('missing or extra manifest weights rejected', async () => {
    await fc.assert(
      fc.asyncProperty(modelRecipe, fc.nat(), fc.boolean(), async (recipe, index, remove) => {
        const { dir, json } = await savedModel(recipe);
        const weights = json.weightsManifest[0].weights;
        if (remove) weights.splice(index % weights.length, 1);
        else weights.splice(index % (weights.length + 1), 0, { name: 'extra/kernel', shape: [1], dtype: 'float32' });
        await writeModelJson(dir, json);
        await expectLoadError(dir, ['weights but the topology has']);
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  test('wrong weight shapes rejected', async () => {
    const shapeMutation = fc.oneof(
      fc.record({ kind: fc.constant('resize' as const), axis: fc.nat(), delta: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ kind: fc.constant('append' as const) }),
      fc.record({ kind: fc.constant('drop' as const) }),
      // Same numbers in another form: strings, one joined string, nested arrays.
      fc.record({ kind: fc.constantFrom('strings' as const, 'joined' as const, 'nested' as const) }),
    );
    await fc.assert(
      fc.asyncProperty(modelRecipe, fc.nat(), shapeMutation, async (recipe, index, mutation) => {
        const { dir, json } = await savedModel(recipe);
        const weight = weightAt(json, index) as { shape: Json };
        const shape = weight.shape as number[];
        switch (mutation.kind) {
          case 'resize':
            shape[mutation.axis % shape.length] += mutation.delta;
            break;
          case 'append':
            shape.push(1);
            break;
          case 'drop':
            shape.pop();
            break;
          case 'strings':
            weight.shape = shape.map(String);
            break;
          case 'joined':
            weight.shape = shape.join();
            break;
          case 'nested':
            weight.shape = shape.map((size) => [size]);
            break;
        }
        await writeModelJson(dir, json);
        await expectLoadError(dir, ['has shape']);
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  test('dtypes other than float32 rejected', async () => {
    const dtype = fc.oneof(fc.constantFrom<Json>('float16', 'float64', 'int32', 'uint8', 'Float32', null, 32, ['float32']), fc.string().filter((s) => s !== 'float32'));
    await fc.assert(
      fc.asyncProperty(modelRecipe, fc.nat(), dtype, async (recipe, index, value) => {
        const { dir, json } = await savedModel(recipe);
        (weightAt(json, index) as { dtype: Json }).dtype = value;
        await writeModelJson(dir, json);
        await expectLoadError(dir, ['only float32 is supported']);
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  test('wrong weights.bin size rejected', async () => {
    await fc.assert(
      fc.asyncProperty(modelRecipe, fc.integer({ min: -64, max: 64 }).filter((delta) => delta !== 0), async (recipe, delta) => {
        const { dir } = await savedModel(recipe);
        const path = join(dir, 'weights.bin');
        const bytes = await readFile(path);
        const resized = new Uint8Array(Math.max(0, bytes.length + delta));
        resized.set(bytes.subarray(0, resized.length));
        await writeFile(path, resized);
        await expectLoadError(dir, ['bytes but the model needs']);
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  test('forbidden config keys rejected', async () => {
    await fc.assert(
      fc.asyncProperty(
        modelRecipe,
        fc.nat(),
        fc.constantFrom('__proto__', 'constructor', 'prototype'),
        fc.array(fc.constantFrom('object', 'array'), { maxLength: 4 }),
        async (recipe, index, key, wrappers) => {
          const { dir, json } = await savedModel(recipe);
          let value: unknown = {};
          setOwn(value as Record<string, unknown>, key, { polluted: true });
          for (const wrapper of wrappers) value = wrapper === 'array' ? [1, value] : { inner: value };
          const config = layerAt(json, index).config;
          if (wrappers.length === 0) setOwn(config, key, { polluted: true });
          else config.extra = value as Json;
          await writeModelJson(dir, json);
          await expectLoadError(dir, ['forbidden key']);
          assert.equal(({} as Record<string, unknown>).polluted, undefined);
        },
      ),
      { seed: SEED, numRuns: 60 },
    );
  });

  test('top level other than an object rejected', async () => {
    const notObject = fc.oneof(fc.string(), fc.double(), fc.boolean(), fc.constant(null), fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 4 }));
    await fc.assert(
      fc.asyncProperty(notObject, async (value) => {
        const dir = await freshDir();
        await writeModelJson(dir, JSON.stringify(value));
        await expectLoadError(dir, ['top level must be a JSON object']);
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  test('truncated model.json rejected', async () => {
    await fc.assert(
      fc.asyncProperty(modelRecipe, fc.nat(), async (recipe, cutSeed) => {
        const { dir } = await savedModel(recipe);
        const text = await readFile(join(dir, 'model.json'), 'utf8');
        // The file ends with "}\n", so any cut before the final brace leaves invalid JSON.
        await writeModelJson(dir, text.slice(0, cutSeed % (text.length - 2)));
        await expectLoadError(dir, ['not readable JSON']);
      }),
      { seed: SEED, numRuns: 30 },
    );
  });

  test('deeply nested junk rejected', async () => {
    await fc.assert(
      fc.asyncProperty(
        modelRecipe,
        fc.nat(),
        fc.integer({ min: 33, max: 20_000 }),
        fc.constantFrom('array', 'object'),
        fc.constantFrom('config', 'topology', 'manifest', 'root'),
        async (recipe, index, depth, kind, place) => {
          const { dir, json } = await savedModel(recipe);
          const junk = kind === 'array' ? `${'['.repeat(depth)}${']'.repeat(depth)}` : `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
          const marker = '"__junk_marker__"';
          if (place === 'config') layerAt(json, index).config.extra = '__junk_marker__';
          if (place === 'topology') json.modelTopology = '__junk_marker__' as never;
          if (place === 'manifest') json.weightsManifest = '__junk_marker__' as never;
          const text = place === 'root' ? junk : JSON.stringify(json).replace(marker, junk);
          await writeModelJson(dir, text);
          await expectLoadError(dir);
        },
      ),
      { seed: SEED, numRuns: 30 },
    );
  });

  test('unsafe weights paths rejected', async () => {
    const badPath = fc.oneof(
      fc.constantFrom<Json>('../weights.bin', '..', '.', '', '/etc/passwd', 'sub/weights.bin', 'a\\b', 'weights.bin\u0000', '.weights.bin', 'C:weights.bin', null, 3, ['weights.bin']),
      fc.tuple(fc.string(), fc.string()).map(([a, b]) => `${a}/${b}`),
      fc.string().map((a) => `..${a}`),
    );
    await fc.assert(
      fc.asyncProperty(modelRecipe, badPath, fc.boolean(), async (recipe, path, append) => {
        const { dir, json } = await savedModel(recipe);
        const paths = json.weightsManifest[0].paths as Json[];
        if (append) paths.push(path);
        else paths[0] = path;
        await writeModelJson(dir, json);
        await expectLoadError(dir, ['must be a plain file name']);
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  test('random JSON values load or reject', async () => {
    await fc.assert(
      fc.asyncProperty(modelRecipe, fc.nat(), fc.jsonValue({ maxDepth: 3 }), async (recipe, pick, junk) => {
        const { dir, json } = await savedModel(recipe);
        // Collect every container slot in model.json and overwrite one of them.
        const slots: { parent: Record<string, unknown> | unknown[]; key: string | number }[] = [];
        const pending: unknown[] = [json];
        while (pending.length > 0) {
          const node = pending.pop();
          if (node === null || typeof node !== 'object') continue;
          for (const [key, value] of Object.entries(node)) {
            slots.push({ parent: node as Record<string, unknown>, key: Array.isArray(node) ? Number(key) : key });
            pending.push(value);
          }
        }
        const slot = slots[pick % slots.length];
        (slot.parent as Record<string | number, unknown>)[slot.key] = junk;
        await writeModelJson(dir, json);
        try {
          await loadModel(dir);
        } catch (error) {
          assert.ok(error instanceof ValueError, `expected a ValueError, got ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        }
      }),
      { seed: SEED, numRuns: 150 },
    );
  });

  test('invalid layer options rejected', async () => {
    const option = fc.oneof(
      fc.record({ key: fc.constantFrom('units', 'filters', 'kernel_size', 'pool_size', 'rate', 'strides'), value: fc.constantFrom<Json>(0, -1, 1.5, 'x', null, [], {}, 1e300) }),
      fc.record({ key: fc.constantFrom('activation', 'padding'), value: fc.constantFrom<Json>('swish', 7, null, '') }),
      fc.record({ key: fc.constant('batch_input_shape'), value: fc.constantFrom<Json>([null, 0], [null, -3, 2], [null, 'a'], [null, 1e6, 1e6, 1e6]) }),
    );
    await fc.assert(
      fc.asyncProperty(modelRecipe, fc.nat(), option, async (recipe, index, { key, value }) => {
        const { dir, json } = await savedModel(recipe);
        layerAt(json, index).config[key] = value;
        await writeModelJson(dir, json);
        try {
          await loadModel(dir);
        } catch (error) {
          assert.ok(error instanceof ValueError, `expected a ValueError, got ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        }
      }),
      { seed: SEED, numRuns: 80 },
    );
  });
});

describe('loadModel regressions', () => {
  const denseRecipe: ModelRecipe = { kind: 'dense', features: 2, units: [3], useBias: true, dropout: false };

  test('shape written as strings rejected', async () => {
    const { dir, json } = await savedModel(denseRecipe);
    (json.weightsManifest[0].weights[0] as { shape: Json }).shape = ['2', '3'];
    await writeModelJson(dir, json);
    await expectLoadError(dir, ['weight 0 ("dense/kernel") has shape ["2","3"]']);
  });

  test('shape written as nested arrays rejected', async () => {
    const { dir, json } = await savedModel(denseRecipe);
    (json.weightsManifest[0].weights[0] as { shape: Json }).shape = [[2], [3]];
    await writeModelJson(dir, json);
    await expectLoadError(dir, ['has shape [[2],[3]]']);
  });

  test('empty layers array rejected', async () => {
    const { dir, json } = await savedModel(denseRecipe);
    json.modelTopology.config.layers = [];
    await writeModelJson(dir, json);
    await expectLoadError(dir, ['has no layers']);
  });

  test('invalid Dense units rejected', async () => {
    const { dir, json } = await savedModel(denseRecipe);
    json.modelTopology.config.layers[0].config.units = -1;
    await writeModelJson(dir, json);
    await expectLoadError(dir, ['layer 0 (Dense) has an invalid config', 'units must be a positive integer']);
  });

  test('first layer without batch_input_shape rejected', async () => {
    const { dir, json } = await savedModel(denseRecipe);
    delete json.modelTopology.config.layers[0].config.batch_input_shape;
    await writeModelJson(dir, json);
    await expectLoadError(dir, ['layer 0 (Dense) has an invalid config', 'needs an inputShape']);
  });

  test('class_name null rejected', async () => {
    const { dir, json } = await savedModel(denseRecipe);
    (json.modelTopology.config.layers[0] as { class_name: Json }).class_name = null;
    await writeModelJson(dir, json);
    await expectLoadError(dir, ['unknown class_name null']);
  });

  test('nested __proto__ in a layer config rejected', async () => {
    const { dir } = await savedModel(denseRecipe);
    const text = await readFile(join(dir, 'model.json'), 'utf8');
    await writeModelJson(dir, text.replace('"units": 3', '"units": 3, "extra": {"__proto__": {"units": 9}}'));
    await expectLoadError(dir, ['forbidden key "__proto__" at config.extra']);
  });

  test('empty weights path rejected', async () => {
    const { dir, json } = await savedModel(denseRecipe);
    json.weightsManifest[0].paths = [''];
    await writeModelJson(dir, json);
    await expectLoadError(dir, ['weights path "" must be a plain file name']);
  });

  test('weights path with a NUL byte rejected', async () => {
    const { dir, json } = await savedModel(denseRecipe);
    json.weightsManifest[0].paths = ['weights.bin\u0000'];
    await writeModelJson(dir, json);
    await expectLoadError(dir, ['must be a plain file name']);
  });

  test('missing weights file rejected', async () => {
    const { dir, json } = await savedModel(denseRecipe);
    json.weightsManifest[0].paths = ['absent.bin'];
    await writeModelJson(dir, json);
    await expectLoadError(dir, ['cannot read weights file "absent.bin"', 'ENOENT']);
  });

  test('huge layer rejected before allocation', async () => {
    // 2^30 units need 12 GiB of weights, more than the WebAssembly arena can reserve, so
    // allocating before checking the file size would raise a RangeError instead.
    const { dir, json } = await savedModel(denseRecipe);
    json.modelTopology.config.layers[0].config.units = 2 ** 30;
    json.weightsManifest[0].weights[0].shape = [2, 2 ** 30];
    json.weightsManifest[0].weights[1].shape = [2 ** 30];
    await writeModelJson(dir, json);
    await expectLoadError(dir, ['bytes but the model needs 12884901888']);
  });

  test('top-level array rejected', async () => {
    const dir = await freshDir();
    await writeModelJson(dir, '[{"modelTopology": {}}]');
    await expectLoadError(dir, ['top level must be a JSON object, found an array']);
  });
});
