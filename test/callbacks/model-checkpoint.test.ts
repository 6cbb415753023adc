import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { formatFilepath, parseFilepathTemplate } from '../../src/callbacks/filepath-template.js';
import { ModelCheckpoint } from '../../src/callbacks/model-checkpoint.js';
import { loadModel } from '../../src/model/save.js';
import { firstDifference, tinyData, tinyModel } from './tiny-model.js';

const root = mkdtempSync(join(tmpdir(), 'shardnet-model-checkpoint-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('filepath template', () => {
  const format = (source: string, values: Record<string, number>) => formatFilepath(parseFilepathTemplate(source, 'test'), values, 'test');

  const cases: [string, Record<string, number>, string][] = [
    ['ckpt-{epoch}', { epoch: 3 }, 'ckpt-3'],
    ['ckpt-{epoch:02d}', { epoch: 3 }, 'ckpt-03'],
    ['ckpt-{epoch:03d}', { epoch: 12 }, 'ckpt-012'],
    ['{epoch:4d}', { epoch: 7 }, '   7'],
    ['{val_loss:.2f}', { val_loss: 0.4567 }, '0.46'],
    ['{val_loss:08.3f}', { val_loss: -1.5 }, '-001.500'],
    ['{loss:.2e}', { loss: 0.000123 }, '1.23e-04'],
    ['{loss:f}', { loss: 0.5 }, '0.500000'],
    ['{{epoch}}-{epoch}', { epoch: 1 }, '{epoch}-1'],
    ['no-placeholder', { epoch: 1 }, 'no-placeholder'],
  ];
  for (const [source, values, expected] of cases) {
    it(`formats ${source}`, () => assert.equal(format(source, values), expected));
  }

  it('rejects bad placeholders', () => {
    assert.throws(() => parseFilepathTemplate('a{epoch', 'ModelCheckpoint'), /ModelCheckpoint: filepath "a\{epoch" has an invalid placeholder "\{epoch"/);
    assert.throws(() => parseFilepathTemplate('a{epoch:x}', 'ModelCheckpoint'), /invalid placeholder "\{epoch:x\}"; use \{name\} or \{name:spec\}/);
    assert.throws(() => parseFilepathTemplate('a}b', 'ModelCheckpoint'), /single '\}' at index 1/);
    assert.throws(() => format('{val_acc}', { epoch: 1, loss: 2 }), /names \{val_acc\}, which is not in the epoch logs; the keys are epoch, loss/);
    assert.throws(() => format('{loss:d}', { loss: 0.5 }), /formats loss = 0\.5 with 'd', which needs an integer/);
  });
});

describe('ModelCheckpoint', () => {
  const data = tinyData(40);

  it('saves every epoch with 1-based names', async () => {
    const model = tinyModel();
    try {
      const dir = join(root, 'every');
      const checkpoint = new ModelCheckpoint(join(dir, 'epoch-{epoch:02d}-{loss:.3f}'));
      const history = await model.fit(data.x, data.y, { epochs: 2, batchSize: 10, threads: 0, callbacks: checkpoint });
      const names = history.history.loss.map((loss, i) => `epoch-0${i + 1}-${loss.toFixed(3)}`);
      assert.deepEqual(readdirSync(dir).sort(), names);
      const loaded = await loadModel(join(dir, names[1]));
      assert.equal(firstDifference(loaded.flatWeights, model.flatWeights), null);
      await loaded.dispose();
    } finally {
      await model.dispose();
    }
  });

  it('saveBestOnly saves only improving epochs', async () => {
    const model = tinyModel();
    try {
      const dir = join(root, 'best');
      const values = [3, 2, 2.5, 1];
      const saved: number[] = [];
      const script = { onEpochEnd: (epoch: number, logs?: Record<string, number>) => void ((logs as Record<string, number>).val_loss = values[epoch]) };
      const checkpoint = new ModelCheckpoint(join(dir, 'e{epoch}'), { saveBestOnly: true });
      const record = { onEpochEnd: () => void (checkpoint.lastSaved !== null && saved.push(Number(checkpoint.lastSaved.slice(-1)))) };
      await model.fit(data.x, data.y, { epochs: 4, batchSize: 10, validationSplit: 0.25, threads: 0, callbacks: [script, checkpoint, record] });
      assert.deepEqual(readdirSync(dir).sort(), ['e1', 'e2', 'e4']);
      assert.equal(checkpoint.best, 1);
      assert.deepEqual(saved, [1, 2, 2, 4]);
    } finally {
      await model.dispose();
    }
  });

  it('writes nothing before the first epoch ends', () => {
    const dir = join(root, 'unused');
    new ModelCheckpoint(join(dir, 'x'));
    assert.equal(existsSync(dir), false);
  });

  it('rejects bad arguments', () => {
    assert.throws(() => new ModelCheckpoint(''), /ModelCheckpoint: filepath must be a non-empty string, got ""\./);
    assert.throws(() => new ModelCheckpoint('m', { saveBestOnly: true, monitor: 'f1' }), /cannot tell whether monitor "f1" should be minimized or maximized/);
    assert.throws(() => new ModelCheckpoint('m', { save_best_only: true } as object), /unknown option "save_best_only"; the options are monitor, saveBestOnly, mode/);
  });
});
