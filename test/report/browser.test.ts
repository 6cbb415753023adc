/**
 * Opens generated reports in headless Chromium through playwright-core and checks what the page
 * shows. Needs a Chromium executable: CHROMIUM_PATH, else /usr/bin/chromium (Debian's chromium
 * package). Without one the tests are skipped, because playwright-core downloads no browser.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import type { Browser } from 'playwright-core';

import { renderReport } from '../../src/report/html.js';
import { writeReport } from '../../src/report/write.js';
import { runTrain, syntheticReport, tinyTrainArgs, writeTinyMnist } from './fixtures.js';

/** CHROMIUM_PATH when set, so a chosen browser is never silently replaced, else Debian's path. */
const chromiumPath = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const executablePath = existsSync(chromiumPath) ? chromiumPath : undefined;
const skip = executablePath === undefined ? `no Chromium executable at ${chromiumPath}; install Debian's chromium package (apt-get install -y chromium) or set CHROMIUM_PATH` : false;

interface PageFacts {
  /** Epoch numbers of the points of each series, keyed "chart index/series". */
  points: Record<string, number[]>;
  cellCount: number;
  /** Sum of the numbers shown in the cells. */
  cellTextSum: number;
  digitCount: number;
  /** Digits whose PNG decoded to a 28 x 28 image. */
  decodedDigits: number;
  scripts: number;
  summary: string;
}

/** Runs in the page, so it is plain JavaScript source rather than a function that tsx transforms. */
const COLLECT_FACTS = `(() => {
  const points = {};
  document.querySelectorAll('svg.chart').forEach((svg, chart) => {
    svg.querySelectorAll('circle.point').forEach((circle) => {
      const key = chart + '/' + circle.dataset.series;
      (points[key] = points[key] || []).push(Number(circle.dataset.epoch));
    });
  });
  const cells = [...document.querySelectorAll('table.confusion td.cell')];
  const digits = [...document.querySelectorAll('#misclassified figure.digit img')];
  return {
    points,
    cellCount: cells.length,
    cellTextSum: cells.reduce((sum, cell) => sum + Number(cell.textContent), 0),
    digitCount: digits.length,
    decodedDigits: digits.filter((img) => img.complete && img.naturalWidth === 28 && img.naturalHeight === 28).length,
    scripts: document.scripts.length,
    summary: document.querySelector('pre.summary').textContent,
  };
})()`;

describe('report in headless Chromium', { skip }, () => {
  let browser: Browser;
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shardnet-report-browser-'));
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath });
  });
  after(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Loads the report and returns its facts with every console error, page error and failed request. */
  async function inspect(path: string): Promise<{ facts: PageFacts; errors: string[] }> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
    page.on('requestfailed', (request) => errors.push(`request failed: ${request.url().slice(0, 80)}`));
    await page.goto(pathToFileURL(path).href, { waitUntil: 'load' });
    const facts = (await page.evaluate(COLLECT_FACTS)) as PageFacts;
    await page.close();
    return { facts, errors };
  }

  it('shows a synthetic report of 6 epochs', async () => {
    const summary = 'Model: "synthetic"\n<script>window.injected = 1</script>';
    const data = syntheticReport({ epochs: 6, testSamples: 250, wrongEvery: 3, summary });
    const { facts, errors } = await inspect(await writeReport(join(dir, 'synthetic'), data));
    assert.deepEqual(errors, []);
    const epochs = [1, 2, 3, 4, 5, 6];
    assert.deepEqual(facts.points, { '0/loss': epochs, '0/val_loss': epochs, '1/accuracy': epochs, '1/val_accuracy': epochs });
    assert.equal(facts.cellCount, 100);
    assert.equal(facts.cellTextSum, 250);
    // Samples 0, 3, 6, ... are wrong: 84 of them, capped at 48.
    assert.equal(facts.digitCount, 48);
    assert.equal(facts.decodedDigits, 48);
    assert.equal(facts.scripts, 0);
    assert.equal(facts.summary, summary);
  });

  it('reports a blocked external image', async () => {
    // The check above must be able to fail: an image from outside the page breaks the policy.
    const path = join(dir, 'external.html');
    const html = renderReport(syntheticReport({ epochs: 2, testSamples: 20, wrongEvery: 4 }));
    writeFileSync(path, html.replace('</body>', '<img src="http://127.0.0.1:9/outside.png"></body>'));
    const { errors } = await inspect(path);
    assert.ok(errors.length > 0, 'an error is logged');
    assert.match(errors.join('\n'), /Content Security Policy/);
  });

  it('shows the report of a train.js run', async () => {
    const data = join(dir, 'mnist');
    const out = join(dir, 'cli');
    mkdirSync(data);
    writeTinyMnist(data, 40, 30);
    const { status, stdout, stderr } = runTrain([...tinyTrainArgs(data), '--report', out, '--json']);
    assert.equal(status, 0, stderr);
    const json = JSON.parse(stdout);
    const { facts, errors } = await inspect(join(out, 'report.html'));
    assert.deepEqual(errors, []);
    for (const key of ['0/loss', '0/val_loss', '1/accuracy', '1/val_accuracy']) assert.deepEqual(facts.points[key], [1, 2, 3], key);
    assert.equal(facts.cellCount, 100);
    assert.equal(facts.cellTextSum, 30);
    const wrong = Math.round((1 - json.final.test.accuracy) * 30);
    assert.equal(facts.digitCount, Math.min(wrong, 48));
    assert.equal(facts.decodedDigits, facts.digitCount);
    assert.match(facts.summary, /^Model: "mnist_cnn"/);
  });
});
