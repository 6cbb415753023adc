/** Built-in training callbacks with Keras semantics and TensorFlow.js argument names. */
export { BaseCallback } from './base-callback.js';
export { CSVLogger, type CSVLoggerArgs } from './csv-logger.js';
export { EarlyStopping, type EarlyStoppingArgs } from './early-stopping.js';
export { LearningRateScheduler } from './learning-rate-scheduler.js';
export { ModelCheckpoint, type ModelCheckpointArgs } from './model-checkpoint.js';
export { MISSING_MONITOR_WARNING, type MonitorMode } from './monitor.js';
export { ReduceLROnPlateau, type ReduceLROnPlateauArgs } from './reduce-lr-on-plateau.js';
export { type Schedule, cosineDecay, stepDecay } from './schedules.js';
export { TerminateOnNaN } from './terminate-on-nan.js';
