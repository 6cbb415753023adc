/**
 * Float64 gradient checks by central differences.
 *
 * compareWithCentralDifferences compares the analytic gradient of any scalar function of a
 * Float64Array with (f(v + eps) - f(v - eps)) / (2 eps), by the relative error
 * |a - b| / max(1e-8, |a| + |b|). checkLayerGradients applies it to one layer on the naive GEMM,
 * with the scalar L = sum(dY * y) for a fixed random dY. Since dL/dy = dY, the analytic
 * gradients are what `backward` returns for that dY.
 */
import assert from 'node:assert/strict';

import { Rng } from '../../src/core/random.js';
import { gemmNaive } from '../../src/gemm/naive.js';
import type { Layer, LayerRuntime, StepContext } from '../../src/layers/layer.js';
import { type ParamEntry, buildLayers, totalParams } from '../../src/model/build.js';

/** The step context of inference: no dropout. */
export const INFERENCE_STEP: StepContext = {
  training: false,
  seed: 0,
  epoch: 0,
  sampleIds: new Int32Array(0),
  sampleIdOffset: 0,
};

/** Gradient slots before this offset are never written by a correct backward. */
const GRAD_BASE = 3;
/** Value stored in the gradient buffer before backward, which must add to it, not overwrite it. */
const GRAD_PREFILL = 0.25;

export function relativeError(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(1e-8, Math.abs(a) + Math.abs(b));
}

/** Returns `length` seeded uniform values in [low, high). */
export function uniformArray(length: number, rng: Rng, low = -1, high = 1): Float64Array {
  const values = new Float64Array(length);
  for (let i = 0; i < length; i++) values[i] = rng.uniform(low, high);
  return values;
}

function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A built layer with a float64 runtime on the naive GEMM. */
export interface Float64Layer {
  runtime: LayerRuntime<Float64Array>;
  entries: ParamEntry[];
  paramCount: number;
  inputSize: number;
  outputSize: number;
}

/**
 * Builds `layer` for a per-sample `inputShape` and creates its float64 runtime over `weights`,
 * which must hold the layer's parameters at offset 0 (kernel, then bias).
 */
export function createFloat64Layer(layer: Layer, inputShape: number[], weights: Float64Array, maxBatch: number): Float64Layer {
  const entries = buildLayers([layer], inputShape);
  const paramCount = totalParams(entries);
  assert.equal(weights.length, paramCount, `weights has ${weights.length} values but layer '${layer.name}' has ${paramCount} parameters`);
  const runtime = layer.createRuntime<Float64Array>({
    alloc: (length) => new Float64Array(length),
    gemm: gemmNaive,
    weights,
    maxBatch,
  });
  return { runtime, entries, paramCount, inputSize: shapeSize(inputShape), outputSize: shapeSize(layer.outputShape) };
}

/** Runs one forward pass in float64 and returns a copy of the n output rows. */
export function forwardFloat64(
  layer: Layer,
  inputShape: number[],
  x: ArrayLike<number>,
  n: number,
  weights: ArrayLike<number>,
  step: StepContext = INFERENCE_STEP,
): Float64Array {
  const built = createFloat64Layer(layer, inputShape, Float64Array.from(weights), n);
  const input = Float64Array.from(x);
  assert.equal(input.length, n * built.inputSize, `x has ${input.length} values, expected ${n} x ${built.inputSize}`);
  built.runtime.forward(input, n, step);
  return built.runtime.y.slice(0, n * built.outputSize);
}

export interface GradientCheckOptions {
  layer: Layer;
  /** Per-sample input shape, without the batch. */
  inputShape: number[];
  batch: number;
  /** Seeds x, the weights and dY where they are not given. */
  seed: number;
  /** Input [batch, ...inputShape]; default uniform in [-1, 1). */
  x?: Float64Array;
  /** Parameters, kernel then bias; default uniform in [-1, 1). */
  weights?: Float64Array;
  step?: StepContext;
  /** Central-difference step; default 1e-6. */
  eps?: number;
  /** Largest accepted relative error; default 1e-6. */
  tolerance?: number;
}

export interface GradientCheckReport {
  /** Largest relative error of each checked quantity: 'input' and each parameter name. */
  maxErrors: Map<string, number>;
  /** Number of compared gradient values. */
  compared: number;
}

export interface Mismatch {
  label: string;
  analytic: number;
  numeric: number;
  error: number;
}

export interface CentralDifferenceOptions {
  /** Central-difference step; default 1e-6. */
  eps?: number;
  /** Largest accepted relative error; default 1e-6. */
  tolerance?: number;
}

export interface ComparisonResult {
  maxError: number;
  mismatches: Mismatch[];
  /** Whether any analytic or numeric gradient was nonzero. */
  anyNonzero: boolean;
}

/**
 * Compares analytic[k] with the central difference of `objective` in values[indices[k]], for
 * every k. Each value is restored after its two evaluations.
 */
