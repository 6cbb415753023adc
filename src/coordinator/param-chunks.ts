/**
 * Fixed chunks of the flat parameter buffer, the grouping of every sum over parameters that
 * training reports or acts on: gradient norms for clipping and regularization penalties.
 *
 * Each weight tensor is cut into chunks of at most PARAM_CHUNK_SIZE parameters, so no chunk
 * crosses a tensor boundary. A worker sums whole chunks in float64, and the main thread adds the
 * chunk sums in chunk order. Update tasks own whole chunks (see splitChunks), so the grouping,
 * and with it every rounding, is the same for any number of threads.
 *
 * The tables live in SharedArrayBuffers, so sending them with each task clones only handles.
 */
import type { ParamEntry } from '../model/build.js';
import { type L1L2, penaltyRange, regularizeRange } from '../layers/regularizers.js';
import { type GradientClipping, clipValueRange, clipsByNorm, scaleRange, sumSquares } from '../optim/clipping.js';

/** Parameters per chunk, at most; a tensor's last chunk may be shorter. */
export const PARAM_CHUNK_SIZE = 4096;

// Rows of ParamChunks.stats, each [chunkCount] float64.
/** Sum of squares of the chunk's reduced gradient, written by an update task with `measure`. */
export const CHUNK_GRAD_SQUARES = 0;
/** Regularization penalty of the chunk's weights, written by an update task with `regularize`. */
export const CHUNK_PENALTY = 1;
/** Factor the apply round multiplies the chunk's gradient by, written by the main thread. */
export const CHUNK_CLIP_SCALE = 2;
const CHUNK_STAT_ROWS = 3;

/** Chunk layout of one session. Shared: every field is a SharedArrayBuffer. */
export interface ParamChunks {
  chunkCount: number;
  tensorCount: number;
  /** Int32 [chunkCount + 1]: chunk c covers parameters [starts[c], starts[c + 1]). */
  starts: SharedArrayBuffer;
  /** Int32 [chunkCount]: index of the weight tensor (ParamEntry) that contains chunk c. */
  tensors: SharedArrayBuffer;
  /** Float64 [2, chunkCount]: l1 factors, then l2 factors, of the chunk's regularizer (0: none). */
  factors: SharedArrayBuffer;
  /** Float64 [CHUNK_STAT_ROWS, chunkCount]: per-chunk results, rows named CHUNK_*. */
  stats: SharedArrayBuffer;
  /** Whether any chunk has a regularizer. */
  regularized: boolean;
}

/** Returns the kernel regularizer that applies to a parameter tensor, or null. */
function regularizerOf(entry: ParamEntry): L1L2 | null {
  if (entry.spec.name !== 'kernel') return null;
  const regularizer = (entry.layer as { kernelRegularizer?: L1L2 | null }).kernelRegularizer;
  return regularizer ?? null;
}

/**
 * Cuts every trainable weight tensor of `entries` into chunks of at most `chunkSize` parameters.
 * The chunks run in offset order and cover [0, number of trainable parameters) without gaps.
 * Tensor indices count the trainable tensors in offset order.
 */
export function buildParamChunks(entries: readonly ParamEntry[], chunkSize = PARAM_CHUNK_SIZE): ParamChunks {
  const trainable = entries.filter((entry) => entry.spec.trainable !== false).sort((a, b) => a.offset - b.offset);
  const starts: number[] = [];
  const tensors: number[] = [];
  const l1: number[] = [];
  const l2: number[] = [];
  let end = 0;
  trainable.forEach((entry, tensor) => {
    if (entry.offset !== end) throw new Error(`Trainable weight ${entry.name} starts at ${entry.offset}, expected ${end}.`);
    const regularizer = regularizerOf(entry);
    for (let start = entry.offset; start < entry.offset + entry.size; start += chunkSize) {
      starts.push(start);
      tensors.push(tensor);
      l1.push(regularizer?.l1 ?? 0);
      l2.push(regularizer?.l2 ?? 0);
    }
    end = entry.offset + entry.size;
  });
  starts.push(end);
  const chunkCount = tensors.length;
  const factors = new Float64Array(new SharedArrayBuffer(2 * chunkCount * Float64Array.BYTES_PER_ELEMENT));
  factors.set(l1, 0);
  factors.set(l2, chunkCount);
  return {
    chunkCount,
    tensorCount: trainable.length,
    starts: sharedInt32(starts),
    tensors: sharedInt32(tensors),
    factors: factors.buffer as SharedArrayBuffer,
    stats: new SharedArrayBuffer(CHUNK_STAT_ROWS * chunkCount * Float64Array.BYTES_PER_ELEMENT),
    regularized: l1.some((x) => x > 0) || l2.some((x) => x > 0),
  };
}

