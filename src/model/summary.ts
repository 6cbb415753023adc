/**
 * Keras-style model summary table: layer name and type, output shape with None for the
 * batch, parameter count, then the totals.
 */
import type { Layer } from '../layers/layer.js';

/** Column end positions of Keras's Sequential summary (line length 65). */
const KERAS_COLUMN_ENDS = [29, 55, 65];

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

function row(cells: string[], columnEnds: number[]): string {
  let line = '';
  cells.forEach((cell, i) => {
    line = (line + cell).padEnd(columnEnds[i]);
  });
  return line.trimEnd();
}

/** Returns the summary as lines of text. */
export function summaryLines(modelName: string, layers: readonly Layer[]): string[] {
  const rows = layers.map((layer) => [` ${layer.name} (${layer.className})`, `(None, ${layer.outputShape.join(', ')})`, formatCount(layer.countParams())]);
  // Keras's widths, widened where a cell would not fit, so no cell is cut.
  const columnEnds = KERAS_COLUMN_ENDS.slice();
  let shift = 0;
  for (let c = 0; c < columnEnds.length; c++) {
    const start = c === 0 ? 0 : columnEnds[c - 1];
    const needed = Math.max(...rows.map((r) => r[c].length + 1));
    columnEnds[c] += shift;
    if (columnEnds[c] - start < needed) {
      shift += needed - (columnEnds[c] - start);
      columnEnds[c] = start + needed;
    }
  }
  const width = columnEnds[columnEnds.length - 1];
  const lines = [`Model: "${modelName}"`, '_'.repeat(width), row([' Layer (type)', 'Output Shape', 'Param #'], columnEnds), '='.repeat(width)];
  let total = 0;
  let trainable = 0;
  layers.forEach((layer, i) => {
    total += layer.countParams();
    trainable += layer.countTrainableParams();
    lines.push(row(rows[i], columnEnds));
    if (i < layers.length - 1) lines.push('');
  });
  lines.push('='.repeat(width));
  lines.push(`Total params: ${formatCount(total)}`);
  lines.push(`Trainable params: ${formatCount(trainable)}`);
  lines.push(`Non-trainable params: ${formatCount(total - trainable)}`);
  lines.push('_'.repeat(width));
  return lines;
}
