/**
 * Console progress for fit(): a Keras-style progress bar redrawn in place on a terminal, and
 * one plain line per epoch elsewhere (a pipe or a file never receives control characters).
 */
import type { Callback, Logs } from '../model/callbacks.js';

export interface ProgressOptions {
  epochs: number;
  stepsPerEpoch: number;
  batchSize: number;
  /** Output stream; one with isTTY set gets the redrawn bar. */
  stream: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Minimum milliseconds between two redraws of the bar. */
  redrawMs?: number;
}

const BAR_WIDTH = 30;

function formatLogs(logs: Logs, keys: string[]): string {
  return keys
    .filter((key) => logs[key] !== undefined)
    .map((key) => `${key}: ${formatMetric(logs[key])}`)
    .join(' - ');
}

/** Four decimals, as Keras prints metrics; exponent notation where that would be unreadable. */
export function formatMetric(value: number): string {
  return Math.abs(value) >= 1e6 ? value.toExponential(4) : value.toFixed(4);
}

function formatSeconds(seconds: number): string {
  return seconds >= 10 ? `${Math.round(seconds)}s` : `${seconds.toFixed(1)}s`;
}

/** Resident set size of this process in MiB (2^20 bytes). */
export function residentMiB(): number {
  return process.memoryUsage().rss / 2 ** 20;
}

export class ProgressLogger implements Callback {
  /** Resident memory in MiB at the end of each epoch this process ran, by epoch index. */
  readonly rssMiB = new Map<number, number>();
  private epochStart = 0;
  private lastDraw = 0;
  private lossSum = 0;
  private correctSum = 0;
  private seen = 0;
  private readonly tty: boolean;

  constructor(private readonly options: ProgressOptions) {
    this.tty = options.stream.isTTY === true;
  }

  /** Cuts a redrawn line to the terminal width: a wrapped line would not be redrawn in place. */
  private fit(line: string): string {
    const columns = this.options.stream.columns;
    return columns !== undefined && columns > 1 && line.length >= columns ? line.slice(0, columns - 1) : line;
  }

  onEpochBegin(epoch: number): void {
    this.epochStart = performance.now();
    this.lastDraw = 0;
    this.lossSum = 0;
    this.correctSum = 0;
    this.seen = 0;
    if (this.tty) this.options.stream.write(`Epoch ${epoch + 1}/${this.options.epochs}\n`);
  }

  onBatchEnd(batch: number, logs: Logs = {}): void {
    this.lossSum += logs.loss * logs.size;
    this.correctSum += logs.accuracy * logs.size;
    this.seen += logs.size;
    if (!this.tty) return;
    const now = performance.now();
    const last = batch + 1 === this.options.stepsPerEpoch;
    if (!last && now - this.lastDraw < (this.options.redrawMs ?? 100)) return;
    this.lastDraw = now;
    const steps = this.options.stepsPerEpoch;
    const done = Math.round((BAR_WIDTH * (batch + 1)) / steps);
    const bar = done >= BAR_WIDTH ? '='.repeat(BAR_WIDTH) : `${'='.repeat(Math.max(0, done - 1))}>${'.'.repeat(BAR_WIDTH - done)}`;
    const elapsed = (now - this.epochStart) / 1000;
    const eta = (elapsed / (batch + 1)) * (steps - batch - 1);
    const running = { loss: this.lossSum / this.seen, accuracy: this.correctSum / this.seen };
    const width = String(steps).length;
    const counter = `${String(batch + 1).padStart(width)}/${steps}`;
    this.options.stream.write(`\r${this.fit(`${counter} [${bar}] - ETA: ${formatSeconds(eta)} - ${formatLogs(running, ['loss', 'accuracy'])}`)}\u001b[K`);
  }

  onEpochEnd(epoch: number, logs: Logs = {}): void {
    const seconds = (performance.now() - this.epochStart) / 1000;
    const steps = this.options.stepsPerEpoch;
    const stepMs = (seconds * 1000) / steps;
    const samplesPerSecond = this.seen / seconds;
    const rssMiB = residentMiB();
    this.rssMiB.set(epoch, rssMiB);
    const metrics = `${formatLogs(logs, ['loss', 'accuracy', 'val_loss', 'val_accuracy'])} - rssMiB: ${rssMiB.toFixed(1)}`;
    const timing = `${formatSeconds(seconds)} ${Math.round(stepMs)}ms/step ${Math.round(samplesPerSecond)} samples/s`;
    if (this.tty) {
      const bar = '='.repeat(BAR_WIDTH);
      this.options.stream.write(`\r${this.fit(`${steps}/${steps} [${bar}] - ${timing} - ${metrics}`)}\u001b[K\n`);
    } else {
      this.options.stream.write(`Epoch ${epoch + 1}/${this.options.epochs} - ${timing} - ${metrics}\n`);
    }
  }
}
