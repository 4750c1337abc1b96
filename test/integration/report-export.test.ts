import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../config/env';
import { buildConsole } from '../../console/server';
import { toChangeDocument } from '../../db/sync-changes-repository';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import { describeReason } from '../../domain/reasons';
import type { PlannedChange } from '../../domain/types';
import type { OperationsDeps } from '../../operations';
import { logIn, settingsWithAdmin } from './console-kit';
import {
  addCompany,
  MONGODB_URI,
  newApiKey,
  openStack,
  stackEnv,
  TEMPORAL_ADDRESS,
  uniqueSuffix,
  type Stack,
} from './helpers';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const CLI = path.join(ROOT, 'scripts', 'cli.ts');
const MEMORY_PROBE = path.join(ROOT, 'dev-tools', 'report-export-memory.ts');
const OPERATOR = { user: 'export.admin', password: 'export-admin-password-0123' };
/** One batch of the export's cursor (1,000), and ten times it: the export must hold no more for the second. */
const SMALL = 1_000;
const LARGE = 10 * SMALL;
const INSERT_BATCH = 1_000;

/** Cells a spreadsheet would run as formulas, and the awkward text of real names. */
const TRICKY: PlannedChange[] = [
  {
    action: 'update',
    luccaUserId: 101,
    profileId: 'p-101',
    fields: { lastName: { from: 'Dupont', to: '=HYPERLINK("http://evil.example","x")' } },
    target: {
      fields: {
        firstName: '+33 6 12',
        lastName: '=HYPERLINK("http://evil.example","x")',
        email: 'a@acme.example',
        birthDate: null,
        contractStart: '2020-01-01',
        contractEnd: null,
      },
      status: 'active',
    },
    reasons: [],
  },
  {
    action: 'create',
    luccaUserId: 102,
    profileId: 'p-102',
    fields: { firstName: { from: null, to: '@SUM(A1)' }, lastName: { from: null, to: 'Œuvray, "Zoé"\nsecond line' } },
    target: {
      fields: {
        firstName: '@SUM(A1)',
        lastName: 'Œuvray, "Zoé"\nsecond line',
        email: 'b@acme.example',
        birthDate: null,
        contractStart: '2021-02-03',
        contractEnd: null,
      },
      status: 'active',
    },
    reasons: [],
  },
  {
    action: 'skip',
    luccaUserId: 103,
    fields: { firstName: { from: '-2+3', to: '\tcmd' }, lastName: { from: '\rx', to: 'Ndiaye' } },
    reasons: [{ code: 'missing-email', message: '' }],
  },
  {
    action: 'deactivate',
    luccaUserId: null,
    profileId: 'p-104',
    fields: { status: { from: 'active', to: 'former' } },
    reasons: [{ code: 'contract-ended', message: '' }],
  },
];

