/**
 * Learning-rate schedules for LearningRateScheduler: functions of the epoch (from 0) that
 * return the rate for that epoch.
 */
import { checkFinite, checkInteger } from './args.js';

/** A schedule maps the epoch (from 0) and the current rate to the rate for that epoch. */
export type Schedule = (epoch: number, learningRate: number) => number;

/**
 * Step decay: `initial * factor ** floor(epoch / dropEvery)`, so the rate is multiplied by
 * `factor` every `dropEvery` epochs. stepDecay(0.001, 2, 0.5) halves the rate every 2 epochs.
 */
export function stepDecay(initial: number, dropEvery: number, factor: number): Schedule {
  const where = 'stepDecay';
  checkFinite(initial, 'initial', where, 0);
  checkInteger(dropEvery, 'dropEvery', where, 1);
  checkFinite(factor, 'factor', where, 0);
  return (epoch) => initial * factor ** Math.floor(epoch / dropEvery);
}

/**
 * Cosine decay (Loshchilov and Hutter, 2017, "SGDR: Stochastic Gradient Descent with Warm
 * Restarts", without restarts): `minLr + (initial - minLr) * (1 + cos(pi * e / totalEpochs)) / 2`
 * with e = min(epoch, totalEpochs). Epoch 0 gets `initial`, and the rate reaches `minLr` at
 * epoch totalEpochs, one past the last epoch of a totalEpochs-epoch run, then stays there. This is
 * Keras's CosineDecay with decay_steps = totalEpochs and alpha = minLr / initial, stepped per
 * epoch.
 */
export function cosineDecay(initial: number, totalEpochs: number, minLr = 0): Schedule {
  const where = 'cosineDecay';
  checkFinite(initial, 'initial', where, 0);
  checkInteger(totalEpochs, 'totalEpochs', where, 1);
  checkFinite(minLr, 'minLr', where, 0);
  if (minLr > initial) throw new RangeError(`${where}: minLr ${minLr} must not exceed initial ${initial}; lower minLr or raise initial.`);
  return (epoch) => {
    const progress = Math.min(epoch, totalEpochs) / totalEpochs;
    return minLr + ((initial - minLr) * (1 + Math.cos(Math.PI * progress))) / 2;
  };
}
