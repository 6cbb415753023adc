import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { escapeHtml } from '../../src/report/escape.js';
import { renderReport } from '../../src/report/html.js';
import { writeReport } from '../../src/report/write.js';
import { syntheticReport } from './fixtures.js';

describe('escapeHtml', () => {
  it('escapes the markup characters', () => {
    assert.equal(escapeHtml(`<a href="x">Tom & 'Jerry'</a>`), '&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;');
  });
});

describe('renderReport', () => {
  it('escapes a summary with a script tag', () => {
    const summary = 'Model: "evil"\n<script>alert("x")</script> & </pre>';
    const html = renderReport(syntheticReport({ epochs: 3, testSamples: 40, wrongEvery: 5, summary }));
    assert.doesNotMatch(html, /<script/i);
    assert.equal(html.match(/<\/pre>/g)?.length, 1);
    assert.ok(html.includes('<pre class="summary">Model: &quot;evil&quot;\n&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;/pre&gt;</pre>'));
  });

  it('escapes setting names and values', () => {
    const data = syntheticReport({ epochs: 2, testSamples: 20, wrongEvery: 3 });
    const html = renderReport({ ...data, settings: { '<k>': '<img src=x>', list: ['a"b'] } });
    assert.ok(html.includes('<th scope="row">&lt;k&gt;</th><td>&lt;img src=x&gt;</td>'));
    assert.ok(html.includes('<td>[&quot;a\\&quot;b&quot;]</td>'));
  });

  it('loads nothing from outside the page', () => {
    const html = renderReport(syntheticReport({ epochs: 4, testSamples: 100, wrongEvery: 7 }));
    assert.doesNotMatch(html, /(src|href)="(?!data:)/);
    assert.doesNotMatch(html, /url\(|@import|<link|<script/i);
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">/);
  });

  it('contains every section for 5 epochs', () => {
    const data = syntheticReport({ epochs: 5, testSamples: 300, wrongEvery: 4 });
    const html = renderReport(data);
    for (const key of ['loss', 'val_loss', 'accuracy', 'val_accuracy']) {
      assert.equal(html.match(new RegExp(`<circle class="point" data-series="${key}"`, 'g'))?.length, 5, key);
    }
    const counts = [...html.matchAll(/data-count="(\d+)"/g)].map((m) => Number(m[1]));
    assert.equal(counts.length, 100);
    assert.equal(counts.reduce((a, b) => a + b, 0), 300);
    // Samples 0, 4, 8, ... are wrong: 75 of them, of which 48 are drawn.
    assert.equal(html.match(/<figure class="digit"/g)?.length, 48);
    assert.match(html, /Showing the first 48 \(by test index\) of 75 misclassified test digits/);
    assert.match(html, /<tr data-split="test"><th scope="row">test<\/th><td>0\.3100<\/td><td>0\.7500<\/td><td>300<\/td><\/tr>/);
    assert.match(html, /<th scope="row">gap: train - test<\/th><td>-0\.1100<\/td><td>0\.2200<\/td>/);
    assert.match(html, /<p class="verdict" data-overfits="false">The run does not overfit: training accuracy is 2\.0 percentage points above validation accuracy/);
    assert.match(html, /<th scope="row">samples\/s<\/th><td>1235<\/td>/);
    assert.match(html, /<th scope="row">training seconds<\/th><td>2\.3<\/td>/);
    assert.match(html, /<th scope="row">threads<\/th><td>2<\/td>/);
    assert.match(html, /5 epochs, 300 test samples, generated 2024-01-02T03:04:05\.000Z/);
  });

  it('shows only training curves without validation', () => {
    const html = renderReport(syntheticReport({ epochs: 3, testSamples: 30, wrongEvery: 2, validation: false }));
    assert.doesNotMatch(html, /data-series="val_/);
    assert.equal(html.match(/<circle class="point"/g)?.length, 6);
    assert.match(html, /<th scope="row">gap: train - validation<\/th><td>n\/a<\/td>/);
    assert.match(html, /<th scope="row">validation<\/th><td colspan="3">no validation split<\/td>/);
  });

  it('rejects predictions outside the 10 classes', () => {
    const data = syntheticReport({ epochs: 1, testSamples: 10, wrongEvery: 2 });
    assert.throws(() => renderReport({ ...data, testPredictions: [...Array.from(data.testPredictions).slice(0, 9), 10] }), /predictions\[9\] is 10/);
  });
});

describe('writeReport', () => {
  const root = mkdtempSync(join(tmpdir(), 'shardnet-report-'));
  after(() => rmSync(root, { recursive: true, force: true }));

  it('creates the directory', async () => {
    const dir = join(root, 'a', 'b');
    const path = await writeReport(dir, syntheticReport({ epochs: 2, testSamples: 20, wrongEvery: 3 }));
    assert.equal(path, join(dir, 'report.html'));
    assert.match(readFileSync(path, 'utf8'), /^<!DOCTYPE html>/);
  });

  it('replaces an existing report', async () => {
    const dir = join(root, 'existing');
    mkdirSync(dir);
    writeFileSync(join(dir, 'report.html'), 'old report');
    writeFileSync(join(dir, 'other.txt'), 'kept');
    await writeReport(dir, syntheticReport({ epochs: 2, testSamples: 20, wrongEvery: 3 }));
    assert.match(readFileSync(join(dir, 'report.html'), 'utf8'), /shardnet training report/);
    assert.deepEqual(readdirSync(dir).sort(), ['other.txt', 'report.html']);
  });
});
