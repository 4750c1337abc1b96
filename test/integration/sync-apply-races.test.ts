import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import type { CommandStartedEvent, Document } from 'mongodb';
import type { ProfileDocument } from '../../db/profiles-repository';
import { SYNC_METRICS } from '../../activities/metrics';
import { connectMongo, repositories } from '../../db/mongo';
import type { SyncChangeDocument } from '../../db/sync-changes-repository';
import { SYNCED_FIELDS, type SyncCounts } from '../../domain/types';
import { LUCCA_PAGE_SIZE } from '../../lucca/client';
import { runResult } from '../../temporal/client';
import type { SyncRunInput, SyncRunResult } from '../../workflows/messages';
import { ChildWorker } from '../../dev-tools/child-worker/child-worker';
import { freePort } from '../../dev-tools/stack/ports';
import type { LuccaRawUser } from '../../dev-tools/fake-lucca';
import { StoreRelay, type CommandMatch } from '../../dev-tools/reliability/store-relay';
import {
  MONGODB_URI,
  openStack,
  TEMPORAL_ADDRESS,
  TEST_SECRET,
  uniqueSuffix,
  workflowBundleFile,
  type Stack,
} from './helpers';
import { parseMetrics, total } from './metrics-kit';
import {
  addTestCompany,
  anyway,
  changesOf,
  linkedProfile,
  platformProfile,
  profilesOf,
  runSync,
  staff,
  startSync,
  startWorker,
  type RunningWorker,
} from './sync-kit';

/** What a profile write is counted under, by the action of its change. */
const WRITTEN = {
  create: 'created',
  link: 'linked',
  update: 'updated',
  deactivate: 'deactivated',
  reactivate: 'reactivated',
} as const;
type WrittenAction = keyof typeof WRITTEN;
const isWritten = (action: string): action is WrittenAction => action in WRITTEN;

/** Long ago: what the platform stamps on its own writes here, so that they are never taken for the run's. */
const PLATFORM_TIME = new Date('2026-01-05T09:00:00Z');

/**
 * Counts in the store what a run wrote, without trusting its report: the company's profiles whose
 * `updatedAt` is the run's (written by it), and — per action — the changes of its report whose
 * profile holds exactly what the change says it wrote. The run's counts, its result, its report
 * and the profile writes it claims must all be these.
 */
async function assertCountsAreTheStores(stack: Stack, companyId: string, result: SyncRunResult): Promise<void> {
  const run = (await stack.repos.syncRuns.get(result.runId))!;
  const changes = await changesOf(stack, result.runId);
  const inReport: Partial<SyncCounts> = {};
  const inStore: Partial<SyncCounts> = {};
  for (const change of changes) {
    const counter = isWritten(change.action)
      ? WRITTEN[change.action]
      : change.action === 'conflict'
        ? 'conflicts'
        : null;
    if (counter) inReport[counter] = (inReport[counter] ?? 0) + 1;
    if (!isWritten(change.action)) continue;
    if (await holdsWhatItSays(stack, change, run.startedAt)) {
      inStore[WRITTEN[change.action]] = (inStore[WRITTEN[change.action]] ?? 0) + 1;
    }
  }
  const writtenByRun = await stack.store.profiles.countDocuments({ companyId, updatedAt: { $gte: run.startedAt } });
  const counted = (counts: Partial<SyncCounts> | null) =>
    Object.fromEntries(Object.values(WRITTEN).map((key) => [key, counts?.[key] ?? 0]));

  assert.deepEqual(run.counts, result.counts, "the run's document and its result agree");
  assert.deepEqual(counted(inStore), counted(result.counts), 'each count is what the store holds');
  assert.deepEqual(counted(inReport), counted(result.counts), 'the report lists what was counted');
  assert.equal(inReport.conflicts ?? 0, result.counts?.conflicts ?? 0, 'conflicts reported as counted');
  const sum = Object.values(counted(result.counts)).reduce((a, b) => a + b, 0);
  assert.equal(result.profileWrites, sum, 'profile writes are the written counts');
  assert.equal(writtenByRun, sum, "as many of the company's profiles carry the run's writes");
}

