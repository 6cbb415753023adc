/**
 * Throughput of the Keras MNIST CNN in shardnet, TensorFlow.js (wasm and cpu backends) and
 * PyTorch on the same machine, side by side. Every engine trains on batches of 128 synthetic
 * samples, except tfjs's cpu backend (see bench/tfjs.bench.ts).
 *
 * PyTorch is optional: it runs only where a Python interpreter can `import torch` (on Debian,
 * `apt-get install python3-torch`), and is skipped with a logged reason otherwise. Set $PYTHON
 * to choose the interpreter.
 *
 * Run: node --import tsx bench/compare.ts [threads...] [--no-shardnet] [--no-tfjs] [--no-tfjs-cpu] [--no-pytorch]
 */
import { execFile } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs, promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export interface PytorchResult {
  threads: number;
  trainSamplesPerSecond: number;
  /** torch.__version__ of the interpreter that ran the script. */
  torch: string;
  /** Interpreter command that ran bench/pytorch_mnist.py. */
  python: string;
}

export interface PytorchBenchOptions {
  /** Receives the reason when PyTorch is skipped. Default console.warn. */
  log?: (message: string) => void;
  /** Timed training steps per thread count. Default 20. */
  batches?: number;
}

export interface ComparisonRow {
  engine: string;
  /** Threads the engine computes on. */
  threads: number;
  trainSamplesPerSecond: number;
  /** Null where the engine's bench measures training only (PyTorch). */
  inferenceSamplesPerSecond: number | null;
}

export interface ComparisonOptions {
  /** Thread counts for shardnet's worker pool and PyTorch's intra-op pool. Default [1, 2]. */
  threads?: number[];
  shardnet?: boolean;
  tfjs?: boolean;
  /** Also time tfjs's pure-JS cpu backend (about 25 s on a 2-core x86 VM). */
  tfjsCpu?: boolean;
  pytorch?: boolean;
  log?: (message: string) => void;
}

const REPOSITORY_ROOT = fileURLToPath(new URL('..', import.meta.url));
const PYTORCH_SCRIPT = fileURLToPath(new URL('./pytorch_mnist.py', import.meta.url));
const SHARDNET_SCRIPT = fileURLToPath(new URL('./train-step.bench.ts', import.meta.url));
const BENCH_TIMEOUT_MS = 10 * 60 * 1000;

/**
 * Finds an interpreter that imports torch: $PYTHON if set, else `python3` and then
 * `/usr/bin/python3`. The second candidate matters because Debian's python3-torch installs for
 * the system interpreter, which a pyenv or virtualenv `python3` earlier on PATH does not see.
 */
export async function findTorchPython(): Promise<{ python: string; torch: string } | { reason: string }> {
  const candidates = process.env.PYTHON ? [process.env.PYTHON] : ['python3', '/usr/bin/python3'];
  const failures: string[] = [];
  for (const python of candidates) {
    try {
      const { stdout } = await execFileAsync(python, ['-c', 'import torch; print(torch.__version__)'], { timeout: 60_000 });
      return { python, torch: stdout.trim() };
    } catch (error) {
      // A missing interpreter fails with ENOENT and no stderr, a missing module with a traceback.
      const stderr = (error as { stderr?: string }).stderr?.trim();
      failures.push(`${python}: ${stderr ? stderr.split('\n').pop() : (error as Error).message}`);
    }
  }
  return { reason: `python3-torch not installed (${failures.join('; ')})` };
}

/**
 * Parses the last stdout line of a bench script as JSON and checks that `numberFields` are
 * numbers. Throws naming the script and the line otherwise.
 */
function parseResultLine(stdout: string, script: string, numberFields: string[]): Record<string, unknown> {
  const lastLine = stdout.trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(lastLine);
  } catch {
    throw new Error(`${script} printed no JSON line; last line: '${lastLine}'`);
  }
  const record = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const missing = numberFields.filter((field) => typeof record[field] !== 'number');
  if (missing.length > 0) throw new Error(`${script} output is missing numeric fields ${missing.join(', ')}: '${lastLine}'`);
  return record;
}

/**
 * Runs bench/pytorch_mnist.py once per thread count, one after another. Returns null, after
 * logging why, where no interpreter can import torch.
 */
