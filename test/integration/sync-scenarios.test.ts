import assert from 'node:assert/strict';
import { after, afterEach, before, describe, test } from 'node:test';
import type { SyncRunInput } from '../../workflows/messages';
import type { LuccaRawUser } from '../../dev-tools/fake-lucca';
import { openStack, recordHistory, type Stack } from './helpers';
import {
  addTestCompany,
  anyway,
  changeFor,
  changesOf,
  clockDeps,
  linkedProfile,
  luccaDate,
  luccaUser,
  profilesOf,
  runSync,
  staff,
  startWorker,
  TODAY,
  updatedStamps,
  type RunningWorker,
  type TestClock,
  insertPlatformProfile,
} from './sync-kit';

describe('the sync rules on the real stack', () => {
  let stack: Stack;
  let worker: RunningWorker;
  const clock: TestClock = { today: TODAY };

  before(async () => {
    stack = await openStack('scenarios');
    worker = await startWorker(stack, stack.taskQueue, clockDeps(clock));
  });

  after(async () => {
    await worker?.stop();
    await stack?.close();
  });

  afterEach(() => {
    clock.today = TODAY;
  });

  const sync = (companyId: string, input: Partial<SyncRunInput> = {}) =>
    runSync(stack, stack.taskQueue, companyId, input);
  const company = (users: LuccaRawUser[]) => addTestCompany(stack, users);

  test('a name and email edited in Lucca become one field-level update and change the profile', async () => {
    const { companyId, tenant } = await company(staff(3));
    assert.equal((await sync(companyId)).counts?.created, 3);
    const before = updatedStamps(await profilesOf(stack, companyId));

    stack.lucca.mutateUsers(tenant, (users) =>
      users.map((u) => (u.id === 2 ? { ...u, lastName: 'Lefèvre-Durand', mail: 'Camille.Durand@acme.example ' } : u)),
    );
    const second = await sync(companyId);

    assert.equal(second.status, 'succeeded');
    assert.equal(second.counts?.updated, 1);
    assert.equal(second.counts?.unchanged, 2);
    assert.equal(second.profileWrites, 1);
    const [change, ...others] = await changesOf(stack, second.runId);
    assert.equal(others.length, 0, 'only the edited user has a change');
    assert.equal(change?.action, 'update');
    assert.equal(change?.luccaUserId, 2);
    assert.deepEqual(change?.fields, {
      lastName: { from: 'Lefèvre2', to: 'Lefèvre-Durand' },
      email: { from: 'camille2.lefevre@acme.example', to: 'camille.durand@acme.example' },
    });
    assert.deepEqual(change?.reasons, [], 'a Lucca-side change is not a local edit');

    const profile = await linkedProfile(stack, companyId, 2);
    assert.equal(profile.lastName, 'Lefèvre-Durand');
    assert.equal(profile.email, 'camille.durand@acme.example');
    assert.equal(profile.lucca?.syncedValues.lastName, 'Lefèvre-Durand');
    assert.equal(change?.profileId, profile._id.toHexString());
    for (const p of await profilesOf(stack, companyId)) {
      if (p.lucca?.userId === 2) assert.ok(p.updatedAt.getTime() > before.get(p._id.toHexString())!);
      else assert.equal(p.updatedAt.getTime(), before.get(p._id.toHexString()), 'untouched profiles keep updatedAt');
    }
  });

  test('a synced field edited on the platform is overwritten at the next sync and reported as a local edit', async () => {
    const { companyId } = await company(staff(3));
    await sync(companyId);
    const edited = await linkedProfile(stack, companyId, 3);
    await stack.store.profiles.updateOne(
      { _id: edited._id },
      { $set: { firstName: 'Kamille', birthDate: '1999-01-01' } },
    );

    const second = await sync(companyId);

    assert.equal(second.counts?.updated, 1);
    const [change] = await changeFor(stack, second.runId, 3);
    assert.equal(change?.action, 'update');
    assert.deepEqual(change?.fields, {
      firstName: { from: 'Kamille', to: 'Camille3' },
      birthDate: { from: '1999-01-01', to: edited.birthDate },
    });
    assert.deepEqual(
      change?.reasons.map((r) => r.code),
      ['overwritten-local-edit', 'overwritten-local-edit'],
    );
    assert.equal(change?.reason?.code, 'overwritten-local-edit');
    const after = await linkedProfile(stack, companyId, 3);
    assert.equal(after.firstName, 'Camille3');
    assert.equal(after.birthDate, edited.birthDate);

    const third = await sync(companyId);
    assert.equal(third.profileWrites, 0, 'once overwritten, the profile is in line again');
  });

  test('leavers are deactivated, a rehire is reactivated, a future hire is upcoming and an old leaver is never created', async () => {
    const users = [
      luccaUser(1),
      luccaUser(2, { dtContractEnd: luccaDate('2026-06-25') }),
      luccaUser(3, { dtContractStart: luccaDate('2026-07-01') }),
      luccaUser(4, { dtContractStart: luccaDate('2019-02-01'), dtContractEnd: luccaDate('2025-12-31') }),
    ];
    const { companyId, tenant } = await company(users);

    const first = await sync(companyId);
    assert.equal(first.counts?.created, 3);
    assert.equal(first.counts?.skipped, 1);
    assert.equal((await linkedProfile(stack, companyId, 3)).status, 'upcoming');
    assert.equal((await linkedProfile(stack, companyId, 2)).status, 'active', 'the last day is still worked');
    const [oldLeaver] = await changeFor(stack, first.runId, 4);
    assert.equal(oldLeaver?.action, 'skip');
    assert.equal(oldLeaver?.reason?.code, 'former-employee');
    assert.equal(await stack.store.profiles.countDocuments({ companyId, 'lucca.userId': 4 }), 0);

    // HR enters a past end date for user 1.
    stack.lucca.mutateUsers(tenant, (all) =>
      all.map((u) => (u.id === 1 ? { ...u, dtContractEnd: luccaDate('2026-06-14') } : u)),
    );
    const second = await sync(companyId);
    assert.equal(second.counts?.deactivated, 1);
    const [ended] = await changeFor(stack, second.runId, 1);
    assert.equal(ended?.action, 'deactivate');
    assert.equal(ended?.reason?.code, 'contract-ended');
    assert.deepEqual(ended?.fields, {
      contractEnd: { from: null, to: '2026-06-14' },
      status: { from: 'active', to: 'former' },
    });
    assert.equal((await linkedProfile(stack, companyId, 1)).status, 'former');

    // Time passes beyond user 2's last day; user 3 has not started yet.
    clock.today = '2026-06-26';
    stack.lucca.setToday(tenant, clock.today);
    const third = await sync(companyId);
    const [left] = await changeFor(stack, third.runId, 2);
    assert.equal(left?.action, 'deactivate');
    assert.equal(left?.reason?.code, 'contract-ended');
    assert.deepEqual(left?.fields, { status: { from: 'active', to: 'former' } });
    assert.equal((await linkedProfile(stack, companyId, 2)).status, 'former');
    assert.equal((await linkedProfile(stack, companyId, 3)).status, 'upcoming');
    assert.equal(third.counts?.deactivated, 1, 'user 1 is already former: nothing new');

    // User 1 is rehired on a new contract.
    stack.lucca.mutateUsers(tenant, (all) =>
      all.map((u) => (u.id === 1 ? { ...u, dtContractStart: luccaDate('2026-06-22'), dtContractEnd: null } : u)),
    );
    const fourth = await sync(companyId);
    assert.equal(fourth.counts?.reactivated, 1);
    const [rehired] = await changeFor(stack, fourth.runId, 1);
    assert.equal(rehired?.action, 'reactivate');
    assert.equal(rehired?.reason?.code, 'rehired');
    assert.deepEqual(rehired?.fields?.status, { from: 'former', to: 'active' });
    assert.deepEqual(rehired?.fields?.contractStart, { from: '2020-01-06', to: '2026-06-22' });
    const back = await linkedProfile(stack, companyId, 1);
    assert.equal(back.status, 'active');
    assert.equal(back.contractEnd, null);
    assert.equal(await stack.store.profiles.countDocuments({ companyId }), 3, 'no profile duplicated');
  });

  test('a user removed from Lucca is deactivated with removedAt set, and comes back if they reappear', async () => {
    const { companyId, tenant } = await company(staff(6));
    await sync(companyId);
    const removed = stack.lucca.getUsers(tenant).find((u) => u.id === 4)!;

    stack.lucca.mutateUsers(tenant, (all) => all.filter((u) => u.id !== 4));
    const second = await sync(companyId);

    assert.equal(second.status, 'succeeded');
    assert.equal(second.counts?.deactivated, 1);
    assert.equal(second.counts?.seen, 5);
    assert.equal(second.counts?.unchanged, 5);
    const [change] = await changeFor(stack, second.runId, 4);
    assert.equal(change?.action, 'deactivate');
    assert.equal(change?.reason?.code, 'removed-from-lucca');
    assert.deepEqual(change?.fields, { status: { from: 'active', to: 'former' } });
    const gone = await linkedProfile(stack, companyId, 4);
    assert.equal(gone.status, 'former');
    assert.ok(gone.lucca?.removedAt instanceof Date, 'lucca.removedAt is set');
    assert.equal(gone.firstName, 'Camille4', 'nothing is erased');

    const third = await sync(companyId);
    assert.equal(third.profileWrites, 0, 'a removed user stays removed without further writes');

    stack.lucca.mutateUsers(tenant, (all) => [...all, removed]);
    const fourth = await sync(companyId);
    const [returned] = await changeFor(stack, fourth.runId, 4);
    assert.equal(returned?.action, 'reactivate');
    assert.equal(returned?.reason?.code, 'rehired');
    const back = await linkedProfile(stack, companyId, 4);
    assert.equal(back.status, 'active');
    assert.equal(back.lucca?.removedAt ?? null, null);
  });

  test('a run that would deactivate too many is blocked without writing, and applies with the override', async () => {
    const { companyId, tenant } = await company(staff(40));
    await sync(companyId);
    const before = updatedStamps(await profilesOf(stack, companyId));

    stack.lucca.mutateUsers(tenant, (all) => all.filter((u) => u.id > 30));
    const blocked = await sync(companyId);

    assert.equal(blocked.status, 'blocked');
    assert.equal(blocked.error?.code, 'mass-deactivation');
    assert.match(blocked.error?.message ?? '', /deactivate 30 profiles \(limit 5\), out of 40 linked active profiles/);
    assert.equal(blocked.profileWrites, 0);
    assert.equal(blocked.counts?.deactivated, 30);
    const untouched = await profilesOf(stack, companyId);
    assert.ok(untouched.every((p) => p.status === 'active'));
    assert.deepEqual(updatedStamps(untouched), before, 'no profile was written');
    const planned = await changesOf(stack, blocked.runId);
    assert.equal(
      planned.filter((c) => c.action === 'deactivate' && c.reason?.code === 'removed-from-lucca').length,
      30,
    );
    const run = await stack.repos.syncRuns.get(blocked.runId);
    assert.equal(run?.status, 'blocked');
    assert.equal(run?.error?.code, 'mass-deactivation');
    assert.deepEqual(run?.guard, {
      deactivations: 30,
      limit: 5,
      activeProfiles: 40,
      fired: [{ guard: 'deactivate', count: 30, limit: 5 }],
    });

    const forced = await sync(companyId, anyway(blocked));
    assert.equal(forced.status, 'succeeded');
    assert.equal(forced.counts?.deactivated, 30);
    assert.equal(forced.profileWrites, 30);
    const after = await profilesOf(stack, companyId);
    assert.equal(after.filter((p) => p.status === 'former').length, 30);
    assert.ok(after.filter((p) => p.lucca!.userId <= 30).every((p) => p.status === 'former' && p.lucca?.removedAt));
    assert.equal((await stack.repos.syncRuns.get(forced.runId))?.allowMassDeactivation, true);
  });

  test('a dry run stores the plan in the report and writes no profile', async () => {
    const { companyId } = await company(staff(5));
    const preexisting = await insertPlatformProfile(stack, companyId, {
      firstName: 'Camille',
      lastName: 'Lefèvre',
      email: 'camille1.lefevre@acme.example',
    });
    const before = await profilesOf(stack, companyId);

    const dry = await sync(companyId, { dryRun: true });

    assert.equal(dry.status, 'succeeded');
    assert.equal(dry.mode, 'dry-run');
    assert.equal(dry.profileWrites, 0);
    assert.deepEqual(await profilesOf(stack, companyId), before, 'profiles are exactly as they were');
    const run = await stack.repos.syncRuns.get(dry.runId);
    assert.equal(run?.mode, 'dry-run');
    assert.equal(run?.status, 'succeeded');
    assert.deepEqual({ created: run?.counts?.created, linked: run?.counts?.linked }, { created: 4, linked: 1 });
    const planned = await changesOf(stack, dry.runId);
    assert.deepEqual(planned.map((c) => c.action).sort(), ['create', 'create', 'create', 'create', 'link']);
    const link = planned.find((c) => c.action === 'link');
    assert.equal(link?.profileId, preexisting.toHexString());
    assert.deepEqual(link?.fields?.firstName, { from: 'Camille', to: 'Camille1' });
    assert.equal(await stack.store.profiles.countDocuments({ companyId, lucca: { $exists: true } }), 0);
  });

  test('an email another profile holds, linked or not, is never given to a second profile', async () => {
    const { companyId, tenant } = await company(staff(3));
    await sync(companyId);
    // Someone signed up on the platform with an address Lucca later gives user 2.
    const signup = await insertPlatformProfile(stack, companyId, {
      firstName: 'Sam',
      lastName: 'Signup',
      email: 'new.address@acme.example',
    });
    // User 1 takes the address user 3 leaves in the same run: profile 3 still holds it when planned.
    const holder = await linkedProfile(stack, companyId, 3);
    stack.lucca.mutateUsers(tenant, (users) =>
      users.map((u) =>
        u.id === 2
          ? { ...u, mail: 'new.address@acme.example' }
          : u.id === 1
            ? { ...u, mail: holder.email! }
            : u.id === 3
              ? { ...u, mail: 'moved.on@acme.example' }
              : u,
      ),
    );
    const before = await profilesOf(stack, companyId);

    const second = await sync(companyId);

    assert.equal(second.status, 'succeeded');
    assert.deepEqual([second.counts?.conflicts, second.counts?.updated, second.profileWrites], [2, 1, 1]);
    const unchanged = (profiles: typeof before) => profiles.filter((p) => p.lucca?.userId !== 3);
    assert.deepEqual(
      unchanged(await profilesOf(stack, companyId)),
      unchanged(before),
      'profiles 1, 2 and the signup kept',
    );
    assert.equal((await linkedProfile(stack, companyId, 3)).email, 'moved.on@acme.example');
    const [toUnlinked] = await changeFor(stack, second.runId, 2);
    assert.equal(toUnlinked?.action, 'conflict');
    assert.deepEqual(
      toUnlinked?.reasons.map((r) => r.code),
      ['email-taken'],
    );
    assert.match(toUnlinked?.reasons[0]?.message ?? '', new RegExp(`profile ${signup.toHexString()} \\(not linked`));
    const [toLinked] = await changeFor(stack, second.runId, 1);
    assert.equal(toLinked?.action, 'conflict');
    assert.match(
      toLinked?.reasons[0]?.message ?? '',
      new RegExp(`profile ${holder._id.toHexString()} \\(linked to Lucca user 3\\)`),
    );
    const emails = (await profilesOf(stack, companyId)).map((p) => p.email);
    assert.equal(new Set(emails).size, emails.length, 'one profile per email');
  });

  test('a key that loses a permission or a bad day in Lucca blanks, renames or reactivates nobody until confirmed', async () => {
    const { companyId, tenant, apiKey } = await company(staff(40));
    await sync(companyId);
    const before = await profilesOf(stack, companyId);
    const unchangedSince = async (what: string) =>
      assert.deepEqual(await profilesOf(stack, companyId), before, `${what}: no profile was written`);

    // The key's role loses "see birth dates" and Lucca leaves the field out: a read error, not nulls.
    stack.lucca.setApiKeys(tenant, [{ key: apiKey, seeBirthDates: false, withheld: 'omitted' }]);
    const omitted = await sync(companyId);
    assert.deepEqual([omitted.status, omitted.error?.code], ['failed', 'lucca-missing-field']);
    assert.match(omitted.error?.message ?? '', /without birthDate .*lost the permission/);
    await unchangedSince('a field left out');

    // Lucca sends the field as null instead: every birth date would be blanked.
    stack.lucca.setApiKeys(tenant, [{ key: apiKey, seeBirthDates: false, withheld: 'null' }]);
    const blanked = await sync(companyId);
    assert.deepEqual([blanked.status, blanked.error?.code], ['blocked', 'mass-blanking']);
    assert.match(blanked.error?.message ?? '', /blank birthDate on 40 profiles \(limit 5\)/);
    assert.deepEqual((await stack.repos.syncRuns.get(blanked.runId))?.guard?.fired, [
      { guard: 'blank', field: 'birthDate', count: 40, limit: 5 },
    ]);
    await recordHistory(stack, 'blocked', (await stack.repos.syncRuns.get(blanked.runId))!.workflowId);
    await unchangedSince('birth dates read as null');
    stack.lucca.setApiKeys(tenant, [{ key: apiKey }]);

    // The company moves to another email domain: every login would change.
    stack.lucca.mutateUsers(tenant, (all) =>
      all.map((u) => ({ ...u, mail: u.mail?.replace('@acme.example', '@acme.test') ?? null })),
    );
    const renamed = await sync(companyId);
    assert.deepEqual([renamed.status, renamed.error?.code], ['blocked', 'mass-email-change']);
    assert.match(renamed.error?.message ?? '', /change the email of 40 linked profiles \(limit 5\)/);
    await unchangedSince('every email changed');

    // A company's own threshold never lets most of it through unreviewed (half of 40 is 20); the
    // operator's review of the blocked run does.
    await stack.repos.companies.setGuard(companyId, 'email', { maxPercent: 100, minCount: 0 }, new Date());
    const raised = await sync(companyId);
    assert.match(raised.error?.message ?? '', /change the email of 40 linked profiles \(limit 20\)/);
    await unchangedSince('the threshold raised to 100 %');
    const allowed = await sync(companyId, anyway(raised));
    assert.equal(allowed.status, 'succeeded', JSON.stringify(allowed.error));
    assert.equal(allowed.counts?.updated, 40);
    assert.ok((await profilesOf(stack, companyId)).every((p) => p.email?.endsWith('@acme.test')));
  });

  test('a mass reactivation is held back like a mass deactivation', async () => {
    const { companyId, tenant } = await company(staff(20));
    await sync(companyId);
    stack.lucca.mutateUsers(tenant, (all) => all.map((u) => ({ ...u, dtContractEnd: luccaDate('2026-05-15') })));
    const leaving = await sync(companyId);
    assert.deepEqual([leaving.status, leaving.error?.code], ['blocked', 'mass-deactivation']);
    const left = await sync(companyId, anyway(leaving));
    assert.equal(left.counts?.deactivated, 20);

    stack.lucca.mutateUsers(tenant, (all) => all.map((u) => ({ ...u, dtContractEnd: null })));
    const back = await sync(companyId);
    assert.deepEqual([back.status, back.error?.code], ['blocked', 'mass-reactivation']);
    assert.equal(back.profileWrites, 0);
    const confirmed = await sync(companyId, anyway(back));
    assert.deepEqual([confirmed.status, confirmed.counts?.reactivated], ['succeeded', 20]);
  });
});
