import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { CHART_LAYOUT, chartGeometry, lineChart, niceTicks, type LineChartSpec } from '../../src/report/charts.js';

const { width, height, left, right, top, bottom } = CHART_LAYOUT;
const plotBottom = height - bottom;

function spec(epochs: number[], series: [string, number[]][]): LineChartSpec {
  return {
    title: 'Loss per epoch',
    xLabel: 'epoch',
    yLabel: 'loss',
    epochs,
    series: series.map(([key, values]) => ({ key, label: key, values, colour: '#000' })),
  };
}

describe('niceTicks', () => {
  it('covers 0.13 to 0.97 in steps of 0.2', () => {
    assert.deepEqual(niceTicks(0.13, 0.97), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  });

  it('starts and ends on multiples of the step', () => {
    assert.deepEqual(niceTicks(1.8, 2.6), [1.8, 2, 2.2, 2.4, 2.6]);
  });

  it('widens a flat range around its value', () => {
    assert.deepEqual(niceTicks(0.5, 0.5), [0.44, 0.46, 0.48, 0.5, 0.52, 0.54, 0.56]);
    assert.deepEqual(niceTicks(0, 0), [-1, -0.5, 0, 0.5, 1]);
  });
});

describe('chartGeometry', () => {
  it('places one point per epoch and series', () => {
    const geometry = chartGeometry(spec([1, 2, 3, 4], [['loss', [1, 0.8, 0.6, 0.5]], ['val_loss', [1.1, 0.9, 0.8, 0.85]]]));
    assert.equal(geometry.points.length, 8);
    assert.deepEqual(geometry.points.filter((p) => p.key === 'val_loss').map((p) => p.epoch), [1, 2, 3, 4]);
  });

  it('maps epochs and values to pixels', () => {
    // Values 0 to 1 give ticks 0, 0.2, ..., 1, so 0 is the plot's bottom edge and 1 its top.
    const geometry = chartGeometry(spec([1, 2, 3], [['accuracy', [0, 0.5, 1]]]));
    assert.deepEqual(geometry.yDomain, [0, 1]);
    const [first, middle, last] = geometry.points;
    assert.deepEqual([first.x, first.y], [left, plotBottom]);
    assert.deepEqual([middle.x, middle.y], [(left + width - right) / 2, (top + plotBottom) / 2]);
    assert.deepEqual([last.x, last.y], [width - right, top]);
  });

  it('centres a single epoch', () => {
    const geometry = chartGeometry(spec([1], [['loss', [0.7]]]));
    assert.equal(geometry.points.length, 1);
    assert.equal(geometry.points[0].x, (left + width - right) / 2);
    assert.deepEqual(geometry.xTicks, [1]);
  });

  it('skips NaN and infinite values', () => {
    const geometry = chartGeometry(spec([1, 2, 3, 4], [['loss', [1, NaN, Infinity, 0.5]]]));
    assert.deepEqual(geometry.points.map((p) => p.epoch), [1, 4]);
    assert.deepEqual(geometry.yDomain, [0.5, 1]);
  });

  it('thins x ticks to at most 10', () => {
    const epochs = Array.from({ length: 25 }, (_, i) => i + 1);
    const geometry = chartGeometry(spec(epochs, [['loss', epochs.map((e) => 1 / e)]]));
    assert.deepEqual(geometry.xTicks, [1, 4, 7, 10, 13, 16, 19, 22, 25]);
  });

  it('rejects a series of the wrong length', () => {
    assert.throws(() => chartGeometry(spec([1, 2, 3], [['loss', [1, 2]]])), /series loss has 2 values but there are 3 epochs/);
  });
});

describe('lineChart', () => {
  const svg = lineChart(spec([1, 2, 3], [['loss', [1, 0.8, 0.6]], ['val_loss', [1.1, NaN, 0.7]]]));

  it('draws a circle per finite point', () => {
    const circles = [...svg.matchAll(/<circle class="point" data-series="([^"]+)" data-epoch="(\d+)" data-value="([^"]+)" cx="([\d.]+)" cy="([\d.]+)"/g)];
    assert.deepEqual(circles.map((c) => `${c[1]}@${c[2]}`), ['loss@1', 'loss@2', 'loss@3', 'val_loss@1', 'val_loss@3']);
    assert.equal(Number(circles[0][4]), left);
    assert.equal(Number(circles[2][4]), width - right);
  });

  it('breaks the line at a missing point', () => {
    const path = /<path class="line" data-series="val_loss" d="([^"]+)"/.exec(svg);
    assert.ok(path !== null);
    assert.equal(path[1].match(/M/g)?.length, 2);
  });

  it('has axis labels and a legend', () => {
    assert.match(svg, /class="axis-label"[^>]*>epoch</);
    assert.match(svg, /class="axis-label"[^>]*>loss</);
    assert.equal(svg.match(/class="legend-entry"/g)?.length, 2);
  });

  it('escapes the title', () => {
    const escaped = lineChart({ ...spec([1], [['loss', [1]]]), title: 'a <b> & "c"' });
    assert.match(escaped, /aria-label="a &lt;b&gt; &amp; &quot;c&quot;"/);
    assert.doesNotMatch(escaped, /<b>/);
  });
});
