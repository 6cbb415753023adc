/**
 * MNIST loader: finds the four IDX files in a directory, downloads missing ones from public
 * mirrors, validates them and returns normalized images in shared memory.
 *
 * Shapes: N images of H x W = 28 x 28 pixels, stored row-major as [N, 28, 28]. Labels are [N].
 */

import { createHash } from 'node:crypto';
import { constants as fsConstants, rmSync } from 'node:fs';
import { access, copyFile, link, open, readFile, readdir, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { makeDirectory } from '../core/make-directory.js';
import { DataFormatError, DatasetMissingError } from './errors.js';
import { decodeMaybeGzipAsync, isGzip, readIdxFile } from './idx.js';
import type { IdxArray } from './idx.js';
import { processExists } from '../core/process-exists.js';

/** Height and width of an MNIST image in pixels. */
export const MNIST_IMAGE_SIZE = 28;

/** Number of classes. Labels are 0 to MNIST_CLASSES - 1. */
export const MNIST_CLASSES = 10;

/** One of the four files of the dataset. */
export interface MnistFileSpec {
  /** File name without the `.gz` suffix, as the mirrors name it. */
  base: string;
  /** sha256 (lowercase hex) of the decompressed canonical file. */
  sha256: string;
  /** Shape of the canonical file. The loader accepts any N, so subsets and look-alikes load too. */
  shape: readonly number[];
}

export type MnistFileKey = 'trainImages' | 'trainLabels' | 'testImages' | 'testLabels';

/** The canonical MNIST files. Checksums are of the decompressed bytes, since gzip wrappers vary between copies. */
export const MNIST_FILES: Readonly<Record<MnistFileKey, MnistFileSpec>> = {
  trainImages: {
    base: 'train-images-idx3-ubyte',
    sha256: 'ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db',
    shape: [60000, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE],
  },
  trainLabels: {
    base: 'train-labels-idx1-ubyte',
    sha256: '65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5',
    shape: [60000],
  },
  testImages: {
    base: 't10k-images-idx3-ubyte',
    sha256: '0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7',
    shape: [10000, MNIST_IMAGE_SIZE, MNIST_IMAGE_SIZE],
  },
  testLabels: {
    base: 't10k-labels-idx1-ubyte',
    sha256: 'ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2',
    shape: [10000],
  },
};

const FILE_KEYS: readonly MnistFileKey[] = ['trainImages', 'trainLabels', 'testImages', 'testLabels'];

/** Directory used when neither the option nor MNIST_DIR is set, relative to the working directory. */
export const DEFAULT_MNIST_DIR = 'data/mnist';

/** Base URLs that serve `<base>.gz` for each file, tried in order. */
export const DEFAULT_MNIST_MIRRORS: readonly string[] = [
  'https://storage.googleapis.com/cvdf-datasets/mnist/',
  'https://ossci-datasets.s3.amazonaws.com/mnist/',
];

/** Default time a download may go without receiving data before it is aborted. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/** Minimum time between two 'data' progress events of one download. */
const PROGRESS_INTERVAL_MS = 200;

/** One split of the dataset. Both arrays are backed by SharedArrayBuffer, so workers can read them without copies. */
export interface MnistSplit {
  /** [count, 28, 28] pixel values divided by 255, in [0, 1]. */
  images: Float32Array;
  /** [count] class labels, 0 to 9. */
  labels: Uint8Array;
  /** Number of images (N). */
  count: number;
}

export interface MnistDataset {
  train: MnistSplit;
  test: MnistSplit;
  /** Absolute path of the directory the files were read from. */
  dir: string;
}

/** Progress of one file download. */
export interface DownloadProgress {
  /** Name of the file being downloaded, e.g. `train-images-idx3-ubyte.gz`. */
  file: string;
  url: string;
  /** 'start' before the first byte, 'data' while receiving, then 'done' or 'failed' once. */
  phase: 'start' | 'data' | 'done' | 'failed';
  receivedBytes: number;
  /** Size from the Content-Length header, or null when the server did not send one. */
  totalBytes: number | null;
}

export interface LoadMnistOptions {
  /** Directory of the IDX files (the CLI's `--data DIR`). Defaults to MNIST_DIR, then `data/mnist`. */
  dataDir?: string;
  /** Environment read for MNIST_DIR. Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
  /** Whether to download missing files. Defaults to true. */
  download?: boolean;
  /** Called as downloads progress. renderDownloadProgress prints these events to a console. */
  onProgress?: (info: DownloadProgress) => void;
  /** Base URLs tried in order for each missing file. Defaults to DEFAULT_MNIST_MIRRORS. */
  mirrors?: readonly string[];
  /** fetch used for downloads. Defaults to the global fetch. */
  fetchImpl?: typeof fetch;
  /** Expected sha256 per file, replacing MNIST_FILES' values. Only downloaded files are checked. */
  sha256?: Partial<Record<MnistFileKey, string>>;
  /** Milliseconds a download may receive no data before it is aborted. Defaults to DEFAULT_STALL_TIMEOUT_MS. */
  stallTimeoutMs?: number;
}

/**
 * Returns the absolute MNIST directory: `dataDir` if given, else the MNIST_DIR environment
 * variable, else `data/mnist` under the current working directory. Empty strings count as unset.
 */
export function resolveMnistDir(options: { dataDir?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const env = options.env ?? process.env;
  return resolve(options.dataDir || env.MNIST_DIR || DEFAULT_MNIST_DIR);
}

/**
 * Loads MNIST from the directory chosen by resolveMnistDir, downloading missing files first
 * unless `download` is false.
 *
 * Each file is looked up as `<base>.gz`, then as the uncompressed `<base>`. Files already in
 * the directory are only checked for format, so Fashion-MNIST or another dataset with the
 * same file names and layout loads too. Downloaded files must also match the expected sha256.
 * Existing files are never overwritten.
 *
 * @throws DatasetMissingError when files are missing and could not be downloaded
 * @throws DataFormatError when a file is not a valid MNIST-layout IDX file, or when a file that
 *   another process saved during the download does not match the expected sha256
 */
export async function loadMnist(options: LoadMnistOptions = {}): Promise<MnistDataset> {
  const dir = resolveMnistDir(options);
  const paths = await findMnistFiles(dir);

  const missing = FILE_KEYS.filter((key) => paths[key] === null);
  if (missing.length > 0) {
    if (options.download === false) {
      throw missingFilesError(dir, missing, ['Downloading is disabled.']);
    }
    const failures = await downloadMissingFiles(dir, missing, paths, options);
    const stillMissing = FILE_KEYS.filter((key) => paths[key] === null);
    if (stillMissing.length > 0) {
      throw missingFilesError(dir, stillMissing, ['Download failed:', ...failures.map((line) => `  ${line}`)]);
    }
  }

  const [train, test] = await Promise.all([
    loadIdxPair(paths.trainImages!, paths.trainLabels!),
    loadIdxPair(paths.testImages!, paths.testLabels!),
  ]);
  return { train, test, dir };
}

/** Returns the path of each file in `dir` (`<base>.gz` preferred over `<base>`), or null when neither exists. */
async function findMnistFiles(dir: string): Promise<Record<MnistFileKey, string | null>> {
  const found = {} as Record<MnistFileKey, string | null>;
  for (const key of FILE_KEYS) {
    const base = MNIST_FILES[key].base;
    found[key] = null;
    for (const candidate of [join(dir, `${base}.gz`), join(dir, base)]) {
      if (await fileExists(candidate)) {
        found[key] = candidate;
        break;
      }
    }
  }
  return found;
}

async function fileExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

function missingFilesError(dir: string, missing: readonly MnistFileKey[], reasons: string[]): DatasetMissingError {
  const missingNames = missing.map((key) => MNIST_FILES[key].base);
  const allNames = FILE_KEYS.map((key) => MNIST_FILES[key].base).join(', ');
  const message = [
    `MNIST files not found in ${dir}: ${missingNames.join(', ')} (looked for <name>.gz and <name>).`,
    ...reasons,
    `To supply them, copy the four files (${allNames}, gzip-compressed or not) into ${dir}, ` +
      'or pass --data DIR or set MNIST_DIR to a directory that contains them.',
  ].join('\n');
  return new DatasetMissingError(message, missingNames, dir);
}

/**
 * Loads an MNIST-layout pair of IDX files: uint8 images [N, 28, 28] and uint8 labels [N]
 * in 0-9. Works for any dataset in this layout, such as Fashion-MNIST.
 *
 * @throws DataFormatError naming the offending file when either is invalid or they disagree on N
 */
export async function loadIdxPair(imagesPath: string, labelsPath: string): Promise<MnistSplit> {
  // The small labels file comes first, so the images file's header can be checked against it
  // before the images are decompressed.
  const labels = await readIdxFile(labelsPath);
  const labelValues = validateLabels(labels, labelsPath);
  const mismatch = (imageCount: number): DataFormatError =>
    new DataFormatError(
      labelsPath,
      `it has ${labels.shape[0]} labels but ${imagesPath} has ${imageCount} images`,
      'Use the labels file that belongs to the same split as the images file.',
    );
  const images = await readIdxFile(imagesPath, {
    onHeader: ({ dtype, shape }) => {
      checkImageHeader(dtype, shape, imagesPath);
      if (shape[0] !== labels.shape[0]) throw mismatch(shape[0]);
    },
  });
  const imagePixels = validateImages(images, imagesPath);
  const count = images.shape[0];
  if (labels.shape[0] !== count) throw mismatch(count);

  return { images: normalizePixels(imagePixels), labels: copyToShared(labelValues), count };
}

function validateImages(images: IdxArray, file: string): Uint8Array {
  checkImageHeader(images.dtype, images.shape, file);
  return images.data as Uint8Array;
}

/** Checks that an IDX header describes uint8 MNIST images, [N, 28, 28] with N > 0. */
function checkImageHeader(dtype: string, shape: readonly number[], file: string): void {
  const expected = `expected uint8 images of shape [N, ${MNIST_IMAGE_SIZE}, ${MNIST_IMAGE_SIZE}]`;
  if (dtype !== 'uint8') {
    throw new DataFormatError(file, `${expected}, found ${dtype} data`);
  }
  const [count, height, width] = shape;
  if (shape.length !== 3 || height !== MNIST_IMAGE_SIZE || width !== MNIST_IMAGE_SIZE) {
    throw new DataFormatError(file, `${expected}, found shape [${shape.join(', ')}]`);
  }
  if (count === 0) {
    throw new DataFormatError(file, 'it contains no images');
  }
}

function validateLabels(labels: IdxArray, file: string): Uint8Array {
  if (labels.dtype !== 'uint8' || labels.shape.length !== 1) {
    throw new DataFormatError(
      file,
      `expected uint8 labels of shape [N], found ${labels.dtype} data of shape [${labels.shape.join(', ')}]`,
    );
  }
  const data = labels.data;
  for (let i = 0; i < data.length; i++) {
    if (data[i] >= MNIST_CLASSES) {
      throw new DataFormatError(
        file,
        `label ${data[i]} at index ${i} is outside 0-${MNIST_CLASSES - 1}`,
        'Check that the file holds class labels of a 10-class dataset.',
      );
    }
  }
  return data;
}

/** Copies uint8 pixels into a SharedArrayBuffer-backed Float32Array, divided by 255. */
function normalizePixels(pixels: Uint8Array): Float32Array {
  const lookup = new Float32Array(256);
  for (let value = 0; value < 256; value++) lookup[value] = value / 255;

  const images = new Float32Array(new SharedArrayBuffer(pixels.length * Float32Array.BYTES_PER_ELEMENT));
  for (let i = 0; i < pixels.length; i++) images[i] = lookup[pixels[i]];
  return images;
}

function copyToShared(values: Uint8Array): Uint8Array {
  const shared = new Uint8Array(new SharedArrayBuffer(values.length));
  shared.set(values);
  return shared;
}

// ---------------------------------------------------------------------------------------------
// Downloads

/**
 * Downloads each missing file into `dir`, trying the mirrors in order, and records the new
 * path in `paths`. Returns one line per failed attempt. A file whose every mirror failed
 * stays null in `paths`.
 */
async function downloadMissingFiles(
  dir: string,
  missing: readonly MnistFileKey[],
  paths: Record<MnistFileKey, string | null>,
  options: LoadMnistOptions,
): Promise<string[]> {
  const mirrors = options.mirrors ?? DEFAULT_MNIST_MIRRORS;
  const stallTimeoutMs = options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
  if (!(stallTimeoutMs > 0)) {
    throw new RangeError(`stallTimeoutMs must be a positive number of milliseconds, got ${stallTimeoutMs}`);
  }
  if (mirrors.length === 0) {
    return ['no mirrors are configured'];
  }

  try {
    await makeDirectory(dir);
  } catch (error) {
    return [`cannot create ${dir}: ${describeError(error)}`];
  }
  await removeStalePartFiles(dir);

  const failures: string[] = [];
  // A mirror that gave no response or stalled is not tried again for the other files, so a
  // dead mirror costs one stall timeout, not one per file.
  const unreachable = new Set<string>();
  for (const key of missing) {
    const spec = MNIST_FILES[key];
    const request: DownloadRequest = {
      dir,
      base: spec.base,
      sha256: (options.sha256?.[key] ?? spec.sha256).toLowerCase(),
      fetchImpl: options.fetchImpl ?? fetch,
      onProgress: options.onProgress,
      stallTimeoutMs,
    };
    for (const mirror of mirrors) {
      const url = mirrorUrl(mirror, `${spec.base}.gz`);
      if (unreachable.has(mirror)) {
        failures.push(`${spec.base}.gz from ${url}: not tried, because ${mirror} did not respond for an earlier file`);
        continue;
      }
      try {
        paths[key] = await downloadVerified(request, url);
        break;
      } catch (error) {
        // A file that another process saved meanwhile is not replaced, and no mirror can change that.
        if (error instanceof DataFormatError) throw error;
        if (isUnreachable(error)) unreachable.add(mirror);
        failures.push(`${spec.base}.gz from ${url}: ${describeError(error)}`);
      }
    }
  }
  return failures;
}

interface DownloadRequest {
  dir: string;
  base: string;
  /** Expected sha256 of the decompressed bytes, lowercase hex. */
  sha256: string;
  fetchImpl: typeof fetch;
  onProgress: ((info: DownloadProgress) => void) | undefined;
  stallTimeoutMs: number;
}

/** Marks a download error as one where the mirror gave no response, or stopped sending. */
function markUnreachable(error: unknown): Error {
  const marked = error instanceof Error ? error : new Error(String(error));
  return Object.assign(marked, { mirrorUnreachable: true });
}

function isUnreachable(error: unknown): boolean {
  return error instanceof Error && (error as Error & { mirrorUnreachable?: boolean }).mirrorUnreachable === true;
}

function mirrorUrl(mirror: string, file: string): string {
  return mirror.endsWith('/') ? `${mirror}${file}` : `${mirror}/${file}`;
}

/**
 * Partial downloads in progress. A process that exits in the middle of one (train.js exits at
 * once on a second signal, or on the first one before training) removes them on its way out.
 */
const partialDownloads = new Set<string>();
let exitCleanupInstalled = false;

/** Number of part files this process has created, which makes each part file name unique. */
let partFileCount = 0;

/** Matches a part file name, `<name>.gz.part-<pid>-<n>`, and captures the process id. */
const PART_FILE_PATTERN = /\.gz\.part-(\d+)-\d+$/;

/**
 * Removes part files that processes no longer running left in `dir`, for instance after
 * SIGKILL, which skips the exit-time cleanup. Errors are ignored.
 */
async function removeStalePartFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const match = PART_FILE_PATTERN.exec(name);
    if (match === null) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || processExists(pid)) continue;
    await rm(join(dir, name), { force: true }).catch(() => undefined);
  }
}

