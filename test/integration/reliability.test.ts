import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import fc from 'fast-check';
import { DEFAULT_SECRET_ID } from '../../config/env';
import { ApiKeyDecryptError, decryptApiKey, keyringOf } from '../../db/api-key-cipher';
import { generateLuccaUsers, type LuccaRawUser } from '../../dev-tools/fake-lucca';
import { localDate } from '../../dev-tools/fake-lucca/dates';
import { hostileCompany } from '../../dev-tools/reliability/fuzz';
import { pagesOf } from '../../dev-tools/reliability/moments';
import { leaks, RIG_KEYRING, RIG_SECRET, Rig, secretsOf, type RunOutcome } from '../../dev-tools/reliability/rig';
import {
  assertHostileRecordsHandled,
  assertSameAsClean,
  killWorkerAt,
  pageMoments,
  restartAt,
  slowPages,
} from '../../dev-tools/reliability/scenarios';

/**
 * The reliability checks colleagues' sync-*.test.ts files do not cover, at a small size (1,000
 * employees, pages of 50): a worker SIGKILLed again and again, FerretDB and the Temporal server
 * restarted mid-run, hostile records, secrets in logs, histories and at rest. They run on a private
 * Temporal dev server and FerretDB (restarting the shared ones would break other tests), with the
 * worker in a child process. Each fault is aimed at a moment the run is held at, and fails the
 * test if the run never comes there or the fault lands outside it (see dev-tools/reliability/moments.ts).
 * `npm run chaos` runs the same scenarios bigger and longer.
 */
const SIZE = 1_000;
const PAGE_SIZE = 50;
const PAGE_DELAY_MS = 120;
const PAGES = pagesOf(SIZE, PAGE_SIZE);

