/**
 * Errors raised by the dataset loaders. Callers can tell a bad file (DataFormatError) from an
 * absent one (DatasetMissingError) with `instanceof` or by `name`.
 */

/** A data file exists but its content is invalid: bad magic, wrong size, corrupt gzip, bad labels. */
export class DataFormatError extends Error {
  override readonly name = 'DataFormatError';

  /** Path (or other name) of the invalid file, as the caller passed it. */
  readonly file: string;

  /** Description of the problem, without the file name and the fix. */
  readonly problem: string;

  /**
   * @param file path of the invalid file, which the message starts with
   * @param problem what is wrong, e.g. "truncated: header declares 784 data bytes but 700 follow"
   * @param fix what the user can do about it
   */
  constructor(file: string, problem: string, fix: string = DEFAULT_FIX) {
    super(`Invalid data file ${file}: ${problem}. ${fix}`);
    this.file = file;
    this.problem = problem;
  }
}

const DEFAULT_FIX =
  'Replace it with a valid IDX file; if it is one of the MNIST files, delete it and the loader downloads it again.';

/** Required dataset files are absent and could not be downloaded. */
export class DatasetMissingError extends Error {
  override readonly name = 'DatasetMissingError';

  /** File names that are still missing, without the optional `.gz` suffix. */
  readonly missing: string[];

  /** Absolute path of the directory that was searched. */
  readonly directory: string;

  constructor(message: string, missing: string[], directory: string) {
    super(message);
    this.missing = missing;
    this.directory = directory;
  }
}