/** Whether the profile of a written change holds the change's target, written by this run. */
async function holdsWhatItSays(stack: Stack, change: SyncChangeDocument, since: Date): Promise<boolean> {
  const profile = await stack.store.profiles.findOne({
    companyId: change.companyId,
    'lucca.userId': change.luccaUserId!,
  });
  if (!profile || profile._id.toHexString() !== change.profileId || !change.target) return false;
  if (profile.updatedAt < since || profile.status !== change.target.status) return false;
  return SYNCED_FIELDS.every((f) => (profile[f] ?? null) === change.target!.fields[f]);
}

/** A command of the store's wire protocol on one collection, as the relay matches it. */
const command = (name: string | string[], collection: string): CommandMatch => ({ command: name, collection });

/**
 * Everyone renamed is more than the overwrite guard lets through unreviewed (never more than half
 * a company): a first run is blocked on it, and the run a test holds applies it anyway, as an
 * operator who reviewed it would.
 */
async function reviewedRenames(stack: Stack, companyId: string): Promise<Partial<SyncRunInput>> {
  const blocked = await runSync(stack, stack.taskQueue, companyId);
  assert.equal(blocked.status, 'blocked', JSON.stringify(blocked.error));
  assert.equal(blocked.error?.code, 'mass-overwrite');
  return anyway(blocked);
}

/** How long a test waits for the command it holds: the run must come to it well within this. */
const REACH_MS = 120_000;

const codes = (change: SyncChangeDocument | undefined) => change?.reasons.map((r) => r.code);

