import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Everything the dev stack writes at run time: SQLite files, logs, pid files. Git-ignored. */
export const DATA_DIR = path.join(PROJECT_ROOT, '.data');
