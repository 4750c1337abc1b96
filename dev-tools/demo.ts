import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { ObjectId } from 'mongodb';
import { loadConfig } from '../config/env';
import { connectMongo, platformCollections } from '../db/mongo';
import { startDemoConsole } from '../console/demo';
import { getSyncReport, onboardCompany, openOperationsContext, type OperationsContext } from '../operations';
import { generateLuccaUsers, startFakeLucca, type FakeLucca, type LuccaRawUser } from './fake-lucca';
import { localDate } from './fake-lucca/dates';
import { formatReport } from '../operations/terminal-format';
import { DATA_DIR, PROJECT_ROOT } from './stack/paths';
import { waitWithProgress } from '../operations/terminal-progress';
import { mongoUri, stackSettings, startStack, stopStack, temporalAddress } from './stack/stack';

/**
 * `npm run demo`: the whole story on one machine. Builds the tools if needed, starts Temporal
 * (with its UI) and FerretDB, serves a realistic company on a fake Lucca, seeds a few platform
 * profiles that onboarding will attach, runs a worker, onboards, waits for the first sync and
 * prints its report — then stays up until Ctrl-C and stops all it started.
 */

interface DemoOptions {
  company: string;
  size: number;
  preexisting: number;
  luccaPort: number;
  settings: string;
  exitAfterFirstSync: boolean;
}

const program = new Command('demo')
  .description('Run lucca-sync end to end on the local stack with a fake Lucca company')
  .option('--company <id>', 'company id (also the fake Lucca tenant)', 'acme')
  .option('--size <n>', 'employees in the fake Lucca company', integer, 3000)
  .option('--preexisting <n>', 'platform profiles that exist before onboarding (attached by email)', integer, 25)
  .option('--lucca-port <port>', 'fake Lucca port (another free port if taken)', integer, 4010)
  .option('--settings <path>', 'where the demo keeps its settings (secret included)', path.join(DATA_DIR, 'demo.env'))
  .option('--exit-after-first-sync', 'stop everything once the first sync is reported (CI)', false)
  .option('--ci', 'same as --exit-after-first-sync');

function integer(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a non-negative integer');
  return n;
}

const say = (line = '') => process.stdout.write(`${line}\n`);

/** Paths in printed commands: relative inside the project (where `npm run` runs), absolute elsewhere. */
function displayPath(file: string): string {
  const relative = path.relative(PROJECT_ROOT, file);
  return relative.startsWith('..') ? path.resolve(file) : relative;
}

/** The demo's settings, written where the printed commands can find them; the secret is generated once and kept. */
async function writeDemoEnv(file: string, values: Record<string, string>): Promise<Record<string, string>> {
  const previous = await readFile(file, 'utf8').catch(() => '');
  const secret =
    process.env.LUCCA_SYNC_SECRET ??
    /^LUCCA_SYNC_SECRET=(.+)$/m.exec(previous)?.[1]?.trim() ??
    randomBytes(32).toString('base64url');
  const settings = { ...values, LUCCA_SYNC_SECRET: secret };
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(
    file,
    `# Written by \`npm run demo\`: use with \`npm run cli -- --settings ${displayPath(file)} <command>\`.\n` +
      Object.entries(settings)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n') +
      '\n',
    { mode: 0o600 },
  );
  return settings;
}

async function startLucca(port: number): Promise<FakeLucca> {
  try {
    return await startFakeLucca({ port });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    say(`Port ${port} is taken (the dev stack's fake Lucca?): the demo's fake Lucca takes another one.`);
    return startFakeLucca({ port: 0 });
  }
}

/** Profiles made by hand or CSV before the company connected Lucca: same emails, a few stale values. */
function preexistingProfiles(companyId: string, users: LuccaRawUser[], count: number) {
  const now = new Date();
  return users
    .filter((u) => u.id > 60 && u.mail && u.dtContractEnd === null)
    .slice(0, count)
    .map((u, i) => ({
      _id: new ObjectId(),
      companyId,
      firstName: i % 3 === 0 ? String(u.firstName).toLowerCase() : u.firstName,
      lastName: u.lastName,
      email: String(u.mail).toLowerCase(),
      birthDate: null,
      contractStart: null,
      contractEnd: null,
      status: 'active' as const,
      createdAt: now,
      updatedAt: now,
    }));
}

function startWorker(settingsPath: string, env: Record<string, string>): { child: ChildProcess; log: string } {
  const log = path.join(DATA_DIR, 'logs', 'demo-worker.log');
  const fd = openSync(log, 'a');
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(PROJECT_ROOT, 'workers', 'start.ts'), '--settings', settingsPath],
    { cwd: PROJECT_ROOT, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } },
  );
  closeSync(fd);
  return { child, log };
}

