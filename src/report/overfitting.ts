/**
 * The report's overfitting rule. A run overfits when either holds:
 * - accuracy gap: final training accuracy exceeds the validation accuracy (the test accuracy
 *   when there is no validation split) by more than OVERFITTING_RULE.maxAccuracyGap.
 * - loss trend: val_loss rose in each of the last OVERFITTING_RULE.risingEpochs epochs (each
 *   value above the one before), while the training loss at the last epoch is below the one
 *   those epochs started from.
 * The trend needs risingEpochs + 1 epochs with val_loss. With fewer, only the gap decides.
 */

export interface SplitMetrics {
  loss: number;
  accuracy: number;
  samples: number;
}

export interface FinalMetrics {
  train: SplitMetrics;
  /** Null when the run had no validation split. */
  validation: SplitMetrics | null;
  test: SplitMetrics;
}

export const OVERFITTING_RULE = {
  /** Largest training-minus-held-out accuracy gap that still counts as no overfitting, as a fraction. */
  maxAccuracyGap: 0.03,
  /** Consecutive final epochs in which val_loss must rise for the loss-trend check. */
  risingEpochs: 2,
} as const;

export interface OverfittingVerdict {
  overfits: boolean;
  /** Whether the accuracy gap exceeds the threshold. */
  gapExceeded: boolean;
  /** Whether the loss-trend check is true, or null when the history is too short for it. */
  lossDiverged: boolean | null;
  /** One plain sentence stating the verdict and its reasons. */
  sentence: string;
}

/** Formats a fraction as percentage points with one decimal. */
function points(fraction: number): string {
  return `${(Math.abs(fraction) * 100).toFixed(1)} percentage points`;
}

/**
 * Returns whether val_loss rose in each of the last `rising` epochs while the training loss fell
 * over them, or null when either history has fewer than `rising` + 1 entries. A NaN anywhere
 * in that window makes the comparison false.
 */
export function lossDiverges(loss: readonly number[] | undefined, valLoss: readonly number[] | undefined, rising: number = OVERFITTING_RULE.risingEpochs): boolean | null {
  const window = rising + 1;
  if (loss === undefined || valLoss === undefined || loss.length < window || valLoss.length < window) return null;
  const val = valLoss.slice(-window);
  const train = loss.slice(-window);
  const valRising = val.every((value, i) => i === 0 || value > val[i - 1]);
  return valRising && train[rising] < train[0];
}

/** Applies OVERFITTING_RULE to a run's per-epoch history and final metrics. */
export function assessOverfitting(history: Readonly<Record<string, readonly number[]>>, final: FinalMetrics): OverfittingVerdict {
  const reference = final.validation ?? final.test;
  const referenceName = final.validation === null ? 'test' : 'validation';
  const gap = final.train.accuracy - reference.accuracy;
  const gapExceeded = gap > OVERFITTING_RULE.maxAccuracyGap;
  const lossDiverged = lossDiverges(history.loss, history.val_loss);
  const overfits = gapExceeded || lossDiverged === true;

  const rising = OVERFITTING_RULE.risingEpochs;
  const gapClause =
    `training accuracy is ${points(gap)} ${gap >= 0 ? 'above' : 'below'} ${referenceName} accuracy ` +
    `(${gapExceeded ? 'more than' : 'within'} the ${points(OVERFITTING_RULE.maxAccuracyGap)} allowed)`;
  let trendClause: string;
  if (lossDiverged === null) trendClause = `the loss trend is not judged because it needs ${rising + 1} epochs with validation loss`;
  else if (lossDiverged) trendClause = `validation loss rose in each of the last ${rising} epochs while training loss fell`;
  else trendClause = `validation loss did not rise in each of the last ${rising} epochs while training loss fell`;
  const sentence = `${overfits ? 'The run overfits' : 'The run does not overfit'}: ${gapClause}, and ${trendClause}.`;
  return { overfits, gapExceeded, lossDiverged, sentence };
}
