/**
 * Runs every script in examples/ with small sizes, and the library code in the README, and
 * checks their exit status and key output lines. The scripts import 'shardnet' by name, which
 * Node resolves to dist/ through the package's own "exports", so these tests need a build.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const missingBuild = existsSync(join(root, 'dist', 'index.js')) ? false : 'dist/index.js is missing; run `npm run build` first (.ci/run builds it through npm ci)';
const mnistDir = process.env.MNIST_DIR;
const hasMnist = mnistDir !== undefined && mnistDir !== '' && existsSync(mnistDir);

/** Returns a copy of the environment without MNIST_DIR, so the examples use their synthetic digits. */
function syntheticEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.MNIST_DIR;
  return env;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `node args...` in `cwd`. A run longer than `timeoutMs` is killed and shows a signal. */
function runNode(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: options.cwd ?? root, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

function assertSucceeded(run: Run): void {
  assert.equal(run.signal, null, `killed by ${run.signal}: the script did not finish`);
  assert.equal(run.code, 0, run.stderr);
}

/** Returns the first ```js block under the README's "Use as a library" heading. */
function readmeLibraryCode(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.split(/^## /m).find((part) => part.startsWith('Use as a library'));
  assert.ok(section !== undefined, 'README has a "Use as a library" section');
  const code = /```js\n([\s\S]*?)```/.exec(section)?.[1];
  assert.ok(code !== undefined, 'the section has a js code block');
  return code;
}

describe('examples', { skip: missingBuild, timeout: 60_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shardnet-examples-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('every example has a test', () => {
    const scripts = readdirSync(join(root, 'examples')).filter((f) => f.endsWith('.mjs') && f !== 'datasets.mjs');
    assert.deepEqual(scripts.sort(), ['load-tfjs-model.mjs', 'predict.mjs', 'train-from-code.mjs']);
  });

  it('train-from-code then predict', async () => {
    const modelDir = join(dir, 'synthetic-model');
    const train = await runNode(['examples/train-from-code.mjs', '--epochs', '2', '--limit', '400', '--threads', '2', '--save', modelDir], { env: syntheticEnv() });
    assertSucceeded(train);
    assert.match(train.stdout, /^data: synthetic digits .*, 400 training and 80 test samples$/m);
    assert.match(train.stdout, /^Total params: 14,410$/m);
    assert.match(train.stdout, /^epoch 1\/2 loss=[\d.]+ accuracy=[\d.]+ val_loss=[\d.]+ val_accuracy=[\d.]+$/m);
    assert.match(train.stdout, /^epoch 2\/2 /m);
    const test = /^test loss=([\d.]+) accuracy=([\d.]+)$/m.exec(train.stdout);
    assert.ok(test !== null, train.stdout);
    assert.ok(Number(test[2]) >= 0.5, `test accuracy ${test[2]} after 2 epochs of 400 synthetic samples`);
    assert.match(train.stdout, new RegExp(`^saved model to ${modelDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
    assert.ok(existsSync(join(modelDir, 'model.json')));

    const predict = await runNode(['examples/predict.mjs', modelDir, '--count', '6'], { env: syntheticEnv() });
    assertSucceeded(predict);
    assert.match(predict.stdout, /: 7 layers, 14410 parameters$/m);
    assert.equal(predict.stdout.match(/^sample \d: predicted \d \(p=[\d.]+\), label \d$/gm)?.length, 6, predict.stdout);
    assert.match(predict.stdout, /^correct [0-6]\/6$/m);
  });

  it('train-from-code on MNIST', { skip: hasMnist ? false : 'MNIST_DIR is not set' }, async () => {
    const run = await runNode(['examples/train-from-code.mjs', '--epochs', '1', '--limit', '300', '--threads', '2', '--save', join(dir, 'mnist-model')]);
    assertSucceeded(run);
    assert.match(run.stdout, /^data: MNIST from .*, 300 training and 60 test samples$/m);
    assert.match(run.stdout, /^test loss=[\d.]+ accuracy=[\d.]+$/m);
  });

  it('load-tfjs-model agrees with TensorFlow.js', async () => {
    const run = await runNode(['examples/load-tfjs-model.mjs', '--steps', '2', '--dir', join(dir, 'tfjs-model')]);
    assertSucceeded(run);
    assert.match(run.stdout, /^trained in TensorFlow\.js 4\.\d+\.\d+: 2 steps of 32 samples$/m);
    assert.match(run.stdout, /^same predicted class: 50\/50$/m);
    const difference = /^max probability difference: (\S+)$/m.exec(run.stdout);
    assert.ok(difference !== null, run.stdout);
    assert.ok(Number(difference[1]) <= 1e-5, `max difference ${difference[1]}`);
    assert.ok(existsSync(join(dir, 'tfjs-model', 'weights.bin')));
  });

  it('README library code runs', async () => {
    // A project outside the repository that links node_modules/shardnet to it, since only
    // files inside a package can import it by its own name.
    const project = join(dir, 'readme');
    mkdirSync(join(project, 'node_modules'), { recursive: true });
    symlinkSync(root, join(project, 'node_modules', 'shardnet'), 'dir');
    writeFileSync(join(project, 'package.json'), '{ "type": "module" }\n');
    const code = readmeLibraryCode();
    writeFileSync(join(project, 'readme.mjs'), `${code}\nconsole.log(JSON.stringify({ loss, accuracy, epochs: history.epoch.length, shape: probabilities.shape }));\n`);
    const run = await runNode(['readme.mjs'], { cwd: project });
    assertSucceeded(run);
    const report = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    assert.equal(report.epochs, 2);
    assert.deepEqual(report.shape, [256, 10]);
    assert.ok(Number.isFinite(report.loss), `loss ${report.loss}`);
    assert.ok(existsSync(join(project, 'my-model', 'model.json')));
  });
});
