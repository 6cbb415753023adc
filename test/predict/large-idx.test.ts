/**
 * predict.js on an IDX file of 20,000 images, which takes several chunks of model.predict()
 * calls. The output must be complete and in order, and the peak memory must stay far below
 * a copy of every image and its result. A reader that closes the pipe early must end the
 * program quietly.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { Tensor } from '../../src/core/tensor.js';
import { layers } from '../../src/layers/index.js';
import { saveModel } from '../../src/model/save.js';
import { Sequential } from '../../src/model/sequential.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

const IMAGE_COUNT = 20_000;
const IMAGE_SIZE = 28 * 28;

/**
 * Largest rise in peak RSS from a one-image run to the 20,000-image run. The images take
 * 15 MiB as uint8. Measured with this test on Node 20.20 (Linux x64, 2 cores): holding every
 * image as float32 and every result until the end took 444 MiB more (about 22 KiB per image),
 * and classifying in chunks took 36 MiB more.
 */
const MAX_RSS_GROWTH_BYTES = 100 * 2 ** 20;

/** Encodes a uint8 IDX file of `count` 28x28 images. */
function idxBytes(count: number, pixels: Uint8Array): Buffer {
  const header = Buffer.alloc(16);
  header[2] = 0x08;
  header[3] = 3;
  header.writeUInt32BE(count, 4);
  header.writeUInt32BE(28, 8);
  header.writeUInt32BE(28, 12);
  return Buffer.concat([header, pixels]);
}

/** Pixels that differ from image to image, so that the predictions differ too. */
function patternPixels(count: number): Uint8Array {
  const pixels = new Uint8Array(count * IMAGE_SIZE);
  for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 7919 + Math.floor(i / IMAGE_SIZE) * 31) & 255;
  return pixels;
}

interface Prediction {
  file: string;
  index: number | null;
  predicted: number;
  probabilities: number[];
  blank: boolean;
}

describe('predict.js on a large IDX file', () => {
  let dir = '';
  let model: Sequential;
  let modelDir = '';
  let pixels: Uint8Array;
  let largeFile = '';
  let oneImageFile = '';
  let peakScript = '';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shardnet-predict-large-'));
    model = new Sequential({ seed: 3 });
    model.add(layers.flatten({ inputShape: [28, 28, 1] }));
    model.add(layers.dense({ units: 10, activation: 'softmax' }));
    modelDir = join(dir, 'model');
    await saveModel(model, modelDir);

    pixels = patternPixels(IMAGE_COUNT);
    largeFile = join(dir, 'large.idx');
    writeFileSync(largeFile, idxBytes(IMAGE_COUNT, pixels));
    oneImageFile = join(dir, 'one.idx');
    writeFileSync(oneImageFile, idxBytes(1, pixels.subarray(0, IMAGE_SIZE)));

    // Loaded with --import into the child, it writes the peak RSS (in KiB) to PEAK_RSS_FILE on exit.
    peakScript = join(dir, 'peak-rss.mjs');
    writeFileSync(
      peakScript,
      "import { writeFileSync } from 'node:fs';\n" +
        "process.on('exit', () => writeFileSync(process.env.PEAK_RSS_FILE, String(process.resourceUsage().maxRSS)));\n",
    );
  });

  after(async () => {
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs predict.js --json on `file` and returns its stdout, stderr, status and peak RSS in bytes. */
  function runMeasured(file: string): { status: number | null; stdout: string; stderr: string; peakBytes: number } {
    const peakFile = join(dir, 'peak-rss');
    rmSync(peakFile, { force: true });
    const result = spawnSync(process.execPath, ['--import', 'tsx', '--import', peakScript, 'src/predict.ts', '--model', modelDir, '--json', file], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, PEAK_RSS_FILE: peakFile },
      maxBuffer: 2 ** 30,
      timeout: 120_000,
    });
    return { status: result.status, stdout: result.stdout, stderr: result.stderr, peakBytes: Number(readFileSync(peakFile, 'utf8')) * 1024 };
  }

  it('writes every prediction with bounded memory', async () => {
    const baseline = runMeasured(oneImageFile);
    assert.equal(baseline.status, 0, baseline.stderr);
    const large = runMeasured(largeFile);
    assert.equal(large.status, 0, large.stderr);

    const report = JSON.parse(large.stdout) as { model: string; predictions: Prediction[] };
    assert.deepEqual(Object.keys(report), ['model', 'predictions']);
    assert.equal(report.model, modelDir);
    assert.equal(report.predictions.length, IMAGE_COUNT);
    report.predictions.forEach((prediction, i) => {
      assert.equal(prediction.index, i);
      assert.equal(prediction.file, largeFile);
    });

    // Images on both sides of a chunk boundary and the last one match model.predict.
    const checked = [0, 1023, 1024, IMAGE_COUNT - 1];
    const x = Tensor.zeros([checked.length, 28, 28, 1]);
    checked.forEach((image, row) => {
      for (let p = 0; p < IMAGE_SIZE; p++) x.data[row * IMAGE_SIZE + p] = pixels[image * IMAGE_SIZE + p] / 255;
    });
    const expected = await model.predict(x, { threads: 0 });
    checked.forEach((image, row) => {
      const probabilities = report.predictions[image].probabilities;
      assert.equal(probabilities.length, 10);
      probabilities.forEach((p, c) => assert.ok(Math.abs(p - expected.data[row * 10 + c]) <= 1e-6, `image ${image} class ${c}: ${p}, model.predict gives ${expected.data[row * 10 + c]}`));
    });
    assert.notDeepEqual(report.predictions[0].probabilities, report.predictions[1].probabilities);

    const growth = large.peakBytes - baseline.peakBytes;
    assert.ok(growth < MAX_RSS_GROWTH_BYTES, `peak RSS grew by ${(growth / 2 ** 20).toFixed(1)} MiB for ${IMAGE_COUNT} images, more than ${MAX_RSS_GROWTH_BYTES / 2 ** 20} MiB`);
  });

  for (const json of [false, true]) {
    it(`ends quietly when stdout closes early${json ? ' with --json' : ''}`, async () => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/predict.ts', '--model', modelDir, ...(json ? ['--json'] : []), largeFile], { cwd: root });
      let stderr = '';
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (text: string) => (stderr += text));
      // The output (over 1 MB) is far larger than a pipe's buffer, so the child is still writing.
      child.stdout.once('data', () => child.stdout.destroy());
      const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
      assert.equal(signal, null);
      assert.equal(code, 0, stderr);
      assert.equal(stderr, '');
    });
  }
});
