import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { loadConfig } from '../../config/env';
import type { OperationsDeps } from '../../operations';
import { listAudit } from '../../operations/audit';
import type { OperationError } from '../../operations/errors';
import { onboardCompany, type OnboardInput, type OnboardResult } from '../../operations/onboard';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import { ChildWorker } from '../../dev-tools/child-worker/child-worker';
import { queryCompanyStatus, waitForSyncRun } from '../../operations/sync';
import { moveUsers, renameOrgUnit, type LuccaRawUser } from '../../dev-tools/fake-lucca';
import { requestSync } from '../../operations/sync';
import {
  FAKE_LUCCA_HOSTS,
  forgetCompanies,
  MONGODB_URI,
  newApiKey,
  openStack,
  stackEnv,
  TEMPORAL_ADDRESS,
  TEST_SECRET,
  uniqueSuffix,
  workflowBundleFile,
  type Stack,
} from './helpers';
import {
  changesOf,
  insertPlatformProfile,
  linkedProfile,
  luccaUser,
  profilesOf,
  startWorker,
  until,
  updatedStamps,
  type RunningWorker,
} from './sync-kit';
import { changeScope, type ScopePreview } from '../../operations/scope';
import { TENANT_CLAIM_LAPSE_MS } from '../../operations/tenant-claim';
import { normaliseLuccaBaseUrl } from '../../lucca/client';
import { buildConsole } from '../../console/server';
import { logIn, settingsWithAdmin } from './console-kit';

/**
 * Pages of 20, so that a company of a few dozen is read in several requests: the same pages as a
 * few hundred people in pages of 100, at a fifth of the writes.
 */
const PAGE_SIZE = 20;
/** Where the third page is asked for (each page after the first starts on the previous one's last user). */
const THIRD_PAGE = `${2 * (PAGE_SIZE - 1)},${PAGE_SIZE}`;

const ENTITIES = [
  { id: 1, name: "Société Lumière d'Île-de-France" },
  { id: 2, name: 'Établissements Côte-Sud' },
  { id: 3, name: 'Acmé Rhône-Alpes' },
];
const DEPARTMENTS = [
  { id: 11, name: 'Équipe Produit' },
  { id: 12, name: 'Ressources Humaines' },
  { id: 13, name: 'Comptabilité & Contrôle de gestion' },
];

/** Employee `id` sits in legal entity `id % 3` and department `⌊id / 3⌋ % 3` of the lists above: every pair is used. */
function placed(id: number): LuccaRawUser {
  const legalEntity = ENTITIES[id % 3]!;
  const department = DEPARTMENTS[Math.floor(id / 3) % 3]!;
  return luccaUser(id, {
    legalEntityId: legalEntity.id,
    legalEntity: { ...legalEntity },
    departmentId: department.id,
    department: { ...department },
  });
}

const people = (count: number): LuccaRawUser[] => Array.from({ length: count }, (_, i) => placed(i + 1));

const idsWhere = (users: LuccaRawUser[], keep: (u: LuccaRawUser) => boolean) =>
  users
    .filter(keep)
    .map((u) => u.id)
    .sort((a, b) => a - b);

const linkedIds = async (stack: Stack, companyId: string) =>
  (await profilesOf(stack, companyId)).map((p) => p.lucca?.userId ?? -1).sort((a, b) => a - b);

/**
 * One Lucca tenant, several client companies: each company's scope (legal entities, departments)
 * is part of its connection, read from the first sync on, and nobody outside it is read into the
 * platform — on the real Temporal dev server, FerretDB and the fake Lucca.
 */
