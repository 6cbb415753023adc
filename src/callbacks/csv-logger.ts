/**
 * CSVLogger: writes one CSV row per epoch, as Keras 3's keras.callbacks.CSVLogger does. The
 * header is `epoch` followed by the keys of the first epoch's logs in sorted order. Each row
 * contains the epoch number (from 0, as in Keras) and the values, with NA for a key that an epoch
 * lacks. Keys that first appear after the header was written are left out, as in Keras.
 *
 * Each row is appended and flushed to disk (fsync) before onEpochEnd returns, so a crash loses
 * at most the row being written. With append, rows go after the file's existing content, and
 * the header is written only when the file is missing or its first line is empty.
 *
 * Deviation: Keras ends lines with \r\n (Python's csv excel dialect), writes numbers as
 * Python's str() does (nan, 1e-05), and, when the first epoch has no val_ keys, adds val_
 * columns for validation_freq > 1. This writes \n and numbers as JavaScript's String() does
 * (NaN, 0.00001), and adds no val_ columns because fit() validates every epoch or never.
 * NOTE: resuming fit() from a checkpoint (resumeFrom) does not restore the header; pass
 * append: true to keep the rows of the earlier run.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import { ValueError, formatValue } from '../errors.js';
import type { Logs } from '../model/callbacks.js';
import { checkFlag, checkOptions, checkString } from './args.js';
import { BaseCallback } from './base-callback.js';

export interface CSVLoggerArgs {
  /** Field separator, one character; default ','. */
  separator?: string;
  /** Append to an existing file instead of replacing it; default false. */
  append?: boolean;
}

const WHERE = 'CSVLogger';
const OPTIONS = ['separator', 'append'] as const;

export class CSVLogger extends BaseCallback {
  readonly filename: string;
  readonly separator: string;
  readonly append: boolean;
  /** Column keys after 'epoch', fixed by the first epoch of a fit. */
  private keys: string[] | null = null;
  private writeHeader = true;

  constructor(filename: string, args?: CSVLoggerArgs) {
    super();
    this.filename = checkString(filename, 'filename', WHERE);
    const options = checkOptions(args, OPTIONS, WHERE);
    const separator = options.separator ?? ',';
    if (typeof separator !== 'string' || separator.length !== 1 || /["\r\n]/.test(separator)) {
      throw new ValueError(`${WHERE}: separator must be one character other than a quote or a line break, got ${formatValue(separator)}.`);
    }
    this.separator = separator;
    this.append = checkFlag(options.append ?? false, 'append', WHERE);
  }

  async onTrainBegin(): Promise<void> {
    this.keys = null;
    if (!this.append) {
      // Created or emptied now, as Keras opens the file in 'w' mode when training begins.
      await writeFile(this.filename, '');
      this.writeHeader = true;
      return;
    }
    let content: string | null;
    try {
      content = await readFile(this.filename, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      content = null;
    }
    this.writeHeader = content === null || content.split('\n', 1)[0].replace(/\r$/, '') === '';
  }

  async onEpochEnd(epoch: number, logs: Logs = {}): Promise<void> {
    // Code-unit order, which is Python's sorted() order for the ASCII keys fit() writes.
    const keys = (this.keys ??= Object.keys(logs).sort());
    let text = '';
    if (this.writeHeader) {
      text += this.row(['epoch', ...keys]);
      this.writeHeader = false;
    }
    text += this.row([String(epoch), ...keys.map((key) => (typeof logs[key] === 'number' ? String(logs[key]) : 'NA'))]);
    const handle = await open(this.filename, 'a');
    try {
      await handle.writeFile(text);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Joins fields with the separator, quoting a field that contains it, a quote or a line break. */
  private row(fields: string[]): string {
    const quoted = fields.map((field) => (field.includes(this.separator) || /["\r\n]/.test(field) ? `"${field.replaceAll('"', '""')}"` : field));
    return `${quoted.join(this.separator)}\n`;
  }
}
