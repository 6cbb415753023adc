/**
 * Training and inference throughput of the Keras MNIST CNN in TensorFlow.js 4.x, for comparison
 * with shardnet's own figures (bench/train-step.bench.ts).
 *
 * Model: Conv2D(32, 3x3, relu) -> Conv2D(64, 3x3, relu) -> MaxPooling2D(2) -> Flatten ->
 * Dense(128, relu) -> Dense(10, softmax), Adam (lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7),
 * sparse categorical cross-entropy, batches of 128 seeded synthetic 28x28x1 samples.
 *
 * The 'wasm' backend of @tensorflow/tfjs-backend-wasm 4.22.0 registers no Conv2DBackpropFilter
 * kernel, so `fit` and `trainOnBatch` throw on the first convolution's gradient. This file
 * registers a plain-JS version of that kernel for 'wasm' (only where none is registered) and
 * checks it against a hand-computed case and against the 'cpu' backend before timing anything.
 * Its cost is part of the measured training time, so the wasm training figure is a lower bound
 * for what a native filter-gradient kernel would reach.
 *
 * Run: node --import tsx bench/tfjs.bench.ts [--no-cpu]
 */
import { createRequire } from 'node:module';
import { dirname, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths, version_wasm as wasmVersion, type BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { Rng } from '../src/core/random.js';

export interface TfjsBenchResult {
  backend: string;
  trainSamplesPerSecond: number;
  inferenceSamplesPerSecond: number;
  /** Batch sizes, repeat counts, and any kernel this file had to supply. */
  notes: string[];
}

export interface TfjsBenchOptions {
  /** Also time the pure-JS 'cpu' backend on batches of 8 (about 25 s on a 2-core x86 VM). Default true. */
  cpu?: boolean;
  /** Timed training batches after one warm-up batch. Default 4. */
  trainBatches?: number;
  /** Timed inference passes over one batch after one warm-up pass. Default 5. */
  inferenceRepeats?: number;
}

const BATCH = 128;
/** The 'cpu' backend trains at under 1 sample/s on a 2-core x86 VM, so it gets a smaller batch. */
const CPU_BATCH = 8;
const DEFAULT_OPTIONS: Required<TfjsBenchOptions> = { cpu: true, trainBatches: 4, inferenceRepeats: 5 };

// ---------------------------------------------------------------------------------------------
// Conv2DBackpropFilter for the 'wasm' backend.
//
// Legend (channels-last): N batch, H x W input, C in-channels, R x S kernel, K filters,
// P x Q output. Forward: y[n,p,q,k] = sum_{r,s,c} x[n, p*strideH + r - padTop,
// q*strideW + s - padLeft, c] * w[r,s,c,k], with taps outside the input reading zero.
// Gradient: dW[r,s,c,k] = sum_{n,p,q} x[n, p*strideH + r - padTop, q*strideW + s - padLeft, c]
// * dy[n,p,q,k]. Dilation is always 1 because tfjs-core's Conv2D gradient rejects dilation > 1.
// ---------------------------------------------------------------------------------------------

/** Milliseconds spent in conv2DBackpropFilterWasm since the last reset, to show its share of a step. */
let filterGradientMs = 0;

/**
 * Computes dW `[R, S, C, K]` from x `[N, H, W, C]` (or `[N, C, H, W]` for NCHW) and
 * dy `[N, P, Q, K]` (or `[N, K, P, Q]`) by reading both tensors straight from the wasm heap.
 */
function conv2DBackpropFilterWasm(params: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
  const start = performance.now();
  const backend = params.backend as BackendWasm;
  const { x, dy } = params.inputs as tf.Conv2DBackpropFilterInputs;
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = params.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  if (x === undefined || dy === undefined) throw new Error('Conv2DBackpropFilter: inputs x and dy are required');

  const convInfo = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
    dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels } = convInfo;
  const { filterHeight, filterWidth, strideHeight, strideWidth } = convInfo;
  const padTop = convInfo.padInfo.top;
  const padLeft = convInfo.padInfo.left;

  // Element strides of the batch, row, column and channel axes, whichever the layout.
  const channelsLast = convInfo.dataFormat === 'channelsLast';
  const [xBatchStride, xRowStride, xColStride, xChannelStride] = channelsLast
    ? [inHeight * inWidth * inChannels, inWidth * inChannels, inChannels, 1]
    : [inChannels * inHeight * inWidth, inWidth, 1, inHeight * inWidth];
  const [dyBatchStride, dyRowStride, dyColStride, dyChannelStride] = channelsLast
    ? [outHeight * outWidth * outChannels, outWidth * outChannels, outChannels, 1]
    : [outChannels * outHeight * outWidth, outWidth, 1, outHeight * outWidth];

  // Views on the wasm heap stay valid only until the next heap allocation, so both are read
  // here and the output is allocated after the loop.
  const xValues = backend.typedArrayFromHeap(x) as Float32Array;
  const dyValues = backend.typedArrayFromHeap(dy) as Float32Array;
  // Float64 accumulation: each weight sums N*P*Q products (73,728 for the MNIST CNN's 2nd conv).
  const dW = new Float64Array(filterHeight * filterWidth * inChannels * outChannels);

  for (let n = 0; n < batchSize; n++) {
    for (let p = 0; p < outHeight; p++) {
      for (let q = 0; q < outWidth; q++) {
        const dyPixelOffset = n * dyBatchStride + p * dyRowStride + q * dyColStride;
        for (let r = 0; r < filterHeight; r++) {
          const row = p * strideHeight - padTop + r;
          if (row < 0 || row >= inHeight) continue;
          for (let s = 0; s < filterWidth; s++) {
            const col = q * strideWidth - padLeft + s;
            if (col < 0 || col >= inWidth) continue;
            const xPixelOffset = n * xBatchStride + row * xRowStride + col * xColStride;
            const dWTapOffset = (r * filterWidth + s) * inChannels * outChannels;
            for (let c = 0; c < inChannels; c++) {
              const xValue = xValues[xPixelOffset + c * xChannelStride];
              // ReLU outputs are mostly zero, and a zero input adds nothing to this tap.
              if (xValue === 0) continue;
              const dWRowOffset = dWTapOffset + c * outChannels;
              for (let k = 0; k < outChannels; k++) {
                dW[dWRowOffset + k] += xValue * dyValues[dyPixelOffset + k * dyChannelStride];
              }
            }
          }
        }
      }
    }
  }
  const output = backend.makeOutput(filterShape, 'float32', undefined, Float32Array.from(dW));
  filterGradientMs += performance.now() - start;
  return output;
}

