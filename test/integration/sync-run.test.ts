import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { describeSpecialCases, generateLuccaUsers } from '../../dev-tools/fake-lucca';
import { openStack, type Stack } from './helpers';
import { addTestCompany, runSync, startWorker, TODAY, type RunningWorker, insertPlatformProfile } from './sync-kit';

describe('a sync run on the real stack', () => {
  let stack: Stack;
  let worker: RunningWorker;

  before(async () => {
    stack = await openStack('syncrun');
    worker = await startWorker(stack, stack.taskQueue);
  });

  after(async () => {
    await worker.stop();
    await stack.close();
  });

  const sync = (companyId: string) => runSync(stack, stack.taskQueue, companyId);

  const profiles = (companyId: string) => stack.store.profiles.find({ companyId }).toArray();

  test('a first sync creates profiles, attaches a hand-made one, and a second sync writes nothing', async () => {
    const users = generateLuccaUsers({ size: 2500, seed: 7, today: TODAY });
    const { companyId } = await addTestCompany(stack, users);
    const attachable = users.find((u) => u.id === 200)!;
    const handMadeId = await insertPlatformProfile(stack, companyId, {
      firstName: 'Typo',
      lastName: attachable.lastName!,
      email: attachable.mail!.toUpperCase(),
    });
    // Mixed-case email on the platform: normalise both sides before comparing.
    await stack.store.profiles.updateOne({ _id: handMadeId }, { $set: { email: attachable.mail } });

    const first = await sync(companyId);
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    assert.equal(first.counts!.seen, 2500);
    assert.equal(first.counts!.linked, 1);
    assert.ok(first.counts!.created > 2000, `created ${first.counts!.created}`);

    const all = await profiles(companyId);
    assert.equal(all.length, first.counts!.created + 1, 'one profile per created user plus the attached one');
    const attached = all.find((p) => p._id.equals(handMadeId))!;
    assert.equal(attached.lucca?.userId, 200);
    assert.equal(attached.firstName, attachable.firstName);
    const ids = all.map((p) => p.lucca?.userId);
    assert.equal(new Set(ids).size, ids.length, 'no Lucca user has two profiles');

    const special = describeSpecialCases({ size: users.length });
    const formerIds = new Set(special.former ?? []);
    for (const id of formerIds) assert.ok(!ids.includes(id), `former employee ${id} was not created`);

    const changes = await stack.store.syncChanges.find({ runId: first.runId }).toArray();
    assert.ok(changes.some((c) => c.action === 'skip' && c.reason?.code === 'former-employee'));
    assert.ok(changes.some((c) => c.action === 'conflict' && c.reason?.code === 'duplicate-email-in-lucca'));

    const stamp = new Map(all.map((p) => [p._id.toHexString(), p.updatedAt.getTime()]));
    const second = await sync(companyId);
    assert.equal(second.status, 'succeeded');
    assert.equal(second.profileWrites, 0);
    for (const action of ['created', 'linked', 'updated', 'deactivated', 'reactivated'] as const) {
      assert.equal(second.counts![action], 0, `${action} on an unchanged re-run`);
    }
    for (const p of await profiles(companyId)) assert.equal(p.updatedAt.getTime(), stamp.get(p._id.toHexString()));

    const run = await stack.repos.syncRuns.get(second.runId);
    assert.equal(run?.status, 'succeeded');
    assert.equal(await stack.repos.workingData.countPages(first.runId), 0, 'staging is cleared after the run');
  });
});
