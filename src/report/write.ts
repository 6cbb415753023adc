/** Writing the training report to disk. */
import { join } from 'node:path';
import { writeFileAtomically } from '../core/atomic-write.js';
import { makeDirectory } from '../core/make-directory.js';
import { type ReportData, renderReport } from './html.js';

/** File name of the report inside the report directory. */
export const REPORT_FILE = 'report.html';

/**
 * Renders `data` and writes it to `dir`/report.html, creating `dir` if needed. The file is
 * replaced atomically, so a reader sees the old report or the new one, never a partial file.
 * Returns the path written.
 */
export async function writeReport(dir: string, data: ReportData): Promise<string> {
  const html = renderReport(data);
  await makeDirectory(dir);
  const path = join(dir, REPORT_FILE);
  await writeFileAtomically(path, html);
  return path;
}
