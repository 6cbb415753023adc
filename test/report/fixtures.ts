/** Synthetic report data, tiny MNIST-layout IDX files and a train.js runner for the report tests. */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { Rng } from '../../src/core/random.js';
import { misclassifiedIndices } from '../../src/report/confusion.js';
import { DIGIT_SIDE, misclassifiedDigits } from '../../src/report/digits.js';
import type { ReportData } from '../../src/report/html.js';
import { writeIdx } from '../helpers/idx.js';

export const root = fileURLToPath(new URL('../..', import.meta.url));

export interface SyntheticOptions {
  epochs: number;
  testSamples: number;
  /** Every k-th test sample is predicted as the next class, so about testSamples / k are wrong. */
  wrongEvery: number;
  summary?: string;
  validation?: boolean;
}

/**
 * Returns report data without training: seeded random pixels, labels i % 10, predictions equal
 * to the label except for every `wrongEvery`-th sample, and smooth learning curves.
 */
export function syntheticReport(options: SyntheticOptions): ReportData {
  const { epochs, testSamples, wrongEvery, validation = true } = options;
  const rng = new Rng(11);
  const images = Float32Array.from({ length: testSamples * DIGIT_SIDE * DIGIT_SIDE }, () => rng.next());
  const labels = Int32Array.from({ length: testSamples }, (_, i) => i % 10);
  const predictions = labels.map((label, i) => (i % wrongEvery === 0 ? (label + 1) % 10 : label));
  const curve = (start: number, end: number) => Array.from({ length: epochs }, (_, i) => start + ((end - start) * i) / Math.max(1, epochs - 1));
  const history: Record<string, number[]> = { loss: curve(2, 0.2), accuracy: curve(0.3, 0.97) };
  if (validation) Object.assign(history, { val_loss: curve(1.8, 0.3), val_accuracy: curve(0.35, 0.95) });
  const wrong = misclassifiedIndices(labels, predictions);
  return {
    history,
    epochs: Array.from({ length: epochs }, (_, i) => i + 1),
    final: {
      train: { loss: 0.2, accuracy: 0.97, samples: 900 },
      validation: validation ? { loss: 0.3, accuracy: 0.95, samples: 100 } : null,
      test: { loss: 0.31, accuracy: 1 - wrong.length / testSamples, samples: testSamples },
    },
    testLabels: labels,
    testPredictions: predictions,
    misclassified: misclassifiedDigits(wrong, labels, predictions, images),
    summary: options.summary ?? 'Model: "synthetic"\nTotal params: 10',
    settings: { epochs, batchSize: 32, optimizer: 'adam', limit: null },
    throughput: { samplesPerSecond: 1234.5, trainSeconds: 2.25, threads: 2 },
    generatedAt: '2024-01-02T03:04:05.000Z',
  };
}

/** Writes the four MNIST IDX files with patterned pixels and labels i % 10 into `dir`. */
export function writeTinyMnist(dir: string, trainCount: number, testCount: number): void {
  const pixels = (count: number) => Uint8Array.from({ length: count * 784 }, (_, i) => (i * 37) % 256);
  const labels = (count: number) => Uint8Array.from({ length: count }, (_, i) => i % 10);
  writeIdx(join(dir, 'train-images-idx3-ubyte'), [trainCount, 28, 28], pixels(trainCount));
  writeIdx(join(dir, 'train-labels-idx1-ubyte'), [trainCount], labels(trainCount));
  writeIdx(join(dir, 't10k-images-idx3-ubyte'), [testCount, 28, 28], pixels(testCount));
  writeIdx(join(dir, 't10k-labels-idx1-ubyte'), [testCount], labels(testCount));
}

/** Runs `node --import tsx src/train.ts` with `args` and waits for it to exit. */
export function runTrain(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/train.ts', ...args], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Arguments of a 3-epoch run on the tiny files in `dataDir`, 30 training and 10 validation samples. */
export function tinyTrainArgs(dataDir: string): string[] {
  return ['--data', dataDir, '--no-download', '--epochs', '3', '--batch-size', '16', '--threads', '1', '--validation-split', '0.25'];
}
