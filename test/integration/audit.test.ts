import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Worker } from '@temporalio/worker';
import { loadConfig } from '../../config/env';
import { buildConsole } from '../../console/server';
import { AuditLogRepository, type AuditEntry, type NewAuditEntry } from '../../db/audit-log-repository';
import type { OperationsDeps } from '../../operations';
import { generateLuccaUsers } from '../../dev-tools/fake-lucca';
import { onboardCompany } from '../../operations/onboard';
import { logIn, settingsWithAdmin } from './console-kit';
import { until } from './sync-kit';
import { createWorker, forgetCompanies, newApiKey, openStack, uniqueSuffix, type Stack, stackEnv } from './helpers';

const CLI = path.join(import.meta.dirname, '..', '..', 'scripts', 'cli.ts');
const OPERATOR = { user: 'olga', password: `operator-${randomBytes(6).toString('hex')}` };
const KEEP_ALL = new Date(0);
/** Small buckets, so that a few entries cross several of them. */
const BUCKET_SIZE = 4;

const entry = (companyId: string, i: number, at = new Date()): NewAuditEntry => ({
  at,
  companyId,
  actor: 'alice',
  source: 'cli',
  action: 'sync',
  params: { dryRun: false, i },
  outcome: 'ok',
  code: null,
});

describe('the audit log, on the real stack', () => {
  let stack: Stack;
  let worker: Worker;
  let running: Promise<void>;
  let env: NodeJS.ProcessEnv;
  let deps: OperationsDeps;
  let auditLog: AuditLogRepository;
  const companies: string[] = [];

  before(async () => {
    stack = await openStack('audit');
    worker = await createWorker(stack, { temporal: { client: stack.client, taskQueue: stack.taskQueue } });
    running = worker.run();
    env = { PATH: process.env.PATH, HOME: process.env.HOME, ...stackEnv(stack) };
    deps = { repos: stack.repos, client: stack.client, config: loadConfig(env) };
    auditLog = new AuditLogRepository(stack.db, { bucketSize: BUCKET_SIZE });
  });

  after(async () => {
    await forgetCompanies(stack, companies, 'test over');
    worker.shutdown();
    await running;
    await stack.close();
  });

  /** A Lucca tenant with a key, and a company id for it. */
  function tenant(): { companyId: string; apiKey: string; url: string } {
    const companyId = `audit-${uniqueSuffix()}`;
    const apiKey = newApiKey();
    stack.lucca.addTenant(companyId, {
      users: generateLuccaUsers({ size: 20, seed: 5, today: '2026-06-15' }),
      apiKeys: [{ key: apiKey }],
      today: '2026-06-15',
      rateLimit: false,
    });
    companies.push(companyId);
    return { companyId, apiKey, url: stack.lucca.tenantUrl(companyId) };
  }

  const allEntries = (companyId: string) => auditLog.list(companyId, { limit: 10_000 }, KEEP_ALL);

  test('concurrent appends lose nothing, and listing pages newest first across buckets', async () => {
    const companyId = `audit-${uniqueSuffix()}`;
    // Ten buckets and then some: every listing crosses bucket boundaries many times.
    const total = 10 * BUCKET_SIZE + 2;
    // Ten writers at a time: unguarded, FerretDB loses about half of such concurrent appends.
    for (let i = 0; i < total; i += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, total - i) }, (_, k) => auditLog.append(entry(companyId, i + k), KEEP_ALL)),
      );
    }
    const all = await allEntries(companyId);
    assert.deepEqual(
      all.map((e) => e.seq),
      Array.from({ length: total }, (_, i) => total - i),
      'every append has its own seq, newest first',
    );
    assert.equal(new Set(all.map((e) => e.params.i)).size, total, 'no entry was lost');

    const pages: AuditEntry[][] = [];
    let before: number | undefined;
    for (;;) {
      const page = await auditLog.list(companyId, { limit: 3, ...(before ? { beforeSeq: before } : {}) }, KEEP_ALL);
      if (page.length === 0) break;
      pages.push(page);
      before = page.at(-1)!.seq;
    }
    assert.deepEqual(
      pages.flat().map((e) => e.seq),
      all.map((e) => e.seq),
    );
    const since = all[4]!.at;
    assert.deepEqual(
      (await auditLog.list(companyId, { limit: 100, since }, KEEP_ALL)).map((e) => e.seq),
      all.filter((e) => e.at >= since).map((e) => e.seq),
    );
    // An action whose clock is behind the last entry's (another replica, a slow request) is
    // recorded at the last entry's time: times never go back in seq order, so listings from a date
    // (which stop at the first older entry) miss nothing.
    const late = await auditLog.append(entry(companyId, total, new Date(all[0]!.at.getTime() - 60_000)), KEEP_ALL);
    assert.equal(late.at.getTime(), all[0]!.at.getTime());
    assert.deepEqual(
      (await auditLog.list(companyId, { limit: 100, since: all[0]!.at }, KEEP_ALL)).map((e) => e.seq),
      [total + 1, ...all.filter((e) => e.at >= all[0]!.at).map((e) => e.seq)],
    );
  });

  test('entries past retention are not listed, and their buckets are dropped once a new bucket starts', async () => {
    const companyId = `audit-${uniqueSuffix()}`;
    const old = new Date('2023-01-01T00:00:00Z');
    for (let i = 0; i < BUCKET_SIZE; i++) await auditLog.append(entry(companyId, i, old), KEEP_ALL);
    const retainAfter = new Date('2024-01-01T00:00:00Z');
    assert.equal((await auditLog.list(companyId, { limit: 100 }, retainAfter)).length, 0);
    await auditLog.append(entry(companyId, BUCKET_SIZE), retainAfter);
    assert.deepEqual(
      (await allEntries(companyId)).map((e) => e.seq),
      [BUCKET_SIZE + 1],
      'the expired bucket is gone from the store',
    );
  });

  function runCli(args: string[], input = ''): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(input);
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  test('CLI actions are recorded with who, what and the outcome, and `audit` exports them as JSON and CSV', async () => {
    const { companyId, apiKey, url } = tenant();
    const onboard = ['onboard', '--company', companyId, '--name', 'Audit Co', '--lucca-url', url];
    assert.equal((await runCli(onboard, apiKey)).code, 0);
    const afterOnboard = new Date();
    assert.equal((await runCli(['sync', '--company', companyId, '--dry-run', '--requested-by', 'bob'])).code, 0);
    assert.equal((await runCli(['schedule', '--company', companyId, '--every', '2h'])).code, 1);

    const json = await runCli(['audit', '--company', companyId, '--format', 'json']);
    assert.equal(json.code, 0, json.stderr);
    const entries = JSON.parse(json.stdout) as (AuditEntry & { at: string })[];
    assert.deepEqual(
      entries.map((e) => [e.action, e.outcome, e.code]),
      [
        ['schedule-every', 'refused', 'invalid-every'],
        ['dry-run', 'ok', null],
        ['onboard', 'ok', null],
      ],
    );
    assert.ok(entries.every((e) => e.source === 'cli' && e.companyId === companyId));
    const [refused, dryRun, onboarded] = entries;
    assert.equal(dryRun!.actor, 'bob');
    assert.equal(dryRun!.params.dryRun, true);
    assert.match(String(dryRun!.params.requestId), /\S/, 'the request its run carries');
    assert.deepEqual(refused!.params, { every: '2h' });
    assert.equal(onboarded!.params.luccaUrl, url);
    assert.ok(!json.stdout.includes(apiKey), 'never the key');

    const csv = await runCli([
      'audit',
      '--company',
      companyId,
      '--format',
      'csv',
      '--since',
      afterOnboard.toISOString(),
    ]);
    const lines = csv.stdout.trim().split('\r\n');
    assert.equal(lines[0], 'at,companyId,actor,source,action,params,outcome,code,seq');
    assert.equal(lines.length, 3, 'only the entries since then');
    assert.match(lines[1]!, /,schedule-every,every=2h,refused,invalid-every,3$/);
  });

  test('console API actions are recorded with the logged-in account, listed by the API and downloadable', async () => {
    const { companyId, apiKey, url } = tenant();
    const app = await buildConsole({
      deps,
      db: stack.db,
      settings: await settingsWithAdmin(OPERATOR),
    });
    try {
      const cookie = await logIn(app, OPERATOR);
      const session = (await app.inject({ method: 'GET', url: '/api/session', headers: { cookie } })).json<{
        csrfToken: string;
      }>();
      const headers = { cookie, 'csrf-token': session.csrfToken };
      const call = (method: 'POST' | 'PUT', url: string, payload: object) =>
        app.inject({ method, url: `/api/companies/${companyId}${url}`, headers, payload });

      assert.equal(
        (await call('PUT', '/lucca', { luccaUrl: url, apiKey: 'WRONG-KEY-1234', name: 'Audit Co' })).statusCode,
        422,
      );
      assert.equal((await call('PUT', '/lucca', { luccaUrl: url, apiKey, name: 'Audit Co' })).statusCode, 200);
      assert.equal((await call('POST', '/sync', { dryRun: true })).statusCode, 202);
      assert.equal((await call('POST', '/schedule', { every: '12h' })).statusCode, 200);
      assert.equal((await call('POST', '/schedule', { paused: true })).statusCode, 200);
      assert.equal((await call('POST', '/sync', { allowMassDeactivation: true })).statusCode, 409, 'nothing blocked');

      const res = await app.inject({
        method: 'GET',
        url: `/api/companies/${companyId}/audit?limit=4`,
        headers: { cookie },
      });
      assert.equal(res.statusCode, 200);
      const body = res.json<{ items: AuditEntry[]; nextBefore: number | null }>();
      assert.deepEqual(
        body.items.map((e) => [e.action, e.outcome, e.code]),
        [
          ['apply-anyway', 'refused', 'nothing-to-override'],
          ['pause', 'ok', null],
          ['schedule-every', 'ok', null],
          ['dry-run', 'ok', null],
        ],
      );
      assert.ok(body.items.every((e) => e.actor === OPERATOR.user && e.source === 'console'));
      assert.equal(body.nextBefore, body.items.at(-1)!.seq);
      const rest = await app.inject({
        method: 'GET',
        url: `/api/companies/${companyId}/audit?before=${body.nextBefore}`,
        headers: { cookie },
      });
      assert.deepEqual(
        rest.json<{ items: AuditEntry[] }>().items.map((e) => [e.action, e.outcome, e.code]),
        [
          ['onboard', 'ok', null],
          ['onboard', 'refused', 'lucca-auth'],
        ],
      );

      const csv = await app.inject({
        method: 'GET',
        url: `/companies/${companyId}/audit/export?format=csv`,
        headers: { cookie },
      });
      assert.equal(csv.statusCode, 200);
      assert.match(String(csv.headers['content-disposition']), new RegExp(`attachment; filename="audit-${companyId}-`));
      assert.equal(csv.body.trim().split('\r\n').length, 7);
      assert.ok(!csv.body.includes(apiKey) && !csv.body.includes('WRONG-KEY-1234'), 'never a key');
    } finally {
      await app.close();
    }
  });

  /** A console on this stack, with the operator logged in: its cookie and a CSRF token for forms and the API. */
  async function operatorConsole() {
    const app = await buildConsole({
      deps,
      db: stack.db,
      settings: await settingsWithAdmin(OPERATOR),
    });
    const cookie = await logIn(app, OPERATOR);
    const session = (await app.inject({ method: 'GET', url: '/api/session', headers: { cookie } })).json<{
      csrfToken: string;
    }>();
    return { app, cookie, csrf: session.csrfToken };
  }

  test("the full-read interval: set with the CLI (validated, audited) or the console's schedule form, shown by status", async () => {
    const { companyId, apiKey, url } = tenant();
    await onboardCompany(deps, { companyId, name: 'Full reads', luccaUrl: url, apiKey, requestedBy: 'test' });
    const stored = async () => (await stack.repos.companies.get(companyId))!.sync.fullReadEvery;

    const set = await runCli(['schedule', '--company', companyId, '--full-read-every', '12h']);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /every 24h \(a full read at least every 12h\)/);
    assert.equal(await stored(), '12h');
    const refused = await runCli(['schedule', '--company', companyId, '--full-read-every', '36h']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /--full-read-every "36h" must be at most 24h/);
    assert.equal(await stored(), '12h', 'a refused value changes nothing');
    const status = await runCli(['status', '--company', companyId, '--json']);
    assert.equal((JSON.parse(status.stdout) as { fullReadEvery: string }[])[0]?.fullReadEvery, '12h');

    const { app, cookie, csrf } = await operatorConsole();
    try {
      const form = await app.inject({
        method: 'POST',
        url: `/companies/${companyId}/schedule`,
        headers: { cookie },
        payload: { _csrf: csrf, fullReadEvery: '6h' },
      });
      assert.equal(form.statusCode, 303);
      assert.equal(await stored(), '6h');
      const page = await app.inject({ method: 'GET', url: `/companies/${companyId}/integration`, headers: { cookie } });
      assert.match(page.body, /<select name="fullReadEvery"[^>]*>[\s\S]*?<option value="6h" selected/);
      const api = await app.inject({ method: 'GET', url: `/api/companies/${companyId}`, headers: { cookie } });
      assert.equal(api.json<{ fullReadEvery: string }>().fullReadEvery, '6h');
    } finally {
      await app.close();
    }

    const entries = await allEntries(companyId);
    assert.deepEqual(
      entries.filter((e) => e.action === 'schedule-full-read').map((e) => [e.source, e.params, e.outcome, e.code]),
      [
        ['console', { fullReadEvery: '6h' }, 'ok', null],
        ['cli', { fullReadEvery: '36h' }, 'refused', 'invalid-every'],
        ['cli', { fullReadEvery: '12h' }, 'ok', null],
      ],
    );
  });

  test("exporting a run's report is audited: who, which run, which format, from the CLI and the console", async () => {
    const { companyId, apiKey, url } = tenant();
    await onboardCompany(deps, { companyId, name: 'Exports', luccaUrl: url, apiKey, requestedBy: 'test' });
    const run = await until('the first run', async () => {
      const latest = await stack.repos.syncRuns.latest(companyId);
      return latest && latest.status !== 'running' ? latest : undefined;
    });

    const cli = await runCli(['report', '--company', companyId, '--format', 'csv']);
    assert.equal(cli.code, 0, cli.stderr);
    assert.match(cli.stdout, /Lucca id,/);
    const { app, cookie } = await operatorConsole();
    try {
      const download = await app.inject({
        method: 'GET',
        url: `/api/companies/${companyId}/runs/${run._id}/export?format=json`,
        headers: { cookie },
      });
      assert.equal(download.statusCode, 200);
      const missing = await app.inject({
        method: 'GET',
        url: `/api/companies/${companyId}/runs/20990101-000000-00000000/export?format=csv`,
        headers: { cookie },
      });
      assert.equal(missing.statusCode, 404);
    } finally {
      await app.close();
    }

    const exports = (await allEntries(companyId)).filter((e) => e.action === 'export-report');
    assert.deepEqual(
      exports.map((e) => [e.source, e.actor === OPERATOR.user, e.params, e.outcome]),
      [
        ['console', true, { format: 'json', runId: run._id }, 'ok'],
        ['cli', false, { format: 'csv', runId: run._id }, 'ok'],
      ],
      'one entry per export; the latest run named when the CLI was not given one; a run not found exports nothing',
    );
  });
});