/**
 * Registers the filter gradient for 'wasm' unless the installed backend already has one.
 * Returns a note saying which kernel the run uses.
 */
function ensureWasmFilterGradient(): string {
  if (tf.getKernelsForBackend('wasm').some((kernel) => kernel.kernelName === tf.Conv2DBackpropFilter)) {
    return 'wasm: Conv2DBackpropFilter is the backend\'s own kernel';
  }
  tf.registerKernel({ kernelName: tf.Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: conv2DBackpropFilterWasm });
  return 'wasm: Conv2DBackpropFilter is a plain-JS kernel from bench/tfjs.bench.ts (missing in tfjs-backend-wasm)';
}

// ---------------------------------------------------------------------------------------------
// Filter-gradient check.
// ---------------------------------------------------------------------------------------------

interface FilterGradientCase {
  name: string;
  xShape: [number, number, number, number];
  filterShape: [number, number, number, number];
  strides: [number, number];
  pad: 'valid' | 'same';
  dataFormat: 'NHWC' | 'NCHW';
  xValues: Float32Array;
}

/** Runs the Conv2DBackpropFilter kernel registered for `backendName` and returns dW. */
async function filterGradient(backendName: string, testCase: FilterGradientCase, dyValues: Float32Array): Promise<Float32Array> {
  await tf.setBackend(backendName);
  const { xShape, filterShape, strides, pad, dataFormat } = testCase;
  const x = tf.tensor4d(testCase.xValues, xShape);
  const dy = tf.tensor4d(dyValues, outputShape(testCase));
  // The attributes of tf.Conv2DBackpropFilterAttrs, as the untyped map runKernel takes.
  const dW = tf.engine().runKernel<tf.Tensor>(tf.Conv2DBackpropFilter, { x, dy }, { strides, pad, dataFormat, filterShape });
  const values = (await dW.data()) as Float32Array;
  tf.dispose([x, dy, dW]);
  return values;
}