describe('the apply while the platform writes too: reports never claim a write that did not happen', () => {
  let stack: Stack;
  let relay: StoreRelay;
  let relayed: Awaited<ReturnType<typeof connectMongo>>;
  let worker: RunningWorker;

  before(async () => {
    stack = await openStack('apply-races');
    // The platform's own rule: one login per email, across companies.
    await stack.store.profiles.createIndex({ email: 1 }, { unique: true, name: 'platform_email' });
    relay = await StoreRelay.open(MONGODB_URI);
    relayed = await connectMongo(relay.uri, stack.db.databaseName, { monitorCommands: true });
    // The worker reaches the store through the relay, where a test holds it at the moment it needs.
    worker = await startWorker(stack, stack.taskQueue, { repos: repositories(relayed.db) });
  });

  after(async () => {
    await worker?.stop();
    await relayed?.client.close();
    await relay?.close();
    await stack?.close();
  });

  /**
   * Runs a sync of the company held between its plan and its apply (the apply's first read of its
   * plan), where `meanwhile` writes as the platform would.
   */
  async function syncWhile(companyId: string, meanwhile: () => Promise<void>): Promise<SyncRunResult> {
    const runId = `run-${uniqueSuffix()}`;
    const applying = relay.hold(command('find', `syncPlan.${runId}`));
    const handle = await startSync(stack, stack.taskQueue, companyId, { runId });
    await applying.reach(REACH_MS);
    try {
      await meanwhile();
    } finally {
      applying.release();
    }
    return runResult(handle);
  }

  const signUp = (companyId: string, user: LuccaRawUser) =>
    platformProfile(
      companyId,
      { firstName: user.firstName!, lastName: user.lastName, email: user.mail! },
      PLATFORM_TIME,
    );

  test('creates whose email the platform gave to new profiles between plan and apply are conflicts naming those profiles, neither created nor counted; the next run links those of the company and reports the other once more', async () => {
    // 110 of them: ten times past the ten records a command of corrections carries on FerretDB.
    const users = staff(120, 1_000);
    const { companyId } = await addTestCompany(stack, users);
    const elsewhere = `elsewhere-${uniqueSuffix()}`;
    const signedUp = users.slice(0, 110).map((u) => signUp(companyId, u));
    const inOtherCompany = signUp(elsewhere, users[110]!);

    const first = await syncWhile(companyId, async () => {
      await stack.store.profiles.insertMany([...signedUp, inOtherCompany]);
    });

    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    assert.equal(first.counts?.created, 9, 'only the creates the store took');
    assert.equal(first.counts?.conflicts, 111);
    assert.equal(first.summary, `${companyId}: 9 created, 111 conflicts`);
    const byUser = new Map((await changesOf(stack, first.runId)).map((c) => [c.luccaUserId, c]));
    for (const [i, profile] of signedUp.entries()) {
      const change = byUser.get(users[i]!.id);
      assert.equal(change?.action, 'conflict');
      assert.deepEqual(codes(change), ['email-taken-at-apply']);
      assert.equal(change?.profileId, profile._id.toHexString(), 'the conflict names the profile holding the email');
      assert.match(change?.reason?.message ?? '', new RegExp(`profile ${profile._id.toHexString()} \\(not linked`));
    }
    const foreign = byUser.get(users[110]!.id);
    assert.deepEqual(codes(foreign), ['email-taken-at-apply']);
    assert.match(foreign?.reason?.message ?? '', /a profile of another company/);
    assert.equal(foreign?.profileId, null, "another company's profile is not named");
    assert.equal(await stack.store.profiles.countDocuments({ companyId, 'lucca.userId': { $exists: true } }), 9);
    await assertCountsAreTheStores(stack, companyId, first);

    const second = await runSync(stack, stack.taskQueue, companyId);

    assert.equal(second.status, 'succeeded', JSON.stringify(second.error));
    assert.equal(second.counts?.linked, 110, "the company's sign-ups are attached");
    assert.equal(second.counts?.created, 0);
    assert.equal(second.counts?.conflicts, 1);
    const again = (await changesOf(stack, second.runId)).filter((c) => c.luccaUserId === users[110]!.id);
    assert.equal(again.length, 1, 'reported once');
    assert.deepEqual(codes(again[0]), ['email-taken-at-apply']);
    assert.equal(await stack.store.profiles.countDocuments({ companyId }), 119, 'nobody created twice');
    await assertCountsAreTheStores(stack, companyId, second);
  });

  test("a linked profile the platform edited between plan and apply gets Lucca's values, reported as overwritten-local-edit from the platform's; one it deleted is a conflict, not written again", async () => {
    const users = staff(5, 2_000);
    const { companyId, tenant } = await addTestCompany(stack, users);
    assert.equal((await runSync(stack, stack.taskQueue, companyId)).counts?.created, 5);
    stack.lucca.mutateUsers(tenant, (all) =>
      all.map((u) => (u.id === 2_001 || u.id === 2_002 ? { ...u, lastName: `${u.lastName}-Durand` } : u)),
    );
    const edited = await linkedProfile(stack, companyId, 2_001);
    const deleted = await linkedProfile(stack, companyId, 2_002);

    const result = await syncWhile(companyId, async () => {
      await stack.store.profiles.updateOne(
        { _id: edited._id },
        { $set: { firstName: 'Cam', phone: '+33 6 12 00 00 01' } },
      );
      await stack.store.profiles.deleteOne({ _id: deleted._id });
    });

    assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
    assert.equal(result.counts?.updated, 1);
    assert.equal(result.counts?.conflicts, 1);
    const now = (await stack.store.profiles.findOne({ _id: edited._id })) as Document;
    assert.equal(now.firstName, 'Camille2001', 'Lucca still wins');
    assert.equal(now.lastName, 'Lefèvre2001-Durand');
    assert.equal(now.phone, '+33 6 12 00 00 01', "the platform's own field is kept");
    const changes = await changesOf(stack, result.runId);
    const update = changes.find((c) => c.luccaUserId === 2_001);
    assert.deepEqual(update?.fields, {
      firstName: { from: 'Cam', to: 'Camille2001' },
      lastName: { from: 'Lefèvre2001', to: 'Lefèvre2001-Durand' },
    });
    assert.deepEqual(codes(update), ['overwritten-local-edit']);
    assert.match(update?.reason?.message ?? '', /^firstName was edited on the platform/);
    const gone = changes.find((c) => c.luccaUserId === 2_002);
    assert.equal(gone?.action, 'conflict');
    assert.deepEqual(codes(gone), ['changed-during-sync']);
    assert.match(gone?.reason?.message ?? '', /deleted/);
    assert.equal(await stack.store.profiles.countDocuments({ _id: deleted._id }), 0, 'not written again');
    await assertCountsAreTheStores(stack, companyId, result);
  });

  test("a platform edit that lands between the apply's read of a profile and its write is seen: Lucca's values win, reported from the platform's", async () => {
    const users = staff(4, 3_000);
    const { companyId, tenant } = await addTestCompany(stack, users);
    assert.equal((await runSync(stack, stack.taskQueue, companyId)).counts?.created, 4);
    stack.lucca.mutateUsers(tenant, (all) => all.map((u) => (u.id === 3_001 ? { ...u, lastName: 'Durand' } : u)));
    const profile = await linkedProfile(stack, companyId, 3_001);
    // The update itself: a conditioned update (MongoDB, FerretDB/PostgreSQL) or FerretDB/SQLite's write by id.
    const writing = relay.hold(command(['update', 'findAndModify'], 'profiles'));

    const handle = await startSync(stack, stack.taskQueue, companyId);
    await writing.reach(REACH_MS);
    await stack.store.profiles.updateOne(
      { _id: profile._id },
      { $set: { firstName: 'Cam', phone: '+33 6 12 00 00 02' } },
    );
    writing.release();
    const result = await runResult(handle);

    assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
    assert.equal(result.counts?.updated, 1);
    const now = (await stack.store.profiles.findOne({ _id: profile._id })) as Document;
    assert.deepEqual([now.firstName, now.lastName, now.phone], ['Camille3001', 'Durand', '+33 6 12 00 00 02']);
    const [change] = await changesOf(stack, result.runId);
    assert.deepEqual(change?.fields, {
      firstName: { from: 'Cam', to: 'Camille3001' },
      lastName: { from: 'Lefèvre3001', to: 'Durand' },
    });
    assert.deepEqual(codes(change), ['overwritten-local-edit']);
    await assertCountsAreTheStores(stack, companyId, result);
  });

  test('an incremental run’s batch is deleted as its plan read it (where the store rewrites), the company read once more only for a second page of people; profiles the platform changed since are written from what it wrote, a few one by one, many rewritten again from the store', async () => {
    const { rewriteFrom } = await stack.repos.profiles.capabilities();
    // A batch the store rewrites (MongoDB: conditioned updates), under half of the company: under an
    // overwrite guard the company set to 49 % (a scheduled run is not reviewed), with room to spare
    // at PostgreSQL's 610 (2 × 610 + 10 people made the limit 602).
    const changed = Number.isFinite(rewriteFrom) ? rewriteFrom + 10 : 110;
    const users = staff(2 * changed + 40, 5_000);
    const { companyId, tenant } = await addTestCompany(stack, users);
    await stack.store.companies.updateOne(
      { _id: companyId },
      { $set: { 'sync.guards.overwrite': { maxPercent: 49, minCount: 5 } } },
    );
    assert.equal((await runSync(stack, stack.taskQueue, companyId)).counts?.created, users.length);
    // Reads of the whole company by the worker: the plan's, and a rewrite's when it reads again.
    let companyReads = 0;
    const countReads = (e: CommandStartedEvent) => {
      const filter = e.command.filter as Document | undefined;
      if (e.commandName === 'find' && e.command.find === 'profiles' && filter?.companyId === companyId && !filter._id) {
        companyReads += 1;
      }
    };
    relayed.client.on('commandStarted', countReads);
    try {
      for (const [round, many] of [
        ['Durand', false],
        ['Martin', true],
      ] as const) {
        const ids = users.slice(many ? changed : 0, many ? 2 * changed : changed).map((u) => u.id);
        // The plan keeps whole the profiles its read's first page may change, and a rewrite reads
        // the company again for the others. The second round's read goes back past the first's
        // changes too: 2 × 610 users on PostgreSQL, more than a page.
        const onePage = (many ? 2 * changed : changed) <= LUCCA_PAGE_SIZE;
        const renamed = new Set(ids);
        stack.lucca.mutateUsers(tenant, (all) =>
          all.map((u) => (renamed.has(u.id) ? { ...u, lastName: `Lefèvre${u.id}-${round}` } : u)),
        );
        // Changed on the platform after the plan read them, before the batch's first write.
        const edited = many ? ids : ids.slice(0, 3);
        const writing = relay.hold(command(['delete', 'update'], 'profiles'));
        companyReads = 0;
        const handle = await startSync(stack, stack.taskQueue, companyId, { kind: 'incremental', trigger: 'schedule' });
        try {
          await Promise.race([
            writing.reach(REACH_MS),
            runResult(handle).then((r) => {
              throw new Error(`the run ended before its batch's first write: ${JSON.stringify(r)}`);
            }),
          ]);
          assert.equal(
            companyReads,
            onePage ? 1 : 2,
            onePage
              ? 'the plan read the company; the batch is deleted as it read it'
              : 'the plan read the company, the rewrite read it for the profiles of the later page',
          );
          await stack.store.profiles.updateMany(
            { companyId, 'lucca.userId': { $in: edited } },
            { $set: { firstName: 'Cam', phone: '+33 6 12 00 00 04' } },
          );
        } finally {
          writing.release();
        }
        const result = await runResult(handle);

        assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
        assert.equal(result.kind, 'incremental');
        assert.equal(result.counts?.updated, changed);
        assert.equal(
          companyReads,
          (many && Number.isFinite(rewriteFrom) ? 2 : 1) + (onePage ? 0 : 1),
          many ? 'a rewrite’s worth changed since the plan: read again, rewritten together' : 'a few: one by one',
        );
        const profiles = (await profilesOf(stack, companyId)) as (ProfileDocument & { phone?: string })[];
        assert.equal(profiles.length, users.length, 'no profile lost, none doubled');
        for (const id of ids) {
          const p = profiles.find((q) => q.lucca?.userId === id)!;
          assert.equal(p.lastName, `Lefèvre${id}-${round}`);
          assert.equal(p.firstName, `Camille${id}`, 'Lucca wins on its own fields');
          if (edited.includes(id)) assert.equal(p.phone, '+33 6 12 00 00 04', "the platform's write is kept");
        }
        const overwritten = (await changesOf(stack, result.runId)).filter((c) =>
          codes(c)?.includes('overwritten-local-edit'),
        );
        assert.deepEqual(
          overwritten.map((c) => c.luccaUserId).sort(),
          [...edited].sort(),
          'the report says whose platform edit Lucca overwrote',
        );
        await assertCountsAreTheStores(stack, companyId, result);
      }
    } finally {
      relayed.client.off('commandStarted', countReads);
    }
  });

  test('a profile the platform changes between a rewrite’s read and its delete is left as the platform wrote it, then updated the plain way', async () => {
    const { rewriteFrom } = await stack.repos.profiles.capabilities();
    // MongoDB never rewrites: there the batch goes by conditioned updates, and the test holds the first.
    const size = Number.isFinite(rewriteFrom) ? rewriteFrom + 10 : 110;
    const users = staff(size, 4_000);
    const { companyId, tenant } = await addTestCompany(stack, users);
    assert.equal((await runSync(stack, stack.taskQueue, companyId)).counts?.created, size);
    stack.lucca.mutateUsers(tenant, (all) => all.map((u) => ({ ...u, lastName: `${u.lastName}-Durand` })));
    const profile = await linkedProfile(stack, companyId, 4_005);
    const reviewed = await reviewedRenames(stack, companyId);
    const deleting = relay.hold(command(['delete', 'update'], 'profiles'));

    const handle = await startSync(stack, stack.taskQueue, companyId, reviewed);
    await deleting.reach(REACH_MS);
    await stack.store.profiles.updateOne(
      { _id: profile._id },
      { $set: { firstName: 'Cam', phone: '+33 6 12 00 00 03' } },
    );
    deleting.release();
    const result = await runResult(handle);

    assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
    assert.equal(result.counts?.updated, size);
    const profiles = await profilesOf(stack, companyId);
    assert.equal(profiles.length, size, 'no profile lost, none doubled');
    assert.ok(profiles.every((p) => p.lastName?.endsWith('-Durand')));
    const now = profiles.find((p) => p._id.equals(profile._id)) as Document;
    assert.equal(
      now.phone,
      '+33 6 12 00 00 03',
      "the platform's write is kept, not overwritten with the copy read before it",
    );
    assert.equal(now.firstName, 'Camille4005', 'Lucca still wins on its own fields');
    const change = (await changesOf(stack, result.runId)).find((c) => c.luccaUserId === 4_005);
    assert.deepEqual(change?.fields?.firstName, { from: 'Cam', to: 'Camille4005' });
    assert.deepEqual(codes(change), ['overwritten-local-edit']);
    await assertCountsAreTheStores(stack, companyId, result);
  });
});

