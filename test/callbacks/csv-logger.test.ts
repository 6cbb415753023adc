import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';

import { CSVLogger } from '../../src/callbacks/csv-logger.js';
import { tinyData, tinyModel } from './tiny-model.js';

const root = mkdtempSync(join(tmpdir(), 'shardnet-csv-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Runs the logger's hooks over the given epoch logs, as one fit() would. */
async function drive(logger: CSVLogger, epochs: Record<string, number>[]): Promise<void> {
  await logger.onTrainBegin();
  for (let epoch = 0; epoch < epochs.length; epoch++) await logger.onEpochEnd(epoch, epochs[epoch]);
}

describe('CSVLogger', () => {
  it('writes a sorted header and one row per epoch', async () => {
    const file = join(root, 'plain.csv');
    await drive(new CSVLogger(file), [
      { loss: 0.5, val_loss: 0.75, accuracy: 0.25, val_accuracy: 0.125 },
      { val_accuracy: 1, loss: 0.25, accuracy: 0.5, val_loss: 0.5 },
    ]);
    assert.equal(readFileSync(file, 'utf8'), 'epoch,accuracy,loss,val_accuracy,val_loss\n0,0.25,0.5,0.125,0.75\n1,0.5,0.25,1,0.5\n');
  });

  it('writes NA for a missing key and drops new keys', async () => {
    const file = join(root, 'missing.csv');
    await drive(new CSVLogger(file, { separator: ';' }), [{ loss: 1, accuracy: 0 }, { loss: 0.5, learning_rate: 0.1 }]);
    assert.equal(readFileSync(file, 'utf8'), 'epoch;accuracy;loss\n0;0;1\n1;NA;0.5\n');
  });

  it('append keeps rows and skips the header', async () => {
    const file = join(root, 'append.csv');
    await drive(new CSVLogger(file), [{ loss: 1 }]);
    await drive(new CSVLogger(file, { append: true }), [{ loss: 0.5 }]);
    assert.equal(readFileSync(file, 'utf8'), 'epoch,loss\n0,1\n0,0.5\n');
  });

  it('append to an empty file writes the header', async () => {
    const file = join(root, 'empty.csv');
    writeFileSync(file, '');
    await drive(new CSVLogger(file, { append: true }), [{ loss: 2 }]);
    assert.equal(readFileSync(file, 'utf8'), 'epoch,loss\n0,2\n');
  });

  it('without append replaces the file', async () => {
    const file = join(root, 'replace.csv');
    writeFileSync(file, 'old content\n');
    await drive(new CSVLogger(file), [{ loss: 3 }]);
    assert.equal(readFileSync(file, 'utf8'), 'epoch,loss\n0,3\n');
  });

  it('each row is on disk when the epoch ends', async () => {
    const file = join(root, 'flush.csv');
    const logger = new CSVLogger(file);
    await logger.onTrainBegin();
    await logger.onEpochEnd(0, { loss: 1 });
    assert.equal(readFileSync(file, 'utf8'), 'epoch,loss\n0,1\n');
  });

  it('rejects bad arguments', () => {
    assert.throws(() => new CSVLogger(''), /CSVLogger: filename must be a non-empty string, got ""\./);
    assert.throws(() => new CSVLogger('a.csv', { separator: ', ' }), /CSVLogger: separator must be one character other than a quote or a line break, got ", "\./);
    assert.throws(() => new CSVLogger('a.csv', { append: 'yes' as unknown as boolean }), /append must be a boolean, got "yes"/);
  });

  it('logs every epoch of fit exactly', async () => {
    const file = join(root, 'fit.csv');
    const model = tinyModel();
    try {
      const data = tinyData(40);
      const history = await model.fit(data.x, data.y, { epochs: 2, batchSize: 10, validationSplit: 0.25, threads: 0, callbacks: new CSVLogger(file) });
      const h = history.history;
      const rows = [0, 1].map((e) => `${e},${h.accuracy[e]},${h.loss[e]},${h.val_accuracy[e]},${h.val_loss[e]}`);
      assert.equal(readFileSync(file, 'utf8'), `epoch,accuracy,loss,val_accuracy,val_loss\n${rows.join('\n')}\n`);
    } finally {
      await model.dispose();
    }
  });
});
