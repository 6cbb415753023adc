import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { CHECKPOINT_FILE, readCheckpoint } from '../../src/model/checkpoint.js';

const writer = fileURLToPath(new URL('./fixtures/checkpoint-writer.ts', import.meta.url));

/**
 * Starts the writer, waits for `batches` batch lines and then `delayMs` more, and kills it with
 * SIGKILL. The delays spread the kills over the whole write cycle; they are the point of the
 * test, not a way to wait for something.
 */
function killAfter(dir: string, batches: number, delayMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', writer, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let seen = 0;
    let scheduled = false;
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr += String(chunk);
    });
    child.stdout.on('data', (chunk: Buffer) => {
      seen += String(chunk).split('\n').filter((line) => line === 'batch').length;
      if (seen >= batches && !scheduled) {
        scheduled = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`writer exited with code ${code} before it was killed: ${stderr}`));
    });
  });
}

test('SIGKILL during checkpointing leaves one loadable', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shardnet-kill-'));
  try {
    // Kill at different points of the write cycle; every time the last complete file loads.
    // The write for batch 1 finishes before batch 2 ends, so a file exists from the first kill.
    for (let round = 0; round < 12; round++) {
      const batches = 2 + (round % 4);
      await killAfter(dir, batches, round * 3);
      assert.ok(existsSync(join(dir, CHECKPOINT_FILE)), `a checkpoint exists after ${batches} batches`);
      const checkpoint = await readCheckpoint(dir);
      assert.ok(checkpoint.weights.length > 0, `checkpoint after ${batches} batches has weights`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
