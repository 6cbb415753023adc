/**
 * shardnet as an installed npm package: what `npm pack` ships, and scripts in a separate
 * project that import 'shardnet' by name, train, evaluate, save, load and predict, share one
 * worker pool between two models, and exit on their own without process.exit().
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { type ConsumerProject, createConsumerProject, missingBuild, root, runNode } from './consumer-project.js';

/** A process that has printed its last line must be gone within this time. */
const MAX_LINGER_MS = 3000;

/** Seeded, learnable data and a tiny model, shared by the scripts below. */
const COMMON = `
import { Adam, Sequential, Tensor, layers } from 'shardnet';

export function data(count) {
  const x = Tensor.zeros([count, 6]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    y.data[i] = i % 3;
    for (let f = 0; f < 6; f++) x.data[i * 6 + f] = ((i * 7 + f * 3) % 11) / 11 + (f === i % 3 ? 1 : 0);
  }
  return { x, y };
}

export function tinyModel(seed) {
  const model = new Sequential({ seed });
  model.add(layers.dense({ units: 8, activation: 'relu', inputShape: [6] }));
  model.add(layers.dense({ units: 3, activation: 'softmax' }));
  model.compile({ optimizer: new Adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return model;
}

export function sameBits(a, b) {
  return a.length === b.length && a.every((value, i) => Object.is(value, b[i]));
}
`;

const IMPORT_ONLY = `
import * as shardnet from 'shardnet';
console.log(JSON.stringify({ exports: Object.keys(shardnet).length, resolved: import.meta.resolve('shardnet') }));
`;

const TRAIN_SAVE_LOAD = `
import { loadModel } from 'shardnet';
import { data, sameBits, tinyModel } from './common.mjs';

const { x, y } = data(96);
const model = tinyModel(1);
const history = await model.fit(x, y, { epochs: 20, batchSize: 16, threads: 2, seed: 1 });
const evaluated = await model.evaluate(x, y, { threads: 2 });
await model.save('saved-model');
const loaded = await loadModel('saved-model');
loaded.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
const reloaded = await loaded.evaluate(x, y, { threads: 2 });
const predicted = await model.predict(x, { threads: 2 });
const predictedByLoaded = await loaded.predict(x, { threads: 2 });
await model.dispose();
await loaded.dispose();
console.log(JSON.stringify({
  epochs: history.history.loss.length,
  firstLoss: history.history.loss[0],
  lastLoss: history.history.loss.at(-1),
  evaluated,
  reloaded,
  predictionShape: predicted.shape,
  samePredictions: sameBits(predicted.data, predictedByLoaded.data),
}));
`;

const SHARED_POOL = `
import { WorkerPool } from 'shardnet';
import { data, sameBits, tinyModel } from './common.mjs';

const { x, y } = data(64);
const pool = new WorkerPool({ threads: 2 });
const first = tinyModel(1);
const second = tinyModel(2);
first.usePool(pool);
second.usePool(pool);
await Promise.all([
  first.fit(x, y, { epochs: 3, batchSize: 16, seed: 1 }),
  second.fit(x, y, { epochs: 3, batchSize: 16, seed: 2 }),
]);
// The same training on the calling thread gives the same bits, whatever else shares the pool.
const firstAlone = tinyModel(1);
const secondAlone = tinyModel(2);
await firstAlone.fit(x, y, { epochs: 3, batchSize: 16, seed: 1, threads: 0 });
await secondAlone.fit(x, y, { epochs: 3, batchSize: 16, seed: 2, threads: 0 });
await first.dispose();
const stillOpen = (await second.evaluate(x, y)).accuracy;
await pool.close();
console.log(JSON.stringify({
  first: sameBits(first.flatWeights, firstAlone.flatWeights),
  second: sameBits(second.flatWeights, secondAlone.flatWeights),
  differ: !sameBits(first.flatWeights, second.flatWeights),
  stillOpen,
}));
`;

const TYPED_CONSUMER = `
import { Sequential, Tensor, WorkerPool, layers, loadModel, type EvaluateOutput } from 'shardnet';

const model = new Sequential({ seed: 1 });
model.add(layers.dense({ units: 2, inputShape: [3] }));
const evaluated: Promise<EvaluateOutput> = model.evaluate(Tensor.zeros([1, 3]), Tensor.zeros([1]));
const saved: Promise<void> = model.save('model-dir');
const loaded: Promise<Sequential> = loadModel('model-dir');
model.usePool(new WorkerPool({ threads: 1 }));
// @ts-expect-error units must be a number, so the declarations are not 'any'.
layers.dense({ units: 'two' });
export { evaluated, saved, loaded };
`;

