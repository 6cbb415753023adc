/**
 * A temporary project that uses shardnet the way an npm user does: the `npm pack` tarball is
 * extracted into its node_modules/shardnet, and the runtime dependencies are linked from this
 * repository's node_modules, so nothing is downloaded. Scripts written there import
 * 'shardnet' by name and see only the packed files.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** Reason to skip the package tests, or null when dist/ has been built. */
export function missingBuild(): string | null {
  return existsSync(join(root, 'dist', 'index.js')) ? null : 'dist/index.js is missing; run `npm run build` first (.ci/run builds it through npm ci)';
}

export interface ConsumerProject {
  dir: string;
  /** Paths inside the tarball, relative to the package root. */
  packedFiles: string[];
  remove(): void;
}

/** Packs the repository without lifecycle scripts and installs the tarball into a new temporary project. */
export function createConsumerProject(): ConsumerProject {
  const dir = mkdtempSync(join(tmpdir(), 'shardnet-consumer-'));
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: root, encoding: 'utf8' });
  if (pack.status !== 0) throw new Error(`npm pack failed with status ${pack.status}: ${pack.stderr}`);
  const [report] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];

  const packageDir = join(dir, 'node_modules', 'shardnet');
  mkdirSync(packageDir, { recursive: true });
  const untar = spawnSync('tar', ['-xzf', join(dir, report.filename), '-C', packageDir, '--strip-components=1'], { encoding: 'utf8' });
  if (untar.status !== 0) throw new Error(`tar failed with status ${untar.status}: ${untar.stderr}`);

  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  for (const name of [...Object.keys(manifest.dependencies ?? {}), '@types/node']) {
    const link = join(dir, 'node_modules', name);
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync(join(root, 'node_modules', name), link, 'dir');
  }
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'consumer', private: true, type: 'module' }, null, 2)}\n`);
  return {
    dir,
    packedFiles: report.files.map((f) => f.path),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface ScriptRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from the start to the exit. */
  wallMs: number;
  /** Milliseconds from the last output to the exit: how long the process lingered when done. */
  lingerMs: number;
}

/**
 * Runs `node <script>` in `cwd` and resolves when it exits. A process still running after
 * `timeoutMs` is killed with SIGKILL, which shows in `signal`.
 */
export function runNode(cwd: string, args: string[], options: { timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const start = performance.now();
    let lastOutput = start;
    let stdout = '';
    let stderr = '';
    const child = spawn(process.execPath, args, { cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      lastOutput = performance.now();
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      lastOutput = performance.now();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const end = performance.now();
      resolve({ code, signal, stdout, stderr, wallMs: end - start, lingerMs: end - lastOutput });
    });
  });
}
