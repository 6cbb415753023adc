/**
 * Test-set predictions as class indices, the confusion matrix they form with the true labels,
 * and its HTML heatmap: true labels in rows, predicted labels in columns, cell colour by the
 * count divided by its row total.
 */
import { ShapeError, ValueError, formatValue } from '../errors.js';
import { escapeHtml } from './escape.js';

/**
 * Returns the index of the largest value in each row of `scores`, a row-major [N, classes]
 * array. Ties go to the lowest index, and a row that is all NaN yields 0.
 */
export function predictedClasses(scores: ArrayLike<number>, classes: number): Int32Array {
  if (!Number.isInteger(classes) || classes < 1 || scores.length % classes !== 0) {
    throw new ShapeError(`predictedClasses: the scores must form rows of ${formatValue(classes)} classes; got ${scores.length} values, expected a multiple of ${formatValue(classes)}.`);
  }
  const rows = scores.length / classes;
  const predictions = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let c = 1; c < classes; c++) {
      const value = scores[r * classes + c];
      const top = scores[r * classes + best];
      // A NaN never compares greater, so a number replaces a NaN leader explicitly.
      if (value > top || (Number.isNaN(top) && !Number.isNaN(value))) best = c;
    }
    predictions[r] = best;
  }
  return predictions;
}

function checkClassIndices(name: string, values: ArrayLike<number>, classes: number): void {
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (!Number.isInteger(value) || value < 0 || value >= classes) {
      throw new ValueError(`confusionMatrix: ${name}[${i}] is ${formatValue(value)}; expected an integer class index from 0 to ${classes - 1}.`);
    }
  }
}

/**
 * Counts each (true label, predicted label) pair: `matrix[t][p]` is the number of samples of
 * class t predicted as p. Throws when the arrays differ in length or hold a value that is not
 * a class index.
 */
export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes: number): number[][] {
  if (labels.length !== predictions.length) {
    throw new ShapeError(`confusionMatrix: labels and predictions must have one entry per sample; got ${labels.length} labels and ${predictions.length} predictions.`);
  }
  checkClassIndices('labels', labels, classes);
  checkClassIndices('predictions', predictions, classes);
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) matrix[labels[i]][predictions[i]]++;
  return matrix;
}

/** Returns the sample indices, ascending, whose prediction differs from the label. */
export function misclassifiedIndices(labels: ArrayLike<number>, predictions: ArrayLike<number>): number[] {
  if (labels.length !== predictions.length) {
    throw new ShapeError(`misclassifiedIndices: labels and predictions must have one entry per sample; got ${labels.length} labels and ${predictions.length} predictions.`);
  }
  const indices: number[] = [];
  for (let i = 0; i < labels.length; i++) if (labels[i] !== predictions[i]) indices.push(i);
  return indices;
}

/** Lightest and darkest heatmap colours (sRGB), for row fractions 0 and 1. */
const COLOUR_LOW = [247, 251, 255];
const COLOUR_HIGH = [8, 48, 107];
/** Row fraction above which a cell's text turns white to stay readable on the dark fill. */
const LIGHT_TEXT_ABOVE = 0.5;

/** Returns the CSS colour of a cell whose count is `fraction` of its row total. */
export function heatmapColour(fraction: number): string {
  const channel = (i: number) => Math.round(COLOUR_LOW[i] + (COLOUR_HIGH[i] - COLOUR_LOW[i]) * fraction);
  return `rgb(${channel(0)}, ${channel(1)}, ${channel(2)})`;
}

/**
 * Renders `matrix` as an HTML table heatmap. Each of the classes x classes cells is a
 * `<td class="cell">` with data-true, data-predicted, data-count and data-fraction attributes.
 * A row without samples is drawn with fraction 0.
 */
export function confusionHeatmap(matrix: readonly (readonly number[])[]): string {
  const classes = matrix.length;
  const header = Array.from({ length: classes }, (_, p) => `<th scope="col">${p}</th>`).join('');
  const rows = matrix.map((row, t) => {
    const total = row.reduce((sum, count) => sum + count, 0);
    const cells = row.map((count, p) => {
      const fraction = total === 0 ? 0 : count / total;
      const tip = `true ${t}, predicted ${p}: ${count} of ${total} (${(fraction * 100).toFixed(1)}% of the row)`;
      const textClass = fraction > LIGHT_TEXT_ABOVE ? ' light' : '';
      return (
        `<td class="cell${textClass}${t === p ? ' diagonal' : ''}" data-true="${t}" data-predicted="${p}" data-count="${count}" ` +
        `data-fraction="${fraction.toFixed(4)}" style="background:${heatmapColour(fraction)}" title="${escapeHtml(tip)}">${count}</td>`
      );
    });
    const axisLabel = t === 0 ? `<th class="axis-name rows" rowspan="${classes}" scope="rowgroup">true label</th>` : '';
    return `<tr>${axisLabel}<th scope="row">${t}</th>${cells.join('')}<td class="row-total">${total}</td></tr>`;
  });
  return (
    '<table class="confusion">' +
    `<thead><tr><th colspan="2"></th><th class="axis-name" colspan="${classes}" scope="colgroup">predicted label</th><th></th></tr>` +
    `<tr><th colspan="2"></th>${header}<th scope="col" class="row-total">total</th></tr></thead>` +
    `<tbody>${rows.join('')}</tbody></table>`
  );
}
