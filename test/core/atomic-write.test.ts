import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';

import { writeFileAtomically } from '../../src/core/atomic-write.js';

const root = mkdtempSync(join(tmpdir(), 'shardnet-atomic-'));
after(() => rmSync(root, { recursive: true, force: true }));

/** A process id above Linux's largest pid_max (2^22), so no process has it. */
const DEAD_PID = 9_999_999;

test('writes and replaces the file', async () => {
  const dir = mkdtempSync(join(root, 'replace-'));
  const path = join(dir, 'data.bin');
  await writeFileAtomically(path, 'first');
  await writeFileAtomically(path, 'second');
  assert.equal(readFileSync(path, 'utf8'), 'second');
  assert.deepEqual(readdirSync(dir), ['data.bin']);
});

test('a failed rename removes its temporary file', async () => {
  const dir = mkdtempSync(join(root, 'failed-'));
  const path = join(dir, 'data.bin');
  // A non-empty directory at the target makes the rename fail.
  mkdirSync(path);
  writeFileSync(join(path, 'inside'), 'x');
  await assert.rejects(writeFileAtomically(path, 'bytes'), (error: NodeJS.ErrnoException) => {
    assert.ok(['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(error.code ?? ''), `code ${error.code}`);
    return true;
  });
  assert.deepEqual(readdirSync(dir), ['data.bin']);
});

test('removes temporaries of dead writers only', async () => {
  const dir = mkdtempSync(join(root, 'stale-'));
  const path = join(dir, 'data.bin');
  const stale = `data.bin.tmp-${DEAD_PID}-3`;
  const live = `data.bin.tmp-${process.ppid}-0`;
  const other = `other.bin.tmp-${DEAD_PID}-0`;
  for (const name of [stale, live, other]) writeFileSync(join(dir, name), 'partial');
  await writeFileAtomically(path, 'bytes');
  assert.deepEqual(readdirSync(dir).sort(), ['data.bin', live, other].sort());
});
