import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { assessOverfitting, lossDiverges, type FinalMetrics } from '../../src/report/overfitting.js';

function finalMetrics(train: number, validation: number | null, test: number): FinalMetrics {
  return {
    train: { loss: 0.1, accuracy: train, samples: 900 },
    validation: validation === null ? null : { loss: 0.2, accuracy: validation, samples: 100 },
    test: { loss: 0.2, accuracy: test, samples: 1000 },
  };
}

describe('assessOverfitting', () => {
  it('flags rising validation loss', () => {
    const history = { loss: [0.9, 0.5, 0.3, 0.2], val_loss: [0.6, 0.4, 0.45, 0.5] };
    const verdict = assessOverfitting(history, finalMetrics(0.95, 0.94, 0.94));
    assert.equal(verdict.overfits, true);
    assert.equal(verdict.gapExceeded, false);
    assert.equal(verdict.lossDiverged, true);
    assert.equal(
      verdict.sentence,
      'The run overfits: training accuracy is 1.0 percentage points above validation accuracy (within the 3.0 percentage points allowed), ' +
        'and validation loss rose in each of the last 2 epochs while training loss fell.',
    );
  });

  it('flags an accuracy gap', () => {
    const history = { loss: [0.5, 0.3, 0.2], val_loss: [0.5, 0.4, 0.35] };
    const verdict = assessOverfitting(history, finalMetrics(0.99, 0.9, 0.9));
    assert.equal(verdict.overfits, true);
    assert.equal(verdict.gapExceeded, true);
    assert.equal(verdict.lossDiverged, false);
    assert.match(verdict.sentence, /^The run overfits: training accuracy is 9\.0 percentage points above validation accuracy \(more than the 3\.0/);
  });

  it('passes a healthy run', () => {
    const history = { loss: [0.5, 0.3, 0.2], val_loss: [0.5, 0.4, 0.35] };
    const verdict = assessOverfitting(history, finalMetrics(0.951, 0.94, 0.93));
    assert.equal(verdict.overfits, false);
    assert.match(verdict.sentence, /^The run does not overfit: training accuracy is 1\.1 percentage points above/);
    assert.match(verdict.sentence, /validation loss did not rise in each of the last 2 epochs/);
  });

  it('keeps a gap just under the threshold', () => {
    assert.equal(assessOverfitting({}, finalMetrics(0.95, 0.921, 0.95)).gapExceeded, false);
    assert.equal(assessOverfitting({}, finalMetrics(0.95, 0.919, 0.95)).gapExceeded, true);
  });

  it('reports a negative gap as below', () => {
    const verdict = assessOverfitting({}, finalMetrics(0.9, 0.92, 0.92));
    assert.match(verdict.sentence, /2\.0 percentage points below validation accuracy/);
  });

  it('needs three epochs for the trend', () => {
    const verdict = assessOverfitting({ loss: [0.5, 0.3], val_loss: [0.4, 0.6] }, finalMetrics(0.9, 0.9, 0.9));
    assert.equal(verdict.lossDiverged, null);
    assert.equal(verdict.overfits, false);
    assert.match(verdict.sentence, /the loss trend is not judged because it needs 3 epochs with validation loss\.$/);
  });

  it('uses the test split without validation', () => {
    const verdict = assessOverfitting({ loss: [0.5, 0.3, 0.2] }, finalMetrics(0.98, null, 0.9));
    assert.equal(verdict.overfits, true);
    assert.equal(verdict.lossDiverged, null);
    assert.match(verdict.sentence, /8\.0 percentage points above test accuracy/);
  });
});

describe('lossDiverges', () => {
  it('needs every step of the window to rise', () => {
    assert.equal(lossDiverges([1, 0.8, 0.6], [0.5, 0.6, 0.6]), false);
    assert.equal(lossDiverges([1, 0.8, 0.6], [0.5, 0.6, 0.7]), true);
  });

  it('needs training loss to fall', () => {
    assert.equal(lossDiverges([0.5, 0.4, 0.6], [0.5, 0.6, 0.7]), false);
  });

  it('looks only at the last epochs', () => {
    assert.equal(lossDiverges([2, 1, 0.8, 0.6], [0.9, 0.5, 0.6, 0.7]), true);
  });

  it('treats NaN as no rise', () => {
    assert.equal(lossDiverges([1, 0.8, 0.6], [0.5, NaN, 0.7]), false);
  });
});
