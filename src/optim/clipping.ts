/**
 * Gradient clipping, as the Keras 3 optimizer base class defines it
 * (keras/src/optimizers/base_optimizer.py, `_clip_gradients`):
 *
 *   clipnorm c:        g_t *= c / max(||g_t||, c), for each weight tensor t separately
 *   globalClipnorm c:  g *= c / max(||g||, c), ||g|| over all tensors together
 *   clipvalue v:       g = min(max(g, -v), v), element-wise
 *
 * At most one of the three may be set, as in Keras 3. Clipping applies to the reduced gradient
 * of the batch, after regularization gradients are added and before the optimizer's update
 * rule, so it works the same for every optimizer.
 *
 * A norm needs the whole gradient, so clipping by norm takes one more task round per batch. The
 * workers store float64 sums of squares per fixed chunk (src/coordinator/param-chunks.ts). The
 * main thread combines them in chunk order into one scale per chunk (computeClipScales), and the
 * apply round scales each chunk by it. Clipping by value needs no extra round.
 */
import { formatValue } from '../errors.js';

/** Clipping options as optimizer configs spell them; undefined or null means off. */
export interface ClippingArgs {
  clipnorm?: number | null;
  globalClipnorm?: number | null;
  clipvalue?: number | null;
}

/** Checked clipping options: at most one is a number, the others are null. */
export interface GradientClipping {
  clipnorm: number | null;
  globalClipnorm: number | null;
  clipvalue: number | null;
}

export const NO_CLIPPING: Readonly<GradientClipping> = Object.freeze({ clipnorm: null, globalClipnorm: null, clipvalue: null });

/** Config keys of the clipping options, in the order getConfig() writes them. */
export const CLIPPING_KEYS = ['clipnorm', 'globalClipnorm', 'clipvalue'] as const;

function checkThreshold(value: unknown, option: string, where: string): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new RangeError(`${where}: ${option} must be a positive finite number, or null for no clipping, got ${formatValue(value)}.`);
  }
  return value;
}

/** Checks clipping options; raises a RangeError naming the value when one is invalid or two are set. */
export function checkClipping(args: ClippingArgs, where: string): GradientClipping {
  const clipping: GradientClipping = {
    clipnorm: checkThreshold(args.clipnorm, 'clipnorm', where),
    globalClipnorm: checkThreshold(args.globalClipnorm, 'globalClipnorm', where),
    clipvalue: checkThreshold(args.clipvalue, 'clipvalue', where),
  };
  const set = CLIPPING_KEYS.filter((key) => clipping[key] !== null);
  if (set.length > 1) {
    const given = set.map((key) => `${key} ${formatValue(clipping[key])}`).join(' and ');
    throw new RangeError(`${where}: only one of clipnorm, globalClipnorm and clipvalue can be set, got ${given}; keep one.`);
  }
  return clipping;
}

/** Returns whether the clipping needs gradient norms, and so the extra task round. */
export function clipsByNorm(clipping: GradientClipping): boolean {
  return clipping.clipnorm !== null || clipping.globalClipnorm !== null;
}

/** Returns the factor c / max(norm, c) that brings a gradient of L2 norm `norm` to at most c. NaN stays NaN. */
export function clipScale(norm: number, threshold: number): number {
  return norm > threshold ? threshold / norm : Number.isNaN(norm) ? Number.NaN : 1;
}

/**
 * Combines per-chunk sums of squares into one scale per chunk: by each tensor's norm for
 * clipnorm, by the global norm for globalClipnorm. Sums run in chunk order in float64.
 * @param scales [chunkCount] output @param squares [chunkCount] @param tensors [chunkCount]
 * @param tensorNorms [tensorCount] scratch
 */
export function computeClipScales(
  scales: Float64Array,
  squares: Float64Array,
  tensors: Int32Array,
  tensorNorms: Float64Array,
  chunkCount: number,
  clipping: GradientClipping,
): void {
  if (clipping.globalClipnorm !== null) {
    let total = 0;
    for (let c = 0; c < chunkCount; c++) total += squares[c];
    scales.fill(clipScale(Math.sqrt(total), clipping.globalClipnorm), 0, chunkCount);
    return;
  }
  if (clipping.clipnorm !== null) {
    tensorNorms.fill(0);
    for (let c = 0; c < chunkCount; c++) tensorNorms[tensors[c]] += squares[c];
    for (let c = 0; c < chunkCount; c++) scales[c] = clipScale(Math.sqrt(tensorNorms[tensors[c]]), clipping.clipnorm);
    return;
  }
  scales.fill(1, 0, chunkCount);
}

/** Returns the sum of squares of g[start, end) in float64, in index order. @param g [paramCount] */
export function sumSquares(g: Float32Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += g[i] * g[i];
  return sum;
}

/** Multiplies g[start, end) by `scale`; a scale of 1 leaves g as it is. @param g [paramCount] */
export function scaleRange(g: Float32Array, start: number, end: number, scale: number): void {
  if (scale === 1) return;
  for (let i = start; i < end; i++) g[i] *= scale;
}

/** Clips g[start, end) element-wise to [-clipvalue, clipvalue]; NaN stays NaN. @param g [paramCount] */
export function clipValueRange(g: Float32Array, start: number, end: number, clipvalue: number): void {
  for (let i = start; i < end; i++) {
    const x = g[i];
    if (x > clipvalue) g[i] = clipvalue;
    else if (x < -clipvalue) g[i] = -clipvalue;
  }
}
