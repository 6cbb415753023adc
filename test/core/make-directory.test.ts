import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { makeDirectory } from '../../src/core/make-directory.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'shardnet-mkdir-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** Rejects with a message when `promise` has not settled within `ms` milliseconds. */
async function settlesWithin<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

test('nested directories created', async () => {
  const path = join(root, 'a', 'b', 'c');
  await makeDirectory(path);
  assert.ok(statSync(path).isDirectory());
});

test('existing directory accepted', async () => {
  const path = join(root, 'existing');
  await makeDirectory(path);
  await makeDirectory(path);
  assert.ok(statSync(path).isDirectory());
});

test('concurrent calls on one path succeed', async () => {
  const path = join(root, 'race', 'x', 'y');
  await Promise.all([makeDirectory(path), makeDirectory(path), makeDirectory(join(path, 'z'))]);
  assert.ok(statSync(join(path, 'z')).isDirectory());
});

test('symbolic link to directory accepted', async () => {
  const target = join(root, 'link-target');
  await makeDirectory(target);
  const link = join(root, 'link');
  symlinkSync(target, link);
  await makeDirectory(join(link, 'inner'));
  assert.ok(statSync(join(target, 'inner')).isDirectory());
});

test('existing file at path rejected', async () => {
  const path = join(root, 'file');
  writeFileSync(path, 'x');
  await assert.rejects(makeDirectory(path), (error: NodeJS.ErrnoException) => {
    assert.equal(error.code, 'EEXIST');
    assert.match(error.message, /not a directory/);
    assert.equal(error.path, path);
    return true;
  });
});

test('file as parent rejected with ENOTDIR', async () => {
  const file = join(root, 'parent-file');
  writeFileSync(file, 'x');
  await assert.rejects(makeDirectory(join(file, 'child', 'grandchild')), { code: 'ENOTDIR' });
  assert.ok(!existsSync(join(file, 'child')));
});

test('/proc path rejected promptly', { skip: process.platform !== 'linux' && 'needs Linux /proc' }, async () => {
  await assert.rejects(settlesWithin(makeDirectory('/proc/shardnet-test/x'), 1000), (error: NodeJS.ErrnoException) => {
    assert.ok(['ENOENT', 'EACCES', 'EPERM'].includes(error.code ?? ''), `code ${error.code}: ${error.message}`);
    return true;
  });
});

const onLinux = process.platform === 'linux' ? false : 'needs Linux /proc';

for (const option of ['--save', '--report', '--checkpoint-dir']) {
  test(`train.js ${option} under /proc fails fast`, { skip: onLinux }, () => {
    const empty = mkdtempSync(join(root, 'data-'));
    const started = Date.now();
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/train.ts', option, '/proc/x', '--data', empty, '--no-download'], {
      cwd: projectRoot,
      encoding: 'utf8',
      timeout: 10_000,
    });
    const elapsedMs = Date.now() - started;

    assert.equal(result.signal, null, `killed after ${elapsedMs} ms, so train.js hung`);
    assert.equal(result.status, 2, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `expected one line, got: ${result.stderr}`);
    assert.match(lines[0], new RegExp(`^train\\.js: ${option} /proc/x: cannot create or write this directory \\((ENOENT|EACCES|EPERM)\\)`));
  });
}

// Existing paths on procfs or sysfs pass permission checks as root, but writes there fail.
const virtualCases: [string, string, RegExp][] = [
  ['--save', '/proc', /cannot create or write this directory \(on \/proc or \/sys, which hold no files\)/],
  ['--report', '/sys', /cannot create or write this directory \(on \/proc or \/sys, which hold no files\)/],
  ['--csv-log', '/proc/version', /it is not writable \(on \/proc or \/sys, which hold no files\)/],
];
for (const [option, path, pattern] of virtualCases) {
  test(`train.js ${option} ${path} rejected before training`, { skip: onLinux }, () => {
    const empty = mkdtempSync(join(root, 'data-'));
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/train.ts', option, path, '--data', empty, '--no-download'], {
      cwd: projectRoot,
      encoding: 'utf8',
      timeout: 10_000,
    });
    assert.equal(result.status, 2, result.stderr);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `expected one line, got: ${result.stderr}`);
    assert.match(lines[0], new RegExp(`^train\\.js: ${option} ${path}: `));
    assert.match(lines[0], pattern);
  });
}