function trackPartialDownload(path: string): void {
  if (!exitCleanupInstalled) {
    exitCleanupInstalled = true;
    process.on('exit', () => {
      for (const partial of partialDownloads) rmSync(partial, { force: true });
    });
  }
  partialDownloads.add(path);
}

/**
 * Downloads `url` to a part file of its own, `<base>.gz.part-<pid>-<n>`, so that processes
 * downloading into the same directory at once never write the same file. Then checks the
 * sha256 of the decompressed bytes and moves the file into place without overwriting anything.
 * Returns the final path. On any failure the part file is removed and the error message names it.
 *
 * @throws DataFormatError when another process saved the final file first and its content
 *   does not match the expected sha256
 */
async function downloadVerified(request: DownloadRequest, url: string): Promise<string> {
  const fileName = `${request.base}.gz`;
  const partPath = join(request.dir, `${fileName}.part-${process.pid}-${partFileCount++}`);
  let partCreated = false;
  try {
    const bytes = await fetchToFile(request, url, fileName, partPath, () => {
      partCreated = true;
      trackPartialDownload(partPath);
    });

    let decompressed: Uint8Array;
    try {
      decompressed = await decodeMaybeGzipAsync(bytes, url);
    } catch (error) {
      if (!(error instanceof DataFormatError)) throw error;
      throw new Error(`the downloaded data is corrupt: ${error.problem}`);
    }
    const digest = sha256Hex(decompressed);
    if (digest !== request.sha256) {
      throw new Error(`sha256 of the decompressed data is ${digest}, expected ${request.sha256}`);
    }

    // fetch undoes a Content-Encoding: gzip, so the body may arrive uncompressed.
    const finalPath = join(request.dir, isGzip(bytes) ? fileName : request.base);
    const moved = await moveWithoutOverwrite(partPath, finalPath);
    partialDownloads.delete(partPath);
    if (!moved) await checkConcurrentDownload(finalPath, request.sha256);
    return finalPath;
  } catch (error) {
    if (!partCreated) throw error;
    await rm(partPath, { force: true });
    partialDownloads.delete(partPath);
    if (error instanceof DataFormatError) throw error;
    const wrapped = new Error(`${describeError(error)} (removed the partial download ${partPath})`);
    throw isUnreachable(error) ? markUnreachable(wrapped) : wrapped;
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Checks a file that appeared at `path` while this process downloaded it, normally because
 * another process downloaded the same file into the same directory and finished first.
 *
 * NOTE: where hard links are not supported, the other process copies its file into place, and
 * a check during that copy reads a partial file and reports a mismatch.
 *
 * @throws DataFormatError naming `path` when its decompressed data does not have the sha256 `expected`
 */
async function checkConcurrentDownload(path: string, expected: string): Promise<void> {
  const digest = sha256Hex(await decodeMaybeGzipAsync(await readFile(path), path));
  if (digest !== expected) {
    throw new DataFormatError(
      path,
      `it was created while this process downloaded the same file, and the sha256 of its decompressed data is ${digest}, expected ${expected}`,
      'It was left unchanged. Delete it and run again to download it, or check what else writes to this directory.',
    );
  }
}

/** Streams the response body into `partPath` and returns it. Aborts when no data arrives for stallTimeoutMs. */
async function fetchToFile(
  request: DownloadRequest,
  url: string,
  fileName: string,
  partPath: string,
  onPartCreated: () => void,
): Promise<Uint8Array> {
  const controller = new AbortController();
  let stallTimer = setTimeout(() => controller.abort(), request.stallTimeoutMs);
  const restartStallTimer = (): void => {
    clearTimeout(stallTimer);
    stallTimer = setTimeout(() => controller.abort(), request.stallTimeoutMs);
  };

  const progress: DownloadProgress = { file: fileName, url, phase: 'start', receivedBytes: 0, totalBytes: null };
  const report = (phase: DownloadProgress['phase']): void => request.onProgress?.({ ...progress, phase });

  let handle: FileHandle | undefined;
  let started = false;
  try {
    let response: Response;
    try {
      response = await request.fetchImpl(url, { signal: controller.signal });
    } catch (error) {
      // No response at all: refused, unresolvable or silent. fetch rejects with a TypeError then.
      if (error instanceof TypeError || controller.signal.aborted) throw markUnreachable(error);
      throw error;
    }
    if (!response.ok) {
      throw new Error(`HTTP ${response.status} ${response.statusText}`.trimEnd());
    }
    if (response.body === null) {
      throw new Error('the response has no body');
    }
    const contentLength = Number(response.headers.get('content-length') ?? NaN);
    progress.totalBytes = Number.isSafeInteger(contentLength) ? contentLength : null;

    handle = await open(partPath, 'wx');
    onPartCreated();
    report('start');
    started = true;

    const chunks: Uint8Array[] = [];
    let lastReport = Date.now();
    for await (const chunk of response.body) {
      restartStallTimer();
      await handle.write(chunk);
      chunks.push(chunk);
      progress.receivedBytes += chunk.length;
      if (Date.now() - lastReport >= PROGRESS_INTERVAL_MS) {
        lastReport = Date.now();
        report('data');
      }
    }
    await handle.close();
    handle = undefined;
    report('done');
    return Buffer.concat(chunks);
  } catch (error) {
    if (started) report('failed');
    if (controller.signal.aborted) {
      throw markUnreachable(new Error(`timed out: no data received for ${request.stallTimeoutMs} ms`));
    }
    throw error;
  } finally {
    clearTimeout(stallTimer);
    await handle?.close();
  }
}

/**
 * Moves `from` to `to` unless `to` exists, and returns whether it did. A plain rename would
 * replace an existing file, so this links and unlinks instead. `from` is removed either way,
 * and an existing `to` is kept.
 */
async function moveWithoutOverwrite(from: string, to: string): Promise<boolean> {
  let moved = true;
  try {
    await link(from, to);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      moved = false;
    } else {
      // Some file systems (FAT, some network file systems) do not support hard links.
      await copyFile(from, to, fsConstants.COPYFILE_EXCL).catch((copyError: NodeJS.ErrnoException) => {
        if (copyError.code !== 'EEXIST') throw copyError;
        moved = false;
      });
    }
  }
  await rm(from, { force: true });
  return moved;
}

/** Returns an error's message, with the cause that Node's fetch wraps ("fetch failed") appended. */
function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  if (cause instanceof Error && cause.message) {
    return `${error.message} (${cause.message})`;
  }
  return error.message;
}

