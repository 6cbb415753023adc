/**
 * predict.js end to end: a small Flatten + Dense model is trained and saved, then the CLI runs
 * as a child process on generated PNG and IDX files, and its output is compared with
 * model.predict() on the same preprocessed input.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { PNG } from 'pngjs';

import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { preprocessDigit } from '../../src/data/digit-preprocess.js';
import { decodePng } from '../../src/data/png.js';
import { layers } from '../../src/layers/index.js';
import { saveModel } from '../../src/model/save.js';
import { Sequential } from '../../src/model/sequential.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function runPredict(args: string[], timeout = 60_000): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/predict.ts', ...args], { cwd: root, encoding: 'utf8', timeout });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Encodes an IDX file: magic 00 00 <type> <rank>, big-endian uint32 sizes, then the data. */
function idxBytes(typeCode: number, shape: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = typeCode;
  header[3] = shape.length;
  shape.forEach((size, i) => header.writeUInt32BE(size, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

/** Encodes a width x height RGB PNG, black on white, with a dark disc at (cx, cy) of radius r. */
function discPng(width: number, height: number, cx: number, cy: number, r: number): Buffer {
  const png = new PNG({ width, height });
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const value = (x - cx) ** 2 + (y - cy) ** 2 <= r * r ? 10 : 245;
      png.data.set([value, value, value, 255], 4 * (y * width + x));
    }
  }
  return PNG.sync.write(png, { colorType: 2, inputHasAlpha: true });
}

/** Trains a Flatten + Dense model on [28, 28, 1] input for two epochs on seeded random images, so its outputs are not uniform. */
async function trainTinyModel(): Promise<Sequential> {
  const model = new Sequential({ name: 'tiny_digits', seed: 4 });
  model.add(layers.flatten({ inputShape: [28, 28, 1] }));
  model.add(layers.dense({ units: 10, activation: 'softmax' }));
  model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
  const rng = new Rng(9);
  const count = 64;
  const x = Tensor.zeros([count, 28, 28, 1]);
  const y = Tensor.zeros([count]);
  for (let i = 0; i < count; i++) {
    const label = i % 10;
    y.data[i] = label;
    // Each class lights a different band of rows.
    for (let p = 0; p < 784; p++) x.data[i * 784 + p] = Math.floor(p / 28 / 3) === label ? 0.5 + 0.5 * rng.next() : 0.1 * rng.next();
  }
  await model.fit(x, y, { epochs: 2, batchSize: 16, threads: 0 });
  return model;
}

describe('predict.js', () => {
  let dir = '';
  let model: Sequential;
  let modelDir = '';
  const files: Record<string, string> = {};
  /** Expected model inputs, in the order the files are given below. */
  const inputs: Float32Array[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'shardnet-predict-'));
    model = await trainTinyModel();
    modelDir = join(dir, 'model');
    await saveModel(model, modelDir);

    files.disc = join(dir, 'disc.png');
    writeFileSync(files.disc, discPng(90, 70, 60, 20, 12));
    files.blank = join(dir, 'blank.png');
    writeFileSync(files.blank, discPng(16, 16, -100, -100, 1));
    const rng = new Rng(21);
    const images = Uint8Array.from({ length: 3 * 784 }, () => rng.int(256));
    files.idx = join(dir, 'images.idx3-ubyte');
    writeFileSync(files.idx, idxBytes(0x08, [3, 28, 28], images));
    files.gzip = join(dir, 'images.idx3-ubyte.gz');
    writeFileSync(files.gzip, gzipSync(idxBytes(0x08, [2, 28, 28], images.subarray(784))));

    inputs.push(preprocessDigit(decodePng(discPng(90, 70, 60, 20, 12), 'disc.png')).pixels);
    inputs.push(new Float32Array(784));
    for (let i = 0; i < 3; i++) inputs.push(Float32Array.from(images.subarray(i * 784, (i + 1) * 784), (v) => v / 255));
    for (let i = 1; i < 3; i++) inputs.push(Float32Array.from(images.subarray(i * 784, (i + 1) * 784), (v) => v / 255));
  });

  after(async () => {
    await model.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  async function expectedProbabilities(): Promise<Float32Array[]> {
    const x = Tensor.zeros([inputs.length, 28, 28, 1]);
    inputs.forEach((input, i) => x.data.set(input, i * 784));
    const output = await model.predict(x, { threads: 0 });
    return inputs.map((_, i) => output.data.slice(i * 10, (i + 1) * 10));
  }

  it('prints JSON probabilities equal to model.predict', async () => {
    const { status, stdout, stderr } = runPredict(['--model', modelDir, '--json', files.disc, files.blank, files.idx, files.gzip]);
    assert.equal(status, 0, stderr);
    const report = JSON.parse(stdout) as { predictions: { file: string; index: number | null; predicted: number; probabilities: number[]; blank: boolean }[] };
    const expected = await expectedProbabilities();
    assert.equal(report.predictions.length, 7);
    assert.deepEqual(
      report.predictions.map((p) => [p.file, p.index]),
      [[files.disc, null], [files.blank, null], [files.idx, 0], [files.idx, 1], [files.idx, 2], [files.gzip, 0], [files.gzip, 1]],
    );
    report.predictions.forEach((prediction, i) => {
      assert.equal(prediction.probabilities.length, 10);
      prediction.probabilities.forEach((p, c) => {
        assert.ok(Math.abs(p - expected[i][c]) <= 1e-6, `image ${i} class ${c}: ${p}, model.predict gives ${expected[i][c]}`);
      });
      const argmax = expected[i].indexOf(Math.max(...expected[i]));
      assert.equal(prediction.predicted, argmax, `image ${i} predicted class`);
    });
    assert.deepEqual(report.predictions.map((p) => p.blank), [false, true, false, false, false, false, false]);
    // The outputs must differ between images, or the comparison above proves little.
    assert.notDeepEqual(report.predictions[0].probabilities, report.predictions[2].probabilities);
    assert.match(stderr, /warning: .*blank\.png: the image is blank/);
  });

  it('prints one line per image in text mode', async () => {
    const { status, stdout } = runPredict(['--model', modelDir, files.disc, files.idx, files.gzip]);
    assert.equal(status, 0);
    const lines = stdout.trimEnd().split('\n');
    assert.equal(lines.length, 6);
    const expected = await expectedProbabilities();
    const expectedRows = [expected[0], ...expected.slice(2)];
    const labels = [files.disc, `${files.idx}[0]`, `${files.idx}[1]`, `${files.idx}[2]`, `${files.gzip}[0]`, `${files.gzip}[1]`];
    lines.forEach((line, i) => {
      const ranked = Array.from(expectedRows[i].keys()).sort((a, b) => expectedRows[i][b] - expectedRows[i][a]);
      const top = ranked.slice(0, 3).map((c) => `${c} ${expectedRows[i][c].toFixed(4)}`).join(', ');
      assert.equal(line, `${labels[i]}: ${ranked[0]} (${top})`);
    });
  });

  it('runs inference on a worker thread', () => {
    const inline = runPredict(['--model', modelDir, '--json', files.idx]);
    const pooled = runPredict(['--model', modelDir, '--json', '--threads', '1', files.idx]);
    assert.equal(pooled.status, 0, pooled.stderr);
    assert.deepEqual(JSON.parse(pooled.stdout), JSON.parse(inline.stdout));
  });

  it('accepts IDX images with a channel axis', () => {
    const withChannel = join(dir, 'channel.idx');
    const rng = new Rng(5);
    const images = Uint8Array.from({ length: 2 * 784 }, () => rng.int(256));
    writeFileSync(withChannel, idxBytes(0x08, [2, 28, 28, 1], images));
    const withoutChannel = join(dir, 'plain.idx');
    writeFileSync(withoutChannel, idxBytes(0x08, [2, 28, 28], images));
    const four = runPredict(['--model', modelDir, '--json', withChannel]);
    const three = runPredict(['--model', modelDir, '--json', withoutChannel]);
    assert.equal(four.status, 0, four.stderr);
    const probabilities = (stdout: string) => (JSON.parse(stdout) as { predictions: { probabilities: number[] }[] }).predictions.map((p) => p.probabilities);
    assert.deepEqual(probabilities(four.stdout), probabilities(three.stdout));
  });

  it('warns when outputs are not probabilities', async () => {
    const linear = new Sequential({ seed: 2 });
    linear.add(layers.flatten({ inputShape: [28, 28, 1] }));
    linear.add(layers.dense({ units: 10 }));
    const linearDir = join(dir, 'linear-model');
    await saveModel(linear, linearDir);
    const { status, stdout, stderr } = runPredict(['--model', linearDir, files.idx]);
    assert.equal(status, 0, stderr);
    assert.equal(stdout.trimEnd().split('\n').length, 3);
    assert.match(stderr, /warning: the outputs of .*linear-model are not probabilities/);
  });

  describe('errors', () => {
    function assertFails(args: string[], status: number, pattern: RegExp, timeout?: number): void {
      const result = runPredict(args, timeout);
      assert.equal(result.status, status, result.stderr);
      assert.equal(result.stdout, '');
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, `expected one line, got: ${result.stderr}`);
      assert.match(lines[0], pattern);
    }

    it('exits 2 for an invalid thread count', () => {
      assertFails(['--model', modelDir, '--threads', 'two', files.disc], 2, /^predict\.js: option '--threads <n>' argument 'two' is invalid/);
    });

    it('exits 2 without --model', () => {
      assertFails([files.disc], 2, /required option '--model <dir>' not specified/);
    });

    it('exits 1 for a missing file', () => {
      const missing = join(dir, 'missing.png');
      assertFails(['--model', modelDir, missing], 1, new RegExp(`^predict\\.js: cannot read ${missing}: no such file\\.$`));
    });

    // A device is read without end, so the check must come before any read. A short timeout
    // turns a read that never ends into a failure instead of a hang.
    for (const device of ['/dev/zero', '/dev/urandom']) {
      it(`exits 1 for ${device}`, { skip: existsSync(device) ? false : `no ${device} on this platform` }, () => {
        const message = new RegExp(`^predict\\.js: cannot read ${device}: it is a character device, not a regular file\\. Give a PNG or IDX file\\.$`);
        assertFails(['--model', modelDir, files.disc, device], 1, message, 20_000);
      });
    }

    it('exits 1 for a directory', () => {
      assertFails(['--model', modelDir, dir], 1, new RegExp(`^predict\\.js: cannot read ${dir}: it is a directory, not a regular file\\. Give a PNG or IDX file\\.$`));
    });

    it('exits 1 for a file over 2 GiB', () => {
      // A sparse file: its size is set without writing its data.
      const huge = join(dir, 'huge.idx');
      writeFileSync(huge, '');
      const size = 2 ** 31 + 1;
      truncateSync(huge, size);
      try {
        assertFails(['--model', modelDir, huge], 1, new RegExp(`^predict\\.js: cannot read ${huge}: it is ${size} bytes, more than the ${2 ** 31} bytes \\(2 GiB\\) accepted\\.`));
      } finally {
        rmSync(huge);
      }
    });

    it('exits 1 for a bad PNG', () => {
      const bad = join(dir, 'bad.png');
      writeFileSync(bad, Buffer.from('not a png at all'));
      assertFails(['--model', modelDir, bad], 1, new RegExp(`Invalid data file ${bad}: not a PNG file`));
    });

    it('exits 1 for a directory without a model', () => {
      const empty = join(dir, 'empty-model');
      mkdirSync(empty, { recursive: true });
      assertFails(['--model', empty, files.disc], 1, new RegExp(`Cannot load model ${empty}/model\\.json: it is not readable JSON`));
    });

    it('exits 1 for IDX images of the wrong size', () => {
      const wrong = join(dir, 'wrong.idx');
      writeFileSync(wrong, idxBytes(0x08, [2, 20, 20], new Uint8Array(800)));
      assertFails(['--model', modelDir, wrong], 1, new RegExp(`${wrong}: shape \\[2, 20, 20\\] does not match the model input \\[28, 28, 1\\]`));
    });

    it('exits 1 for IDX data that is not uint8', () => {
      const floats = join(dir, 'floats.idx');
      writeFileSync(floats, idxBytes(0x0d, [1, 28, 28], new Uint8Array(784 * 4)));
      assertFails(['--model', modelDir, floats], 1, /images have dtype float32, expected uint8 pixels/);
    });

    it('exits 1 for a file that is neither PNG nor IDX', () => {
      const text = join(dir, 'notes.txt');
      writeFileSync(text, 'hello');
      assertFails(['--model', modelDir, text], 1, /neither a PNG nor an IDX file \(it starts with 68 65 6c 6c\)/);
    });

    it('exits 1 when the model input does not take a 28x28 digit', async () => {
      const small = new Sequential({ seed: 1 });
      small.add(layers.flatten({ inputShape: [8, 8, 1] }));
      small.add(layers.dense({ units: 10, activation: 'softmax' }));
      const smallDir = join(dir, 'small-model');
      await saveModel(small, smallDir);
      assertFails(['--model', smallDir, files.disc], 1, /disc\.png: a PNG is converted to a 28x28 grayscale digit, but the model expects input \[8, 8, 1\]/);
    });
  });
});
