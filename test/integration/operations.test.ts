import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { freePort } from '../../dev-tools/stack/ports';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { ApiKeyDecryptError, decryptApiKey, keyringOf, secretIdOf } from '../../db/api-key-cipher';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import { loadConfig } from '../../config/env';
import type { OperationsDeps } from '../../operations';
import { onboardCompany } from '../../operations/onboard';
import { statusQuery } from '../../workflows/messages';
import { companyWorkflowId, datesScheduleId, scheduleId } from '../../temporal/ids';
import { CompanyIdAttribute, SyncTriggerAttribute } from '../../temporal/search-attributes';
import { generateLuccaUsers } from '../../dev-tools/fake-lucca';
import {
  createWorker,
  forgetCompanies,
  newApiKey,
  openStack,
  TEST_KEYRING,
  TEST_SECRET,
  uniqueSuffix,
  type Stack,
  stackEnv,
} from './helpers';

/** The secret a rotation moves the stored keys to. */
const NEXT_SECRET = { id: '2026-11', secret: 'next-integration-secret-0123456789abcdef' };

const CLI = path.join(import.meta.dirname, '..', '..', 'scripts', 'cli.ts');
const COMPANY_SIZE = 120;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

describe('operating lucca-sync through the CLI, on the real stack', () => {
  let stack: Stack;
  let worker: Worker;
  let running: Promise<void>;
  let keyDir: string;
  let env: NodeJS.ProcessEnv;
  let deps: OperationsDeps;
  const companies: string[] = [];

  before(async () => {
    stack = await openStack('ops');
    // The worker holds the secret a key rotation moves to as well: companies rotated keep syncing.
    worker = await createWorker(stack, {
      temporal: { client: stack.client, taskQueue: stack.taskQueue },
      keyring: keyringOf([...TEST_KEYRING.secrets].map(([id, secret]) => ({ id, secret })).concat(NEXT_SECRET)),
    });
    running = worker.run();
    keyDir = await mkdtemp(path.join(tmpdir(), 'lucca-sync-keys-'));
    env = { PATH: process.env.PATH, HOME: process.env.HOME, ...stackEnv(stack) };
    deps = { repos: stack.repos, client: stack.client, config: loadConfig(env) };
  });

  after(async () => {
    await forgetCompanies(stack, companies, 'test over');
    worker.shutdown();
    await running;
    await stack.close();
    await rm(keyDir, { recursive: true, force: true });
  });

  function runCli(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { ...env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(opts.input ?? '');
    return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  }

  /** A Lucca tenant with a key, and a company id for it (cleaned up after the file). */
  function tenant(): { companyId: string; apiKey: string; url: string } {
    const companyId = `ops-${uniqueSuffix()}`;
    const apiKey = newApiKey();
    stack.lucca.addTenant(companyId, {
      users: generateLuccaUsers({ size: COMPANY_SIZE, seed: 3, today: '2026-06-15' }),
      apiKeys: [{ key: apiKey }],
      today: '2026-06-15',
      rateLimit: false,
    });
    companies.push(companyId);
    return { companyId, apiKey, url: stack.lucca.tenantUrl(companyId) };
  }

  async function keyFile(apiKey: string): Promise<string> {
    const file = path.join(keyDir, `${uniqueSuffix()}.key`);
    await writeFile(file, `${apiKey}\n`, { mode: 0o600 });
    return file;
  }

  async function waitForRun(
    companyId: string,
    match: (r: SyncRunDocument) => boolean,
    timeoutMs = 60_000,
  ): Promise<SyncRunDocument> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const runs = await stack.repos.syncRuns.list(companyId, 50);
      const found = runs.find((r) => match(r) && r.status !== 'running');
      if (found) return found;
      await sleep(200);
    }
    assert.fail(`no finished run of ${companyId} matched within ${timeoutMs} ms`);
  }

  async function scheduleExists(companyId: string): Promise<boolean> {
    try {
      await stack.client.schedule.getHandle(scheduleId(companyId)).describe();
      return true;
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return false;
      throw err;
    }
  }

  async function companyWorkflowStatus(companyId: string): Promise<string | null> {
    try {
      return (await stack.client.workflow.getHandle(companyWorkflowId(companyId)).describe()).status.name;
    } catch {
      return null;
    }
  }

  async function onboardArgs(companyId: string, url: string, extra: string[] = []): Promise<string[]> {
    return ['onboard', '--company', companyId, '--name', `Company ${companyId}`, '--lucca-url', url, ...extra];
  }

  test('onboarding refuses a bad key, a forbidden key, a non-Lucca host, an unreachable host and a sub-4h frequency, and writes nothing', async () => {
    const { companyId, apiKey, url } = tenant();
    stack.lucca.setApiKeys(companyId, [{ key: apiKey }, { key: 'FORBIDDEN-KEY', forbidden: true }]);
    const closedPort = await freePort();
    const cases: { name: string; args: string[]; input?: string; expect: RegExp }[] = [
      {
        name: 'unknown key',
        args: await onboardArgs(companyId, url),
        input: newApiKey(),
        expect: /refused the API key \(401\)/,
      },
      {
        name: 'key lacking a permission',
        args: await onboardArgs(companyId, url, ['--api-key-file', await keyFile('FORBIDDEN-KEY')]),
        expect: /lacks a permission \(403\)/,
      },
      {
        name: 'non-Lucca host',
        args: await onboardArgs(companyId, 'https://lucca.example.com', ['--api-key-file', await keyFile(apiKey)]),
        expect: /is not a Lucca address/,
      },
      {
        name: 'unreachable host',
        args: await onboardArgs(companyId, `http://127.0.0.1:${closedPort}/t/x`, [
          '--api-key-file',
          await keyFile(apiKey),
        ]),
        expect: /Could not reach Lucca/,
      },
      {
        name: 'sub-4h frequency',
        args: await onboardArgs(companyId, url, ['--every', '2h', '--api-key-file', await keyFile(apiKey)]),
        expect: /must be at least 4h/,
      },
    ];
    for (const c of cases) {
      const result = await runCli(c.args, c.input === undefined ? {} : { input: c.input });
      assert.equal(result.code, 1, `${c.name}: exit code (stderr: ${result.stderr})`);
      assert.match(result.stderr, c.expect, c.name);
      assert.equal(result.stderr.trim().split('\n').length, 1, `${c.name}: one-line error`);
      assert.ok(!result.stderr.includes(apiKey), `${c.name}: the key is not echoed`);
    }
    assert.equal(await stack.repos.companies.get(companyId), null, 'no company stored');
    assert.equal(await scheduleExists(companyId), false, 'no schedule created');
    assert.equal(await companyWorkflowStatus(companyId), null, 'no workflow started');
    assert.equal(await stack.store.syncRuns.countDocuments({ companyId }), 0);
  });

  test('the API key is never accepted as a plain argument', async () => {
    const { companyId, apiKey, url } = tenant();
    const result = await runCli([...(await onboardArgs(companyId, url)), '--api-key', apiKey]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /never accepted as an argument/);
    assert.equal(await stack.repos.companies.get(companyId), null);
  });

  test('onboarding twice leaves one company and one schedule, updated to the new key, URL and frequency, with the key unreadable at rest', async () => {
    const { companyId, apiKey, url } = tenant();
    const first = await runCli(await onboardArgs(companyId, url, ['--api-key-file', await keyFile(apiKey)]));
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /Onboarded/);
    const onboarding = await waitForRun(companyId, (r) => r.trigger === 'onboarding');
    assert.equal(onboarding.status, 'succeeded', JSON.stringify(onboarding.error));

    // The company moves to another tenant address with a new key, and syncs less often.
    const newKey = newApiKey();
    const secondTenant = `${companyId}-b`;
    stack.lucca.addTenant(secondTenant, {
      users: stack.lucca.getUsers(companyId),
      apiKeys: [{ key: newKey }],
      today: '2026-06-15',
      rateLimit: false,
    });
    const newUrl = stack.lucca.tenantUrl(secondTenant);
    const linked = await stack.repos.profiles.countLinked(companyId);
    assert.ok(linked > 0);
    const refused = await runCli(await onboardArgs(companyId, newUrl, ['--every', '12h']), { input: `${newKey}\n` });
    assert.equal(refused.code, 1, 'a new tenant for linked profiles needs --relink');
    assert.match(refused.stderr, new RegExp(`${linked} linked profiles.*--relink.*Nothing was changed`));
    assert.equal((await stack.repos.companies.get(companyId))?.lucca.baseUrl, url);
    const second = await runCli(await onboardArgs(companyId, newUrl, ['--every', '12h', '--relink']), {
      input: `${newKey}\n`,
    });
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /Updated/);
    assert.match(second.stdout, new RegExp(`${linked} profiles unlinked from the previous Lucca tenant`));

    assert.equal(await stack.store.companies.countDocuments({ _id: companyId }), 1);
    const company = (await stack.repos.companies.get(companyId))!;
    assert.equal(company.lucca.baseUrl, newUrl);
    assert.equal(company.sync.every, '12h');
    assert.equal(company.lucca.apiKeyHint, newKey.slice(-4));
    assert.equal(decryptApiKey(TEST_KEYRING, { companyId, baseUrl: newUrl }, company.lucca.apiKey!), newKey);
    const raw = JSON.stringify(await stack.db.collection('companies').findOne({ _id: companyId as never }));
    for (const key of [apiKey, newKey]) {
      assert.ok(!raw.includes(key), 'the key is not stored in clear');
      assert.ok(!raw.includes(key.slice(0, 8)), 'no recognisable part of the key is stored');
    }

    const description = await stack.client.schedule.getHandle(scheduleId(companyId)).describe();
    assert.deepEqual(
      (description.spec.intervals ?? []).map((i) => i.every),
      [12 * 3600_000],
    );
    assert.equal(description.policies.overlap, 'SKIP');
    let matching: string[] = [];
    for (let i = 0; i < 50 && matching.length < 2; i++) {
      matching = [];
      for await (const s of stack.client.schedule.list())
        if (s.scheduleId.includes(companyId)) matching.push(s.scheduleId);
      if (matching.length < 2) await sleep(200);
    }
    assert.deepEqual(
      matching.sort(),
      [datesScheduleId(companyId), scheduleId(companyId)].sort(),
      'exactly one sync schedule and one date schedule for the company',
    );
    const followUp = await waitForRun(companyId, (r) => r.trigger === 'onboarding' && r._id !== onboarding._id);
    assert.equal(followUp.status, 'succeeded', 'the re-onboarding sync used the new key and URL');
    assert.equal(followUp.counts?.linked, linked, 'every profile attached again by email, in the report');
    assert.equal(followUp.counts?.created, 0, 'no profile duplicated');
    assert.equal(await stack.repos.profiles.countLinked(companyId), linked);
  });

  test("a company never takes another tenant's people: re-onboarding B with A's URL and key is refused, and a new company never overwrites one", async () => {
    const a = tenant();
    const b = tenant();
    stack.lucca.mutateUsers(b.companyId, (users) => users.map((u) => ({ ...u, firstName: `B-${u.firstName}` })));
    for (const { companyId, apiKey, url } of [a, b]) {
      await onboardCompany(deps, { companyId, name: companyId, luccaUrl: url, apiKey, requestedBy: 'test' });
      assert.equal((await waitForRun(companyId, (r) => r.trigger === 'onboarding')).status, 'succeeded');
    }
    const bProfiles = await stack.store.profiles.find({ companyId: b.companyId }).sort({ _id: 1 }).toArray();
    const bCompany = await stack.repos.companies.get(b.companyId);

    const mistaken = await runCli(await onboardArgs(b.companyId, a.url), { input: `${a.apiKey}\n` });
    assert.equal(mistaken.code, 1);
    assert.match(mistaken.stderr, /linked profiles.*other people's data.*--relink/);
    await assert.rejects(
      onboardCompany(deps, { ...a, name: 'Connected again', luccaUrl: a.url, createOnly: true }),
      (err: Error & { code?: string }) => err.code === 'company-exists',
    );

    assert.deepEqual(await stack.repos.companies.get(b.companyId), bCompany, "B's connection is as it was");
    assert.equal((await stack.repos.companies.get(a.companyId))?.name, a.companyId, 'A was not overwritten');
    // A refused onboarding signals nothing: B's workflow holds no request and runs nothing.
    const bStatus = await stack.client.workflow.getHandle(companyWorkflowId(b.companyId)).query(statusQuery);
    assert.deepEqual([bStatus.current, bStatus.pending], [null, []], 'no sync was requested');
    assert.equal(await stack.store.syncRuns.countDocuments({ companyId: b.companyId }), 1);
    assert.deepEqual(
      await stack.store.profiles.find({ companyId: b.companyId }).sort({ _id: 1 }).toArray(),
      bProfiles,
      "B's profiles keep B's people",
    );
  });

  test('a schedule firing runs a sync with trigger schedule, through a workflow tagged with the company and the trigger', async () => {
    const { companyId, apiKey, url } = tenant();
    await onboardCompany(deps, { companyId, name: 'Scheduled', luccaUrl: url, apiKey, requestedBy: 'test' });
    await waitForRun(companyId, (r) => r.trigger === 'onboarding');

    const schedule = stack.client.schedule.getHandle(scheduleId(companyId));
    await schedule.trigger();
    const run = await waitForRun(companyId, (r) => r.trigger === 'schedule');
    assert.equal(run.status, 'succeeded', JSON.stringify(run.error));
    assert.equal(run.requestedBy, 'schedule');

    const [action] = (await schedule.describe()).info.recentActions;
    assert.ok(action, 'the schedule recorded its firing');
    const fired = await stack.client.workflow.getHandle(action.action.workflow.workflowId).describe();
    assert.equal(fired.typedSearchAttributes.get(CompanyIdAttribute), companyId);
    assert.equal(fired.typedSearchAttributes.get(SyncTriggerAttribute), 'schedule');
    const company = await stack.client.workflow.getHandle(companyWorkflowId(companyId)).describe();
    assert.equal(company.typedSearchAttributes.get(CompanyIdAttribute), companyId);
  });

  test('sync --wait exits 0 when the run succeeds and 2 when the key has been revoked', async () => {
    const { companyId, apiKey, url } = tenant();
    await onboardCompany(deps, { companyId, name: 'Waited', luccaUrl: url, apiKey, requestedBy: 'test' });

    const ok = await runCli(['sync', '--company', companyId, '--wait', '--requested-by', 'alice']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /Status: +succeeded/);
    assert.match(ok.stdout, /manual by alice/);

    stack.lucca.setApiKeys(companyId, [{ key: apiKey, revoked: true }]);
    const revoked = await runCli(['sync', '--company', companyId, '--wait']);
    assert.equal(revoked.code, 2, revoked.stderr);
    assert.match(revoked.stdout, /Status: +failed/);
    assert.match(revoked.stdout, /lucca-auth/);
    assert.ok(!revoked.stdout.includes(apiKey) && !revoked.stderr.includes(apiKey));
  });

  test('sync works when the company workflow is not running, and a dry run writes no profile', async () => {
    const { companyId, apiKey, url } = tenant();
    await onboardCompany(deps, { companyId, name: 'Dry', luccaUrl: url, apiKey, requestedBy: 'test' });
    await waitForRun(companyId, (r) => r.trigger === 'onboarding');
    await stack.client.workflow.getHandle(companyWorkflowId(companyId)).terminate('test: workflow gone');
    const before = await stack.store.profiles.countDocuments({ companyId });
    stack.lucca.mutateUsers(companyId, (users) => users.map((u) => (u.id === 60 ? { ...u, firstName: 'Renamed' } : u)));

    const dry = await runCli(['sync', '--company', companyId, '--dry-run', '--wait']);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /dry-run/);
    assert.equal(await companyWorkflowStatus(companyId), 'RUNNING', 'signal-with-start started the workflow');
    assert.equal(await stack.store.profiles.countDocuments({ companyId, firstName: 'Renamed' }), 0);
    assert.equal(await stack.store.profiles.countDocuments({ companyId }), before);
  });

  test('report lists changes by action with field-level from → to and reasons in plain words; status and --json give the data', async () => {
    const { companyId, apiKey, url } = tenant();
    await onboardCompany(deps, { companyId, name: 'Reported', luccaUrl: url, apiKey, requestedBy: 'test' });
    const first = await waitForRun(companyId, (r) => r.trigger === 'onboarding');
    stack.lucca.mutateUsers(companyId, (users) => users.map((u) => (u.id === 70 ? { ...u, lastName: 'Newname' } : u)));
    const sync = await runCli(['sync', '--company', companyId, '--wait']);
    assert.equal(sync.code, 0, sync.stderr);

    const text = await runCli(['report', '--company', companyId, '--limit', '5']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^update \(1\)$/m);
    assert.match(text.stdout, /Lucca #70 → profile [0-9a-f]{24}: lastName "[^"]+" → "Newname"/);

    const older = await runCli(['report', '--company', companyId, '--run', first._id, '--limit', '3']);
    assert.equal(older.code, 0, older.stderr);
    assert.match(older.stdout, /^create \(\d+\)$/m);
    assert.match(older.stdout, /… and \d+ more create/);
    assert.match(older.stdout, /former-employee: The employee left before the platform knew them/);

    const json = await runCli(['report', '--company', companyId, '--run', first._id, '--json', '--all']);
    const report = JSON.parse(json.stdout) as {
      run: { _id: string };
      groups: { action: string; total: number; changes: unknown[] }[];
    };
    assert.equal(report.run._id, first._id);
    for (const g of report.groups) assert.equal(g.changes.length, g.total, `--all lists every ${g.action}`);

    const status = await runCli(['status', '--company', companyId, '--json']);
    const [s] = JSON.parse(status.stdout) as {
      companyId: string;
      every: string;
      paused: boolean;
      lastRun: { status: string };
      schedule: { nextRunAt: string };
    }[];
    assert.equal(s?.companyId, companyId);
    assert.equal(s?.lastRun.status, 'succeeded');
    assert.ok(s && Date.parse(s.schedule.nextRunAt) > Date.now(), 'next scheduled run is in the future');

    const missing = await runCli(['report', '--company', companyId, '--run', 'no-such-run']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /has no run "no-such-run"/);
  });

  test('schedule changes the frequency, pauses and resumes, and refuses less than 4h', async () => {
    const { companyId, apiKey, url } = tenant();
    await onboardCompany(deps, { companyId, name: 'Timed', luccaUrl: url, apiKey, requestedBy: 'test' });
    const handle = stack.client.schedule.getHandle(scheduleId(companyId));

    const tooOften = await runCli(['schedule', '--company', companyId, '--every', '3h59m']);
    assert.equal(tooOften.code, 1);
    assert.match(tooOften.stderr, /at least 4h/);
    assert.deepEqual(
      ((await handle.describe()).spec.intervals ?? []).map((i) => i.every),
      [24 * 3600_000],
    );

    assert.equal((await runCli(['schedule', '--company', companyId, '--every', '6h'])).code, 0);
    assert.deepEqual(
      ((await handle.describe()).spec.intervals ?? []).map((i) => i.every),
      [6 * 3600_000],
    );
    assert.equal((await stack.repos.companies.get(companyId))?.sync.every, '6h');

    assert.equal((await runCli(['schedule', '--company', companyId, '--pause'])).code, 0);
    assert.equal((await handle.describe()).state.paused, true);
    assert.equal((await stack.repos.companies.get(companyId))?.sync.paused, true);

    assert.equal((await runCli(['schedule', '--company', companyId, '--resume'])).code, 0);
    assert.equal((await handle.describe()).state.paused, false);
  });

  test("guard sets one of a company's mass-change thresholds, and refuses what is not one", async () => {
    const { companyId, apiKey, url } = tenant();
    await onboardCompany(deps, { companyId, name: 'Guarded', luccaUrl: url, apiKey, requestedBy: 'test' });
    const set = await runCli([
      'guard',
      '--company',
      companyId,
      '--kind',
      'email',
      '--max-percent',
      '50',
      '--min-count',
      '3',
    ]);
    assert.equal(set.code, 0, set.stderr);
    assert.match(set.stdout, /email +max\(3, 50% of linked active profiles\), at most half of them/);
    assert.match(set.stdout, /deactivate +max\(5, 10% of linked active profiles\)/);
    assert.match(set.stdout, /overwrite +max\(5, 10% of linked active profiles\)/);
    const company = await stack.repos.companies.get(companyId);
    assert.deepEqual(company?.sync.guards?.email, { maxPercent: 50, minCount: 3 });
    for (const bad of [
      ['--kind', 'everything', '--max-percent', '5', '--min-count', '1'],
      ['--kind', 'blank', '--max-percent', '101', '--min-count', '1'],
      ['--kind', 'blank', '--max-percent', '5', '--min-count', '-1'],
    ]) {
      const refused = await runCli(['guard', '--company', companyId, ...bad]);
      assert.notEqual(refused.code, 0, bad.join(' '));
    }
    assert.deepEqual((await stack.repos.companies.get(companyId))?.sync, company?.sync, 'nothing changed');
  });

  test('offboard leaves no schedule, no running company workflow and no key, and keeps profiles and reports', async () => {
    const { companyId, apiKey, url } = tenant();
    await onboardCompany(deps, { companyId, name: 'Leaving', luccaUrl: url, apiKey, requestedBy: 'test' });
    await waitForRun(companyId, (r) => r.trigger === 'onboarding');
    const profiles = await stack.store.profiles.countDocuments({ companyId });
    assert.ok(profiles > 0);

    const result = await runCli(['offboard', '--company', companyId]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(await scheduleExists(companyId), false);
    assert.notEqual(await companyWorkflowStatus(companyId), 'RUNNING');
    const company = (await stack.repos.companies.get(companyId))!;
    assert.equal(company.lucca.apiKey, null);
    assert.equal(await stack.store.profiles.countDocuments({ companyId }), profiles);
    assert.ok((await stack.store.syncRuns.countDocuments({ companyId })) > 0);

    const sync = await runCli(['sync', '--company', companyId]);
    assert.equal(sync.code, 1);
    assert.match(sync.stderr, /offboarded/);
    assert.notEqual(
      await companyWorkflowStatus(companyId),
      'RUNNING',
      'no workflow restarted for an offboarded company',
    );
  });

  test('rotate-keys re-encrypts every stored key under the newest secret, after which the old one can go', async () => {
    const { companyId, apiKey, url } = tenant();
    await onboardCompany(deps, { companyId, name: 'Rotating', luccaUrl: url, apiKey, requestedBy: 'test' });
    await waitForRun(companyId, (r) => r.trigger === 'onboarding');
    const { apiKey: before, connectionId } = (await stack.repos.companies.get(companyId))!.lucca;
    assert.equal(secretIdOf(before!), 'default');
    assert.ok(connectionId);

    const rotating = {
      LUCCA_SYNC_SECRET: '',
      LUCCA_SYNC_SECRETS: `${NEXT_SECRET.id}=${NEXT_SECRET.secret},default=${TEST_SECRET}`,
    };
    const first = await runCli(['rotate-keys', '--json'], { env: rotating });
    assert.equal(first.code, 0, first.stderr);
    const report = JSON.parse(first.stdout) as { secretId: string; reencrypted: string[]; undecryptable: string[] };
    assert.equal(report.secretId, NEXT_SECRET.id);
    assert.ok(report.reencrypted.includes(companyId));
    assert.deepEqual(report.undecryptable, []);
    assert.ok(!first.stdout.includes(apiKey) && !first.stderr.includes(apiKey));

    const after = (await stack.repos.companies.get(companyId))!.lucca.apiKey!;
    assert.equal(secretIdOf(after), NEXT_SECRET.id);
    const binding = { companyId, baseUrl: url };
    assert.equal(decryptApiKey(keyringOf([NEXT_SECRET]), binding, after), apiKey, 'the new secret alone reads it');
    assert.throws(() => decryptApiKey(TEST_KEYRING, binding, after), ApiKeyDecryptError, 'the old one no longer does');
    assert.equal(
      (await stack.repos.companies.get(companyId))!.lucca.connectionId,
      connectionId,
      're-encrypting the key is no change of connection: runs in flight stay valid',
    );

    const again = await runCli(['rotate-keys', '--json'], { env: rotating });
    assert.ok((JSON.parse(again.stdout) as { alreadyCurrent: string[] }).alreadyCurrent.includes(companyId));
    assert.equal(
      (await stack.repos.companies.get(companyId))!.lucca.apiKey,
      after,
      'a second rotation changes nothing',
    );

    const sync = await runCli(['sync', '--company', companyId, '--wait']);
    assert.equal(sync.code, 0, sync.stderr);
  });
});
