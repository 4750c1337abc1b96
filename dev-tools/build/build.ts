// `npm run build`: the production build in dist/ (git-ignored). The TypeScript compiled to
// JavaScript (tsc, then tsc-alias writes the `.js` extensions Node's ES modules need into the
// relative imports), the console's static files beside its code, and the workflow bundle made
// once here, so that a worker starts without tsx, without webpack and without dev dependencies:
// `npm ci --omit=dev && npm start`. The bundle's content hash is the build id worker versioning
// knows the worker by; the build prints it.
//
//   npm run build [-- --out-dir <dir>] [--skip-type-check]
//
// The production build test builds into a folder of its own, without type-checking again what
// `npm run typecheck` has just checked (the JavaScript tsc writes is the same either way).
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { WORKFLOW_BUNDLE_FILE, workflowBuildId, WORKFLOWS_PATH } from '../../temporal/workflow-code';
import { PROJECT_ROOT } from '../stack/paths';

function run(bin: string, args: string[]): void {
  execFileSync(path.join(PROJECT_ROOT, 'node_modules', '.bin', bin), args, { cwd: PROJECT_ROOT, stdio: 'inherit' });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { 'out-dir': { type: 'string', default: 'dist' }, 'skip-type-check': { type: 'boolean', default: false } },
  });
  const outDir = path.resolve(PROJECT_ROOT, values['out-dir']);
  const started = Date.now();
  rmSync(outDir, { recursive: true, force: true });
  run('tsc', ['-p', 'tsconfig.build.json', '--outDir', outDir, ...(values['skip-type-check'] ? ['--noCheck'] : [])]);
  run('tsc-alias', ['-p', 'tsconfig.build.json', '--outDir', path.relative(PROJECT_ROOT, outDir)]);
  cpSync(path.join(PROJECT_ROOT, 'console', 'assets'), path.join(outDir, 'console', 'assets'), { recursive: true });
  // From the sources, as a worker run through tsx bundles them: one workflow code, one build id.
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: new DefaultLogger('WARN') });
  writeFileSync(path.join(outDir, WORKFLOW_BUNDLE_FILE), code);
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  console.log(
    `Built ${path.relative(PROJECT_ROOT, outDir) || outDir} in ${seconds} s; workflow bundle ${WORKFLOW_BUNDLE_FILE}, build id ${workflowBuildId(code)}`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
