/**
 * Loads a saved model (model.json and weight files, such as train-from-code.mjs or
 * train.js --save write) and predicts the classes of test samples from MNIST (MNIST_DIR) or
 * synthetic digits.
 *
 *   node examples/predict.mjs [MODEL_DIR] [--count 10]
 *
 * MODEL_DIR defaults to example-model.
 */
import { parseArgs } from 'node:util';
import { loadModel } from 'shardnet';
import { loadExampleData } from './datasets.mjs';

const { values, positionals } = parseArgs({ options: { count: { type: 'string', default: '10' } }, allowPositionals: true });
const dir = positionals[0] ?? 'example-model';
const count = Number(values.count);

const model = await loadModel(dir);
console.log(`loaded ${dir}: ${model.layers.length} layers, ${model.countParams()} parameters`);
const { source, test } = await loadExampleData(count, count);
console.log(`data: ${source}`);

// predict() returns the softmax probabilities [count, 10]. threads: 0 runs on this thread,
// which is quicker than starting workers for a handful of images.
const probabilities = await model.predict(test.x, { threads: 0 });
const classes = probabilities.shape[1];
let correct = 0;
for (let i = 0; i < test.x.shape[0]; i++) {
  const row = probabilities.data.subarray(i * classes, (i + 1) * classes);
  const predicted = row.indexOf(Math.max(...row));
  const label = test.y.data[i];
  if (predicted === label) correct++;
  console.log(`sample ${i}: predicted ${predicted} (p=${row[predicted].toFixed(3)}), label ${label}`);
}
console.log(`correct ${correct}/${test.x.shape[0]}`);
