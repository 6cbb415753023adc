/**
 * The classic Keras MNIST CNN: Conv2D(32, 3x3, relu) -> Conv2D(64, 3x3, relu) ->
 * MaxPooling2D(2x2) -> Flatten -> Dense(128, relu) -> Dense(10, softmax); 1,199,882
 * parameters for 28x28x1 inputs.
 */
import { layers } from '../layers/index.js';
import { Sequential } from '../model/sequential.js';

export function mnistCnn(options: { seed?: number } = {}): Sequential {
  const model = new Sequential({ name: 'mnist_cnn', seed: options.seed });
  model.add(layers.conv2d({ filters: 32, kernelSize: 3, activation: 'relu', inputShape: [28, 28, 1] }));
  model.add(layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }));
  model.add(layers.maxPooling2d({ poolSize: 2 }));
  model.add(layers.flatten());
  model.add(layers.dense({ units: 128, activation: 'relu' }));
  model.add(layers.dense({ units: 10, activation: 'softmax' }));
  return model;
}