function sharedInt32(values: readonly number[]): SharedArrayBuffer {
  const array = new Int32Array(new SharedArrayBuffer(values.length * Int32Array.BYTES_PER_ELEMENT));
  array.set(values);
  return array.buffer as SharedArrayBuffer;
}

/**
 * Splits the chunks into at most `parts` runs of whole chunks with about equal parameter counts.
 * Returns the first chunk of each run, then chunkCount: run p is [bounds[p], bounds[p + 1]).
 * Runs are never empty, so there may be fewer than `parts`.
 */
export function splitChunks(starts: Int32Array, chunkCount: number, parts: number): number[] {
  if (chunkCount === 0) return [0];
  const paramCount = starts[chunkCount];
  const bounds = [0];
  let chunk = 0;
  for (let part = 1; part < parts; part++) {
    const target = (paramCount * part) / parts;
    // Advance to the first chunk boundary at or past the target, but leave every run non-empty.
    while (chunk < chunkCount && starts[chunk] < target) chunk++;
    if (chunk > bounds[bounds.length - 1] && chunk < chunkCount) bounds.push(chunk);
  }
  bounds.push(chunkCount);
  return bounds;
}

/** Typed views of a session's ParamChunks, built once per thread. */
export interface ParamChunkViews {
  chunkCount: number;
  /** [chunkCount + 1] */
  starts: Int32Array;
  /** [chunkCount] */
  tensors: Int32Array;
  /** [chunkCount] each */
  l1: Float64Array;
  l2: Float64Array;
  /** [chunkCount] rows of ParamChunks.stats */
  gradSquares: Float64Array;
  penalty: Float64Array;
  clipScale: Float64Array;
}

export function openParamChunks(chunks: ParamChunks): ParamChunkViews {
  const n = chunks.chunkCount;
  const row = (buffer: SharedArrayBuffer, index: number): Float64Array => new Float64Array(buffer, index * n * Float64Array.BYTES_PER_ELEMENT, n);
  return {
    chunkCount: n,
    starts: new Int32Array(chunks.starts),
    tensors: new Int32Array(chunks.tensors),
    l1: row(chunks.factors, 0),
    l2: row(chunks.factors, 1),
    gradSquares: row(chunks.stats, CHUNK_GRAD_SQUARES),
    penalty: row(chunks.stats, CHUNK_PENALTY),
    clipScale: row(chunks.stats, CHUNK_CLIP_SCALE),
  };
}

/**
 * Adds each regularized chunk's penalty gradient into dW and stores the chunk's penalty (0 for a
 * chunk without a regularizer), for chunks [firstChunk, endChunk).
 */
export function regularizeChunks(views: ParamChunkViews, dW: Float32Array, weights: Float32Array, firstChunk: number, endChunk: number): void {
  const { starts, l1, l2, penalty } = views;
  for (let c = firstChunk; c < endChunk; c++) {
    penalty[c] = l1[c] === 0 && l2[c] === 0 ? 0 : regularizeRange(dW, weights, starts[c], starts[c + 1], l1[c], l2[c]);
  }
}

/** Stores the sum of squares of g over each chunk of [firstChunk, endChunk). */
export function measureChunks(views: ParamChunkViews, g: Float32Array, firstChunk: number, endChunk: number): void {
  for (let c = firstChunk; c < endChunk; c++) views.gradSquares[c] = sumSquares(g, views.starts[c], views.starts[c + 1]);
}

/**
 * Clips g over chunks [firstChunk, endChunk) as `clipping` specifies: by the per-chunk scales the
 * main thread stored for a norm, or element-wise for clipvalue.
 */
export function clipChunks(views: ParamChunkViews, g: Float32Array, firstChunk: number, endChunk: number, clipping: GradientClipping): void {
  const { starts } = views;
  if (clipsByNorm(clipping)) {
    for (let c = firstChunk; c < endChunk; c++) scaleRange(g, starts[c], starts[c + 1], views.clipScale[c]);
  } else if (clipping.clipvalue !== null) {
    clipValueRange(g, starts[firstChunk], starts[endChunk], clipping.clipvalue);
  }
}

/** Returns the penalty summed over the chunks in chunk order, as stored by regularizeChunks. */
export function totalPenalty(views: ParamChunkViews): number {
  let total = 0;
  for (let c = 0; c < views.chunkCount; c++) total += views.penalty[c];
  return total;
}

/**
 * Returns the regularization penalty of `weights`, computed on the calling thread with the same
 * chunks, arithmetic and order as the workers' regularize round.
 * @param weights [paramCount]
 */
export function weightsPenalty(views: ParamChunkViews, weights: Float32Array): number {
  const { starts, l1, l2 } = views;
  let total = 0;
  for (let c = 0; c < views.chunkCount; c++) {
    total += l1[c] === 0 && l2[c] === 0 ? 0 : penaltyRange(weights, starts[c], starts[c + 1], l1[c], l2[c]);
  }
  return total;
}
