/**
 * Atomic file replacement: the bytes go to a temporary file in the same directory, which is
 * flushed to disk and renamed over the target, and then the directory is flushed so the
 * rename survives a crash. A crash before the rename leaves the old file intact and may leave
 * a `<name>.tmp-<pid>-<n>` file behind. Readers ignore such files, a failed write removes its
 * own, and the next successful write removes those of processes that no longer run.
 */
import { open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { processExists } from './process-exists.js';

let temporaryCount = 0;

/** Removes temporary files of `path` that crashed writers left; errors are ignored. */
async function removeStaleTemporaries(path: string): Promise<void> {
  const prefix = `${basename(path)}.tmp-`;
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch {
    return;
  }
  for (const name of names) {
    const match = name.startsWith(prefix) ? /^(\d+)-\d+$/.exec(name.slice(prefix.length)) : null;
    if (match === null) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || processExists(pid)) continue;
    await unlink(join(dirname(path), name)).catch(() => undefined);
  }
}

export async function writeFileAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}-${temporaryCount++}`;
  try {
    const handle = await open(temporary, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await unlink(temporary).catch(() => undefined);
    throw error;
  }
  const dirHandle = await open(dirname(path), 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
  await removeStaleTemporaries(path);
}