describe('lucca-sync under crashes, restarts and hostile data', () => {
  let rig: Rig;
  let users: ReturnType<typeof generateLuccaUsers>;
  let clean: RunOutcome;

  before(async () => {
    rig = await Rig.open({ pageSize: PAGE_SIZE });
    await rig.startWorker();
    users = generateLuccaUsers({ size: SIZE, seed: 7, today: localDate() });
    clean = await rig.sync((await rig.addCompany(users)).companyId);
    assert.equal(clean.result.status, 'succeeded');
  });

  after(async () => {
    await rig?.close();
  });

  test('a worker SIGKILLed three times during one multi-page run, each time held at a step of a page, leaves the same profiles as a clean run, no duplicate and one consistent report', async () => {
    const company = await rig.addCompany(users);
    slowPages(rig, company.companyId, PAGE_DELAY_MS);

    const { outcome, landed } = await killWorkerAt(rig, company.companyId, pageMoments(3, PAGES, 6));

    assert.equal(landed.length, 3, `three kills landed mid-run (${landed.join('; ')})`);
    await assertSameAsClean(rig, outcome, clean);
  });

  test("FerretDB killed while a page's plan is stored (the store did the write, the worker has not heard back) and restarted: the run resumes and ends as a clean run did", async () => {
    const company = await rig.addCompany(users);
    slowPages(rig, company.companyId, PAGE_DELAY_MS);
    const worker = await rig.ensureWorker();

    const { outcome } = await restartAt(
      rig,
      company.companyId,
      'ferretdb',
      { kind: 'plan-stored', page: 5, at: 'reply' },
      2_000,
    );

    await assertSameAsClean(rig, outcome, clean);
    assert.ok(worker.alive, 'the worker rode out the outage without crashing');
  });

  test("the Temporal server killed while the guard's verdict is recorded, and restarted on its SQLite file: the run finishes as a clean run did", async () => {
    const company = await rig.addCompany(users);
    slowPages(rig, company.companyId, PAGE_DELAY_MS);
    const worker = await rig.ensureWorker();

    const { outcome } = await restartAt(rig, company.companyId, 'temporal', { kind: 'verdict', at: 'request' }, 2_000);

    await assertSameAsClean(rig, outcome, clean);
    assert.ok(worker.alive, 'the worker reconnected by itself');
  });

  test('a worker SIGKILLed after the store did a write of the apply, before the worker heard back: the retry counts each profile write once, creates and updates alike', async () => {
    const some = users.slice(0, 400);
    const reference = await rig.addCompany(some);
    const company = await rig.addCompany(some);
    const cleanCreates = await rig.sync(reference.companyId);

    const created = await killWorkerAt(rig, company.companyId, [{ kind: 'apply', batch: 2, at: 'reply' }]);
    await assertSameAsClean(rig, created.outcome, cleanCreates);

    // Fewer updates than a rewrite batch: the apply sends them as update commands.
    const renamed = (all: LuccaRawUser[]) =>
      all.map((u) => (u.id % 15 === 0 ? { ...u, lastName: `${String(u.lastName)}-Renamed` } : u));
    rig.lucca.mutateUsers(reference.companyId, renamed);
    rig.lucca.mutateUsers(company.companyId, renamed);
    const cleanUpdates = await rig.sync(reference.companyId);
    // The kill lands in the flush's second command, after the apply checkpointed its first: the
    // retry writes the whole flush again, so what the first wrote must not be counted yet. On
    // FerretDB's SQLite backend each profile is a command of its own (findAndModify), elsewhere a
    // command takes maxUpdatesPerCommand profiles (MongoDB: all, in one).
    const caps = await rig.repos.profiles.capabilities();
    const perCommand = Number.isFinite(caps.maxUpdatesPerCommand) ? caps.maxUpdatesPerCommand : 0;
    const batch = caps.multiKeyFilterPushdown ? (perCommand > 0 ? 2 : 1) : perCommand + 2;
    assert.ok(
      (cleanUpdates.run.counts?.updated ?? 0) > 2 * perCommand,
      `more updates than two commands take (${cleanUpdates.run.counts?.updated})`,
    );

    const updated = await killWorkerAt(rig, company.companyId, [
      { kind: 'apply', write: 'update', batch, at: 'reply' },
    ]);
    await assertSameAsClean(rig, updated.outcome, cleanUpdates);
  });

  test('a scenario fails loudly when its run never comes to its moment, and when its fault lands outside the moment', async () => {
    const small = await rig.addCompany(users.slice(0, 50));
    await rig.ensureWorker();

    const unstarted = rig.hold(rig.newRun(small.companyId), { kind: 'verdict' });
    await assert.rejects(unstarted.reached(1_000), /did not reach the guard's verdict being recorded, .* within 1 s/);
    unstarted.release();

    const oneShortPage = rig.newRun(small.companyId);
    const pastTheEnd = rig.hold(oneShortPage, { kind: 'page-read', page: 3 });
    await rig.startRun(oneShortPage);
    await assert.rejects(pastTheEnd.reached(), /ended \(succeeded\) before reaching page 4 being read from Lucca/);
    pastTheEnd.release();

    const run = rig.newRun(small.companyId);
    const verdict = rig.hold(run, { kind: 'verdict', at: 'reply' });
    await rig.startRun(run);
    assert.match(await verdict.reached(), /^fetchLuccaUsers attempt 1$/);
    verdict.release();
    assert.equal((await rig.outcome(run)).result.status, 'succeeded');
    assert.throws(
      () => verdict.assertStruckWithin({ what: 'a fault struck after the release', at: Date.now() }),
      /a fault struck after the release landed \d+ ms after the run was let go from the guard's verdict being recorded/,
    );
  });

  test('a key revoked between two pages fails the run with lucca-auth and leaves every profile as it was', async () => {
    const company = await rig.addCompany(users.slice(0, 500));
    await rig.sync(company.companyId);
    const before = await rig.profiles(company.companyId);
    rig.lucca.mutateUsers(company.companyId, (all) => all.map((u) => ({ ...u, lastName: `${u.lastName}-Renamed` })));
    // Rules answer in order: three pages go through, every later request gets a 401.
    rig.lucca.addFault({ tenant: company.companyId, kind: 'slow', delayMs: 1, times: 3 });
    rig.lucca.addFault({ tenant: company.companyId, kind: 'status', status: 401, times: Infinity });

    const failed = await rig.sync(company.companyId);

    assert.equal(failed.result.status, 'failed');
    assert.equal(failed.result.error?.code, 'lucca-auth');
    assert.equal(failed.run.status, 'failed');
    assert.deepEqual(failed.profiles, before, 'nothing half-applied: not one profile changed');
    const statuses = rig.lucca.requests(company.companyId).map((r) => r.status);
    assert.ok(
      statuses.filter((s) => s === 200).length >= 3 + 6 && statuses.at(-1) === 401,
      'the key failed after pages had been read',
    );
  });

  test('hostile Lucca records (wrong types, missing fields, huge and odd strings, bad dates, odd emails) never crash a run: each bad one is reported with a reason, the rest sync', async () => {
    await fc.assert(
      fc.asyncProperty(hostileCompany(50, 120), (hostile) => assertHostileRecordsHandled(rig, hostile)),
      { numRuns: 2, endOnFailure: true },
    );
  });

  test('the API key is unreadable in MongoDB without LUCCA_SYNC_SECRET, and a worker with another secret syncs nothing', async () => {
    const company = rig.companies[0]!;
    const stored = await rig.repos.companies.get(company.companyId);
    const ciphertext = stored?.lucca.apiKey ?? '';
    const binding = { companyId: company.companyId, baseUrl: stored!.lucca.baseUrl };
    assert.equal(decryptApiKey(RIG_KEYRING, binding, ciphertext), company.apiKey);
    const otherKeyring = keyringOf([{ id: DEFAULT_SECRET_ID, secret: `${RIG_SECRET}-other` }]);
    assert.throws(() => decryptApiKey(otherKeyring, binding, ciphertext), ApiKeyDecryptError);
    const everything: string[] = [];
    for (const { name } of await rig.mongo.db(rig.dbName).listCollections().toArray()) {
      everything.push(JSON.stringify(await rig.mongo.db(rig.dbName).collection(name).find({}).toArray()));
    }
    const keys = rig.companies.map((c) => c.apiKey);
    assert.deepEqual(leaks(everything, [...keys, ...keys.map((k) => Buffer.from(k).toString('base64'))]), []);

    await rig.worker?.stop();
    await rig.startWorker({ secret: `${RIG_SECRET}-other` });
    const other = await rig.addCompany(users.slice(0, 50));
    const failed = await rig.sync(other.companyId);
    await rig.worker?.stop();
    assert.equal(failed.result.status, 'failed');
    assert.equal(failed.result.error?.code, 'configuration');
    assert.deepEqual(failed.profiles, []);
    assert.equal(rig.lucca.requests(other.companyId).length, 0, 'Lucca was never called with a wrong key');
  });

  test('no API key, email or name of any company reaches the workers’ logs or a Temporal history, crashes and restarts included', async () => {
    const secrets = secretsOf(rig.companies);
    assert.ok(rig.logLines.length > 50, `the workers logged (${rig.logLines.length} lines)`);
    const histories = await rig.allHistories();
    assert.ok(histories.length >= rig.companies.length, `every run's history was read (${histories.length})`);

    assert.deepEqual(leaks(rig.logLines, secrets), [], 'the logs carry ids and counts only');
    assert.deepEqual(leaks(histories, secrets), [], 'the histories carry ids and counts only');
  });
});
