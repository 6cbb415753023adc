/**
 * Builds a small CNN, trains it on MNIST (MNIST_DIR) or synthetic digits, evaluates it on the
 * test samples and saves it in the TensorFlow.js layers format.
 *
 *   node examples/train-from-code.mjs [--epochs 2] [--limit 2000] [--threads N] [--save DIR]
 *
 * --limit caps the training samples (the test samples at a fifth of it), so a run takes
 * seconds. examples/predict.mjs loads the saved model.
 */
import { parseArgs } from 'node:util';
import { Sequential, layers } from 'shardnet';
import { loadExampleData } from './datasets.mjs';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '2' },
    limit: { type: 'string', default: '2000' },
    threads: { type: 'string' },
    save: { type: 'string', default: 'example-model' },
  },
});
const epochs = Number(values.epochs);
const limit = Number(values.limit);
const threads = values.threads === undefined ? undefined : Number(values.threads);

const data = await loadExampleData(limit, Math.ceil(limit / 5));
console.log(`data: ${data.source}, ${data.train.x.shape[0]} training and ${data.test.x.shape[0]} test samples`);

const model = new Sequential({ seed: 1 });
model.add(layers.conv2d({ filters: 8, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }));
model.add(layers.maxPooling2d({ poolSize: 2 }));
model.add(layers.conv2d({ filters: 16, kernelSize: 3, activation: 'relu' }));
model.add(layers.maxPooling2d({ poolSize: 2 }));
model.add(layers.flatten());
model.add(layers.dense({ units: 32, activation: 'relu' }));
model.add(layers.dense({ units: 10, activation: 'softmax' }));
model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
model.summary();

const onEpochEnd = (epoch, logs) => {
  const metrics = Object.entries(logs).map(([name, value]) => `${name}=${value.toFixed(4)}`);
  console.log(`epoch ${epoch + 1}/${epochs} ${metrics.join(' ')}`);
};
await model.fit(data.train.x, data.train.y, { epochs, batchSize: 32, validationSplit: 0.1, threads, seed: 1, callbacks: { onEpochEnd } });

const { loss, accuracy } = await model.evaluate(data.test.x, data.test.y, { threads });
console.log(`test loss=${loss.toFixed(4)} accuracy=${accuracy.toFixed(4)}`);

await model.save(values.save);
console.log(`saved model to ${values.save}`);
await model.dispose();
