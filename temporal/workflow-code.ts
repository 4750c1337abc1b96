import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// Where this release's workflow code is. Run from source (tsx: dev, tests, the demo), the workers
// bundle `workflows/index.ts` with webpack as they start. Compiled (`npm run build`, `dist/`), the
// bundle was made once at build time and ships beside the compiled code: a worker loads it as it
// is, and its content hash is the build id Temporal's worker versioning knows the worker by.

const here = fileURLToPath(import.meta.url);
/** Running the compiled JavaScript of `npm run build`, not the TypeScript sources through tsx. */
export const RUNNING_COMPILED = here.endsWith('.js');
const root = path.join(path.dirname(here), '..');

/** The workflows' entry file of the code running now (`.ts` from source, `.js` compiled). */
export const WORKFLOWS_PATH = path.join(root, 'workflows', RUNNING_COMPILED ? 'index.js' : 'index.ts');

/** The workflow bundle's file name in the build's output folder (`dist/`). */
export const WORKFLOW_BUNDLE_FILE = 'workflow-bundle.js';

/** Where a compiled worker finds the bundle `npm run build` made. */
export const BUILT_WORKFLOW_BUNDLE_PATH = path.join(root, WORKFLOW_BUNDLE_FILE);

/** A bundle's build id: its content hash, so that two builds of the same workflow code share one. */
export function workflowBuildId(code: string): string {
  return createHash('sha256').update(code).digest('hex').slice(0, 16);
}

/** The bundle a compiled worker runs and its build id; fails, saying why, when the build is incomplete. */
export async function loadBuiltWorkflowBundle(): Promise<{ codePath: string; buildId: string }> {
  if (!existsSync(BUILT_WORKFLOW_BUNDLE_PATH)) {
    throw new Error(
      `The workflow bundle ${BUILT_WORKFLOW_BUNDLE_PATH} is missing: the build is incomplete, run npm run build again`,
    );
  }
  const code = await readFile(BUILT_WORKFLOW_BUNDLE_PATH, 'utf8');
  return { codePath: BUILT_WORKFLOW_BUNDLE_PATH, buildId: workflowBuildId(code) };
}
