import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { sweepScheduleId } from '../../temporal/ids';
import { PROJECT_ROOT } from '../../dev-tools/stack/paths';
import { forgetCompanies, openStack, stackEnv, type Stack } from './helpers';
import { addTestCompany, staff, until } from './sync-kit';

const execFileAsync = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * What a production image does: `npm run build`, then only the production dependencies
 * (`npm ci --omit=dev`) beside the built code, then `npm start` — no tsx, no TypeScript, no
 * webpack at start. The worker started so runs a sync an operator asks for with the built CLI.
 */
describe('the production build', () => {
  let stack: Stack;
  let dir: string;
  const companies: string[] = [];

  before(async () => {
    stack = await openStack('build');
    dir = await mkdtemp(path.join(tmpdir(), 'lucca-sync-build-'));
  });

  after(async () => {
    await forgetCompanies(stack, companies, 'test over');
    await stack.client.schedule
      .getHandle(sweepScheduleId(stack.taskQueue))
      .delete()
      .catch(() => undefined);
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  test('built and installed without dev dependencies, npm start runs the bundled workflows and syncs a company', async () => {
    await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'dev-tools/build/build.ts', '--out-dir', path.join(dir, 'dist'), '--skip-type-check'],
      { cwd: PROJECT_ROOT },
    );
    for (const file of ['package.json', 'package-lock.json']) {
      await copyFile(path.join(PROJECT_ROOT, file), path.join(dir, file));
    }
    await execFileAsync(npm, ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], {
      cwd: dir,
    });
    for (const devOnly of ['tsx', 'typescript', 'tsc-alias']) {
      assert.ok(!existsSync(path.join(dir, 'node_modules', devOnly)), `${devOnly} is installed by npm ci --omit=dev`);
    }
    const bundle = await readFile(path.join(dir, 'dist', 'workflow-bundle.js'));
    const buildId = createHash('sha256').update(bundle).digest('hex').slice(0, 16);

    const company = await addTestCompany(stack, staff(7));
    companies.push(company.companyId);
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...stackEnv(stack), LOG_LEVEL: 'info' };

    // Its own process group, so that npm and the worker it starts stop together.
    const worker = spawn(npm, ['start'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    worker.stdout.on('data', (d: Buffer) => (output += d.toString()));
    worker.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => worker.on('close', resolve));
    try {
      const started = await until(
        'the built worker to start polling',
        async () => {
          if (worker.exitCode !== null) throw new Error(`the built worker exited: ${output}`);
          const line = output.split('\n').find((l) => l.includes('"Worker started"'));
          return line ? (JSON.parse(line) as { buildId: string; taskQueue: string }) : undefined;
        },
        120_000,
      );
      assert.equal(started.taskQueue, stack.taskQueue);
      assert.equal(started.buildId, buildId, 'the build id is the hash of the bundle built');

      const { stdout } = await execFileAsync(
        npm,
        ['run', 'start:cli', '--', 'sync', '--company', company.companyId, '--wait'],
        {
          cwd: dir,
          env,
          // Seconds on a quiet machine; minutes when the shared test host is loaded (first workflow task of a fresh worker).
          timeout: 300_000,
        },
      );
      assert.match(stdout, /succeeded/);
      const profiles = await stack.store.profiles.find({ companyId: company.companyId }).toArray();
      assert.equal(profiles.length, 7);
    } finally {
      if (worker.pid && worker.exitCode === null && worker.signalCode === null) process.kill(-worker.pid, 'SIGTERM');
      await exited;
    }
    assert.doesNotMatch(output, /"level":(50|60)/, 'no error logged by the built worker');
  });
});