describe('installed package', { skip: missingBuild() ?? false, timeout: 120_000 }, () => {
  let project: ConsumerProject;

  before(() => {
    project = createConsumerProject();
    writeFileSync(join(project.dir, 'common.mjs'), COMMON);
  });
  after(() => project?.remove());

  it('pack holds dist, README and LICENSE only', () => {
    const files = project.packedFiles;
    for (const required of ['package.json', 'README.md', 'LICENSE', 'dist/index.js', 'dist/train.js', 'dist/train-worker.js', 'dist/types/src/index.d.ts']) {
      assert.ok(files.includes(required), `the package contains ${required}`);
    }
    const outside = files.filter((f) => !/^(dist\/|package\.json$|README\.md$|LICENSE$)/.test(f));
    assert.deepEqual(outside, [], 'nothing outside dist/, README.md, LICENSE and package.json');
    assert.deepEqual(files.filter((f) => /\.test\.|^(test|data|examples|bench|src)\//.test(f)), [], 'no tests, data, examples, benchmarks or sources');
  });

  it('every packed chunk is reachable', () => {
    // esbuild names chunks by content hash, so a build that does not clear dist/ leaves old
    // chunks that no entry imports. Follow the imports from the entries and compare.
    const packageDir = join(project.dir, 'node_modules', 'shardnet');
    const manifest = JSON.parse(readFileSync(join(packageDir, 'package.json'), 'utf8'));
    const entries = ['dist/index.js', 'dist/train-worker.js', ...Object.values<string>(manifest.bin ?? {}).map((p) => p.replace(/^\.\//, ''))];
    const reachable = new Set<string>();
    const pending = [...entries];
    while (pending.length > 0) {
      const file = pending.pop()!;
      if (reachable.has(file)) continue;
      reachable.add(file);
      const source = readFileSync(join(packageDir, file), 'utf8');
      for (const match of source.matchAll(/(?:from|import)\s*\(?\s*"\.\/([\w.-]+\.js)"/g)) pending.push(`dist/${match[1]}`);
    }
    const packedScripts = project.packedFiles.filter((f) => /^dist\/[^/]+\.js$/.test(f));
    assert.deepEqual(packedScripts.sort(), [...reachable].sort());
  });

  it('exports map resolves types and code', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const target = manifest.exports['.'];
    assert.deepEqual(Object.keys(target), ['types', 'import'], "'types' comes first, as TypeScript requires");
    for (const path of [target.types, target.import, manifest.types, manifest.main]) {
      assert.ok(project.packedFiles.includes(path.replace(/^\.\//, '')), `${path} is in the package`);
    }
    for (const [name, path] of Object.entries<string>(manifest.bin ?? {})) {
      assert.ok(project.packedFiles.includes(path.replace(/^\.\//, '')), `bin ${name}: ${path} is in the package`);
    }
  });

  it('import-only script exits on its own', async () => {
    writeFileSync(join(project.dir, 'import-only.mjs'), IMPORT_ONLY);
    const run = await runNode(project.dir, ['import-only.mjs'], { timeoutMs: 20_000 });
    assert.equal(run.signal, null, `killed after ${run.wallMs.toFixed(0)} ms: still running`);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.ok(report.exports > 20, `exports ${report.exports}`);
    assert.ok(report.resolved.endsWith('/node_modules/shardnet/dist/index.js'), report.resolved);
    assert.ok(run.lingerMs < MAX_LINGER_MS, `exited ${run.lingerMs.toFixed(0)} ms after its last output`);
  });

  it('trains, saves, loads and predicts', async () => {
    writeFileSync(join(project.dir, 'train-save-load.mjs'), TRAIN_SAVE_LOAD);
    const run = await runNode(project.dir, ['train-save-load.mjs'], { timeoutMs: 60_000 });
    assert.equal(run.signal, null, `killed after ${run.wallMs.toFixed(0)} ms: still running`);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.epochs, 20);
    assert.ok(report.lastLoss < report.firstLoss / 2, `loss ${report.firstLoss} -> ${report.lastLoss}`);
    assert.ok(report.evaluated.accuracy >= 0.9, `accuracy ${report.evaluated.accuracy}`);
    assert.deepEqual(report.reloaded, report.evaluated);
    assert.deepEqual(report.predictionShape, [96, 3]);
    assert.equal(report.samePredictions, true);
    assert.ok(run.lingerMs < MAX_LINGER_MS, `exited ${run.lingerMs.toFixed(0)} ms after its last output`);
  });

  it('two models share one pool', async () => {
    writeFileSync(join(project.dir, 'shared-pool.mjs'), SHARED_POOL);
    const run = await runNode(project.dir, ['shared-pool.mjs'], { timeoutMs: 60_000 });
    assert.equal(run.signal, null, `killed after ${run.wallMs.toFixed(0)} ms: still running`);
    assert.equal(run.code, 0, run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.first, true, 'first model matches its single-thread run');
    assert.equal(report.second, true, 'second model matches its single-thread run');
    assert.equal(report.differ, true, 'the two models hold different weights');
    assert.equal(typeof report.stillOpen, 'number', "dispose() of one model leaves the shared pool open");
    assert.ok(run.lingerMs < MAX_LINGER_MS, `exited ${run.lingerMs.toFixed(0)} ms after its last output`);
  });

  it('declarations type-check a consumer', () => {
    writeFileSync(join(project.dir, 'consumer.ts'), TYPED_CONSUMER);
    const config = {
      compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: true, types: ['node'] },
      files: ['consumer.ts'],
    };
    writeFileSync(join(project.dir, 'tsconfig.json'), JSON.stringify(config));
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project.dir], { encoding: 'utf8' });
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  });

  it('bin scripts print their help', async () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    assert.equal(manifest.bin['shardnet-train'], 'dist/train.js');
    for (const [name, path] of Object.entries<string>(manifest.bin)) {
      const script = join(project.dir, 'node_modules', 'shardnet', path);
      const run = await runNode(project.dir, [script, '--help'], { timeoutMs: 20_000 });
      assert.equal(run.code, 0, `${name}: ${run.stderr}`);
      assert.match(run.stdout, /^Usage: /, name);
      assert.equal(readFileSync(script, 'utf8').split('\n')[0], '#!/usr/bin/env node', `${name} starts with a shebang`);
    }
  });
});
