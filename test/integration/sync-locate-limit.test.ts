import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ObjectId } from 'mongodb';
import type { ProfileDocument } from '../../db/profiles-repository';
import { MAX_LOCATE_REQUESTS } from '../../lucca/client';
import { MAX_SCOPE_FILTER_CHARS } from '../../lucca/scope';
import { openStack, type Stack } from './helpers';
import { addTestCompany, luccaUser, runSync, startWorker, type RunningWorker } from './sync-kit';

/**
 * Lucca ids of fifteen digits, so that fewer profiles make the lookups: an `id=` filter of
 * MAX_SCOPE_FILTER_CHARS holds 62 of them (sixteen characters each with its comma).
 */
const FIRST_ABSENT_ID = 100_000_000_000_000;
const IDS_PER_LOOKUP = Math.floor((MAX_SCOPE_FILTER_CHARS - 'id='.length + 1) / 16);
const PLACES_FIELDS = 'id,legalEntity[id,name],department[id,name]';

/**
 * A scoped read asks Lucca where the linked users it did not return are (`locateUsers`): by id, a
 * hundred a request, up to MAX_LOCATE_REQUESTS requests; past that, one read of the tenant's places.
 * Here ten times the ids those lookups hold, on the real stack.
 */
describe('locating absent linked users past MAX_LOCATE_REQUESTS, on the real stack', () => {
  let stack: Stack;
  let worker: RunningWorker;

  before(async () => {
    stack = await openStack('locatelimit');
    worker = await startWorker(stack, stack.taskQueue);
  });

  after(async () => {
    await worker.stop();
    await stack.close();
  });

  test('ten times the lookups MAX_LOCATE_REQUESTS allows are one read of the tenant places instead', async () => {
    const entity = { id: 1, name: 'Établissement Nord' };
    const department = { id: 11, name: 'Équipe' };
    const inScope = Array.from({ length: 30 }, (_, i) =>
      luccaUser(i + 1, { legalEntityId: entity.id, legalEntity: entity, departmentId: department.id, department }),
    );
    const { companyId, tenant } = await addTestCompany(stack, inScope);
    await stack.store.companies.updateOne(
      { _id: companyId },
      { $set: { 'lucca.scope': { legalEntityIds: [entity.id], departmentIds: [] } } },
    );
    // Linked profiles whose users Lucca no longer has: each is an id the run must locate.
    const absent = 10 * MAX_LOCATE_REQUESTS * IDS_PER_LOOKUP;
    const now = new Date();
    const profiles: ProfileDocument[] = Array.from({ length: absent }, (_, i) => {
      const fields = {
        firstName: 'Absent',
        lastName: `N${i}`,
        email: `absent${i}@example.test`,
        birthDate: null,
        contractStart: null,
        contractEnd: null,
      };
      return {
        _id: new ObjectId(),
        companyId,
        ...fields,
        status: 'active',
        lucca: { userId: FIRST_ABSENT_ID + i, linkedAt: now, lastSeenAt: now, syncedValues: fields },
        createdAt: now,
        updatedAt: now,
      };
    });
    for (let i = 0; i < profiles.length; i += 1000) await stack.store.profiles.insertMany(profiles.slice(i, i + 1000));

    const run = await runSync(stack, stack.taskQueue, companyId);

    // Every absent user is planned removed (the guard then holds the plan back: nothing written).
    assert.equal(run.status, 'blocked', JSON.stringify(run.error));
    assert.equal(run.counts!.deactivated, absent);
    const places = stack.lucca.requests(tenant).filter((r) => r.query.fields === PLACES_FIELDS);
    assert.equal(
      places.filter((r) => r.query.id !== undefined).length,
      0,
      `no lookup by id: ${absent} ids would take ${absent / IDS_PER_LOOKUP} of them`,
    );
    assert.equal(places.length, 1, 'one read of the places of a tenant of 30 people');
    assert.equal(IDS_PER_LOOKUP, 62);
  });
});
