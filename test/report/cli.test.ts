import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import { parseTrainOptions } from '../../src/cli/options.js';
import { root, runTrain, tinyTrainArgs, writeTinyMnist } from './fixtures.js';

const quiet = { out: () => {}, err: () => {} };

describe('train.js --report', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shardnet-report-cli-'));
    writeTinyMnist(dir, 40, 30);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('parses the report directory', () => {
    assert.equal(parseTrainOptions(['--report', 'out'], quiet).report, 'out');
    assert.equal(parseTrainOptions([], quiet).report, undefined);
  });

  it('rejects an empty directory name', () => {
    const { status, stderr } = runTrain(['--report', ' ']);
    assert.equal(status, 2);
    assert.match(stderr, /^train\.js: option '--report <dir>' argument ' ' is invalid\. expected a non-empty path\./);
  });

  it('rejects a file as the directory', () => {
    const file = join(dir, 'not-a-directory');
    writeFileSync(file, 'x');
    const { status, stderr } = runTrain([...tinyTrainArgs(dir), '--report', file]);
    assert.equal(status, 2);
    assert.match(stderr, /--report .*not-a-directory: cannot create or write this directory \(EEXIST\)/);
  });

  it('replaces an existing report', () => {
    const out = join(dir, 'out');
    mkdirSync(out);
    writeFileSync(join(out, 'report.html'), 'old report');
    const { status, stdout, stderr } = runTrain([...tinyTrainArgs(dir), '--report', out, '--json']);
    assert.equal(status, 0, stderr);
    assert.match(stderr, /wrote report to .*report\.html/);
    const json = JSON.parse(stdout);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /^<!DOCTYPE html>/);
    assert.equal(html.match(/<circle class="point" data-series="val_loss"/g)?.length, 3);
    const counts = [...html.matchAll(/data-count="(\d+)"/g)].map((m) => Number(m[1]));
    assert.equal(counts.length, 100);
    assert.equal(counts.reduce((a, b) => a + b, 0), 30);
    // The correct predictions sit on the diagonal, so their count matches the test accuracy.
    const diagonal = [...html.matchAll(/class="cell[^"]*" data-true="(\d)" data-predicted="\1" data-count="(\d+)"/g)].reduce((sum, m) => sum + Number(m[2]), 0);
    assert.equal(diagonal, Math.round(json.final.test.accuracy * 30));
    assert.ok(html.includes(`<th scope="row">seed</th><td>${json.settings.seed}</td>`));
    assert.match(html, /Total params: 1,199,882/);
  });
});

describe('train.js --report after a signal', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'shardnet-report-signal-'));
    writeTinyMnist(dir, 1000, 10);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('writes no report when interrupted', async () => {
    const out = join(dir, 'out');
    const args = ['--data', dir, '--no-download', '--epochs', '50', '--batch-size', '8', '--threads', '1', '--report', out];
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/train.ts', ...args], { cwd: root, timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      // Signals are deferred to the end of the batch once this line is printed.
      if (/Training on/.test(stdout) && child.exitCode === null && !child.killed) child.kill('SIGINT');
    });
    const status = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.equal(status, 130, stderr);
    assert.match(stderr, /training stopped by SIGINT/);
    assert.equal(existsSync(join(out, 'report.html')), false);
    assert.doesNotMatch(stdout, /wrote report/);
  });
});
