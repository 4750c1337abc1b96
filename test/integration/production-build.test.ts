import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { parse } from 'csv-parse/sync';
import { runAlertWorkflowId, sweepScheduleId } from '../../temporal/ids';
import { PROJECT_ROOT } from '../../dev-tools/stack/paths';
import { TOOLS_DIR } from '../../dev-tools/stack/tools';
import { forgetCompanies, openStack, stackEnv, type Stack } from './helpers';
import { addTestCompany, staff, until } from './sync-kit';

const execFileAsync = promisify(execFile);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

/**
 * The production dependencies (`npm ci --omit=dev`) of this lockfile, installed once and kept in
 * the git-ignored tools folder under the lockfile's hash: a later run with the same lockfile
 * skips the install (the better part of a minute, and the network). Installed beside the cache and
 * renamed into place, so that an install cut short is never taken for a complete one.
 */
async function productionDependencies(): Promise<{ nodeModules: string; installedNow: boolean }> {
  const lockfile = await readFile(path.join(PROJECT_ROOT, 'package-lock.json'));
  const key = createHash('sha256').update(lockfile).digest('hex').slice(0, 16);
  const cached = path.join(TOOLS_DIR, 'cache', 'production-dependencies', key);
  const nodeModules = path.join(cached, 'node_modules');
  if (existsSync(nodeModules)) return { nodeModules, installedNow: false };
  const staging = `${cached}.installing-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  for (const file of ['package.json', 'package-lock.json']) {
    await copyFile(path.join(PROJECT_ROOT, file), path.join(staging, file));
  }
  await execFileAsync(npm, ['ci', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund'], { cwd: staging });
  // Another run may have installed the same lockfile meanwhile: its copy is as good as this one.
  await rename(staging, cached).catch(async (err: unknown) => {
    if (!existsSync(nodeModules)) throw err;
    await rm(staging, { recursive: true, force: true });
  });
  return { nodeModules, installedNow: true };
}

/**
 * What Temporal's core logs when the server refuses a workflow task's completion: the task then
 * times out and is retried forever, so a request would wait for nothing until its bound.
 */
const REFUSED_TASK = 'Error while completing workflow activation';

/** Collects a child's output and waits, bounded, for a line of it. */
function watch(child: ChildProcessWithoutNullStreams, name: string) {
  let output = '';
  let refuse: (err: Error) => void = () => undefined;
  /** Rejected as soon as the child logs a refused workflow task. */
  const refused = new Promise<never>((_, reject) => (refuse = reject));
  refused.catch(() => undefined);
  const collect = (d: Buffer) => {
    output += d.toString();
    const line = output.split('\n').find((l) => l.includes(REFUSED_TASK));
    if (line) refuse(new Error(`${name}: the server refused a workflow task: ${line}`));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const closed = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    closed,
    refused,
    output: () => output,
    line: (what: string, match: (line: string) => boolean, timeoutMs: number) =>
      until(
        `${name} to print ${what}`,
        async () => {
          if (child.exitCode !== null) throw new Error(`${name} exited (${child.exitCode}): ${output}`);
          return output.split('\n').find(match);
        },
        timeoutMs,
      ),
    stop: async () => {
      // Each runs in its own process group, so that npm and the node it starts stop together.
      if (child.pid && child.exitCode === null && child.signalCode === null) process.kill(-child.pid, 'SIGTERM');
      await closed;
    },
  };
}

/**
 * What a production image does: `npm run build`, then only the production dependencies
 * (`npm ci --omit=dev`) beside the built code, then `npm start` — no tsx, no TypeScript, no
 * webpack at start. The worker started so runs a sync an operator asks for with the built CLI, and
 * the run's alert workflow; the built CLI exports the run's report; the built console serves its
 * pages and assets.
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
    // The build and the install do not depend on each other: side by side.
    const [, dependencies] = await Promise.all([
      execFileAsync(
        process.execPath,
        ['--import', 'tsx', 'dev-tools/build/build.ts', '--out-dir', path.join(dir, 'dist'), '--skip-type-check'],
        { cwd: PROJECT_ROOT },
      ),
      productionDependencies(),
    ]);
    console.log(`production dependencies ${dependencies.installedNow ? 'installed' : 'reused'}`);
    await copyFile(path.join(PROJECT_ROOT, 'package.json'), path.join(dir, 'package.json'));
    await symlink(dependencies.nodeModules, path.join(dir, 'node_modules'), 'dir');
    for (const devOnly of ['tsx', 'typescript', 'tsc-alias']) {
      assert.ok(!existsSync(path.join(dir, 'node_modules', devOnly)), `${devOnly} is installed by npm ci --omit=dev`);
    }
    const bundle = await readFile(path.join(dir, 'dist', 'workflow-bundle.js'));
    const buildId = createHash('sha256').update(bundle).digest('hex').slice(0, 16);

    const company = await addTestCompany(stack, staff(3));
    companies.push(company.companyId);
    const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...stackEnv(stack), LOG_LEVEL: 'info' };
    const start = (script: string, extra: Record<string, string> = {}) =>
      spawn(npm, ['run', script], { cwd: dir, env: { ...env, ...extra }, stdio: 'pipe', detached: true });

    const worker = watch(start('start'), 'the built worker');
    // Stops the CLI when the test ends first (a refused workflow task).
    const cli = new AbortController();
    try {
      const started = JSON.parse(
        await worker.line('"Worker started"', (l) => l.includes('"Worker started"'), 120_000),
      ) as { buildId: string; taskQueue: string };
      assert.equal(started.taskQueue, stack.taskQueue);
      assert.equal(started.buildId, buildId, 'the build id is the hash of the bundle built');

      const sync = await Promise.race([
        execFileAsync(
          npm,
          ['run', 'start:cli', '--', 'sync', '--company', company.companyId, '--wait'],
          // Seconds on a quiet machine; minutes when the shared test host is loaded.
          { cwd: dir, env, timeout: 300_000, signal: cli.signal },
        ),
        worker.refused,
      ]);
      assert.match(sync.stdout, /succeeded/);
      const profiles = await stack.store.profiles.find({ companyId: company.companyId }).toArray();
      assert.equal(profiles.length, 3);

      // The run's alert workflow is in the bundle and runs on the built worker too.
      const run = await stack.store.syncRuns.findOne({ companyId: company.companyId });
      assert.ok(run, 'the run is recorded');
      const alert = stack.client.workflow.getHandle(runAlertWorkflowId(company.companyId, run._id));
      await until(
        "the run's alert workflow to complete",
        async () => {
          // Started once the run is recorded, which is what the CLI waited for: it may not exist yet.
          const status = await alert.describe().then(
            (d) => d.status.name,
            (err: unknown) => {
              if (err instanceof WorkflowNotFoundError) return undefined;
              throw err;
            },
          );
          return status === 'COMPLETED' ? true : undefined;
        },
        60_000,
      );

      const exported = await execFileAsync(
        npm,
        ['run', '--silent', 'start:cli', '--', 'report', '--company', company.companyId, '--format', 'csv'],
        { cwd: dir, env, timeout: 120_000 },
      );
      const rows: string[][] = parse(exported.stdout, { bom: true });
      assert.deepEqual(
        rows.slice(1).map((row) => row[3]),
        ['create', 'create', 'create'],
        'a header and the three creates',
      );
    } finally {
      cli.abort();
      await worker.stop();
    }
    assert.doesNotMatch(worker.output(), /"level":(50|60)/, 'no error logged by the built worker');

    const consoleServer = watch(
      start('start:console', {
        CONSOLE_PORT: '0',
        CONSOLE_SESSION_SECRET: 'production-build-test-session-secret',
        ADMIN_PASSWORD: 'production-build-test-password',
      }),
      'the built console',
    );
    try {
      const line = await consoleServer.line('its address', (l) => l.startsWith('lucca-sync console: '), 120_000);
      const url = /lucca-sync console: (\S+)/.exec(line)![1]!;
      const login = await fetch(new URL('/login', url));
      assert.equal(login.status, 200);
      assert.match(await login.text(), /<form/);
      const css = await fetch(new URL('/assets/console.css', url));
      assert.equal(css.status, 200);
      assert.equal(
        await css.text(),
        await readFile(path.join(PROJECT_ROOT, 'console', 'assets', 'console.css'), 'utf8'),
      );
    } finally {
      await consoleServer.stop();
    }
  });
});
