/**
 * Bias add and activation in one pass over a GEMM output, and the activation backward in one
 * pass with the bias-gradient sum. Dense and Conv2D run these after and before their GEMMs.
 *
 * Legend: `rows` is N for Dense and N*P*Q for Conv2D, `width` is U units or K filters. Every
 * buffer is a row-major [rows, width] matrix except the bias [width].
 *
 * The fused loops cover 'relu' with a bias. Everything else runs the reference pair,
 * addRowVector then activationForward, or activationBackward then sumRowsInto: 'linear' is
 * already a single pass, and the other activations spend their time in Math.exp or Math.tanh
 * rather than in memory traffic. The fused loops produce the same bits as the reference pair
 * in float32 and float64, because relu commutes with rounding to float32 and the bias sums
 * run in the same order in the same float64 scratch.
 */
import type { FloatArray } from '../gemm/types.js';
import { type ActivationName, activationBackward, activationForward } from '../layers/activations.js';

/**
 * Adds the bias to z and writes y = activation(z). z and y may be the same array. Without a
 * bias (biasOffset < 0) only the activation runs.
 *
 * @param y [rows, width], overwritten
 * @param z [rows, width], the bias is added in place
 * @param bias contains the bias [width] at biasOffset
 */
export function biasActivationForward(
  name: ActivationName,
  y: FloatArray,
  z: FloatArray,
  bias: FloatArray,
  biasOffset: number,
  rows: number,
  width: number,
): void {
  if (name !== 'relu' || biasOffset < 0) {
    biasActivationForwardReference(name, y, z, bias, biasOffset, rows, width);
    return;
  }
  if (y === z) addBiasRelu(y, bias, biasOffset, rows, width);
  else addBiasReluCopy(y, z, bias, biasOffset, rows, width);
}

/** Runs the unfused forward, addRowVector then activationForward, with the same contract. */
export function biasActivationForwardReference(
  name: ActivationName,
  y: FloatArray,
  z: FloatArray,
  bias: FloatArray,
  biasOffset: number,
  rows: number,
  width: number,
): void {
  if (biasOffset >= 0) addRowVector(z, bias, biasOffset, rows, width);
  activationForward(name, y, z, rows, width);
}

/**
 * Turns dY into dZ in place and adds the bias gradient, the sum of dZ over rows, into
 * dB[dBOffset, dBOffset + width). dBOffset < 0 skips the bias gradient. Pass 'linear' when
 * dY already is the gradient before the activation.
 *
 * @param dY [rows, width], overwritten with dZ
 * @param y [rows, width], the forward output
 * @param dB accumulated into at dBOffset
 * @param scratch float64 sums, length >= width
 */
export function activationBiasBackward(
  name: ActivationName,
  dY: FloatArray,
  y: FloatArray,
  dB: FloatArray,
  dBOffset: number,
  rows: number,
  width: number,
  scratch: Float64Array,
): void {
  if (name !== 'relu' || dBOffset < 0) {
    activationBiasBackwardReference(name, dY, y, dB, dBOffset, rows, width, scratch);
    return;
  }
  // y = max(z, 0), so dZ = dY where y > 0, and dB = sum over rows of dZ.
  scratch.fill(0, 0, width);
  reluBackwardSumRows(dY, y, rows, width, scratch);
  for (let j = 0; j < width; j++) dB[dBOffset + j] += scratch[j];
}

/** Runs the unfused backward, activationBackward then sumRowsInto, with the same contract. */
export function activationBiasBackwardReference(
  name: ActivationName,
  dY: FloatArray,
  y: FloatArray,
  dB: FloatArray,
  dBOffset: number,
  rows: number,
  width: number,
  scratch: Float64Array,
): void {
  activationBackward(name, dY, dY, y, rows, width);
  if (dBOffset >= 0) sumRowsInto(dB, dBOffset, dY, rows, width, scratch);
}

/** z[r, j] += v[vOffset + j] for r < rows. */
export function addRowVector(z: FloatArray, v: FloatArray, vOffset: number, rows: number, width: number): void {
  for (let r = 0; r < rows; r++) {
    const rowOffset = r * width;
    for (let j = 0; j < width; j++) z[rowOffset + j] += v[vOffset + j];
  }
}

