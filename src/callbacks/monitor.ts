/**
 * The monitored quantity of EarlyStopping, ModelCheckpoint and ReduceLROnPlateau: the log key,
 * its direction ('min' or 'max') and the improvement test, as in Keras 3's MonitorCallback.
 */
import { formatValue } from '../errors.js';
import type { Logs } from '../model/callbacks.js';

export type MonitorMode = 'auto' | 'min' | 'max';

const MODES: readonly MonitorMode[] = ['auto', 'min', 'max'];

/**
 * Checks `mode`. Deviation: Keras warns and falls back to 'auto' for an unknown mode; here it
 * is an error.
 */
export function checkMode(value: unknown, where: string): MonitorMode {
  if (!MODES.includes(value as MonitorMode)) {
    throw new RangeError(`${where}: mode must be 'auto', 'min' or 'max', got ${formatValue(value)}.`);
  }
  return value as MonitorMode;
}

/**
 * Resolves 'auto' from the monitored key without its 'val_' prefix: 'loss' is minimized and
 * 'accuracy' (or 'acc') is maximized. Any other key needs an explicit mode, as in Keras 3, which
 * raises the same error once the model's metrics are known.
 */
export function monitorDirection(monitor: string, mode: MonitorMode, where: string): 'min' | 'max' {
  if (mode !== 'auto') return mode;
  const metric = monitor.startsWith('val_') ? monitor.slice(4) : monitor;
  if (metric === 'loss') return 'min';
  if (metric === 'accuracy' || metric === 'acc') return 'max';
  throw new RangeError(`${where}: cannot tell whether monitor ${formatValue(monitor)} should be minimized or maximized; pass mode: 'min' or mode: 'max'.`);
}

/**
 * Returns whether `current` beats `best` by more than `minDelta` (>= 0) in `direction`. The
 * first value (best null) counts as an improvement unless it is NaN. Deviation: Keras takes a
 * first NaN as the best value, after which nothing improves on it.
 */
export function isImprovement(current: number, best: number | null, minDelta: number, direction: 'min' | 'max'): boolean {
  if (Number.isNaN(current)) return false;
  if (best === null) return true;
  return direction === 'min' ? current + minDelta < best : current - minDelta > best;
}

/** Node warning code of a monitored key missing from the epoch logs. */
export const MISSING_MONITOR_WARNING = 'SHARDNET_MISSING_MONITOR';

/**
 * Reads the monitored value from the epoch logs. A missing key emits one process warning per
 * `state`, saying the `effect` on this callback (Keras warns through Python's warnings module, which also shows a message once) and
 * returns undefined, so training goes on.
 */
export function readMonitor(logs: Logs | undefined, monitor: string, where: string, effect: string, state: { warned: boolean }): number | undefined {
  const value = logs?.[monitor];
  if (typeof value === 'number') return value;
  if (!state.warned) {
    state.warned = true;
    const available = Object.keys(logs ?? {}).join(', ') || 'none';
    process.emitWarning(`${where} monitors ${formatValue(monitor)}, which is not in the epoch logs, so ${effect}. Available keys: ${available}. For val_ keys pass validationSplit or validationData to fit().`, { code: MISSING_MONITOR_WARNING });
  }
  return undefined;
}
