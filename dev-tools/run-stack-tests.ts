import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeWorkflowBundle } from './child-worker/child-worker';
import { PROJECT_ROOT } from './stack/paths';
import { mongoUri, stackSettings, startStack, stopStack, temporalAddress } from './stack/stack';
import { ensureTool, TEMPORAL_TEST_SERVER } from './stack/tools';

/**
 * Runs a folder of tests against the real Temporal dev server and FerretDB (or the MongoDB given
 * by MONGODB_URI): starts what is not already running, runs the tests, then stops only what it
 * started, so a stack kept running for development is left alone. The `timeskip` tests need no
 * stack: each file starts Temporal's time-skipping test server, fetched here first (on first use).
 *
 *   tsx dev-tools/run-stack-tests.ts integration [file-filter…]
 *   tsx dev-tools/run-stack-tests.ts browser     [file-filter…]   (Chromium: dev-tools/setup/setup-browser.sh)
 *   tsx dev-tools/run-stack-tests.ts integration browser fleet      (the three folders on one stack: `npm test`)
 *   tsx dev-tools/run-stack-tests.ts timeskip    [file-filter…]   (Java 17+ and Maven)
 *
 * Stack files run four at a time (TEST_CONCURRENCY to change it): each opens its own database,
 * task queue, fake Lucca (and console on a free port), and the servers they share are only ever
 * killed on a private stack, so they cannot see each other. The longest files start first, so the
 * lanes finish together. More lanes than the 2 cores: much of a file's time is a wait (a rate
 * limit's window, a timer, a heartbeat timeout after a kill, a child worker starting): on a quiet
 * machine, one run after the other, the stack suite took 750 s with three lanes and 822 s with two. The workflow code is bundled
 * once here, from the working tree, and every file's workers load that bundle
 * (TEST_WORKFLOW_BUNDLE) instead of bundling it again.
 */
const SUITES = ['integration', 'browser', 'timeskip', 'fleet'];
const LONGEST_FIRST = ['fleet', 'reliability', 'lucca-budget', 'profile-rewrite', 'operations', 'store-capabilities'];

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const suites = args.filter((a) => SUITES.includes(a));
  const filter = args.filter((a) => !SUITES.includes(a));
  if (suites.length === 0) suites.push('integration');
  if (suites.includes('timeskip') && suites.length > 1) throw new Error('timeskip runs alone: it needs no stack');
  const files: string[] = [];
  for (const suite of suites) {
    for (const f of await readdir(path.join(PROJECT_ROOT, 'test', suite))) {
      if (f.endsWith('.test.ts') && (filter.length === 0 || filter.some((part) => f.includes(part)))) {
        files.push(path.join('test', suite, f));
      }
    }
  }
  files.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  if (suites[0] === 'timeskip') {
    await ensureTool(TEMPORAL_TEST_SERVER);
    return runTests(files, 1, {});
  }
  const concurrency = Math.max(1, Number(process.env.TEST_CONCURRENCY ?? 4) || 1);
  const s = stackSettings();
  const bundleDir = await mkdtemp(path.join(os.tmpdir(), 'lucca-sync-tests-'));
  try {
    const bundle = await writeWorkflowBundle(path.join(bundleDir, 'workflows.js'));
    const started = await startStack(s, ['temporal', 'ferretdb']);
    try {
      return await runTests(files, concurrency, {
        TEMPORAL_ADDRESS: temporalAddress(s),
        MONGODB_URI: mongoUri(s),
        DEV_TEMPORAL_UI_URL: `http://127.0.0.1:${s.temporalUiPort}`,
        TEST_WORKFLOW_BUNDLE: bundle,
      });
    } finally {
      if (started.length) await stopStack(started);
    }
  } finally {
    await rm(bundleDir, { recursive: true, force: true });
  }
}

function rank(file: string): number {
  const i = LONGEST_FIRST.findIndex((name) => path.basename(file).startsWith(`${name}.`));
  return i === -1 ? LONGEST_FIRST.length : i;
}

async function runTests(files: string[], concurrency: number, env: Record<string, string>): Promise<number> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-reporter=spec', ...files],
    { cwd: PROJECT_ROOT, stdio: 'inherit', env: { ...process.env, ...env } },
  );
  return new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
