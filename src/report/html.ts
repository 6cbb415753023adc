/**
 * Assembles the training report, one self-contained HTML page, from a plain data object: the
 * learning curves, the final metrics with the overfitting verdict, the test confusion matrix,
 * the misclassified test digits, the model summary, the settings and the throughput. The page
 * loads nothing: styles are inline, charts are inline SVG, digits are data: URIs, it has no
 * script, and its Content-Security-Policy blocks anything else.
 */
import { formatMetric } from '../cli/progress.js';
import { type ChartSeries, lineChart } from './charts.js';
import { confusionHeatmap, confusionMatrix, misclassifiedIndices } from './confusion.js';
import { type MisclassifiedDigit, digitGrid } from './digits.js';
import { escapeHtml } from './escape.js';
import { type FinalMetrics, type SplitMetrics, OVERFITTING_RULE, assessOverfitting } from './overfitting.js';

/** MNIST digit classes. */
export const REPORT_CLASSES = 10;

export interface ReportData {
  /** Per-epoch logs keyed as History.history keys them: loss, accuracy, val_loss, val_accuracy, ... */
  history: Readonly<Record<string, readonly number[]>>;
  /** Epoch number of each history entry, counting from 1. */
  epochs: readonly number[];
  final: FinalMetrics;
  /** True class of every test sample. */
  testLabels: ArrayLike<number>;
  /** Predicted class of every test sample (argmax of the model output). */
  testPredictions: ArrayLike<number>;
  /**
   * Misclassified test digits to draw: the first ones by test index, as misclassifiedDigits
   * returns them. The total count comes from the labels and predictions.
   */
  misclassified: readonly MisclassifiedDigit[];
  /** model.summary() output, one line per entry joined with newlines. */
  summary: string;
  /** The settings object that train.js prints with --json. */
  settings: Readonly<Record<string, unknown>>;
  throughput: { samplesPerSecond: number; trainSeconds: number; threads: number };
  /** Time the report was generated, shown as given (train.js passes an ISO 8601 string). */
  generatedAt?: string;
}

