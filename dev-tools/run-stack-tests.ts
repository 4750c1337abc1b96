import { spawn } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
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
 *   tsx dev-tools/run-stack-tests.ts timeskip    [file-filter…]   (Java 17+ and Maven)
 *
 * Integration files run two at a time (TEST_CONCURRENCY to change it): each opens its own database,
 * task queue and fake Lucca, and the servers they share are only ever killed on a private stack, so
 * they cannot see each other. Most of their time is spent waiting (for Temporal's timers, a rate
 * limit's window, a child worker), not computing, which is what a second lane wins back on 2 cores.
 * The longest files start first, so both lanes finish together.
 */
const LONGEST_FIRST = ['reliability', 'profile-rewrite', 'lucca-budget', 'operations', 'store-capabilities'];

async function main(): Promise<number> {
  const [suite = 'integration', ...filter] = process.argv.slice(2);
  const dir = path.join(PROJECT_ROOT, 'test', suite);
  const files = (await readdir(dir))
    .filter((f) => f.endsWith('.test.ts'))
    .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)))
    .sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))
    .map((f) => path.join('test', suite, f));
  if (suite === 'timeskip') {
    await ensureTool(TEMPORAL_TEST_SERVER);
    return runTests(files, 1, {});
  }
  const concurrency = suite === 'integration' ? Math.max(1, Number(process.env.TEST_CONCURRENCY ?? 2) || 1) : 1;
  const s = stackSettings();
  const started = await startStack(s, ['temporal', 'ferretdb']);
  try {
    return await runTests(files, concurrency, {
      TEMPORAL_ADDRESS: temporalAddress(s),
      MONGODB_URI: mongoUri(s),
      DEV_TEMPORAL_UI_URL: `http://127.0.0.1:${s.temporalUiPort}`,
    });
  } finally {
    if (started.length) await stopStack(started);
  }
}

function rank(file: string): number {
  const i = LONGEST_FIRST.findIndex((name) => file.startsWith(`${name}.`));
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
