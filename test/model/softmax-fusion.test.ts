import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Rng } from '../../src/core/random.js';
import { Tensor } from '../../src/core/tensor.js';
import { layers } from '../../src/layers/index.js';
import { SGD } from '../../src/optim/sgd.js';
import { Sequential } from '../../src/model/sequential.js';

/**
 * A Conv2D softmax normalizes each pixel's channels, so the loss must not fuse it as one softmax
 * over the sample's whole output. Conv2D(softmax) and Conv2D(linear) -> Activation(softmax),
 * which applies the same per-pixel softmax itself, must train alike.
 */
test('conv softmax is not fused across pixels', async () => {
  const rng = new Rng(5);
  const count = 8;
  const x = Tensor.zeros([count, 3, 3, 1]);
  for (let i = 0; i < x.size; i++) x.data[i] = rng.uniform(-1, 1);
  // One-hot targets per pixel: 2x2 output pixels of 3 channels.
  const y = Tensor.zeros([count, 2, 2, 3]);
  for (let i = 0; i < count; i++) for (let p = 0; p < 4; p++) y.data[i * 12 + p * 3 + rng.int(3)] = 1;

  const build = (separate: boolean): Sequential => {
    const model = new Sequential({ seed: 8 });
    model.add(layers.conv2d({ filters: 3, kernelSize: 2, activation: separate ? 'linear' : 'softmax', inputShape: [3, 3, 1] }));
    if (separate) model.add(layers.activation({ activation: 'softmax' }));
    model.compile({ optimizer: new SGD({ learningRate: 0.5 }), loss: 'categoricalCrossentropy' });
    return model;
  };
  const fusedCandidate = build(false);
  const reference = build(true);
  try {
    reference.setWeights(fusedCandidate.getWeights());
    const a = await fusedCandidate.fit(x, y, { epochs: 3, batchSize: count, shuffle: false, threads: 0 });
    const b = await reference.fit(x, y, { epochs: 3, batchSize: count, shuffle: false, threads: 0 });
    a.history.loss.forEach((loss, i) => assert.ok(Math.abs(loss - b.history.loss[i]) < 1e-5, `epoch ${i}: loss ${loss} vs ${b.history.loss[i]}`));
    const wa = fusedCandidate.flatWeights;
    const wb = reference.flatWeights;
    for (let i = 0; i < wa.length; i++) assert.ok(Math.abs(wa[i] - wb[i]) < 1e-5, `weight ${i}: ${wa[i]} vs ${wb[i]}`);
  } finally {
    await fusedCandidate.dispose();
    await reference.dispose();
  }
});