// ---------------------------------------------------------------------------------------------
// Console progress

/** Writable stream with the optional `isTTY` flag that process.stdout and process.stderr carry. */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean };

/**
 * Writes one download progress event to `stream` as a single line. On a TTY the line is
 * redrawn in place with '\r' and ends with a newline once the download finishes or fails.
 * On other streams (logs, pipes) only the start, done and failed events are written, one
 * line each.
 */
export function renderDownloadProgress(info: DownloadProgress, stream: ProgressStream = process.stderr): void {
  const total = info.totalBytes === null ? '' : ` / ${formatMegabytes(info.totalBytes)}`;
  const percent =
    info.totalBytes === null || info.totalBytes === 0
      ? ''
      : ` (${Math.min(100, Math.floor((100 * info.receivedBytes) / info.totalBytes))}%)`;
  const amount = `${formatMegabytes(info.receivedBytes)}${total}${percent}`;

  let line: string;
  switch (info.phase) {
    case 'start':
      line = `Downloading ${info.file} from ${info.url}${total && ` (${formatMegabytes(info.totalBytes!)})`}`;
      break;
    case 'data':
      line = `Downloading ${info.file}: ${amount}`;
      break;
    case 'done':
      line = `Downloaded ${info.file}: ${formatMegabytes(info.receivedBytes)}`;
      break;
    case 'failed':
      line = `Download of ${info.file} failed after ${formatMegabytes(info.receivedBytes)}`;
      break;
  }

  const finished = info.phase === 'done' || info.phase === 'failed';
  if (stream.isTTY) {
    // ESC [ K clears the rest of the line left over from a longer previous line.
    stream.write(`\r${line}\x1b[K${finished ? '\n' : ''}`);
  } else if (info.phase !== 'data') {
    stream.write(`${line}\n`);
  }
}

function formatMegabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