const TRAIN_COLOUR = '#1f77b4';
const VALIDATION_COLOUR = '#e6550d';

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; color: #1b1b1b; margin: 24px auto; max-width: 1040px; padding: 0 16px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 32px; border-bottom: 1px solid #ddd; }
.note, .meta { color: #555; } .verdict { font-weight: 600; }
table { border-collapse: collapse; } th, td { padding: 3px 8px; text-align: right; }
table.metrics td, table.metrics th, table.settings td, table.settings th { border-bottom: 1px solid #e4e4e4; }
table.settings th, table.settings td, table.metrics tbody th { text-align: left; font-weight: 500; }
.charts { display: flex; flex-wrap: wrap; gap: 16px; }
svg.chart { background: #fff; border: 1px solid #e4e4e4; font-size: 11px; }
svg .axis { stroke: #333; } svg .grid { stroke: #eee; } svg .line { fill: none; stroke-width: 2; }
svg .chart-title { font-size: 13px; font-weight: 600; } svg .axis-label { font-size: 12px; }
table.confusion td.cell { width: 44px; height: 32px; text-align: center; font-variant-numeric: tabular-nums; border: 1px solid #fff; }
table.confusion td.light { color: #fff; } table.confusion td.diagonal { font-weight: 700; }
table.confusion .axis-name { font-weight: 600; text-align: center; }
table.confusion .axis-name.rows { writing-mode: vertical-rl; transform: rotate(180deg); }
table.confusion .row-total { color: #555; }
.digits { display: flex; flex-wrap: wrap; gap: 8px; }
figure.digit { margin: 0; text-align: center; font-size: 11px; }
figure.digit img { display: block; image-rendering: pixelated; border: 1px solid #ccc; }
pre { background: #f6f6f6; padding: 10px; overflow-x: auto; font-size: 12px; }
`;

/** Blocks every fetch, script and external style, so the page can only show what it embeds. */
const CONTENT_SECURITY_POLICY = "default-src 'none'; style-src 'unsafe-inline'; img-src data:";

function learningCurves(data: ReportData): string {
  const series = (key: string, label: string, colour: string): ChartSeries[] => (data.history[key] === undefined ? [] : [{ key, label, values: data.history[key], colour }]);
  const loss = lineChart({
    title: 'Loss per epoch',
    xLabel: 'epoch',
    yLabel: 'loss',
    epochs: data.epochs,
    series: [...series('loss', 'training loss', TRAIN_COLOUR), ...series('val_loss', 'validation loss', VALIDATION_COLOUR)],
  });
  const accuracy = lineChart({
    title: 'Accuracy per epoch',
    xLabel: 'epoch',
    yLabel: 'accuracy',
    epochs: data.epochs,
    series: [...series('accuracy', 'training accuracy', TRAIN_COLOUR), ...series('val_accuracy', 'validation accuracy', VALIDATION_COLOUR)],
  });
  return `<div class="charts">${loss}${accuracy}</div>`;
}

function gapRow(name: string, train: SplitMetrics, other: SplitMetrics | null): string {
  const cells = other === null ? '<td>n/a</td><td>n/a</td><td></td>' : `<td>${formatMetric(train.loss - other.loss)}</td><td>${(train.accuracy - other.accuracy).toFixed(4)}</td><td></td>`;
  return `<tr class="gap"><th scope="row">${escapeHtml(name)}</th>${cells}</tr>`;
}

function metricsTable(final: FinalMetrics): string {
  const row = (name: string, m: SplitMetrics | null) =>
    m === null
      ? `<tr><th scope="row">${name}</th><td colspan="3">no validation split</td></tr>`
      : `<tr data-split="${name}"><th scope="row">${name}</th><td>${formatMetric(m.loss)}</td><td>${m.accuracy.toFixed(4)}</td><td>${m.samples}</td></tr>`;
  return (
    '<table class="metrics"><thead><tr><th></th><th scope="col">loss</th><th scope="col">accuracy</th><th scope="col">samples</th></tr></thead><tbody>' +
    row('train', final.train) +
    row('validation', final.validation) +
    row('test', final.test) +
    gapRow('gap: train - validation', final.train, final.validation) +
    gapRow('gap: train - test', final.train, final.test) +
    '</tbody></table>'
  );
}

function overfittingSection(data: ReportData): string {
  const verdict = assessOverfitting(data.history, data.final);
  const gapPoints = (OVERFITTING_RULE.maxAccuracyGap * 100).toFixed(1);
  const rising = OVERFITTING_RULE.risingEpochs;
  return (
    `<p class="verdict" data-overfits="${verdict.overfits}">${escapeHtml(verdict.sentence)}</p>` +
    `<p class="note">Rule: the run overfits when training accuracy exceeds validation accuracy (test accuracy without a validation split) ` +
    `by more than ${gapPoints} percentage points, or when validation loss rose in each of the last ${rising} epochs while training loss fell.</p>`
  );
}

function settingsTable(settings: Readonly<Record<string, unknown>>): string {
  const rows = Object.entries(settings).map(([key, value]) => {
    const text = typeof value === 'string' ? value : JSON.stringify(value) ?? String(value);
    return `<tr><th scope="row">${escapeHtml(key)}</th><td>${escapeHtml(text)}</td></tr>`;
  });
  return `<table class="settings"><tbody>${rows.join('')}</tbody></table>`;
}

function throughputTable(throughput: ReportData['throughput']): string {
  return (
    '<table class="settings"><tbody>' +
    `<tr><th scope="row">samples/s</th><td>${Math.round(throughput.samplesPerSecond)}</td></tr>` +
    `<tr><th scope="row">training seconds</th><td>${throughput.trainSeconds.toFixed(1)}</td></tr>` +
    `<tr><th scope="row">threads</th><td>${throughput.threads}</td></tr>` +
    '</tbody></table>'
  );
}

/** Renders the whole report page. Every text taken from `data` is HTML-escaped. */
export function renderReport(data: ReportData): string {
  const matrix = confusionMatrix(data.testLabels, data.testPredictions, REPORT_CLASSES);
  const misclassifiedTotal = misclassifiedIndices(data.testLabels, data.testPredictions).length;
  const testCount = data.testLabels.length;
  const generated = data.generatedAt === undefined ? '' : `, generated ${data.generatedAt}`;
  const meta = `${data.epochs.length} ${data.epochs.length === 1 ? 'epoch' : 'epochs'}, ${testCount} test samples${generated}`;
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${CONTENT_SECURITY_POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shardnet training report</title>
<style>${STYLE}</style>
</head>
<body>
<h1>shardnet training report</h1>
<p class="meta">${escapeHtml(meta)}</p>
<section id="curves"><h2>Learning curves</h2>
${learningCurves(data)}
</section>
<section id="metrics"><h2>Final metrics</h2>
${metricsTable(data.final)}
${overfittingSection(data)}
</section>
<section id="confusion"><h2>Confusion matrix (test set)</h2>
<p class="note">Rows are true labels and columns predicted labels. Each cell shows its count, and its colour shows that count as a fraction of the row total.</p>
${confusionHeatmap(matrix)}
</section>
<section id="misclassified"><h2>Misclassified test digits</h2>
${digitGrid(data.misclassified, misclassifiedTotal)}
</section>
<section id="model"><h2>Model</h2>
<pre class="summary">${escapeHtml(data.summary)}</pre>
</section>
<section id="settings"><h2>Settings</h2>
${settingsTable(data.settings)}
</section>
<section id="throughput"><h2>Throughput</h2>
${throughputTable(data.throughput)}
</section>
</body>
</html>
`;
}
