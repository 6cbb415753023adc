import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const mnistDir = process.env.MNIST_DIR;

function runTrain(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/train.ts', ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, ...env },
    timeout: 240_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('train.js invalid options', () => {
  const cases: [string, string[], RegExp][] = [
    ['epochs not a number', ['--epochs', 'abc'], /--epochs <n>.*'abc' is invalid.*integer from 1/],
    ['epochs zero', ['--epochs', '0'], /--epochs <n>.*'0' is invalid/],
    ['batch size fractional', ['--batch-size', '12.5'], /--batch-size <n>.*'12.5' is invalid/],
    ['threads negative', ['--threads', '-2'], /--threads <n>.*'-2' is invalid/],
    ['lr zero', ['--lr', '0'], /--lr <rate>.*'0' is invalid.*positive number/],
    ['unknown optimizer', ['--optimizer', 'nadam'], /--optimizer <name>.*'nadam' is invalid.*adam, sgd, rmsprop, adadelta, adagrad, adamw/],
    ['validation split one', ['--validation-split', '1'], /--validation-split <fraction>.*'1' is invalid/],
    ['unknown option', ['--epoch', '3'], /unknown option '--epoch'/],
    ['stray argument', ['extra'], /too many arguments|unexpected/i],
    ['test limit zero', ['--test-limit', '0'], /--test-limit <n>.*'0' is invalid/],
    ['mirror not http', ['--mirror', 'ftp://example.org/mnist'], /--mirror <url>.*'ftp:\/\/example.org\/mnist' is invalid.*http:\/\/ or https:\/\/ URL/],
    ['checkpoint every without dir', ['--checkpoint-every', '5'], /--checkpoint-every needs --checkpoint-dir/],
  ];
  for (const [name, args, pattern] of cases) {
    it(`rejects ${name} with status 2`, () => {
      const { status, stdout, stderr } = runTrain(args);
      assert.equal(status, 2);
      assert.equal(stdout, '');
      const lines = stderr.trim().split('\n');
      assert.equal(lines.length, 1, `expected one line, got: ${stderr}`);
      assert.match(lines[0], pattern);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    });
  }

  it('prints help with status 0', () => {
    const { status, stdout } = runTrain(['--help']);
    assert.equal(status, 0);
    for (const option of ['--epochs', '--batch-size', '--threads', '--lr', '--optimizer', '--validation-split', '--seed', '--data', '--limit', '--save', '--json', '--no-stop-on-nan']) {
      assert.ok(stdout.includes(option), `help lists ${option}`);
    }
  });
});

describe('train.js data errors', () => {
  it('names missing files when download is off', () => {
    const empty = mkdtempSync(join(tmpdir(), 'shardnet-empty-'));
    try {
      const { status, stderr } = runTrain(['--data', empty, '--no-download']);
      assert.equal(status, 1);
      assert.match(stderr, /train-images-idx3-ubyte/);
      assert.match(stderr, /t10k-labels-idx1-ubyte/);
      assert.match(stderr, /MNIST_DIR|--data/);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('train.js on MNIST', { skip: mnistDir === undefined ? 'MNIST_DIR is not set' : false }, () => {
  it('json run of 600 samples reports all splits', () => {
    const saveDir = mkdtempSync(join(tmpdir(), 'shardnet-save-'));
    try {
      const { status, stdout, stderr } = runTrain(
        ['--epochs', '2', '--limit', '600', '--test-limit', '500', '--threads', '2', '--json', '--save', saveDir],
        { MNIST_DIR: mnistDir },
      );
      assert.equal(status, 0, stderr);
      const lines = stdout.trim().split('\n');
      assert.equal(lines.length, 1, 'stdout holds only the JSON object');
      const report = JSON.parse(lines[0]);
      assert.equal(report.epochs.length, 2);
      for (const key of ['loss', 'accuracy', 'val_loss', 'val_accuracy']) assert.equal(typeof report.epochs[1][key], 'number');
      assert.equal(report.final.train.samples, 540);
      assert.equal(report.final.validation.samples, 60);
      assert.equal(report.final.test.samples, 500);
      assert.ok(report.final.test.accuracy > 0.5, `test accuracy ${report.final.test.accuracy}`);
      assert.ok(Math.abs(report.trainTestAccuracyGap - (report.final.train.accuracy - report.final.test.accuracy)) < 1e-12);
      assert.equal(report.threads, 2);
      assert.ok(report.samplesPerSecond > 0);
      assert.match(stderr, /Total params: 1,199,882/);
      const saved = JSON.parse(readFileSync(join(saveDir, 'model.json'), 'utf8'));
      assert.equal(saved.format, 'layers-model');
      assert.equal(readFileSync(join(saveDir, 'weights.bin')).length, 1_199_882 * 4);
    } finally {
      rmSync(saveDir, { recursive: true, force: true });
    }
  });

  it('plain log has no control characters', () => {
    const { status, stdout, stderr } = runTrain(['--epochs', '1', '--limit', '300', '--test-limit', '200', '--threads', '1'], { MNIST_DIR: mnistDir });
    assert.equal(status, 0, stderr);
    assert.doesNotMatch(stdout, /[\r\u001b]/);
    assert.match(stdout, /^Epoch 1\/1 - .* loss: \d\.\d{4} - accuracy: \d\.\d{4} - val_loss: /m);
    assert.match(stdout, /^test +loss: \d\.\d{4} - accuracy: \d\.\d{4} \(200 samples\)$/m);
    assert.match(stdout, /^train-test accuracy gap: -?\d\.\d{4}$/m);
  });
});

describe('train.js usage errors', () => {
  it('rejects a repeated option', () => {
    const { status, stderr } = runTrain(['--epochs', '1', '--epochs', '2']);
    assert.equal(status, 2);
    assert.match(stderr.trim(), /^train\.js: option '--epochs' is given more than once; give it once\. \(see --help\)$/);
  });

  it('rejects an empty save path', () => {
    const { status, stderr } = runTrain(['--save', '']);
    assert.equal(status, 2);
    assert.match(stderr, /--save <dir>.*expected a non-empty path/);
  });

  it('rejects a damaged resume checkpoint before loading data', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardnet-resume-'));
    try {
      writeFileSync(join(dir, 'checkpoint.bin'), '{"format":"other","version":1}\n');
      const { status, stderr } = runTrain(['--resume', dir, '--data', dir, '--no-download']);
      assert.equal(status, 2);
      const lines = stderr.trim().split('\n');
      assert.equal(lines.length, 1, `expected one line, got: ${stderr}`);
      assert.match(lines[0], /^train\.js: --resume .*checkpoint\.bin: the format is "other", expected "shardnet-checkpoint"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a save path under a file before loading data', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardnet-file-'));
    try {
      const file = join(dir, 'plain-file');
      writeFileSync(file, 'x');
      const { status, stderr } = runTrain(['--save', join(file, 'model'), '--data', dir, '--no-download']);
      assert.equal(status, 2);
      assert.match(stderr.trim(), /^train\.js: --save .*plain-file\/model: cannot create or write this directory \(ENOTDIR\)/);
      assert.doesNotMatch(stderr, /\n\s+at /, 'no stack trace');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
