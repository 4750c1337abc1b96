import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../config/env';
import { getProfile } from '../../console/data';
import { i18n } from '../../console/i18n';
import { buildConsole } from '../../console/server';
import { LuccaSightingsRepository } from '../../db/lucca-sightings-repository';
import type { OperationsDeps } from '../../operations';
import { MONGODB_URI, openStack, TEMPORAL_ADDRESS, type Stack } from './helpers';
import { addTestCompany, linkedProfile, luccaUser, runSync, startWorker, type RunningWorker } from './sync-kit';
import { logIn, settingsWithAdmin } from './console-kit';

/**
 * Ids spread over eleven blocks of 65,536 (the sightings' unit): ten times past one block, with
 * neighbours on both sides of block edges.
 */
const IDS = [
  1,
  2,
  3,
  65_535,
  65_536,
  65_537,
  131_071,
  131_072,
  ...Array.from({ length: 8 }, (_, i) => (i + 3) * 65_536 + 17),
  720_895,
];

describe('"last seen in Lucca" is when a run last read the person, recorded without a profile write (real stack)', () => {
  let stack: Stack;
  let worker: RunningWorker;
  let deps: OperationsDeps;
  let clock = new Date('2026-06-15T08:00:00Z');

  before(async () => {
    stack = await openStack('sightings');
    worker = await startWorker(stack, stack.taskQueue, { now: () => clock });
    deps = {
      repos: stack.repos,
      client: stack.client,
      config: loadConfig({ TEMPORAL_ADDRESS, MONGODB_URI, MONGODB_DB: stack.db.databaseName }),
    };
  });

  after(async () => {
    await worker?.stop();
    await stack?.close();
  });

  test('every run that reads a person (a dry run and an unchanged run too) moves it; a person Lucca stops returning keeps the last time', async () => {
    const { companyId, tenant } = await addTestCompany(
      stack,
      IDS.map((id) => luccaUser(id)),
    );
    const seen = async (userId: number) => {
      const profile = await linkedProfile(stack, companyId, userId);
      return (await getProfile(deps, companyId, profile._id.toHexString())).lastSeenInLucca?.toISOString();
    };

    const t1 = clock;
    const first = await runSync(stack, stack.taskQueue, companyId);
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    assert.equal(first.counts!.created, IDS.length);
    for (const id of IDS) assert.equal(await seen(id), t1.toISOString(), `user ${id} seen by the first run`);

    clock = new Date('2026-06-15T09:00:00Z');
    const dryRun = await runSync(stack, stack.taskQueue, companyId, { dryRun: true });
    assert.equal(dryRun.status, 'succeeded');
    for (const id of IDS) assert.equal(await seen(id), clock.toISOString(), `user ${id} seen by the dry run`);

    clock = new Date('2026-06-15T10:00:00Z');
    const unchanged = await runSync(stack, stack.taskQueue, companyId);
    assert.equal(unchanged.profileWrites, 0, 'still no profile write on an unchanged run');
    const profile = await linkedProfile(stack, companyId, 65_536);
    assert.equal(profile.lucca?.lastSeenAt.toISOString(), t1.toISOString(), 'the profile itself was not written');
    for (const id of IDS) assert.equal(await seen(id), clock.toISOString(), `user ${id} seen by the unchanged run`);

    // The profile page and the API say both: seen by this run, written by the first.
    const operator = { user: 'sightings-reader', password: 'a long enough password 0045' };
    const app = await buildConsole({
      deps,
      db: stack.db,
      settings: await settingsWithAdmin(operator),
    });
    try {
      const cookie = await logIn(app, operator);
      const url = `/companies/${companyId}/profiles/${profile._id.toHexString()}`;
      const page = await app.inject({ method: 'GET', url, headers: { cookie } });
      assert.equal(page.statusCode, 200);
      const { timezone } = (await stack.repos.companies.get(companyId))!;
      const shown = (testId: string) => new RegExp(`data-testid="${testId}">([^<]*)<`).exec(page.body)?.[1];
      assert.equal(shown('last-seen'), i18n('fr').dateTime(clock, timezone), 'last seen: the unchanged run');
      assert.equal(shown('last-written'), i18n('fr').dateTime(t1, timezone), 'last written: the first run');
      assert.notEqual(shown('last-seen'), shown('last-written'));
      const api = await app.inject({ method: 'GET', url: `/api${url}`, headers: { cookie } });
      assert.equal(api.json<{ lastSeenInLucca: string }>().lastSeenInLucca, clock.toISOString());
    } finally {
      await app.close();
    }

    const t3 = clock;
    clock = new Date('2026-06-15T11:00:00Z');
    stack.lucca.mutateUsers(tenant, (users) => users.filter((u) => u.id !== 131_072));
    const removal = await runSync(stack, stack.taskQueue, companyId);
    assert.equal(removal.status, 'succeeded');
    assert.equal(removal.counts!.deactivated, 1);
    assert.equal(await seen(131_072), t3.toISOString(), 'no longer returned: seen last by the run before');
    assert.equal(await seen(131_071), clock.toISOString());
    assert.equal(await seen(720_895), clock.toISOString());

    // Eleven blocks, one document each, whatever the number of runs.
    const docs = await stack.db.collection(LuccaSightingsRepository.collectionName).countDocuments({ companyId });
    assert.equal(docs, 11);
  });

  test("another tenant's ids are other people: sightings recorded under the old tenant are not shown", async () => {
    const { companyId } = await addTestCompany(stack, [luccaUser(5)]);
    const company = await stack.repos.companies.get(companyId);
    await stack.repos.luccaSightings.record(companyId, 'https://old.ilucca.net', 'r-old', new Date(), [5]);
    assert.equal(await stack.repos.luccaSightings.lastSeen(companyId, company!.lucca.baseUrl, 5), null);
    const at = new Date('2026-06-15T12:00:00Z');
    await stack.repos.luccaSightings.record(companyId, company!.lucca.baseUrl, 'r-new', at, [5]);
    assert.equal(
      (await stack.repos.luccaSightings.lastSeen(companyId, company!.lucca.baseUrl, 5))?.toISOString(),
      at.toISOString(),
    );
    assert.equal(await stack.repos.luccaSightings.lastSeen(companyId, 'https://old.ilucca.net', 5), null);
  });
});