/** Returns the convolution's output shape, which is dy's shape, in the case's data format. */
function outputShape(testCase: FilterGradientCase): [number, number, number, number] {
  const convInfo = tf.backend_util.computeConv2DInfo(
    testCase.xShape,
    testCase.filterShape,
    testCase.strides,
    1,
    testCase.pad,
    undefined,
    false,
    tf.backend_util.convertConv2DDataFormat(testCase.dataFormat),
  );
  return convInfo.outShape;
}

function seededValues(length: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const values = new Float32Array(length);
  for (let i = 0; i < length; i++) values[i] = rng.uniform(-1, 1);
  return values;
}

/**
 * Checks the 'wasm' filter gradient on a 3x3 input by hand, then on seeded shapes (strided,
 * 'same' padding, NCHW) against the 'cpu' backend. Throws on the first mismatch.
 */
async function checkWasmFilterGradient(): Promise<string> {
  // x = [[1,2,3],[4,5,6],[7,8,9]], 2x2 filter, dy all ones: dW[r][s] = sum of the 2x2 window at (r, s).
  const handCase: FilterGradientCase = {
    name: 'hand 1x3x3x1 * 2x2',
    xShape: [1, 3, 3, 1],
    filterShape: [2, 2, 1, 1],
    strides: [1, 1],
    pad: 'valid',
    dataFormat: 'NHWC',
    xValues: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]),
  };
  const handResult = await filterGradient('wasm', handCase, new Float32Array([1, 1, 1, 1]));
  const handExpected = [12, 16, 24, 28];
  if (handExpected.some((value, i) => handResult[i] !== value)) {
    throw new Error(`Conv2DBackpropFilter check failed on ${handCase.name}: got [${Array.from(handResult)}], expected [${handExpected}]`);
  }

  const seededCases: FilterGradientCase[] = [
    { name: 'valid stride 1', xShape: [2, 6, 6, 2], filterShape: [3, 3, 2, 5], strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', xValues: seededValues(144, 1) },
    { name: 'same stride 2x1', xShape: [2, 7, 6, 3], filterShape: [3, 2, 3, 4], strides: [2, 1], pad: 'same', dataFormat: 'NHWC', xValues: seededValues(252, 2) },
    { name: 'NCHW same stride 2', xShape: [2, 3, 7, 5], filterShape: [3, 3, 3, 4], strides: [2, 2], pad: 'same', dataFormat: 'NCHW', xValues: seededValues(210, 3) },
  ];
  let maxError = 0;
  for (const testCase of seededCases) {
    const dyValues = seededValues(tf.util.sizeFromShape(outputShape(testCase)), 4);
    const expected = await filterGradient('cpu', testCase, dyValues);
    const actual = await filterGradient('wasm', testCase, dyValues);
    for (let i = 0; i < expected.length; i++) {
      const error = Math.abs(actual[i] - expected[i]);
      maxError = Math.max(maxError, error);
      if (error > 1e-4 * (1 + Math.abs(expected[i]))) {
        throw new Error(`Conv2DBackpropFilter check failed on ${testCase.name} at element ${i}: wasm ${actual[i]}, cpu ${expected[i]}`);
      }
    }
  }
  return `wasm: Conv2DBackpropFilter matches a hand case and the cpu backend on ${seededCases.length} seeded shapes (max abs error ${maxError.toExponential(1)})`;
}

// ---------------------------------------------------------------------------------------------
// Model, data and timing.
// ---------------------------------------------------------------------------------------------