export function compareWithCentralDifferences(
  name: string,
  objective: () => number,
  values: Float64Array,
  indices: readonly number[],
  analytic: ArrayLike<number>,
  options: CentralDifferenceOptions = {},
): ComparisonResult {
  const eps = options.eps ?? 1e-6;
  const tolerance = options.tolerance ?? 1e-6;
  assert.equal(analytic.length, indices.length, `${name}: one analytic gradient per checked index`);
  const result: ComparisonResult = { maxError: 0, mismatches: [], anyNonzero: false };
  indices.forEach((index, k) => {
    const saved = values[index];
    values[index] = saved + eps;
    const plus = objective();
    values[index] = saved - eps;
    const minus = objective();
    values[index] = saved;
    const numeric = (plus - minus) / (2 * eps);
    const error = relativeError(analytic[k], numeric);
    result.maxError = Math.max(result.maxError, error);
    if (analytic[k] !== 0 || numeric !== 0) result.anyNonzero = true;
    if (!(error <= tolerance)) result.mismatches.push({ label: `${name}[${index}]`, analytic: analytic[k], numeric, error });
  });
  return result;
}

/** Fails with the first mismatches, if any, of a set of comparisons. */
export function assertNoMismatches(what: string, results: readonly ComparisonResult[], tolerance: number): void {
  const mismatches = results.flatMap((r) => r.mismatches);
  if (mismatches.length === 0) return;
  const shown = mismatches
    .slice(0, 8)
    .map((m) => `${m.label}: analytic ${m.analytic}, numeric ${m.numeric}, relative error ${m.error.toExponential(2)}`);
  assert.fail(`${mismatches.length} gradients of ${what} exceed relative error ${tolerance}:\n${shown.join('\n')}`);
}

function range(start: number, end: number): number[] {
  return Array.from({ length: end - start }, (_, i) => start + i);
}

/**
 * Checks the input gradient and every parameter gradient of one layer against central
 * differences in float64. Also checks that backward adds into the gradient buffer at its
 * offset and leaves the values around the layer's range alone. Throws an AssertionError that
 * lists the first mismatches.
 */
export function checkLayerGradients(options: GradientCheckOptions): GradientCheckReport {
  const { layer, inputShape, batch: n, seed } = options;
  const tolerance = options.tolerance ?? 1e-6;
  const differenceOptions = { eps: options.eps ?? 1e-6, tolerance };
  const step = options.step ?? INFERENCE_STEP;
  const rng = new Rng(seed);

  const entries = buildLayers([layer], inputShape);
  const paramCount = totalParams(entries);
  const weights = options.weights ?? uniformArray(paramCount, rng);
  // One spare row makes a runtime that confuses maxBatch with n use rows it should not.
  const built = createFloat64Layer(layer, inputShape, weights, n + 1);
  const { runtime, inputSize, outputSize } = built;
  assert.equal(options.x?.length ?? n * inputSize, n * inputSize, 'x must hold batch x input-size values');
  const x = new Float64Array((n + 1) * inputSize);
  x.set(options.x ?? uniformArray(n * inputSize, rng));
  const dYFixed = uniformArray(n * outputSize, rng);

  const objective = (): number => {
    runtime.forward(x, n, step);
    const y = runtime.y;
    let sum = 0;
    for (let i = 0; i < n * outputSize; i++) sum += dYFixed[i] * y[i];
    return sum;
  };

  // Analytic gradients. backward may overwrite dY, so it gets a copy.
  objective();
  const dY = new Float64Array((n + 1) * outputSize);
  dY.set(dYFixed);
  const grads = new Float64Array(GRAD_BASE + paramCount + GRAD_BASE).fill(GRAD_PREFILL);
  runtime.backward(x, dY, n, true, grads, GRAD_BASE, false);
  const dX = runtime.dX.slice(0, n * inputSize);
  for (let i = 0; i < GRAD_BASE; i++) {
    assert.equal(grads[i], GRAD_PREFILL, `backward wrote grads[${i}], before the layer's gradient range`);
    assert.equal(grads[GRAD_BASE + paramCount + i], GRAD_PREFILL, `backward wrote grads[${GRAD_BASE + paramCount + i}], after the layer's gradient range`);
  }

  const maxErrors = new Map<string, number>();
  const results: ComparisonResult[] = [];
  const inputResult = compareWithCentralDifferences('input', objective, x, range(0, n * inputSize), dX, differenceOptions);
  assert.ok(inputResult.anyNonzero, `every input gradient of '${layer.name}' is 0, so the check compares nothing`);
  maxErrors.set('input', inputResult.maxError);
  results.push(inputResult);

  for (const entry of entries) {
    const analytic = grads.slice(GRAD_BASE + entry.offset, GRAD_BASE + entry.offset + entry.size).map((g) => g - GRAD_PREFILL);
    const result = compareWithCentralDifferences(entry.name, objective, weights, range(entry.offset, entry.offset + entry.size), analytic, differenceOptions);
    assert.ok(result.anyNonzero, `every gradient of ${entry.name} is 0, so the check compares nothing`);
    maxErrors.set(entry.name, result.maxError);
    results.push(result);
  }

  assertNoMismatches(`layer '${layer.name}'`, results, tolerance);
  return { maxErrors, compared: n * inputSize + paramCount };
}

/** Returns the smallest |v| over the first `length` values. */
export function minAbs(values: ArrayLike<number>, length = values.length): number {
  let min = Infinity;
  for (let i = 0; i < length; i++) min = Math.min(min, Math.abs(values[i]));
  return min;
}