async function stopWorker(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

async function main(): Promise<number> {
  const opts = program.parse().opts<DemoOptions & { ci?: boolean }>();
  const exitAfterFirstSync = opts.exitAfterFirstSync || opts.ci === true;
  const s = stackSettings();
  const cleanups: (() => Promise<unknown>)[] = [];
  const cleanup = async () => {
    for (const fn of cleanups.reverse()) await fn().catch((err: unknown) => say(`cleanup: ${String(err)}`));
  };

  try {
    say('▶ Starting Temporal (with its Web UI) and FerretDB — the first time builds them from Go modules…');
    const started = await startStack(s, ['temporal', 'ferretdb']);
    if (started.length) cleanups.push(() => stopStack(started));

    const lucca = await startLucca(opts.luccaPort);
    cleanups.push(() => lucca.close());
    const tenant = opts.company;
    const apiKey = randomUUID().toUpperCase();
    const users = generateLuccaUsers({ size: opts.size, seed: 42, today: localDate() });
    lucca.addTenant(tenant, { users, apiKeys: [{ key: apiKey, principal: 'lucca-sync demo key' }] });
    const keyFile = path.join(DATA_DIR, 'demo-lucca.key');
    await writeFile(keyFile, `${apiKey}\n`, { mode: 0o600 });
    say(
      `▶ Fake Lucca: ${users.length} employees (leavers, future hires, rehires, accents, duplicates, missing emails) at ${lucca.tenantUrl(tenant)}`,
    );

    const settings = await writeDemoEnv(opts.settings, {
      TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS ?? temporalAddress(s),
      MONGODB_URI: mongoUri(s),
      MONGODB_DB: process.env.MONGODB_DB ?? 'lucca_sync_demo',
      LUCCA_ALLOWED_HOSTS: lucca.url,
      TASK_QUEUE: process.env.TASK_QUEUE ?? 'lucca-sync',
    });
    const config = loadConfig({ ...process.env, ...settings });
    const ctx: OperationsContext = await openOperationsContext(config);
    cleanups.push(() => ctx.close());

    // The demo's own database starts empty each time, so the first sync tells the whole story.
    // The platform's own import, as it writes them: past lucca-sync's repositories.
    const platform = await connectMongo(config.MONGODB_URI, config.MONGODB_DB);
    const { profiles } = platformCollections(platform.db);
    await profiles.deleteMany({ companyId: opts.company });
    const seeded = preexistingProfiles(opts.company, users, opts.preexisting);
    if (seeded.length) await profiles.insertMany(seeded);
    await platform.client.close();
    say(
      `▶ Platform: ${seeded.length} profiles already exist (CSV import, self-signup) with the same emails as Lucca users`,
    );

    const web = await startDemoConsole(ctx, { temporalUiUrl: `http://localhost:${s.temporalUiPort}` });
    cleanups.push(() => web.close());

    const worker = startWorker(opts.settings, settings);
    cleanups.push(() => stopWorker(worker.child));
    const workerDied = new Promise<never>((_, reject) =>
      worker.child.once('exit', (code) =>
        reject(new Error(`The worker exited (code ${code}); see ${path.relative(PROJECT_ROOT, worker.log)}`)),
      ),
    );
    workerDied.catch(() => undefined);
    say(`▶ Worker started (pid ${worker.child.pid}, log ${path.relative(PROJECT_ROOT, worker.log)})`);

    const onboarded = await onboardCompany(ctx, {
      companyId: opts.company,
      name: `${opts.company} (demo)`,
      luccaUrl: lucca.tenantUrl(tenant),
      apiKey,
      every: '24h',
      requestedBy: 'demo',
    });
    say(
      `▶ Onboarded ${opts.company}: key checked against Lucca, stored encrypted (hint …${onboarded.apiKeyHint}), schedule ${onboarded.schedule} (every 24h)`,
    );
    say(
      onboarded.firstSync.queued
        ? '▶ Waiting for the first sync (queued until the worker, still starting, polls its task queue)…'
        : '▶ Waiting for the first sync…',
    );
    // The worker was just started: it may take a while to poll (it bundles the workflows first), and
    // if it dies the wait ends at once.
    const wait = { timeoutMs: 15 * 60_000, noWorkerWaitMs: 15 * 60_000 };
    const run = await Promise.race([waitWithProgress(ctx, onboarded.firstSync, wait), workerDied]);

    say();
    if (run.status !== 'succeeded') {
      say(`✖ First sync ${run.status}: ${run.error?.code ?? ''} ${run.error?.message ?? ''}`);
      return 1;
    }
    say('✔ First sync succeeded');
    say();
    const report = await getSyncReport(ctx, { companyId: opts.company, runId: run._id, perAction: 3 });
    say(formatReport(report).join('\n'));

    const env = `--settings ${displayPath(opts.settings)}`;
    const query = encodeURIComponent(`CompanyId="${opts.company}"`);
    say();
    say(
      `Temporal UI (this company's workflows): http://localhost:${s.temporalUiPort}/namespaces/default/workflows?query=${query}`,
    );
    say(`Schedules:                              http://localhost:${s.temporalUiPort}/namespaces/default/schedules`);
    say(`Admin console (Lucca integration tab):  ${web.url}  — log in as ${web.user} / ${web.password}`);
    say();
    say('Try next (in another terminal):');
    say(`  npm run cli -- ${env} sync --company ${opts.company} --wait              # sync now`);
    say(`  npm run cli -- ${env} sync --company ${opts.company} --dry-run --wait    # plan only, write nothing`);
    say(`  npm run cli -- ${env} report --company ${opts.company}                   # the latest report`);
    say(`  npm run cli -- ${env} status`);
    say(`  npm run cli -- ${env} schedule --company ${opts.company} --every 12h`);
    say(
      `  .tools/bin/temporal workflow signal --address ${settings.TEMPORAL_ADDRESS} --workflow-id company-sync:${opts.company} --name syncNow --input '{"requestedBy":"temporal-cli"}'`,
    );
    say(`  (the fake Lucca key is in ${path.relative(PROJECT_ROOT, keyFile)}; its control API is ${lucca.url}/__fake)`);

    if (exitAfterFirstSync) return 0;
    say();
    say('Running. Press Ctrl-C to stop everything the demo started.');
    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    say('\nStopping…');
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
