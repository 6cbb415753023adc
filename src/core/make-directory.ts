/**
 * Creates a directory and its missing parents, like `mkdir -p`.
 *
 * Node's own `mkdir(path, { recursive: true })` is not used. In Node 20 (seen with 20.20.2) its
 * promise never settles for some paths that cannot be created, such as any path under /proc on
 * Linux, and a thread-pool thread spins at full CPU meanwhile. Here every missing
 * component gets its own non-recursive mkdir, whose errors (ENOENT, EACCES, ENOTDIR, EROFS)
 * reach the caller unchanged.
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

/**
 * Creates `path` and every missing parent. Succeeds without change when `path` is already a
 * directory, or a symbolic link to one.
 *
 * @throws an errno error from mkdir or stat, or EEXIST when `path` exists and is not a directory
 */
export async function makeDirectory(path: string): Promise<void> {
  const target = resolve(path);

  // Walk up to the nearest ancestor that exists, collecting the missing components.
  const missing: string[] = [];
  let current = target;
  for (;;) {
    const kind = await directoryStatus(current);
    if (kind === 'directory') break;
    if (kind === 'other') throw notDirectoryError(current);
    missing.push(current);
    const parent = dirname(current);
    if (parent === current) break;
    current = parent;
  }

  // Create them from the top down. EEXIST means another process created the component meanwhile.
  for (let index = missing.length - 1; index >= 0; index--) {
    const component = missing[index];
    try {
      await mkdir(component);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      if ((await directoryStatus(component)) !== 'directory') throw notDirectoryError(component);
    }
  }
}

/** Returns what `path` is, following symbolic links. Errors other than ENOENT propagate. */
async function directoryStatus(path: string): Promise<'directory' | 'other' | 'missing'> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'other';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
}

function notDirectoryError(path: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`EEXIST: file already exists and is not a directory, mkdir '${path}'`);
  error.code = 'EEXIST';
  error.syscall = 'mkdir';
  error.path = path;
  return error;
}