describe("a run's report exported as CSV and JSON, streamed from the store (real store)", () => {
  let stack: Stack;
  let app: FastifyInstance;
  let cookie = '';
  let env: NodeJS.ProcessEnv;
  const companyId = `export-${uniqueSuffix()}`;
  const trickyRun = `20261203-080000-${uniqueSuffix()}`;
  const smallRun = `20261203-090000-${uniqueSuffix()}`;
  const largeRun = `20261203-100000-${uniqueSuffix()}`;
  let tmp = '';

  const runDoc = (runId: string, changes: number): SyncRunDocument => ({
    _id: runId,
    companyId,
    trigger: 'manual',
    requestedBy: 'test',
    mode: 'apply',
    allowMassDeactivation: false,
    status: 'succeeded',
    startedAt: new Date('2026-12-03T08:00:00Z'),
    finishedAt: new Date('2026-12-03T08:01:00Z'),
    error: null,
    counts: null,
    progress: { pagesRead: 1, usersRead: changes, phase: 'done' },
    guard: null,
    profileWrites: 0,
    workflowId: `sync-run:${companyId}:${runId}`,
    temporalRunId: 'none',
  });

  /** `n` changes like a large company's: a name, an email change, a reason. Inserted a batch at a time. */
  async function seedRun(runId: string, n: number): Promise<void> {
    await stack.db.collection<SyncRunDocument>('syncRuns').insertOne(runDoc(runId, n));
    for (let from = 0; from < n; from += INSERT_BATCH) {
      await stack.repos.syncChanges.insertMany(
        Array.from({ length: Math.min(INSERT_BATCH, n - from) }, (_, i) =>
          toChangeDocument(runId, companyId, from + i, {
            action: 'update',
            luccaUserId: 10_000 + from + i,
            profileId: `profile-${from + i}`,
            fields: { email: { from: `old.${from + i}@acme.example`, to: `person.${from + i}@acme.example` } },
            target: {
              fields: {
                firstName: 'Jérôme',
                lastName: `Person ${from + i}`,
                email: `person.${from + i}@acme.example`,
                birthDate: '1990-01-01',
                contractStart: '2020-01-01',
                contractEnd: null,
              },
              status: 'active',
            },
            reasons: [{ code: 'contract-ended', message: '' }],
          }),
        ),
      );
    }
  }

  function run(command: string[], extraEnv: NodeJS.ProcessEnv = {}) {
    const child = spawn(process.execPath, command, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on('close', (code) => resolve({ code, stdout, stderr })),
    );
  }

  before(async () => {
    stack = await openStack('report-export');
    env = { ...process.env, ...stackEnv(stack) };
    tmp = await mkdtemp(path.join(tmpdir(), 'report-export-'));
    await addCompany(stack, { companyId, tenant: companyId, apiKey: newApiKey() });
    const deps: OperationsDeps = {
      repos: stack.repos,
      client: stack.client,
      config: loadConfig({ TEMPORAL_ADDRESS, MONGODB_URI, MONGODB_DB: stack.db.databaseName }),
    };
    app = await buildConsole({
      deps,
      db: stack.db,
      settings: await settingsWithAdmin(OPERATOR),
    });
    cookie = await logIn(app, OPERATOR);
    await stack.db.collection<SyncRunDocument>('syncRuns').insertOne(runDoc(trickyRun, TRICKY.length));
    await stack.repos.syncChanges.insertMany(
      // Inserted out of plan order: the export reads in plan order all the same.
      TRICKY.map((c, seq) => toChangeDocument(trickyRun, companyId, seq, c)).reverse(),
    );
    await seedRun(smallRun, SMALL);
    await seedRun(largeRun, LARGE);
  });

  after(async () => {
    await app?.close();
    await stack?.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  /** In English unless told otherwise (the console's default is French). */
  const english = () => `${cookie}; lucca_console_lang=en`;
  const download = (runId: string, format: string, headers: Record<string, string> = { cookie: english() }) =>
    app.inject({ method: 'GET', url: `/api/companies/${companyId}/runs/${runId}/export?format=${format}`, headers });

  test('the console downloads the CSV with the report page’s columns, formulas neutralised, quoting intact, in plan order', async () => {
    const res = await download(trickyRun, 'csv');
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/csv/);
    assert.equal(res.headers['content-disposition'], `attachment; filename="report-${companyId}-${trickyRun}.csv"`);
    assert.equal(res.headers['cache-control'], 'no-store');
    const rows: string[][] = parse(res.rawPayload, { bom: true });
    assert.deepEqual(rows[0], [
      'Lucca id',
      'Profile',
      'Name',
      'Action',
      'Fields (from → to)',
      'Reason codes',
      'Reasons',
    ]);
    assert.deepEqual(
      rows.slice(1).map((r) => r[0]),
      ['101', '102', '103', ''],
      'plan order',
    );
    const [update, create, skip, deactivate] = rows.slice(1);
    // A leading = + - @ tab or CR becomes text: a quote first.
    assert.equal(update![2], `'+33 6 12 =HYPERLINK("http://evil.example","x")`);
    // A formula after other text is no formula: left as it is.
    assert.equal(update![4], 'Last name: Dupont → =HYPERLINK("http://evil.example","x")');
    assert.equal(create![2], `'@SUM(A1) Œuvray, "Zoé"\nsecond line`);
    assert.equal(
      create![4],
      'First name: @SUM(A1)\nLast name: Œuvray, "Zoé"\nsecond line',
      'a create shows the new values',
    );
    assert.equal(skip![4], 'First name: -2+3 → \tcmd\nLast name: \rx → Ndiaye');
    assert.equal(skip![5], 'missing-email');
    assert.equal(skip![6], describeReason('missing-email'));
    assert.deepEqual(deactivate!.slice(1, 6), [
      'p-104',
      '',
      'Deactivated',
      'Status: active → former',
      'contract-ended',
    ]);
    for (const cell of rows.flat()) assert.doesNotMatch(cell, /^[=+\-@\t\r]/, `no cell starts as a formula: ${cell}`);
  });

  test('in French, the headers, actions, fields and reasons read as the French report page', async () => {
    const res = await download(trickyRun, 'csv', { cookie: `${cookie}; lucca_console_lang=fr` });
    const rows: string[][] = parse(res.rawPayload, { bom: true });
    assert.deepEqual(rows[0], [
      'Identifiant Lucca',
      'Profil',
      'Nom',
      'Action',
      'Champs (avant → après)',
      'Codes des raisons',
      'Raisons',
    ]);
    assert.equal(rows[4]![3], 'Désactivés');
    assert.equal(rows[3]![6], describeReason('missing-email', 'fr'));
  });

  test('the JSON download has the run and every change with its fields from → to and reasons', async () => {
    const res = await download(trickyRun, 'json');
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^application\/json/);
    const body = res.json<{ run: Record<string, unknown>; changes: Record<string, unknown>[] }>();
    assert.equal(body.run.id, trickyRun);
    assert.equal(body.run.status, 'succeeded');
    assert.equal(body.changes.length, TRICKY.length);
    assert.deepEqual(body.changes[0], {
      luccaUserId: 101,
      profileId: 'p-101',
      name: '+33 6 12 =HYPERLINK("http://evil.example","x")',
      action: 'update',
      fields: { lastName: { from: 'Dupont', to: '=HYPERLINK("http://evil.example","x")' } },
      reasons: [],
    });
    assert.deepEqual(body.changes[2]!.reasons, [
      { code: 'missing-email', description: describeReason('missing-email') },
    ]);
  });

  test('no export without a signed-in user, and none of a run of another company', async () => {
    const anonymous = await download(trickyRun, 'csv', {});
    assert.ok([302, 303, 401].includes(anonymous.statusCode), `refused: ${anonymous.statusCode}`);
    assert.doesNotMatch(anonymous.body, /HYPERLINK/);
    const other = await app.inject({
      method: 'GET',
      url: `/api/companies/${companyId}-other/runs/${trickyRun}/export?format=csv`,
      headers: { cookie: english() },
    });
    assert.equal(other.statusCode, 404);
    assert.equal((await download(trickyRun, 'xlsx')).statusCode, 400);
  });

  test('the CLI writes the export to a file only its owner can read, the same rows as the console', async () => {
    const file = path.join(tmp, 'report.json');
    const res = await run([
      '--import',
      'tsx',
      CLI,
      'report',
      '--company',
      companyId,
      '--run',
      smallRun,
      '--format',
      'json',
      '--output',
      file,
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const body = JSON.parse(await readFile(file, 'utf8')) as { changes: { luccaUserId: number }[] };
    assert.equal(body.changes.length, SMALL);
    assert.deepEqual(
      body.changes.map((c) => c.luccaUserId),
      Array.from({ length: SMALL }, (_, i) => 10_000 + i),
    );
    const csv = await run([
      '--import',
      'tsx',
      CLI,
      'report',
      '--company',
      companyId,
      '--run',
      trickyRun,
      '--format',
      'csv',
    ]);
    assert.equal(csv.code, 0, csv.stderr);
    const rows: string[][] = parse(csv.stdout, { bom: true });
    assert.deepEqual(rows[4]!.slice(3, 6), ['deactivate', 'status: active → former', 'contract-ended']);
  });

  test('ten times the changes export in the same memory: the heap the export holds does not grow with the report', async () => {
    const probe = async (runId: string, format: string) => {
      const res = await run(['--expose-gc', '--import', 'tsx', MEMORY_PROBE, companyId, runId, format]);
      assert.equal(res.code, 0, res.stderr);
      return JSON.parse(res.stdout) as { bytes: number; baseHeap: number; peakHeap: number; maxRss: number };
    };
    for (const format of ['csv', 'json']) {
      const small = await probe(smallRun, format);
      const large = await probe(largeRun, format);
      assert.ok(large.bytes > 9 * small.bytes, `${format}: the large export is ten times the small one`);
      const held = (m: typeof small) => m.peakHeap - m.baseHeap;
      // Streaming holds one cursor batch either way; an export that gathered its rows would hold ten times more.
      assert.ok(
        held(large) < 1.5 * held(small) + 2 * 1024 * 1024,
        `${format}: held ${(held(small) / 1e6).toFixed(1)} MB for ${SMALL} changes, ${(held(large) / 1e6).toFixed(1)} MB for ${LARGE}`,
      );
    }
  });
});
