import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { PROJECT_ROOT } from './lib/paths';
import { mongoUri, stackSettings, startStack, stopStack, temporalAddress } from './lib/stack';

/**
 * `npm run test:browser`: the console's browser tests (Playwright driving the system Chromium)
 * against the real Temporal dev server and FerretDB. Starts what is not running, runs the tests
 * (each file starts its own worker, fake Lucca and console in-process), then stops only what it
 * started. Chromium comes from `scripts/setup-browser.sh`; nothing is downloaded at run time.
 */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

async function main(): Promise<number> {
  if (!existsSync(CHROMIUM_PATH)) {
    console.error(
      `Chromium is not installed at ${CHROMIUM_PATH}: run \`bash scripts/setup-browser.sh\` (as root) first.`,
    );
    return 1;
  }
  const s = stackSettings();
  const started = await startStack(s, ['temporal', 'ferretdb']);
  try {
    const dir = path.join(PROJECT_ROOT, 'test', 'browser');
    const filter = process.argv.slice(2);
    const files = (await readdir(dir))
      .filter((f) => f.endsWith('.test.ts'))
      .filter((f) => filter.length === 0 || filter.some((part) => f.includes(part)))
      .sort()
      .map((f) => path.join('test', 'browser', f));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-reporter=spec', ...files],
      {
        cwd: PROJECT_ROOT,
        stdio: 'inherit',
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: temporalAddress(s),
          MONGODB_URI: mongoUri(s),
          CHROMIUM_PATH,
          DEV_TEMPORAL_UI_URL: `http://127.0.0.1:${s.temporalUiPort}`,
        },
      },
    );
    return await new Promise<number>((resolve) => child.on('close', (code) => resolve(code ?? 1)));
  } finally {
    if (started.length) await stopStack(started);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exit(1);
  },
);
