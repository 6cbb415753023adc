/**
 * L1 and L2 weight regularizers, as Keras 3 (keras/src/regularizers/regularizers.py) and
 * TensorFlow.js define them. A layer's `kernelRegularizer` adds
 *
 *   penalty = l1 sum|w| + l2 sum w^2
 *
 * to the batch's mean loss, so the kernel's gradient gains
 *
 *   dW += l1 sign(w) + 2 l2 w
 *
 * once per batch. As in TensorFlow.js, every regularizer is an L1L2: `regularizers.l1(x)` is
 * L1L2 with l2 = 0, and it serializes as { className: 'L1L2', config: { l1, l2 } }. Loading
 * also accepts the Keras 3 class names 'L1' and 'L2'.
 *
 * The kernels below work on one range of the flat weight and gradient buffers and sum in
 * float64. Callers sum fixed ranges (src/coordinator/param-chunks.ts) in a fixed order, so the
 * penalty does not depend on how many threads computed it.
 */
import { formatValue } from '../errors.js';
import type { FloatArray } from '../gemm/types.js';

/** Keras defaults: l1(x) and l2(x) use 0.01, L1L2 uses 0 for a factor not given. */
export const REGULARIZER_DEFAULT_FACTOR = 0.01;

/** An L1 plus L2 penalty on a weight tensor. */
export class L1L2 {
  readonly className = 'L1L2';
  readonly l1: number;
  readonly l2: number;

  constructor(args: { l1?: number; l2?: number } = {}) {
    this.l1 = checkFactor(args.l1 ?? 0, 'l1');
    this.l2 = checkFactor(args.l2 ?? 0, 'l2');
  }

  getConfig(): { l1: number; l2: number } {
    return { l1: this.l1, l2: this.l2 };
  }
}

/** Serialized regularizer as layer configs carry it; model.json spells className as class_name. */
export interface RegularizerConfig {
  className: 'L1L2';
  config: { l1: number; l2: number };
}

/** Forms that `kernelRegularizer` accepts: an L1L2, `{ l1, l2 }`, or a serialized regularizer. */
export type RegularizerSpec = L1L2 | { l1?: number; l2?: number } | RegularizerConfig;

function checkFactor(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`Regularizer factor ${name} must be a non-negative finite number, got ${formatValue(value)}.`);
  }
  return value;
}

/** Reads an `l1(x)`, `l2(x)` argument: a number or TensorFlow.js's `{ l1: x }` / `{ l2: x }`. */
function factorArgument(value: unknown, name: 'l1' | 'l2'): number {
  if (value === undefined) return REGULARIZER_DEFAULT_FACTOR;
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
    return (value as Record<string, unknown>)[name] === undefined ? REGULARIZER_DEFAULT_FACTOR : checkFactor((value as Record<string, unknown>)[name], name);
  }
  return checkFactor(value, name);
}

/** Factory functions as TensorFlow.js and Keras name them: `regularizers.l2(1e-4)`. */
export const regularizers = {
  /** L1 penalty l1 sum|w|; l1 defaults to 0.01. */
  l1: (l1?: number | { l1?: number }): L1L2 => new L1L2({ l1: factorArgument(l1, 'l1'), l2: 0 }),
  /** L2 penalty l2 sum w^2; l2 defaults to 0.01. */
  l2: (l2?: number | { l2?: number }): L1L2 => new L1L2({ l1: 0, l2: factorArgument(l2, 'l2') }),
  /** Both penalties; a factor not given is 0. */
  l1l2: (args: { l1?: number; l2?: number } = {}): L1L2 => new L1L2(args),
};

const SPEC_HINT = "give { l1, l2 }, regularizers.l1(x), regularizers.l2(x), regularizers.l1l2({ l1, l2 }), or { className: 'L1L2', config: { l1, l2 } }";

/**
 * Parses a `kernelRegularizer` option; undefined and null mean none. Also accepts the model.json
 * spelling class_name, and the Keras 3 classes 'L1' ({ l1 }) and 'L2' ({ l2 }).
 */
export function parseRegularizer(value: unknown, option: string, where: string): L1L2 | null {
  if (value === undefined || value === null) return null;
  if (value instanceof L1L2) return value;
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new TypeError(`${where}: ${option} must be an object; ${SPEC_HINT}. Got ${formatValue(value)}.`);
  }
  const record = value as Record<string, unknown>;
  const className = record.className ?? record.class_name;
  try {
    if (className === undefined) {
      const unknown = Object.keys(record).filter((key) => key !== 'l1' && key !== 'l2');
      if (unknown.length > 0) throw new RangeError(`unknown key ${formatValue(unknown[0])}`);
      return new L1L2({ l1: record.l1 as number | undefined, l2: record.l2 as number | undefined });
    }
    const config = record.config ?? {};
    if (typeof config !== 'object' || config === null || Array.isArray(config)) {
      throw new TypeError(`its config must be an object, got ${formatValue(config)}`);
    }
    const factors = config as Record<string, unknown>;
    // Keras writes null for a factor it does not use.
    const factor = (name: 'l1' | 'l2', fallback: number): number => (factors[name] === undefined || factors[name] === null ? fallback : checkFactor(factors[name], name));
    if (className === 'L1L2') return new L1L2({ l1: factor('l1', 0), l2: factor('l2', 0) });
    if (className === 'L1') return new L1L2({ l1: factor('l1', REGULARIZER_DEFAULT_FACTOR), l2: 0 });
    if (className === 'L2') return new L1L2({ l1: 0, l2: factor('l2', REGULARIZER_DEFAULT_FACTOR) });
    throw new RangeError(`unsupported class ${formatValue(className)}; only L1L2, L1 and L2 are supported`);
  } catch (error) {
    throw new RangeError(`${where}: ${option} ${formatValue(value)} is invalid: ${(error as Error).message.replace(/\.$/, '')}; ${SPEC_HINT}.`, { cause: error });
  }
}

/** Returns the serialized form of a regularizer, as getConfig() of a layer stores it. */
export function serializeRegularizer(regularizer: L1L2): RegularizerConfig {
  return { className: 'L1L2', config: regularizer.getConfig() };
}

/**
 * Adds the regularizer's gradient l1 sign(w) + 2 l2 w into dW[start, end) and returns the
 * penalty l1 sum|w| + l2 sum w^2 over weights[start, end), summed in float64 in index order.
 * sign(0) is 0, as TensorFlow's gradient of abs.
 * @param dW [paramCount] @param weights [paramCount]
 */
export function regularizeRange<T extends FloatArray>(dW: T, weights: T, start: number, end: number, l1: number, l2: number): number {
  let absSum = 0;
  let squareSum = 0;
  const twoL2 = 2 * l2;
  for (let i = start; i < end; i++) {
    const w = weights[i];
    let sign = 0;
    if (w > 0) sign = 1;
    else if (w < 0) sign = -1;
    absSum += sign * w;
    squareSum += w * w;
    dW[i] += l1 * sign + twoL2 * w;
  }
  return l1 * absSum + l2 * squareSum;
}

/** Returns the penalty over weights[start, end) exactly as regularizeRange computes it. */
export function penaltyRange(weights: FloatArray, start: number, end: number, l1: number, l2: number): number {
  let absSum = 0;
  let squareSum = 0;
  for (let i = start; i < end; i++) {
    const w = weights[i];
    absSum += w > 0 ? w : -w;
    squareSum += w * w;
  }
  return l1 * absSum + l2 * squareSum;
}
