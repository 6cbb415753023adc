import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { ShapeError, ValueError } from '../../src/errors.js';
import { confusionHeatmap, confusionMatrix, heatmapColour, misclassifiedIndices, predictedClasses } from '../../src/report/confusion.js';

describe('confusionMatrix', () => {
  it('counts hand-made pairs of 3 classes', () => {
    const labels = [0, 0, 0, 1, 1, 2, 2, 2, 2];
    const predictions = [0, 0, 1, 1, 2, 2, 2, 0, 2];
    assert.deepEqual(confusionMatrix(labels, predictions, 3), [
      [2, 1, 0],
      [0, 1, 1],
      [1, 0, 3],
    ]);
  });

  it('sums to the sample count over 10 classes', () => {
    const labels = Array.from({ length: 57 }, (_, i) => i % 10);
    const predictions = labels.map((label, i) => (i % 4 === 0 ? (label + 3) % 10 : label));
    const matrix = confusionMatrix(labels, predictions, 10);
    assert.equal(matrix.length, 10);
    assert.ok(matrix.every((row) => row.length === 10));
    assert.equal(matrix.flat().reduce((a, b) => a + b, 0), 57);
    const diagonal = matrix.reduce((sum, row, i) => sum + row[i], 0);
    assert.equal(diagonal, 57 - misclassifiedIndices(labels, predictions).length);
  });

  it('rejects a label outside the classes', () => {
    assert.throws(() => confusionMatrix([0, 10], [0, 1], 10), (error: unknown) => error instanceof ValueError && /labels\[1\] is 10; expected an integer class index from 0 to 9/.test(error.message));
  });

  it('rejects a fractional prediction', () => {
    assert.throws(() => confusionMatrix([0, 1], [0, 1.5], 10), (error: unknown) => error instanceof ValueError && /predictions\[1\] is 1\.5/.test(error.message));
  });

  it('rejects arrays of different lengths', () => {
    assert.throws(() => confusionMatrix([0, 1, 2], [0, 1], 3), (error: unknown) => error instanceof ShapeError && /3 labels and 2 predictions/.test(error.message));
  });
});

describe('predictedClasses', () => {
  it('takes the argmax of each row', () => {
    const scores = Float32Array.of(0.1, 0.7, 0.2, 0.5, 0.2, 0.3, 0, 0, 1);
    assert.deepEqual(Array.from(predictedClasses(scores, 3)), [1, 0, 2]);
  });

  it('breaks ties toward the lower class', () => {
    assert.deepEqual(Array.from(predictedClasses([0.4, 0.4, 0.2], 3)), [0]);
  });

  it('skips NaN scores', () => {
    assert.deepEqual(Array.from(predictedClasses([NaN, 0.1, 0.3, NaN, NaN, NaN], 3)), [2, 0]);
  });

  it('rejects a length that is not whole rows', () => {
    assert.throws(() => predictedClasses([0.1, 0.2, 0.3, 0.4], 3), (error: unknown) => error instanceof ShapeError && /got 4 values, expected a multiple of 3/.test(error.message));
  });
});

describe('misclassifiedIndices', () => {
  it('lists the wrong samples in order', () => {
    assert.deepEqual(misclassifiedIndices([3, 1, 4, 1, 5], [3, 7, 4, 2, 5]), [1, 3]);
  });
});

describe('confusionHeatmap', () => {
  const matrix = [
    [8, 2, 0],
    [0, 0, 0],
    [1, 1, 2],
  ];
  const html = confusionHeatmap(matrix);
  const cells = [...html.matchAll(/<td class="cell[^"]*" data-true="(\d+)" data-predicted="(\d+)" data-count="(\d+)" data-fraction="([\d.]+)" style="background:([^"]+)"[^>]*>(\d+)<\/td>/g)];

  it('draws one cell per pair', () => {
    assert.equal(cells.length, 9);
    for (const [, t, p, count, , , text] of cells) {
      assert.equal(Number(count), matrix[Number(t)][Number(p)]);
      assert.equal(text, count);
    }
  });

  it('colours by the row fraction', () => {
    const cell = (t: number, p: number) => cells.find((c) => c[1] === String(t) && c[2] === String(p)) as RegExpMatchArray;
    assert.equal(cell(0, 0)[4], '0.8000');
    assert.equal(cell(0, 0)[5], heatmapColour(0.8));
    assert.equal(cell(2, 2)[4], '0.5000');
    // The empty row has no fractions to show.
    assert.equal(cell(1, 1)[4], '0.0000');
    assert.equal(cell(1, 1)[5], heatmapColour(0));
  });

  it('labels both axes', () => {
    assert.match(html, />true label</);
    assert.match(html, />predicted label</);
  });

  it('maps fractions 0 and 1 to the colour ends', () => {
    assert.equal(heatmapColour(0), 'rgb(247, 251, 255)');
    assert.equal(heatmapColour(1), 'rgb(8, 48, 107)');
  });
});
