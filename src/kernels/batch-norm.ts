/**
 * Batch normalization kernels over channels-last rows (Ioffe and Szegedy, 2015,
 * "Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate
 * Shift").
 *
 * Legend: M rows, C channels. An [N, H, W, C] tensor is M = N * H * W rows of C values, and
 * every statistic is per channel over all M rows. Per-channel vectors (mean, invStd, gamma,
 * beta) are float64 arrays of length C.
 *
 * The whole-batch mean and variance are built from per-micro-batch moments. Each micro-batch
 * writes its row count, mean and M2, the sum of squared deviations from its own mean, computed
 * by two passes over its rows. combineMoments merges these records one at a time in
 * micro-batch order with the pairwise update of Chan, Golub and LeVeque (1979). The order and the formula do
 * not depend on which thread computed a micro-batch, so the result is the same bits for any
 * thread count. The variance is the biased one (M2 / count), as Keras 3 uses for both the
 * normalization and the moving variance.
 *
 * These loops are the only implementation; no faster twin exists yet.
 */
import type { FloatArray } from '../gemm/types.js';

/** Length of one moments record: [count, mean[C], m2[C]]. */
export function momentsLength(channels: number): number {
  return 1 + 2 * channels;
}

/**
 * Writes the moments of the `rows` rows of x at moments[offset...]: the count, then the mean
 * per channel, then M2 per channel.
 * @param x [M, C]
 */
export function batchNormMoments(moments: Float64Array, offset: number, x: FloatArray, rows: number, channels: number): void {
  const meanBase = offset + 1;
  const m2Base = offset + 1 + channels;
  moments[offset] = rows;
  moments.fill(0, meanBase, m2Base + channels);
  for (let row = 0; row < rows; row++) {
    const rowBase = row * channels;
    for (let c = 0; c < channels; c++) moments[meanBase + c] += x[rowBase + c];
  }
  for (let c = 0; c < channels; c++) moments[meanBase + c] /= rows;
  for (let row = 0; row < rows; row++) {
    const rowBase = row * channels;
    for (let c = 0; c < channels; c++) {
      const deviation = x[rowBase + c] - moments[meanBase + c];
      moments[m2Base + c] += deviation * deviation;
    }
  }
}

/**
 * Merges the moments record at part[partOffset...] into the one at total[totalOffset...].
 * A total with count 0 takes the part as it is.
 */
export function combineMoments(total: Float64Array, totalOffset: number, part: Float64Array, partOffset: number, channels: number): void {
  const countA = total[totalOffset];
  const countB = part[partOffset];
  const count = countA + countB;
  total[totalOffset] = count;
  for (let c = 0; c < channels; c++) {
    const meanA = total[totalOffset + 1 + c];
    const meanB = part[partOffset + 1 + c];
    const m2B = part[partOffset + 1 + channels + c];
    if (countA === 0) {
      total[totalOffset + 1 + c] = meanB;
      total[totalOffset + 1 + channels + c] = m2B;
      continue;
    }
    const delta = meanB - meanA;
    total[totalOffset + 1 + c] = meanA + (delta * countB) / count;
    total[totalOffset + 1 + channels + c] += m2B + ((delta * delta * countA) * countB) / count;
  }
}

/**
 * Computes invStd[c] = 1 / sqrt(variance[c] + epsilon) for the variance at
 * variance[varianceOffset + c].
 */
export function inverseStd(invStd: Float64Array, variance: ArrayLike<number>, varianceOffset: number, channels: number, epsilon: number): void {
  for (let c = 0; c < channels; c++) invStd[c] = 1 / Math.sqrt(variance[varianceOffset + c] + epsilon);
}

/**
 * y = gamma * (x - mean) * invStd + beta.
 * @param y [M, C] @param x [M, C]
 */
export function batchNormForward(
  y: FloatArray,
  x: FloatArray,
  rows: number,
  channels: number,
  mean: Float64Array,
  invStd: Float64Array,
  gamma: Float64Array,
  beta: Float64Array,
): void {
  for (let row = 0; row < rows; row++) {
    const rowBase = row * channels;
    for (let c = 0; c < channels; c++) y[rowBase + c] = (x[rowBase + c] - mean[c]) * invStd[c] * gamma[c] + beta[c];
  }
}

/**
 * Writes sums[offset + c] = sum over rows of dY and sums[offset + C + c] = sum over rows of
 * dY * xHat, where xHat = (x - mean) * invStd. These are also the micro-batch's beta and gamma
 * gradients.
 * @param x [M, C] @param dY [M, C]
 */
export function batchNormGradientSums(
  sums: Float64Array,
  offset: number,
  x: FloatArray,
  dY: FloatArray,
  rows: number,
  channels: number,
  mean: Float64Array,
  invStd: Float64Array,
): void {
  const productBase = offset + channels;
  sums.fill(0, offset, productBase + channels);
  for (let row = 0; row < rows; row++) {
    const rowBase = row * channels;
    for (let c = 0; c < channels; c++) {
      const dy = dY[rowBase + c];
      sums[offset + c] += dy;
      sums[productBase + c] += dy * (x[rowBase + c] - mean[c]) * invStd[c];
    }
  }
}

/**
 * Input gradient of training-mode batch normalization, given the whole batch's mean of dY and
 * of dY * xHat per channel:
 *   dX = gamma * invStd * (dY - meanDY - xHat * meanDYXHat).
 * It follows from y = gamma * xHat + beta with xHat = (x - mean) * invStd, where mean and
 * invStd depend on every row of the batch.
 * @param dX [M, C] @param x [M, C] @param dY [M, C]
 */
export function batchNormBackwardInput(
  dX: FloatArray,
  x: FloatArray,
  dY: FloatArray,
  rows: number,
  channels: number,
  mean: Float64Array,
  invStd: Float64Array,
  gamma: Float64Array,
  meanDY: Float64Array,
  meanDYXHat: Float64Array,
): void {
  for (let row = 0; row < rows; row++) {
    const rowBase = row * channels;
    for (let c = 0; c < channels; c++) {
      const xHat = (x[rowBase + c] - mean[c]) * invStd[c];
      dX[rowBase + c] = gamma[c] * invStd[c] * (dY[rowBase + c] - meanDY[c] - xHat * meanDYXHat[c]);
    }
  }
}

/**
 * moving = moving * momentum + batch * (1 - momentum), for the moving mean and the moving
 * variance, as Keras 3 updates them after each training step.
 * Deviation: the batch variance here is the biased one; PyTorch's running_var uses the
 * unbiased (n - 1) estimate.
 */
export function updateMovingStatistics(
  weights: FloatArray,
  movingMeanOffset: number,
  movingVarianceOffset: number,
  batchMean: ArrayLike<number>,
  batchMeanOffset: number,
  batchVariance: ArrayLike<number>,
  batchVarianceOffset: number,
  channels: number,
  momentum: number,
): void {
  for (let c = 0; c < channels; c++) {
    weights[movingMeanOffset + c] = weights[movingMeanOffset + c] * momentum + batchMean[batchMeanOffset + c] * (1 - momentum);
    weights[movingVarianceOffset + c] = weights[movingVarianceOffset + c] * momentum + batchVariance[batchVarianceOffset + c] * (1 - momentum);
  }
}
