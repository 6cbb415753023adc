import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { parseTrainOptions, UsageError } from '../../src/cli/options.js';
import { writeIdx } from '../helpers/idx.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const quiet = { out: () => {}, err: () => {} };

function runTrain(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/train.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Tiny IDX files with the MNIST names: 40 training and 10 test images of patterned pixels. */
function writeTinyMnist(dir: string): void {
  const pixels = (count: number) => Uint8Array.from({ length: count * 784 }, (_, i) => (i * 37) % 256);
  const labels = (count: number) => Uint8Array.from({ length: count }, (_, i) => i % 10);
  writeIdx(join(dir, 'train-images-idx3-ubyte'), [40, 28, 28], pixels(40));
  writeIdx(join(dir, 'train-labels-idx1-ubyte'), [40], labels(40));
  writeIdx(join(dir, 't10k-images-idx3-ubyte'), [10, 28, 28], pixels(10));
  writeIdx(join(dir, 't10k-labels-idx1-ubyte'), [10], labels(10));
}

describe('train.js callback options', () => {
  it('parses the callback flags', () => {
    const options = parseTrainOptions(['--early-stopping', '3', '--csv-log', 'log.csv', '--lr-schedule', 'cosine'], quiet);
    assert.equal(options.earlyStopping, 3);
    assert.equal(options.csvLog, 'log.csv');
    assert.equal(options.lrSchedule, 'cosine');
    const plain = parseTrainOptions([], quiet);
    assert.deepEqual([plain.earlyStopping, plain.csvLog, plain.lrSchedule], [undefined, undefined, undefined]);
  });

  const bad: [string, string[], RegExp][] = [
    ['negative patience', ['--early-stopping', '-1'], /--early-stopping <patience>.*'-1' is invalid.*integer from 0/],
    ['unknown schedule', ['--lr-schedule', 'linear'], /--lr-schedule <name>.*'linear' is invalid.*step, cosine/],
    ['empty csv path', ['--csv-log', ' '], /--csv-log <file>.*non-empty path/],
    ['early stopping without validation', ['--early-stopping', '2', '--validation-split', '0'], /--early-stopping monitors val_loss, which needs --validation-split above 0/],
  ];
  for (const [name, args, pattern] of bad) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parseTrainOptions(args, quiet), (error: unknown) => error instanceof UsageError && error.exitCode === 2 && pattern.test(error.message));
    });
  }

  it('bad value exits 2 with one line', () => {
    const { status, stdout, stderr } = runTrain(['--lr-schedule', 'linear']);
    assert.equal(status, 2);
    assert.equal(stdout, '');
    assert.match(stderr, /^train\.js: option '--lr-schedule <name>' argument 'linear' is invalid\..*\(see --help\)\n$/);
  });

  it('help lists the callback flags', () => {
    const { status, stdout } = runTrain(['--help']);
    assert.equal(status, 0);
    for (const flag of ['--early-stopping <patience>', '--csv-log <file>', '--lr-schedule <name>']) assert.ok(stdout.includes(flag), `help lists ${flag}`);
    assert.match(stdout.replace(/\s+/g, ' '), /step multiplies --lr by 0\.5 every 2 epochs/);
  });

  it('rejects an unwritable --csv-log path before training', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardnet-cli-csv-'));
    try {
      const missing = runTrain(['--csv-log', join(dir, 'missing', 'log.csv')]);
      assert.equal(missing.status, 2);
      assert.match(missing.stderr, /^train\.js: --csv-log .*log\.csv: the directory .*missing does not exist; give a file path in an existing, writable directory\.\n$/);
      const directory = runTrain(['--csv-log', dir]);
      assert.equal(directory.status, 2);
      assert.match(directory.stderr, /--csv-log .*: it is not a regular file/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a resume with another learning rate or schedule', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardnet-cli-resume-'));
    try {
      writeTinyMnist(dir);
      const checkpoints = join(dir, 'ckpt');
      const args = ['--data', dir, '--no-download', '--batch-size', '16', '--threads', '1', '--validation-split', '0.25', '--checkpoint-dir', checkpoints];
      const first = runTrain([...args, '--epochs', '1', '--lr', '0.004', '--lr-schedule', 'step']);
      assert.equal(first.status, 0, first.stderr);
      for (const changed of [['--lr', '0.01', '--lr-schedule', 'step'], ['--lr', '0.004', '--lr-schedule', 'cosine'], ['--lr', '0.004']]) {
        const resumed = runTrain([...args, '--epochs', '2', ...changed, '--resume', checkpoints]);
        assert.equal(resumed.status, 2, `${changed.join(' ')}: ${resumed.stderr}`);
        assert.match(resumed.stderr, /^train\.js: --resume .*: Cannot resume from checkpoint .*runSettings is .* but the checkpoint has .*\n$/);
      }
      const same = runTrain([...args, '--epochs', '2', '--lr', '0.004', '--lr-schedule', 'step', '--resume', checkpoints]);
      assert.equal(same.status, 0, same.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes the CSV log with the scheduled rates', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardnet-cli-callbacks-'));
    try {
      writeTinyMnist(dir);
      const csv = join(dir, 'log.csv');
      const args = ['--data', dir, '--no-download', '--epochs', '3', '--batch-size', '16', '--threads', '1', '--validation-split', '0.25', '--lr', '0.004'];
      const { status, stdout, stderr } = runTrain([...args, '--lr-schedule', 'step', '--csv-log', csv, '--json']);
      assert.equal(status, 0, stderr);
      const report = JSON.parse(stdout);
      assert.deepEqual(report.epochs.map((e: { learning_rate: number }) => e.learning_rate), [0.004, 0.004, 0.002]);
      const lines = readFileSync(csv, 'utf8').trimEnd().split('\n');
      assert.equal(lines[0], 'epoch,accuracy,learning_rate,loss,val_accuracy,val_loss');
      assert.deepEqual(lines.slice(1).map((line) => line.split(',')[2]), ['0.004', '0.004', '0.002']);
      assert.deepEqual(lines.slice(1).map((line) => Number(line.split(',')[3])), report.epochs.map((e: { loss: number }) => e.loss));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