export async function runPytorchBench(threads: number[], options: PytorchBenchOptions = {}): Promise<PytorchResult[] | null> {
  const log = options.log ?? console.warn;
  const found = await findTorchPython();
  if ('reason' in found) {
    log(`PyTorch bench skipped: ${found.reason}`);
    return null;
  }
  const results: PytorchResult[] = [];
  for (const count of threads) {
    const args = [PYTORCH_SCRIPT, String(count)];
    if (options.batches !== undefined) args.push('--batches', String(options.batches));
    const { stdout } = await execFileAsync(found.python, args, { timeout: BENCH_TIMEOUT_MS });
    const record = parseResultLine(stdout, 'bench/pytorch_mnist.py', ['threads', 'trainSamplesPerSecond']);
    results.push({ threads: record.threads as number, trainSamplesPerSecond: record.trainSamplesPerSecond as number, torch: found.torch, python: found.python });
  }
  return results;
}

/**
 * Runs the selected engines' benches in turn and returns one row per engine and thread count.
 * shardnet and PyTorch run in child processes. tfjs loads on demand, so callers of
 * runPytorchBench alone never load it.
 */
export async function runComparison(options: ComparisonOptions = {}): Promise<ComparisonRow[]> {
  const threads = options.threads ?? [1, 2];
  const log = options.log ?? console.log;
  const rows: ComparisonRow[] = [];

  if (options.shardnet ?? true) {
    // One process per thread count, as bench/train-step.bench.ts expects, so each peak RSS is its own.
    for (const count of threads) {
      const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', SHARDNET_SCRIPT, String(count)], {
        cwd: REPOSITORY_ROOT,
        timeout: BENCH_TIMEOUT_MS,
      });
      const record = parseResultLine(stdout, 'bench/train-step.bench.ts', ['trainSamplesPerSecond', 'inferenceSamplesPerSecond']);
      rows.push({
        engine: 'shardnet',
        threads: count,
        trainSamplesPerSecond: record.trainSamplesPerSecond as number,
        inferenceSamplesPerSecond: record.inferenceSamplesPerSecond as number,
      });
    }
  }

  if (options.tfjs ?? true) {
    const { runTfjsBench } = await import('./tfjs.bench.js');
    for (const result of await runTfjsBench({ cpu: options.tfjsCpu ?? true })) {
      // tfjs-backend-wasm 4.22.0 turns WASM_HAS_MULTITHREAD_SUPPORT off under Node, and the cpu
      // backend is plain JS, so both compute on the main thread.
      rows.push({ engine: `tfjs-${result.backend}`, threads: 1, trainSamplesPerSecond: result.trainSamplesPerSecond, inferenceSamplesPerSecond: result.inferenceSamplesPerSecond });
      for (const note of result.notes) log(note);
    }
  }

  if (options.pytorch ?? true) {
    const results = await runPytorchBench(threads, { log });
    for (const result of results ?? []) {
      rows.push({ engine: `pytorch ${result.torch}`, threads: result.threads, trainSamplesPerSecond: result.trainSamplesPerSecond, inferenceSamplesPerSecond: null });
    }
  }
  return rows;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      'no-shardnet': { type: 'boolean', default: false },
      'no-tfjs': { type: 'boolean', default: false },
      'no-tfjs-cpu': { type: 'boolean', default: false },
      'no-pytorch': { type: 'boolean', default: false },
    },
  });
  const threads = positionals.map(Number);
  if (threads.some((count) => !Number.isInteger(count) || count < 1)) {
    throw new RangeError(`thread counts must be positive integers, got ${positionals.join(' ')}`);
  }
  const rows = await runComparison({
    threads: threads.length > 0 ? threads : [1, 2],
    shardnet: !values['no-shardnet'],
    tfjs: !values['no-tfjs'],
    tfjsCpu: !values['no-tfjs-cpu'],
    pytorch: !values['no-pytorch'],
  });
  if (rows.length === 0) {
    console.log('No engine produced a result.');
  } else {
    console.table(
      rows.map((row) => ({
        engine: row.engine,
        threads: row.threads,
        'train samples/s': Number(row.trainSamplesPerSecond.toFixed(1)),
        'inference samples/s': row.inferenceSamplesPerSecond === null ? '-' : Number(row.inferenceSamplesPerSecond.toFixed(1)),
      })),
    );
  }
}
