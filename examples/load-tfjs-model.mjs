/**
 * Creates and trains a small CNN in TensorFlow.js, saves it as model.json and weights.bin,
 * loads that directory with shardnet's loadModel and compares the two models' predictions.
 *
 *   node examples/load-tfjs-model.mjs [--steps 6] [--dir DIR]
 *
 * Needs @tensorflow/tfjs (npm install @tensorflow/tfjs), which runs here on its plain
 * JavaScript cpu backend. That package has no file-system saver in Node.js (tfjs-node brings
 * one), so the model is saved through tf.io.withSaveHandler, which hands over the topology and
 * the weights, and this script writes the files. Exits with status 1 when the predicted
 * classes differ or a probability differs by more than 1e-5.
 */
import * as tf from '@tensorflow/tfjs';
import { mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel } from 'shardnet';
import { syntheticDigits } from './datasets.mjs';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '6' },
    dir: { type: 'string', default: join(tmpdir(), 'shardnet-tfjs-example-model') },
  },
});
const steps = Number(values.steps);
const batchSize = 32;

tf.enableProdMode(); // no console notes from TensorFlow.js
await tf.setBackend('cpu');

const model = tf.sequential();
model.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 8, kernelSize: 3, activation: 'relu' }));
model.add(tf.layers.batchNormalization());
model.add(tf.layers.maxPooling2d({ poolSize: 2 }));
model.add(tf.layers.flatten());
model.add(tf.layers.dropout({ rate: 0.2 }));
model.add(tf.layers.dense({ units: 10, activation: 'softmax' }));
model.compile({ optimizer: tf.train.adam(0.005), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });

const train = syntheticDigits(steps * batchSize, 1);
await model.fit(tf.tensor(train.x.data, train.x.shape), tf.tensor(train.y.data), { epochs: 1, batchSize, verbose: 0 });
console.log(`trained in TensorFlow.js ${tf.version.tfjs}: ${steps} steps of ${batchSize} samples`);

// The save handler receives the topology, the weight specs and one buffer of float32 weights.
await model.save(
  tf.io.withSaveHandler(async (artifacts) => {
    await mkdir(values.dir, { recursive: true });
    const weightsManifest = [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }];
    const modelJson = { format: artifacts.format, generatedBy: artifacts.generatedBy, modelTopology: artifacts.modelTopology, weightsManifest };
    await writeFile(join(values.dir, 'model.json'), JSON.stringify(modelJson));
    // weightData is one ArrayBuffer, or several in TensorFlow.js versions that split it.
    await writeFile(join(values.dir, 'weights.bin'), new Uint8Array(tf.io.CompositeArrayBuffer.join(artifacts.weightData)));
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }),
);
console.log(`saved to ${values.dir}`);

const loaded = await loadModel(values.dir);
const test = syntheticDigits(50, 2);
const ours = await loaded.predict(test.x, { threads: 0 });
const theirs = tf.tidy(() => model.predict(tf.tensor(test.x.data, test.x.shape)).dataSync());

let maxDifference = 0;
let sameClasses = 0;
const classes = ours.shape[1];
const argmax = (values, row) => {
  const slice = Array.from(values.subarray(row * classes, (row + 1) * classes));
  return slice.indexOf(Math.max(...slice));
};
for (let i = 0; i < ours.data.length; i++) maxDifference = Math.max(maxDifference, Math.abs(ours.data[i] - theirs[i]));
for (let row = 0; row < test.x.shape[0]; row++) if (argmax(ours.data, row) === argmax(theirs, row)) sameClasses++;
console.log(`same predicted class: ${sameClasses}/${test.x.shape[0]}`);
console.log(`max probability difference: ${maxDifference.toExponential(2)}`);
if (sameClasses !== test.x.shape[0] || !(maxDifference <= 1e-5)) {
  console.error('The shardnet predictions differ from TensorFlow.js.');
  process.exitCode = 1;
}
