/**
 * Atomic file replacement: the bytes go to a temporary file in the same directory, which is
 * flushed to disk and renamed over the target, and then the directory is flushed so the
 * rename survives a crash. A crash before the rename leaves the old file intact; it may leave
 * a `<name>.tmp-<pid>-<n>` file behind, which readers ignore.
 */
import { open, rename } from 'node:fs/promises';
import { dirname } from 'node:path';

let temporaryCount = 0;

export async function writeFileAtomically(path: string, data: Uint8Array | string): Promise<void> {
  const temporary = `${path}.tmp-${process.pid}-${temporaryCount++}`;
  const handle = await open(temporary, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temporary, path);
  const dirHandle = await open(dirname(path), 'r');
  try {
    await dirHandle.sync();
  } finally {
    await dirHandle.close();
  }
}
