import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, watch } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readCheckpoint } from '../../src/model/checkpoint.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const mnistDir = process.env.MNIST_DIR;
const TRAIN_ARGS = ['--limit', '2000', '--test-limit', '100', '--batch-size', '64', '--threads', '2', '--epochs', '3', '--checkpoint-every', '5'];
const TIMEOUT_MS = 120_000;

interface Exit {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A running train.js with promises for its exit and for text in its output. */
class TrainProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<Exit>;
  private readonly child;
  private readonly waiters: { test: () => boolean; resolve: () => void }[] = [];

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ['--import', 'tsx', 'src/train.ts', ...args], {
      cwd: root,
      env: { ...process.env, MNIST_DIR: mnistDir },
      timeout: TIMEOUT_MS,
    });
    this.child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      this.notify();
    });
    this.child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
      this.notify();
    });
    this.exited = new Promise((resolve) => {
      this.child.on('close', (status, signal) => {
        this.notify();
        resolve({ status, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  private notify(): void {
    for (const waiter of this.waiters.filter((w) => w.test())) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  }

  /** Resolves when `pattern` matches the output. Rejects when the process exits first. */
  async waitFor(stream: 'stdout' | 'stderr', pattern: RegExp): Promise<void> {
    const seen = new Promise<void>((resolve) => {
      this.waiters.push({ test: () => pattern.test(this[stream]), resolve });
      this.notify();
    });
    const exited = this.exited.then((exit) => {
      if (!pattern.test(exit[stream])) throw new Error(`train.js exited (status ${exit.status}) before ${stream} matched ${pattern}:\n${exit.stderr}`);
    });
    await Promise.race([seen, exited]);
  }

  /** Resolves when a file named `name` is created or renamed into `dir`. Rejects when the process exits first. */
  async waitForFile(dir: string, name: string): Promise<void> {
    const watcher = watch(dir);
    try {
      const created = new Promise<void>((resolve) => {
        watcher.on('change', (_event, file) => {
          if (file === name) resolve();
        });
      });
      const exited = this.exited.then((exit) => {
        throw new Error(`train.js exited (status ${exit.status}) before ${join(dir, name)} was written:\n${exit.stderr}`);
      });
      await Promise.race([created, exited]);
    } finally {
      watcher.close();
    }
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }
}

describe('train.js signals', { skip: mnistDir === undefined ? 'MNIST_DIR is not set' : false }, () => {
  const dirs: string[] = [];
  const tempDir = (prefix: string) => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(dir);
    return dir;
  };
  let reference: { report: { epochs: Record<string, unknown>[] }; weights: Buffer };

  before(() => {
    const saveDir = tempDir('shardnet-reference-');
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/train.ts', ...TRAIN_ARGS, '--checkpoint-dir', tempDir('shardnet-ckpt-'), '--json', '--save', saveDir], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, MNIST_DIR: mnistDir },
      timeout: TIMEOUT_MS,
    });
    assert.equal(result.status, 0, result.stderr);
    reference = { report: JSON.parse(result.stdout), weights: readFileSync(join(saveDir, 'weights.bin')) };
  });

  after(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('json epochs carry rssMiB', () => {
    assert.equal(reference.report.epochs.length, 3);
    for (const epoch of reference.report.epochs) {
      assert.equal(typeof epoch.rssMiB, 'number');
      assert.ok((epoch.rssMiB as number) > 1, `rssMiB ${epoch.rssMiB}`);
    }
  });

  it('SIGINT checkpoint resumes bit-identically', async () => {
    const checkpointDir = tempDir('shardnet-ckpt-');
    const saveDir = tempDir('shardnet-save-');
    const run = new TrainProcess([...TRAIN_ARGS, '--checkpoint-dir', checkpointDir, '--save', saveDir]);
    await run.waitFor('stdout', /^Epoch 1\/3 .*rssMiB: \d+\.\d$/m);
    run.kill('SIGINT');
    const exit = await run.exited;
    assert.equal(exit.status, 130, exit.stderr);
    assert.doesNotMatch(exit.stdout, /^test +loss/m, 'no final evaluation');

    const checkpoint = await readCheckpoint(checkpointDir);
    const stepsPerEpoch = Math.ceil(1800 / 64);
    const position = checkpoint.meta.epoch * stepsPerEpoch + checkpoint.meta.batch;
    const where = `checkpoint at epoch ${checkpoint.meta.epoch}, batch ${checkpoint.meta.batch}`;
    // The signal came after epoch 1's line; the end-of-epoch checkpoint follows that line.
    assert.ok(position >= stepsPerEpoch, where);
    assert.ok(position < 3 * stepsPerEpoch, where);

    // Resume with the command line that train.js printed.
    const command = /Resume with:\n {2}(.+)\n/.exec(exit.stderr);
    assert.ok(command !== null, `no resume command in: ${exit.stderr}`);
    const [file, ...args] = command[1].split(' ');
    assert.equal(args.slice(-2).join(' '), `--resume ${checkpointDir}`);
    const resumed = spawnSync(file, args, { encoding: 'utf8', env: { ...process.env, MNIST_DIR: mnistDir }, timeout: TIMEOUT_MS });
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.ok(readFileSync(join(saveDir, 'weights.bin')).equals(reference.weights), 'resumed weights differ from the uninterrupted run');
  });

  it('SIGTERM exits with 143', async () => {
    const checkpointDir = tempDir('shardnet-ckpt-');
    const run = new TrainProcess([...TRAIN_ARGS, '--checkpoint-dir', checkpointDir]);
    await run.waitFor('stdout', /^Training on /m);
    run.kill('SIGTERM');
    const exit = await run.exited;
    assert.equal(exit.status, 143, exit.stderr);
    assert.match(exit.stderr, /stopped by SIGTERM.*\n.*--resume /);
    // --checkpoint-every 5 writes after batches 5, 10, ..., so another position comes from the stop.
    const checkpoint = await readCheckpoint(checkpointDir);
    assert.notEqual(checkpoint.meta.batch % 5, 0, `checkpoint at epoch ${checkpoint.meta.epoch}, batch ${checkpoint.meta.batch}`);
  });

  it('second SIGINT exits at once', async () => {
    const checkpointDir = tempDir('shardnet-ckpt-');
    const run = new TrainProcess([...TRAIN_ARGS, '--checkpoint-dir', checkpointDir]);
    await run.waitForFile(checkpointDir, 'checkpoint.bin');
    run.kill('SIGINT');
    await run.waitFor('stderr', /received SIGINT, stopping after the current batch/);
    run.kill('SIGINT');
    const exit = await run.exited;
    assert.equal(exit.status, 130, exit.stderr);
    assert.match(exit.stderr, /received SIGINT, exiting at once/);
    assert.doesNotMatch(exit.stderr, /Resume with/);
    const checkpoint = await readCheckpoint(checkpointDir);
    assert.ok(checkpoint.meta.epoch > 0 || checkpoint.meta.batch >= 5, `checkpoint at epoch ${checkpoint.meta.epoch}, batch ${checkpoint.meta.batch}`);
  });
});

describe('train.js signals during a download', () => {
  it('SIGINT exits at once and removes the partial file', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'shardnet-download-signal-'));
    // The mirror sends the first kilobyte of a 10 MB body and then stalls.
    const mirror = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(10 * 2 ** 20) });
      response.write(Buffer.alloc(1024, 0x1f));
    });
    await new Promise<void>((done) => mirror.listen(0, '127.0.0.1', done));
    try {
      const port = (mirror.address() as AddressInfo).port;
      const train = new TrainProcess(['--data', dataDir, '--mirror', `http://127.0.0.1:${port}/`, '--epochs', '1']);
      await train.waitFor('stderr', /Downloading train-images-idx3-ubyte\.gz from http:\/\/127\.0\.0\.1/);
      assert.match(readdirSync(dataDir).join(', '), /^train-images-idx3-ubyte\.gz\.part-\d+-\d+$/);
      const start = performance.now();
      train.kill('SIGINT');
      const exit = await train.exited;
      assert.equal(exit.status, 130, exit.stderr);
      assert.match(exit.stderr, /received SIGINT, exiting at once/);
      assert.ok(performance.now() - start < 10_000, `exit took ${Math.round(performance.now() - start)} ms`);
      assert.deepEqual(readdirSync(dataDir), [], 'the partial download is removed');
    } finally {
      mirror.closeAllConnections();
      await new Promise<void>((done) => mirror.close(() => done()));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