describe('a batch retried after its worker was killed is counted once', () => {
  let stack: Stack;
  let relay: StoreRelay;
  let bundleFile: string;
  let worker: RunningWorker;

  before(async () => {
    stack = await openStack('apply-kill');
    relay = await StoreRelay.open(MONGODB_URI);
    bundleFile = await workflowBundleFile();
    worker = await startWorker(stack, stack.taskQueue);
  });

  after(async () => {
    await worker?.stop();
    await relay?.close();
    await rm(bundleFile, { force: true });
    await stack?.close();
  });

  const childWorker = (taskQueue: string, opts: { through?: StoreRelay; metricsAddress?: string } = {}) =>
    ChildWorker.start({
      temporalAddress: TEMPORAL_ADDRESS,
      mongoUri: opts.through ? opts.through.uri : MONGODB_URI,
      mongoDb: stack.db.databaseName,
      taskQueue,
      secret: TEST_SECRET,
      bundlePath: bundleFile,
      logLevel: 'error',
      ...(opts.metricsAddress ? { metricsAddress: opts.metricsAddress } : {}),
    });

  test('a worker killed after its batch reached the store, before it heard back, is replaced; the run, its report and the metrics count each profile once, as the store holds them', async () => {
    const { rewriteFrom } = await stack.repos.profiles.capabilities();
    const size = Number.isFinite(rewriteFrom) ? rewriteFrom + 20 : 120;
    const users = staff(size, 1);
    const { companyId, tenant } = await addTestCompany(stack, users);
    assert.equal((await runSync(stack, stack.taskQueue, companyId)).counts?.created, size);
    // Everyone's name changes (a batch of updates, rewritten on FerretDB) and 30 people join (creates).
    stack.lucca.mutateUsers(tenant, (all) => [
      ...all.map((u) => ({ ...u, lastName: `${u.lastName}-Durand` })),
      ...staff(30, size + 1),
    ]);
    const reviewed = await reviewedRenames(stack, companyId);
    const taskQueue = `${stack.taskQueue}-kill`;
    const port = await freePort();
    let killed: ChildWorker | undefined;
    let replacement: ChildWorker | undefined;
    try {
      killed = await childWorker(taskQueue, { through: relay });
      // The batch's last write: the rewrite's insert after its delete (FerretDB), or the conditioned updates (MongoDB).
      const batchWrite = Number.isFinite(rewriteFrom) ? command('delete', 'profiles') : command('update', 'profiles');
      const reachingBatch = relay.hold(batchWrite);
      const runId = `run-${uniqueSuffix()}`;
      const handle = await startSync(stack, taskQueue, companyId, { ...reviewed, runId });
      await reachingBatch.reach(REACH_MS);
      const lastWrite = Number.isFinite(rewriteFrom) ? command('insert', 'profiles') : command('update', 'profiles');
      const answered = relay.hold(lastWrite, { at: 'reply' });
      reachingBatch.release();
      await answered.reach(REACH_MS);
      await killed.kill();
      answered.release();
      assert.equal((await stack.repos.syncRuns.get(runId))?.status, 'running', 'killed mid-apply');
      // The driver may split the batch's insert in several commands: the first reached the store.
      const reached = await stack.store.profiles.countDocuments({ companyId, lastName: /-Durand$/ });
      assert.ok(reached > 0 && reached <= size, `the batch had reached the store (${reached} of ${size})`);

      replacement = await childWorker(taskQueue, { metricsAddress: `127.0.0.1:${port}` });
      const result = await runResult(handle);

      assert.equal(result.status, 'succeeded', JSON.stringify(result.error));
      assert.equal(result.counts?.updated, size);
      assert.equal(result.counts?.created, 30);
      assert.equal(result.profileWrites, size + 30, 'each profile counted once');
      const ids = (await profilesOf(stack, companyId)).map((p) => p.lucca?.userId);
      assert.equal(ids.length, size + 30);
      assert.equal(new Set(ids).size, ids.length, 'no duplicate profile');
      await assertCountsAreTheStores(stack, companyId, result);
      const samples = parseMetrics(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
      const written = SYNC_METRICS.profilesWritten;
      assert.equal(total(samples, written, { action: 'updated' }), size, 'the metrics count what the store holds');
      assert.equal(total(samples, written, { action: 'created' }), 30);
    } finally {
      await killed?.kill();
      await replacement?.stop();
    }
  });
});