/**
 * out[outOffset + j] += sum over r of d[r, j]: the bias gradient. The sums run row by row in
 * the float64 `scratch` (length >= width), which keeps the access sequential and the long
 * sums of a convolution's output precise.
 */
export function sumRowsInto(out: FloatArray, outOffset: number, d: FloatArray, rows: number, width: number, scratch: Float64Array): void {
  scratch.fill(0, 0, width);
  for (let r = 0; r < rows; r++) {
    const rowOffset = r * width;
    for (let j = 0; j < width; j++) scratch[j] += d[rowOffset + j];
  }
  for (let j = 0; j < width; j++) out[outOffset + j] += scratch[j];
}

/**
 * y[r, j] = max(y[r, j] + bias[j], 0), in place. Four rows share each column's bias load,
 * which gives the processor four independent elements per iteration.
 */
function addBiasRelu(y: FloatArray, bias: FloatArray, biasOffset: number, rows: number, width: number): void {
  const rowsBy4 = rows - (rows % 4);
  for (let r = 0; r < rowsBy4; r += 4) {
    const rowOffset = r * width;
    for (let j = 0; j < width; j++) {
      const b = bias[biasOffset + j];
      const i0 = rowOffset + j;
      const i1 = i0 + width;
      const i2 = i1 + width;
      const i3 = i2 + width;
      const v0 = y[i0] + b;
      const v1 = y[i1] + b;
      const v2 = y[i2] + b;
      const v3 = y[i3] + b;
      y[i0] = v0 > 0 ? v0 : 0;
      y[i1] = v1 > 0 ? v1 : 0;
      y[i2] = v2 > 0 ? v2 : 0;
      y[i3] = v3 > 0 ? v3 : 0;
    }
  }
  for (let r = rowsBy4; r < rows; r++) {
    const rowOffset = r * width;
    for (let j = 0; j < width; j++) {
      const v = y[rowOffset + j] + bias[biasOffset + j];
      y[rowOffset + j] = v > 0 ? v : 0;
    }
  }
}

/** z[r, j] += bias[j], then y[r, j] = max(z[r, j], 0), for separate y and z. */
function addBiasReluCopy(y: FloatArray, z: FloatArray, bias: FloatArray, biasOffset: number, rows: number, width: number): void {
  for (let r = 0; r < rows; r++) {
    const rowOffset = r * width;
    for (let j = 0; j < width; j++) {
      // Storing z rounds v to z's type, and relu must see the rounded value.
      z[rowOffset + j] += bias[biasOffset + j];
      const v = z[rowOffset + j];
      y[rowOffset + j] = v > 0 ? v : 0;
    }
  }
}

/**
 * dY[r, j] = y[r, j] > 0 ? dY[r, j] : 0, in place, and sums[j] += the new dY[r, j] for every
 * row. Four rows go per iteration, and ((sums[j] + d0) + d1) + d2) + d3 adds them in the
 * same order as a row-by-row loop, so the sums keep their bits.
 */
function reluBackwardSumRows(dY: FloatArray, y: FloatArray, rows: number, width: number, sums: Float64Array): void {
  const rowsBy4 = rows - (rows % 4);
  for (let r = 0; r < rowsBy4; r += 4) {
    const rowOffset = r * width;
    for (let j = 0; j < width; j++) {
      const i0 = rowOffset + j;
      const i1 = i0 + width;
      const i2 = i1 + width;
      const i3 = i2 + width;
      const d0 = y[i0] > 0 ? dY[i0] : 0;
      const d1 = y[i1] > 0 ? dY[i1] : 0;
      const d2 = y[i2] > 0 ? dY[i2] : 0;
      const d3 = y[i3] > 0 ? dY[i3] : 0;
      dY[i0] = d0;
      dY[i1] = d1;
      dY[i2] = d2;
      dY[i3] = d3;
      sums[j] = sums[j] + d0 + d1 + d2 + d3;
    }
  }
  for (let r = rowsBy4; r < rows; r++) {
    const rowOffset = r * width;
    for (let j = 0; j < width; j++) {
      const i = rowOffset + j;
      const d = y[i] > 0 ? dY[i] : 0;
      dY[i] = d;
      sums[j] += d;
    }
  }
}