function mnistCnn(): tf.Sequential {
  const model = tf.sequential({
    layers: [
      tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 32, kernelSize: 3, activation: 'relu' }),
      tf.layers.conv2d({ filters: 64, kernelSize: 3, activation: 'relu' }),
      tf.layers.maxPooling2d({ poolSize: 2 }),
      tf.layers.flatten(),
      tf.layers.dense({ units: 128, activation: 'relu' }),
      tf.layers.dense({ units: 10, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: tf.train.adam(0.001, 0.9, 0.999, 1e-7), loss: 'sparseCategoricalCrossentropy' });
  return model;
}

/** Uniform [0, 1) pixels from a seeded generator, labels cycling 0..9. */
function syntheticBatch(count: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor2D } {
  const rng = new Rng(seed);
  const pixels = new Float32Array(count * 28 * 28);
  for (let i = 0; i < pixels.length; i++) pixels[i] = rng.next();
  const labels = Float32Array.from({ length: count }, (_, i) => i % 10);
  return { x: tf.tensor4d(pixels, [count, 28, 28, 1]), y: tf.tensor2d(labels, [count, 1]) };
}

/**
 * Returns the mean milliseconds of `repeats` calls to `step`, timed after one untimed warm-up
 * call and then a call to `afterWarmup`.
 */
async function meanMs(repeats: number, step: () => Promise<void>, afterWarmup: () => void = () => {}): Promise<number> {
  await step();
  afterWarmup();
  const start = performance.now();
  for (let i = 0; i < repeats; i++) await step();
  return (performance.now() - start) / repeats;
}

async function measureBackend(backendName: string, batchSize: number, trainBatches: number, inferenceRepeats: number): Promise<TfjsBenchResult> {
  await tf.setBackend(backendName);
  const model = mnistCnn();
  const { x, y } = syntheticBatch(batchSize, 7);

  // trainOnBatch resolves after reading the loss back, so each call covers a whole step.
  const trainMs = await meanMs(
    trainBatches,
    async () => {
      await model.trainOnBatch(x, y);
    },
    () => {
      filterGradientMs = 0;
    },
  );
  const filterGradientMsPerStep = filterGradientMs / trainBatches;
  const inferenceMs = await meanMs(inferenceRepeats, async () => {
    const probabilities = model.predict(x) as tf.Tensor;
    await probabilities.data();
    probabilities.dispose();
  });

  model.dispose();
  x.dispose();
  y.dispose();
  const notes = [
    `${backendName}: batch ${batchSize}, ${trainBatches} timed training steps and ${inferenceRepeats} timed predict calls, each after 1 warm-up`,
  ];
  if (filterGradientMsPerStep > 0) {
    notes.push(`${backendName}: the plain-JS filter gradient took ${filterGradientMsPerStep.toFixed(0)} of ${trainMs.toFixed(0)} ms per training step`);
  }
  return {
    backend: backendName,
    trainSamplesPerSecond: (batchSize * 1000) / trainMs,
    inferenceSamplesPerSecond: (batchSize * 1000) / inferenceMs,
    notes,
  };
}

/**
 * Measures tfjs training and inference throughput on the 'wasm' backend and, unless disabled,
 * on the pure-JS 'cpu' backend. The wasm binaries load from the installed package's dist folder.
 */
export async function runTfjsBench(options: TfjsBenchOptions = {}): Promise<TfjsBenchResult[]> {
  const { cpu, trainBatches, inferenceRepeats } = { ...DEFAULT_OPTIONS, ...options };
  const wasmEntry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
  setWasmPaths(dirname(wasmEntry) + sep);

  const registrationNote = ensureWasmFilterGradient();
  if (!(await tf.setBackend('wasm'))) throw new Error(`tfjs 'wasm' backend failed to initialize from ${dirname(wasmEntry)}`);
  const checkNote = await checkWasmFilterGradient();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const multithread = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  const binaryNote = `wasm: SIMD ${simd ? 'on' : 'off'}, multithreading ${multithread ? 'on' : 'off'}`;

  const wasm = await measureBackend('wasm', BATCH, trainBatches, inferenceRepeats);
  wasm.notes.unshift(`tfjs ${tf.version.tfjs}, tfjs-backend-wasm ${wasmVersion}`, registrationNote, checkNote, binaryNote);
  const results = [wasm];
  if (cpu) {
    // NOTE: one warm-up and one timed step only, because a step takes about 10 s, so this figure is noisier.
    const cpuResult = await measureBackend('cpu', CPU_BATCH, 1, 1);
    cpuResult.notes.push(`cpu: batch ${CPU_BATCH}, not ${BATCH}, so its per-sample overhead is higher`);
    results.push(cpuResult);
  }
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const results = await runTfjsBench({ cpu: !process.argv.includes('--no-cpu') });
  console.table(
    results.map((r) => ({
      backend: r.backend,
      'train samples/s': Number(r.trainSamplesPerSecond.toFixed(1)),
      'inference samples/s': Number(r.inferenceSamplesPerSecond.toFixed(1)),
    })),
  );
  for (const note of results.flatMap((r) => r.notes)) console.log(note);
}