describe('a company scoped to part of its Lucca tenant gets its people and nobody else', () => {
  let stack: Stack;
  let worker: RunningWorker;
  let deps: OperationsDeps;
  const companies: string[] = [];

  before(async () => {
    stack = await openStack('scope');
    const workerDeps = {
      lucca: { timeoutMs: 2_000, rateLimit: null, pageSize: PAGE_SIZE, allowedHosts: FAKE_LUCCA_HOSTS },
    };
    worker = await startWorker(stack, stack.taskQueue, workerDeps);
    deps = { repos: stack.repos, client: stack.client, config: loadConfig(stackEnv(stack)) };
  });

  after(async () => {
    await forgetCompanies(stack, companies, 'test over');
    await worker?.stop();
    await stack?.close();
  });

  afterEach(() => {
    stack.lucca.clearFaults();
  });

  /** A fake tenant holding `users`, and its URL and key. */
  function tenant(users: LuccaRawUser[], opts: { ignoreFilters?: boolean } = {}) {
    const name = `t-${uniqueSuffix()}`;
    const apiKey = newApiKey();
    stack.lucca.addTenant(name, {
      users,
      apiKeys: [{ key: apiKey }],
      today: '2026-06-15',
      rateLimit: false,
      organisationFilters: opts.ignoreFilters ? 'ignore' : 'apply',
    });
    return { name, apiKey, url: stack.lucca.tenantUrl(name) };
  }

  function onboard(t: { url: string; apiKey: string }, extra: Partial<OnboardInput> & { companyId?: string } = {}) {
    const companyId = extra.companyId ?? `co-${uniqueSuffix()}`;
    if (!companies.includes(companyId)) companies.push(companyId);
    return onboardCompany(deps, {
      companyId,
      name: `Comité ${companyId}`,
      luccaUrl: t.url,
      apiKey: t.apiKey,
      requestedBy: 'test',
      ...extra,
    });
  }

  /** Holds reads of `tenantName`'s third page (each attempt times out), and resolves once a run is held there. */
  async function holdThirdPage(tenantName: string) {
    const seen = stack.lucca.requests(tenantName).filter((r) => r.query.paging === THIRD_PAGE).length;
    stack.lucca.addFault({
      tenant: tenantName,
      whenOffset: 2 * (PAGE_SIZE - 1),
      kind: 'slow',
      delayMs: 600_000,
      times: Infinity,
    });
    await until('a run to be held on the third Lucca page', async () =>
      stack.lucca.requests(tenantName).filter((r) => r.query.paging === THIRD_PAGE).length > seen ? true : undefined,
    );
  }

  /** Until the company's workflow has no run in flight and none queued (a run's document is closed before its workflow ends). */
  const idle = (companyId: string) =>
    until(`${companyId}'s workflow to be idle`, async () => {
      const status = await queryCompanyStatus(stack.client, companyId);
      return status && !status.current && status.pending.length === 0 ? true : undefined;
    });

  test('two companies with disjoint scopes on one tenant, onboarded together, each get exactly their people', async () => {
    const users = people(120);
    const t = tenant(users);
    // A second worker, in its own process, on the same task queue: the two runs go side by side.
    const second = await ChildWorker.start({
      temporalAddress: TEMPORAL_ADDRESS,
      mongoUri: MONGODB_URI,
      mongoDb: stack.db.databaseName,
      taskQueue: stack.taskQueue,
      secret: TEST_SECRET,
      bundlePath: await workflowBundleFile(),
      pageSize: PAGE_SIZE,
      logLevel: 'error',
    });
    let runs: SyncRunDocument[];
    let north: OnboardResult;
    let south: OnboardResult;
    try {
      [north, south] = await Promise.all([
        onboard(t, { scope: { legalEntityIds: [1] } }),
        onboard(t, { scope: { legalEntityIds: [2, 3], departmentIds: [11, 12] } }),
      ]);
      runs = await Promise.all(
        [north, south].map((c) => waitForSyncRun(deps, c.firstSync, { pollMs: 100, timeoutMs: 120_000 })),
      );
    } finally {
      await second.stop();
    }
    assert.deepEqual(north.scope, { legalEntityIds: [1], departmentIds: [] });
    for (const run of runs) assert.equal(run.status, 'succeeded', JSON.stringify(run.error));

    const northIds = idsWhere(users, (u) => u.legalEntityId === 1);
    const southIds = idsWhere(users, (u) => u.legalEntityId !== 1 && [11, 12].includes(u.departmentId!));
    assert.ok(northIds.length > PAGE_SIZE && southIds.length > PAGE_SIZE, 'both scopes span pages');
    assert.deepEqual(await linkedIds(stack, north.companyId), northIds);
    assert.deepEqual(await linkedIds(stack, south.companyId), southIds);
    for (const [company, run, ids] of [
      [north, runs[0]!, northIds],
      [south, runs[1]!, southIds],
    ] as const) {
      assert.equal(run.counts?.seen, ids.length, `${company.companyId} saw only its people`);
      const reported = new Set((await changesOf(stack, run._id)).map((c) => c.luccaUserId));
      assert.deepEqual(
        [...reported].sort((a, b) => a! - b!),
        ids,
        'the report names only people of the scope',
      );
    }
    // Lucca was asked to filter: each company read its part, not the tenant.
    const asked = stack.lucca.requests(t.name).map((r) => `${r.query.legalEntityId}|${r.query.departmentId}`);
    assert.ok(asked.includes('1|undefined'), asked.join(' '));
    assert.ok(asked.includes('2,3|11,12'), asked.join(' '));
  });

  test('a tenant that ignores the filter leaks nobody: nothing of a person outside the scope is staged, reported or stored', async () => {
    const users = people(90);
    const t = tenant(users, { ignoreFilters: true });
    const inScope = idsWhere(users, (u) => u.departmentId === 13);
    const holding = holdThirdPage(t.name);
    const company = await onboard(t, { scope: { departmentIds: [13] } });
    await holding;

    // Held on its third page: what the run staged of the first two is people of department 13 only.
    const [running] = await stack.repos.syncRuns.runningOf(company.companyId);
    assert.ok(running, 'the first sync is running');
    const staged: number[] = [];
    for await (const page of stack.repos.workingData.readPages(running._id)) {
      for (const user of page.users) staged.push(user.luccaUserId ?? -1);
    }
    assert.ok(staged.length > 0, 'pages were staged');
    assert.deepEqual(
      staged.filter((id) => !inScope.includes(id)),
      [],
      'no one outside the scope is staged',
    );
    const stagedAsText = JSON.stringify(await stack.db.collection(`syncStaging.${running._id}`).find().toArray());
    const outside = users.find((u) => u.departmentId !== 13)!;
    assert.ok(!stagedAsText.includes(outside.mail!), 'not even as text');

    stack.lucca.clearFaults();
    const run = await waitForSyncRun(deps, company.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    assert.equal(run.status, 'succeeded', JSON.stringify(run.error));
    assert.deepEqual(await linkedIds(stack, company.companyId), inScope);
    const reported = (await changesOf(stack, run._id)).map((c) => c.luccaUserId);
    assert.deepEqual(
      reported.filter((id) => !inScope.includes(id!)),
      [],
      'the report names nobody outside the scope',
    );
    // Every read of the sync asked Lucca to filter (the onboarding's key check reads one user, unfiltered).
    const reads = stack.lucca.requests(t.name).filter((r) => r.query.fields?.includes('department['));
    assert.ok(reads.length >= 5, `the sync read page by page (${reads.length} reads)`);
    assert.deepEqual(
      reads.filter((r) => r.query.departmentId !== '13'),
      [],
      'the filter was asked for',
    );
    assert.equal(run.counts?.seen, inScope.length);
  });

  test('the scope is part of the connection: a new one changes the stamp and is refused while a run is in flight', async () => {
    // 60 of them in legal entity 1: four pages of a scoped read, the third of which is held below.
    const t = tenant(people(180));
    const first = await onboard(t, { scope: { legalEntityIds: [1] } });
    const { companyId } = first;
    assert.equal(
      (await waitForSyncRun(deps, first.firstSync, { pollMs: 100, timeoutMs: 120_000 })).status,
      'succeeded',
    );

    // The same URL, key and scope: no change, the stamp stays; no scope given keeps the scope.
    const again = await onboard(t, { companyId, scope: { legalEntityIds: [1] } });
    assert.equal(again.connectionChanged, false);
    assert.equal(again.connectionId, first.connectionId);
    await waitForSyncRun(deps, again.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    const kept = await onboard(t, { companyId });
    assert.equal(kept.connectionChanged, false);
    assert.deepEqual(kept.scope, { legalEntityIds: [1], departmentIds: [] }, 'onboarding again never widens a scope');
    await waitForSyncRun(deps, kept.firstSync, { pollMs: 100, timeoutMs: 120_000 });

    // A run held mid-read: another scope now would mix two scopes in one run.
    const holding = holdThirdPage(t.name);
    const held = await onboard(t, { companyId, scope: { legalEntityIds: [1] }, apiKey: t.apiKey });
    await holding;
    await assert.rejects(onboard(t, { companyId, scope: { legalEntityIds: [1, 2] } }), (err: OperationError) => {
      assert.equal(err.code, 'run-in-flight');
      return true;
    });
    await assert.rejects(changeScope(deps, { companyId, scope: { legalEntityIds: [1, 2] } }), (err: OperationError) => {
      assert.equal(err.code, 'run-in-flight', 'the scope command too');
      return true;
    });
    assert.deepEqual((await stack.repos.companies.get(companyId))!.lucca.scope, {
      legalEntityIds: [1],
      departmentIds: [],
    });
    stack.lucca.clearFaults();
    await waitForSyncRun(deps, held.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    await idle(companyId);

    const wider = await onboard(t, { companyId, scope: { legalEntityIds: [2, 1] } });
    assert.equal(wider.connectionChanged, true, 'a new scope is a new connection');
    assert.notEqual(wider.connectionId, first.connectionId);
    assert.deepEqual((await stack.repos.companies.get(companyId))!.lucca.scope, {
      legalEntityIds: [1, 2],
      departmentIds: [],
    });
    assert.equal(
      (await waitForSyncRun(deps, wider.firstSync, { pollMs: 100, timeoutMs: 120_000 })).status,
      'succeeded',
    );
    assert.deepEqual(
      await linkedIds(stack, companyId),
      idsWhere(stack.lucca.getUsers(t.name), (u) => [1, 2].includes(u.legalEntityId!)),
    );
  });

  /** Syncs each company now and waits for the runs, which must succeed. */
  async function syncAll(...companyIds: string[]): Promise<SyncRunDocument[]> {
    const tickets = await Promise.all(
      companyIds.map((companyId) => requestSync(deps, { companyId, requestedBy: 'test' })),
    );
    const runs = await Promise.all(tickets.map((t) => waitForSyncRun(deps, t, { pollMs: 100, timeoutMs: 120_000 })));
    for (const run of runs) assert.equal(run.status, 'succeeded', JSON.stringify(run.error));
    return runs;
  }

  const reasonsOf = async (runId: string, luccaUserId: number) =>
    (await changesOf(stack, runId))
      .filter((c) => c.luccaUserId === luccaUserId)
      .map((c) => `${c.action}:${c.reasons.map((r) => r.code).join(',')}`);

  // The two tenants share nothing but the worker: their runs go side by side, halving the wait.
  describe('a move between two companies of one tenant', { concurrency: true }, () => {
    for (const ignoreFilters of [false, true]) {
      test(`an employee moved to another department leaves one company (out-of-scope) and is attached in the other; one removed from Lucca stays removed-from-lucca${ignoreFilters ? ' (tenant ignoring the filter)' : ''}`, async () => {
        const users = people(60);
        const t = tenant(users, { ignoreFilters });
        const product = await onboard(t, { scope: { departmentIds: [11] } });
        const support = await onboard(t, { scope: { departmentIds: [12, 13] } });
        for (const c of [product, support]) {
          assert.equal(
            (await waitForSyncRun(deps, c.firstSync, { pollMs: 100, timeoutMs: 120_000 })).status,
            'succeeded',
          );
        }
        const [mover, leaver] = idsWhere(users, (u) => u.departmentId === 11).slice(3, 5) as [number, number];
        const moverMail = users.find((u) => u.id === mover)!.mail!;
        // The support company's platform already has the mover (a CSV import): the move attaches it.
        const imported = await insertPlatformProfile(stack, support.companyId, {
          firstName: 'Camille',
          lastName: 'Importée',
          email: moverMail,
        });

        stack.lucca.mutateUsers(t.name, (all) =>
          moveUsers(all, [mover], { department: DEPARTMENTS[1] }).filter((u) => u.id !== leaver),
        );
        const [productRun, supportRun] = await syncAll(product.companyId, support.companyId);

        assert.deepEqual(await reasonsOf(productRun!._id, mover), ['deactivate:out-of-scope']);
        assert.deepEqual(await reasonsOf(productRun!._id, leaver), ['deactivate:removed-from-lucca']);
        assert.deepEqual(await reasonsOf(supportRun!._id, mover), ['link:']);
        const left = await linkedProfile(stack, product.companyId, mover);
        assert.equal(left.status, 'former');
        assert.ok(left.lucca?.outOfScopeAt, 'marked out of scope');
        assert.equal(left.lucca?.removedAt ?? null, null, 'not removed from Lucca');
        const removed = await linkedProfile(stack, product.companyId, leaver);
        assert.ok(removed.lucca?.removedAt, 'marked removed');
        assert.equal(removed.lucca?.outOfScopeAt ?? null, null);
        const attached = await linkedProfile(stack, support.companyId, mover);
        assert.equal(attached._id.toHexString(), imported.toHexString(), 'attached, not duplicated');
        assert.equal(attached.status, 'active');

        // A re-run over the same data changes nothing; coming back is a reactivation on one side, a departure on the other.
        const [quiet] = await syncAll(product.companyId);
        assert.deepEqual(
          (await changesOf(stack, quiet!._id)).filter((c) => c.action !== 'skip' && c.action !== 'conflict'),
          [],
        );
        stack.lucca.mutateUsers(t.name, (all) => moveUsers(all, [mover], { department: DEPARTMENTS[0] }));
        const [backRun, awayRun] = await syncAll(product.companyId, support.companyId);
        assert.deepEqual(await reasonsOf(backRun!._id, mover), ['reactivate:rehired']);
        assert.deepEqual(await reasonsOf(awayRun!._id, mover), ['deactivate:out-of-scope']);
        const back = await linkedProfile(stack, product.companyId, mover);
        assert.equal(back.status, 'active');
        assert.equal(back.lucca?.outOfScopeAt ?? null, null);
      });
    }
  });

  test('a renamed legal entity and department stay in scope (a scope is by id): their people are updated with the new names, nobody leaves', async () => {
    const users = people(36);
    // Lucca's filter ignored: our own check of the scope decides alone.
    const t = tenant(users, { ignoreFilters: true });
    const company = await onboard(t, { scope: { legalEntityIds: [2], departmentIds: [12] } });
    const first = await waitForSyncRun(deps, company.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    const inScope = idsWhere(users, (u) => u.legalEntityId === 2 && u.departmentId === 12);
    assert.ok(inScope.length > 1);
    assert.deepEqual(await linkedIds(stack, company.companyId), inScope);

    const entity = { id: 2, name: 'Établissements Côte-Sud & Corse' };
    const department = { id: 12, name: 'Ressources Humaines — Paie' };
    stack.lucca.mutateUsers(t.name, (all) =>
      renameOrgUnit(renameOrgUnit(all, 'legalEntity', entity), 'department', department),
    );
    const [run] = await syncAll(company.companyId);
    assert.deepEqual(
      [run!.counts?.seen, run!.counts?.updated, run!.counts?.deactivated],
      [inScope.length, inScope.length, 0],
    );
    const changes = (await changesOf(stack, run!._id)).filter((c) => c.action !== 'skip');
    assert.deepEqual(
      changes.map((c) => [c.luccaUserId, c.action, c.fields]),
      inScope.map((id) => [
        id,
        'update',
        {
          legalEntity: { from: ENTITIES[1]!.name, to: entity.name },
          department: { from: DEPARTMENTS[1]!.name, to: department.name },
        },
      ]),
    );
    for (const profile of await profilesOf(stack, company.companyId)) {
      assert.equal(profile.status, 'active');
      assert.deepEqual([profile.lucca?.legalEntity, profile.lucca?.department], [entity, department]);
    }
  });

  const CLI = path.join(import.meta.dirname, '..', '..', 'scripts', 'cli.ts');

  /** Runs the CLI as an operator would, against this stack. */
  function runCli(args: string[], env: Record<string, string> = {}) {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...stackEnv(stack), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
      child.on('close', (code) => resolve({ code, stdout, stderr })),
    );
  }

  test('overlapping scopes on one tenant are refused with the companies and the people in both, unless allowed: recorded and audited', async () => {
    const users = people(60);
    const t = tenant(users);
    const north = await onboard(t, { scope: { legalEntityIds: [1] } });
    await waitForSyncRun(deps, north.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    const inBoth = idsWhere(users, (u) => u.legalEntityId === 1 && u.departmentId === 11).length;
    assert.ok(inBoth > 0);

    const companyId = `co-${uniqueSuffix()}`;
    companies.push(companyId);
    const refusedWith = (pattern: RegExp) => (err: OperationError) => {
      assert.equal(err.code, 'scope-overlap');
      assert.match(err.message, pattern);
      assert.match(err.message, /Nothing was changed/);
      return true;
    };
    await assert.rejects(
      onboard(t, { companyId, scope: { departmentIds: [11] } }),
      refusedWith(
        new RegExp(`"Comité ${north.companyId}" \\(${north.companyId}: legal entities 1; ${inBoth} people in both\\)`),
      ),
    );
    // No scope is the whole tenant: it overlaps every company there, all of legal entity 1 in both.
    await assert.rejects(
      onboard(t, { companyId }),
      refusedWith(new RegExp(`${idsWhere(users, (u) => u.legalEntityId === 1).length} people in both`)),
    );
    assert.equal(await stack.repos.companies.get(companyId), null, 'nothing was saved');

    // Through the CLI: refused (exit 1, the same sentence) and audited as refused; allowed, recorded and audited.
    const args = ['onboard', '--company', companyId, '--name', 'Comité Produit', '--lucca-url', t.url];
    const keyEnv = { SCOPE_TEST_KEY: t.apiKey };
    const refused = await runCli([...args, '--api-key-env', 'SCOPE_TEST_KEY', '--department', '11'], keyEnv);
    assert.equal(refused.code, 1, refused.stdout);
    assert.match(refused.stderr, new RegExp(`${inBoth} people in both`));
    const allowed = await runCli(
      [...args, '--api-key-env', 'SCOPE_TEST_KEY', '--department', '11', '--allow-overlap'],
      keyEnv,
    );
    assert.equal(allowed.code, 0, allowed.stderr);
    assert.match(allowed.stdout, new RegExp(`Overlap allowed with "Comité ${north.companyId}"`));
    assert.equal((await stack.repos.companies.get(companyId))!.lucca.scopeOverlapAllowed, true);
    const audit = await listAudit(deps, { companyId, limit: 10 });
    assert.deepEqual(
      audit.map((e) => [e.action, e.outcome, e.code, e.params.allowOverlap, e.params.departmentIds]).reverse(),
      [
        ['onboard', 'refused', 'scope-overlap', false, '11'],
        ['onboard', 'ok', null, true, '11'],
      ],
    );
    assert.equal(audit[0]!.params.overlapsWith, north.companyId);

    // Disjoint scopes on the same tenant need no permission.
    const south = await onboard(t, { scope: { legalEntityIds: [2, 3], departmentIds: [12, 13] } });
    assert.deepEqual(south.overlaps, []);
    assert.equal(
      (await waitForSyncRun(deps, south.firstSync, { pollMs: 100, timeoutMs: 120_000 })).status,
      'succeeded',
    );
  });

  test('two overlapping onboardings racing on one tenant: exactly one wins, the other is refused with the overlap', async () => {
    // A racing pair on each of several tenants at once: without the tenant's claim, the pairs whose
    // checks both run before either saves both pass.
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        const users = people(12);
        const t = tenant(users);
        const ids = [`co-${uniqueSuffix()}`, `co-${uniqueSuffix()}`] as const;
        const results = await Promise.allSettled([
          onboard(t, { companyId: ids[0], scope: { legalEntityIds: [1] } }),
          onboard(t, { companyId: ids[1], scope: { departmentIds: [11] } }),
        ]);
        const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
        const refused = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as OperationError] : []));
        assert.equal(won.length, 1, `exactly one of ${ids.join(' and ')} is onboarded`);
        const winner = won[0]!;
        const loser = ids.find((id) => id !== winner.companyId)!;
        assert.equal(refused[0]?.code, 'scope-overlap', refused[0]?.message);
        const inBoth = idsWhere(users, (u) => u.legalEntityId === 1 && u.departmentId === 11).length;
        assert.match(
          refused[0].message,
          new RegExp(`"Comité ${winner.companyId}" .*; ${inBoth} (person|people) in both`),
        );
        assert.equal(await stack.repos.companies.get(loser), null, 'nothing of the refused one was saved');
        assert.equal(await stack.repos.tenantClaims.current(winner.baseUrl), null, 'the claim was released');
        const first = await waitForSyncRun(deps, winner.firstSync, { pollMs: 100, timeoutMs: 120_000 });
        assert.equal(first.status, 'succeeded');
      }),
    );
  });

  test("an onboarding waits for the tenant's claim while it is held, and breaks one left by a crashed process", async () => {
    const users = people(12);
    const t = tenant(users);
    const tenantKey = normaliseLuccaBaseUrl(t.url);
    // A scope change of another company of the tenant holds the claim.
    const busy = { companyId: 'co-other', holder: 'another process', at: new Date() };
    assert.ok(await stack.repos.tenantClaims.claim(tenantKey, busy));
    const companyId = `co-${uniqueSuffix()}`;
    const onboarding = onboard(t, { companyId, scope: { legalEntityIds: [3] } });
    onboarding.catch(() => undefined);
    // The onboarding checked the key with Lucca, then waits on the claim: nothing saved meanwhile.
    await until('the onboarding to check its key with Lucca', async () =>
      stack.lucca.requests(t.name).length > 0 ? true : undefined,
    );
    const waitedFrom = Date.now();
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    assert.equal(await stack.repos.companies.get(companyId), null, 'not saved while another holds the claim');
    await stack.repos.tenantClaims.release(tenantKey, busy.holder);
    const onboarded = await onboarding;
    assert.ok(Date.now() - waitedFrom >= 1_000);
    await waitForSyncRun(deps, onboarded.firstSync, { pollMs: 100, timeoutMs: 120_000 });

    // A claim ten times older than the lapse belongs to a process that died holding it: broken at once.
    const crashed = {
      companyId: 'co-crashed',
      holder: 'a crashed process',
      at: new Date(Date.now() - 10 * TENANT_CLAIM_LAPSE_MS),
    };
    assert.ok(await stack.repos.tenantClaims.claim(tenantKey, crashed));
    const second = await onboard(t, { scope: { legalEntityIds: [2] } });
    assert.deepEqual(second.scope, { legalEntityIds: [2], departmentIds: [] });
    assert.equal(await stack.repos.tenantClaims.current(tenantKey), null);
    await waitForSyncRun(deps, second.firstSync, { pollMs: 100, timeoutMs: 120_000 });
  });

  test("a scope change waiting for another placement's tenant claim says what it waits for: the CLI prints it, the console answers with it", async () => {
    const t = tenant(people(12));
    const company = await onboard(t, { scope: { legalEntityIds: [1] } });
    await waitForSyncRun(deps, company.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    const { companyId } = company;
    await idle(companyId);
    const tenantKey = normaliseLuccaBaseUrl(t.url);
    const busy = { companyId: 'co-other', holder: 'another process', at: new Date() };
    const scopeNow = async () => (await stack.repos.companies.get(companyId))!.lucca.scope;

    // The CLI: waits, saying for what (ids only), and saves once the other placement is done.
    assert.ok(await stack.repos.tenantClaims.claim(tenantKey, busy));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, 'scope', '--company', companyId, '--legal-entity', '1', '--legal-entity', '2'],
      {
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...stackEnv(stack) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await until('the CLI to say what it waits for', async () => (stderr.includes('Waiting for') ? true : undefined));
      assert.equal(
        stderr.trim(),
        'Waiting for another onboarding or scope change of the same Lucca tenant (company co-other), at most 75 s…',
      );
      assert.deepEqual(await scopeNow(), { legalEntityIds: [1], departmentIds: [] }, 'nothing saved while it waits');
      await stack.repos.tenantClaims.release(tenantKey, busy.holder);
      assert.equal(await exited, 0, stderr);
    } finally {
      child.kill();
    }
    assert.deepEqual(await scopeNow(), { legalEntityIds: [1, 2], departmentIds: [] });

    // The console does not hang a page on it: it answers, naming the company the tenant waits for.
    const operator = { user: 'claim-waiter', password: 'a long enough password 0044' };
    const app = await buildConsole({
      deps,
      db: stack.db,
      settings: await settingsWithAdmin(operator),
    });
    try {
      const cookie = await logIn(app, operator);
      const page = await app.inject({ method: 'GET', url: `/companies/${companyId}/scope`, headers: { cookie } });
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
      const post = (url: string, payload: Record<string, string>) =>
        app.inject({ method: 'POST', url, headers: { cookie }, payload: { _csrf: csrf, ...payload } });
      const previewed = await post(`/companies/${companyId}/scope/preview`, { 'le-1': '1' });
      const previewToken = /name="previewToken" value="([^"]+)"/.exec(previewed.body)?.[1];
      assert.ok(previewToken);
      assert.ok(await stack.repos.tenantClaims.claim(tenantKey, { ...busy, at: new Date() }));
      const began = Date.now();
      const refused = await post(`/companies/${companyId}/scope`, {
        legalEntityIds: '1',
        departmentIds: '',
        previewToken,
      });
      assert.equal(refused.statusCode, 422);
      assert.match(refused.body, /\(company co-other, since [0-9T:.-]+Z\) was still checking and saving after 10 s/);
      assert.ok(Date.now() - began < 30_000, 'answered within its bound');
      assert.deepEqual(await scopeNow(), { legalEntityIds: [1, 2], departmentIds: [] }, 'nothing changed');
    } finally {
      await stack.repos.tenantClaims.release(tenantKey, busy.holder);
      await app.close();
    }
  });

  test('a scope change is previewed, nothing written, then applied: the next run does what the preview said, guarded', async () => {
    const users = people(60);
    const t = tenant(users);
    const company = await onboard(t, { scope: { legalEntityIds: [2] } });
    await waitForSyncRun(deps, company.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    const { companyId } = company;
    const entity1 = idsWhere(users, (u) => u.legalEntityId === 1);
    const entity2 = idsWhere(users, (u) => u.legalEntityId === 2);
    // Someone of legal entity 1 is on the platform already (a CSV import): the new scope attaches them.
    await insertPlatformProfile(stack, companyId, {
      firstName: 'Importé',
      lastName: 'Avant',
      email: users.find((u) => u.id === entity1[0])!.mail!,
    });
    const stamps = updatedStamps(await profilesOf(stack, companyId));
    const runs = (await stack.repos.syncRuns.list(companyId, 50)).length;

    const shown = await runCli(['scope', '--company', companyId, '--legal-entity', '1', '--preview']);
    assert.equal(shown.code, 0, shown.stderr);
    const json = await runCli(['scope', '--company', companyId, '--legal-entity', '1', '--preview', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const preview = JSON.parse(json.stdout) as ScopePreview;
    assert.deepEqual(preview.profiles, {
      attached: 1,
      created: entity1.length - 1,
      kept: 0,
      updated: 0,
      reactivated: 0,
      deactivatedOutOfScope: entity2.length,
      removedFromLucca: 0,
      deactivatedOther: 0,
    });
    assert.equal(preview.inScope, entity1.length);
    assert.deepEqual(
      preview.organisation.legalEntities.map((u) => [u.id, u.name, u.userCount]),
      ENTITIES.map((e) => [e.id, e.name, idsWhere(users, (u) => u.legalEntityId === e.id).length]),
    );
    assert.deepEqual(
      preview.fired.map((f) => f.guard),
      ['deactivate'],
    );
    // The operator's view: names with their accents and counts, the proposed units marked, the outcome.
    assert.match(shown.stdout, new RegExp(`\\* +1 +Société Lumière d'Île-de-France +${entity1.length} people`));
    assert.match(
      shown.stdout,
      new RegExp(`attach 1, create ${entity1.length - 1}, keep 0 .*deactivate ${entity2.length} as out of scope`),
    );
    assert.match(shown.stdout, /would be blocked by the guards/);
    // A dry run: nothing written.
    assert.deepEqual(updatedStamps(await profilesOf(stack, companyId)), stamps);
    assert.equal((await stack.repos.syncRuns.list(companyId, 50)).length, runs);
    assert.deepEqual((await stack.repos.companies.get(companyId))!.lucca.scope, {
      legalEntityIds: [2],
      departmentIds: [],
    });

    // Applied: a new connection stamp, audited; the next run is blocked by the guard, then applied anyway.
    const saved = await runCli(['scope', '--company', companyId, '--legal-entity', '1']);
    assert.equal(saved.code, 0, saved.stderr);
    assert.match(saved.stdout, /now covers legal entities 1 \(was legal entities 2\)/);
    const stored = (await stack.repos.companies.get(companyId))!.lucca;
    assert.deepEqual(stored.scope, { legalEntityIds: [1], departmentIds: [] });
    assert.notEqual(stored.connectionId, company.connectionId);
    const [entry] = await listAudit(deps, { companyId, limit: 1 });
    assert.deepEqual(
      [entry?.action, entry?.outcome, entry?.params.legalEntityIds, entry?.params.previous],
      ['change-scope', 'ok', '1', 'legal entities 2'],
    );

    const held = await waitForSyncRun(deps, await requestSync(deps, { companyId, requestedBy: 'test' }), {
      pollMs: 100,
      timeoutMs: 120_000,
    });
    assert.equal(held.status, 'blocked', 'deactivating a whole legal entity waits for a review');
    const applied = await waitForSyncRun(
      deps,
      await requestSync(deps, { companyId, requestedBy: 'test', applyAnyway: { blockedRunId: held._id } }),
      { pollMs: 100, timeoutMs: 120_000 },
    );
    assert.equal(applied.status, 'succeeded', JSON.stringify(applied.error));
    assert.deepEqual(
      [applied.counts?.linked, applied.counts?.created, applied.counts?.deactivated],
      [preview.profiles.attached, preview.profiles.created, preview.profiles.deactivatedOutOfScope],
    );
    const appliedChanges = await changesOf(stack, applied._id);
    const deactivations = appliedChanges.filter((c) => c.action === 'deactivate');
    assert.ok(deactivations.every((c) => c.reasons.map((r) => r.code).join() === 'out-of-scope'));
    // Those the new scope brought in say so; the report names the change and counts both sides.
    const entering = appliedChanges.filter((c) => c.action === 'create' || c.action === 'link');
    assert.equal(entering.length, entity1.length);
    assert.ok(entering.every((c) => c.reasons.map((r) => r.code).join() === 'entered-scope'));
    for (const run of [held, applied]) {
      assert.deepEqual(
        (await stack.repos.syncRuns.get(run._id))?.scopeChange,
        {
          from: {
            legalEntityIds: [2],
            departmentIds: [],
            names: { legalEntities: { 2: ENTITIES[1]!.name }, departments: {} },
          },
          to: {
            legalEntityIds: [1],
            departmentIds: [],
            names: { legalEntities: { 1: ENTITIES[0]!.name }, departments: {} },
          },
          deactivatedOutOfScope: entity2.length,
          enteredScope: entity1.length,
        },
        `run ${run.status}`,
      );
    }
    const report = await runCli(['report', '--company', companyId, '--run', applied._id]);
    assert.equal(report.code, 0, report.stderr);
    assert.ok(
      report.stdout.includes(
        `Scope changed since the last run (legal entities 2 “${ENTITIES[1]!.name}” → legal entities 1 “${ENTITIES[0]!.name}”): ` +
          `${entity2.length} deactivated out of scope, ${entity1.length} created or attached because they entered it`,
      ),
      report.stdout.slice(0, 1500),
    );
    // The console's run page says it in French, with the unit names.
    const operator = { user: 'scope-change-reader', password: 'a long enough password 0043' };
    const app = await buildConsole({
      deps,
      db: stack.db,
      settings: await settingsWithAdmin(operator),
    });
    try {
      const cookie = await logIn(app, operator);
      const page = await app.inject({
        method: 'GET',
        url: `/companies/${companyId}/runs/${applied._id}`,
        headers: { cookie },
      });
      assert.equal(page.statusCode, 200);
      const said = /data-testid="scope-change">([^<]*)</.exec(page.body)?.[1]?.replaceAll('&#39;', "'");
      assert.equal(
        said,
        `Périmètre modifié depuis la dernière synchronisation (Entités juridiques 2 « ${ENTITIES[1]!.name} » → ` +
          `Entités juridiques 1 « ${ENTITIES[0]!.name} ») : ${entity2.length} désactivés hors périmètre, ` +
          `${entity1.length} créés ou rattachés parce qu’ils y sont entrés`,
      );
    } finally {
      await app.close();
    }
    const profiles = await profilesOf(stack, companyId);
    assert.deepEqual(
      profiles
        .filter((p) => p.status !== 'former')
        .map((p) => p.lucca?.userId)
        .sort((a, b) => a! - b!),
      entity1,
    );
  });

  test('a one-user run applied first after a scope change does not swallow it: the next full run still reports the change', async () => {
    const users = people(30);
    const t = tenant(users);
    const company = await onboard(t, { scope: { legalEntityIds: [2] } });
    await waitForSyncRun(deps, company.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    const { companyId } = company;
    const entity1 = idsWhere(users, (u) => u.legalEntityId === 1);
    await idle(companyId);
    await changeScope(deps, { companyId, scope: { legalEntityIds: [1, 2] } });

    // An admin re-syncs one person of the entity the scope brought in, before any full run.
    const oneUser = await waitForSyncRun(
      deps,
      await requestSync(deps, { companyId, requestedBy: 'test', luccaUserId: entity1[0]! }),
      { pollMs: 100, timeoutMs: 120_000 },
    );
    assert.equal(oneUser.status, 'succeeded', JSON.stringify(oneUser.error));
    assert.equal(oneUser.kind, 'one-user');

    const full = await waitForSyncRun(deps, await requestSync(deps, { companyId, requestedBy: 'test' }), {
      pollMs: 100,
      timeoutMs: 120_000,
    });
    assert.equal(full.status, 'succeeded', JSON.stringify(full.error));
    const change = (await stack.repos.syncRuns.get(full._id))?.scopeChange;
    assert.deepEqual(
      [change?.from?.legalEntityIds, change?.to?.legalEntityIds, change?.enteredScope],
      [[2], [1, 2], entity1.length - 1],
      'compared with the last full run, not the one-user run',
    );
  });

  test("the console's scope editor offers the tenant's entities and departments by name with their people, previews a choice, then saves it", async () => {
    const users = people(60);
    const t = tenant(users);
    const company = await onboard(t, { scope: { legalEntityIds: [2] } });
    await waitForSyncRun(deps, company.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    const { companyId } = company;
    const operator = { user: 'scope-operator', password: 'a long enough password 0042' };
    const app = await buildConsole({
      deps,
      db: stack.db,
      settings: await settingsWithAdmin(operator),
    });
    try {
      const cookie = await logIn(app, operator);
      const page = await app.inject({ method: 'GET', url: `/companies/${companyId}/scope`, headers: { cookie } });
      assert.equal(page.statusCode, 200);
      // French by default, as the console is.
      assert.match(page.body, /data-testid="scope-current">Entités juridiques 2</);
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
      const post = (url: string, payload: Record<string, string>) =>
        app.inject({ method: 'POST', url, headers: { cookie }, payload: { _csrf: csrf, ...payload } });

      // The editor: the units Lucca has, by name, with their people; a choice previewed, nothing written.
      const loaded = await post(`/companies/${companyId}/scope/preview`, { legalEntityIds: '2', departmentIds: '' });
      assert.equal(loaded.statusCode, 200, loaded.body.slice(0, 500));
      for (const e of ENTITIES) {
        const count = idsWhere(users, (u) => u.legalEntityId === e.id).length;
        assert.ok(loaded.body.includes(`name="le-${e.id}"`), `entity ${e.id} offered`);
        assert.ok(loaded.body.includes(`${count} personnes`), `${e.name}: ${count} people`);
      }
      assert.ok(
        loaded.body.includes('Société Lumière d&#39;Île-de-France') ||
          loaded.body.includes("Société Lumière d'Île-de-France"),
      );
      const chosen = await post(`/companies/${companyId}/scope/preview`, { 'le-2': '1', 'dep-11': '1' });
      assert.equal(chosen.statusCode, 200);
      const kept = idsWhere(users, (u) => u.legalEntityId === 2 && u.departmentId === 11).length;
      const out = idsWhere(users, (u) => u.legalEntityId === 2 && u.departmentId !== 11).length;
      // French typography: a non-breaking space before the heading's colon.
      assert.ok(
        chosen.body.includes('<h2>Aperçu\u00a0: Entités juridiques 2 · Départements 11</h2>'),
        'preview heading',
      );
      assert.match(chosen.body, new RegExp(`data-testid="scope-kept">${kept}<`));
      assert.match(chosen.body, new RegExp(`data-testid="scope-out">${out}<`));
      assert.deepEqual((await stack.repos.companies.get(companyId))!.lucca.scope, {
        legalEntityIds: [2],
        departmentIds: [],
      });

      const token = /name="previewToken" value="([^"]+)"/.exec(chosen.body)?.[1];
      assert.ok(token, 'the save form carries the preview it saves');

      // Refused: a save without its preview, and one whose tenant changed since (a person moved into the scope).
      const blind = await post(`/companies/${companyId}/scope`, { legalEntityIds: '2', departmentIds: '11' });
      assert.equal(blind.statusCode, 422);
      assert.match(blind.body, /preview it first/);
      const moverId = idsWhere(users, (u) => u.legalEntityId === 1)[0]!;
      stack.lucca.mutateUsers(t.name, (all) => moveUsers(all, [moverId], { legalEntity: ENTITIES[1] }));
      const stale = await post(`/companies/${companyId}/scope`, {
        legalEntityIds: '2',
        departmentIds: '11',
        previewToken: token,
      });
      assert.equal(stale.statusCode, 422);
      assert.match(stale.body, /changed since the preview/);
      assert.deepEqual((await stack.repos.companies.get(companyId))!.lucca.scope, {
        legalEntityIds: [2],
        departmentIds: [],
      });
      stack.lucca.mutateUsers(t.name, (all) => moveUsers(all, [moverId], { legalEntity: ENTITIES[0] }));

      // Saved: the previewed scope, as a connection change, audited from the console.
      const saved = await post(`/companies/${companyId}/scope`, {
        legalEntityIds: '2',
        departmentIds: '11',
        previewToken: token,
      });
      assert.equal(saved.statusCode, 303, saved.body.slice(0, 500));
      const stored = (await stack.repos.companies.get(companyId))!.lucca;
      assert.deepEqual(stored.scope, { legalEntityIds: [2], departmentIds: [11] });
      assert.notEqual(stored.connectionId, company.connectionId);
      const [entry] = await listAudit(deps, { companyId, limit: 1 });
      assert.deepEqual([entry?.action, entry?.source, entry?.outcome], ['change-scope', 'console', 'ok']);
    } finally {
      await app.close();
    }
  });

  test("the console's connection form takes a scope chosen from the tenant's units: an overlap is refused with names and counts, and the company is scoped from its first run", async () => {
    const users = people(60);
    const t = tenant(users);
    const first = await onboard(t, { scope: { legalEntityIds: [1] } });
    await waitForSyncRun(deps, first.firstSync, { pollMs: 100, timeoutMs: 120_000 });
    const operator = { user: 'connect-operator', password: 'a long enough password 0043' };
    const app = await buildConsole({
      deps,
      db: stack.db,
      settings: await settingsWithAdmin(operator),
    });
    const companyId = `co-${uniqueSuffix()}`;
    companies.push(companyId);
    try {
      const cookie = await logIn(app, operator);
      const page = await app.inject({ method: 'GET', url: '/companies/new', headers: { cookie } });
      const csrf = /name="_csrf" value="([^"]+)"/.exec(page.body)![1]!;
      const form = { _csrf: csrf, name: 'CSE Côte-Sud', companyId, luccaUrl: t.url, apiKey: t.apiKey, every: '24h' };
      const post = (url: string, payload: Record<string, string>) =>
        app.inject({ method: 'POST', url, headers: { cookie }, payload: { ...form, ...payload } });

      // The units the tenant has, read with the typed key, by name with their people.
      const units = await post('/companies/new/organisation', {});
      assert.equal(units.statusCode, 200, units.body.slice(0, 500));
      for (const e of ENTITIES) {
        assert.ok(units.body.includes(`name="le-${e.id}"`), `entity ${e.id} offered`);
        assert.ok(units.body.includes(`${idsWhere(users, (u) => u.legalEntityId === e.id).length} personnes`));
      }
      assert.ok(units.body.includes('name="dep-13"'));

      // Overlapping the first company: refused, naming it and the people in both; nothing stored.
      const overlapping = await post('/companies/new', { 'le-1': '1', 'dep-11': '1' });
      assert.equal(overlapping.statusCode, 422);
      const both = idsWhere(users, (u) => u.legalEntityId === 1 && u.departmentId === 11).length;
      assert.ok(overlapping.body.includes(`Comité ${first.companyId}`), 'names the other company');
      assert.ok(overlapping.body.includes(`${both} people in both`), overlapping.body.slice(0, 3000));
      assert.equal(await stack.repos.companies.get(companyId), null);

      // Disjoint: connected with its scope, and its first run reads only its people.
      const connected = await post('/companies/new', { 'le-2': '1' });
      assert.equal(connected.statusCode, 303, connected.body.slice(0, 500));
      assert.deepEqual((await stack.repos.companies.get(companyId))!.lucca.scope, {
        legalEntityIds: [2],
        departmentIds: [],
      });
      const [runId] = await until(
        'the first sync of the company connected from the console',
        async () => {
          const runs = await stack.repos.syncRuns.list(companyId, 5);
          return runs.length > 0 && runs.every((r) => r.status !== 'running') ? runs.map((r) => r._id) : undefined;
        },
        120_000,
      );
      const run = await stack.repos.syncRuns.get(runId!);
      assert.equal(run?.status, 'succeeded', JSON.stringify(run?.error));
      assert.deepEqual(
        await linkedIds(stack, companyId),
        idsWhere(users, (u) => u.legalEntityId === 2),
      );
      const [entry] = await listAudit(deps, { companyId, limit: 1 });
      assert.deepEqual([entry?.action, entry?.params.legalEntityIds], ['onboard', '2']);
    } finally {
      await app.close();
    }
  });
});
