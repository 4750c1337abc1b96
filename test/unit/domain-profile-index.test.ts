import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CompanyProfileIndex } from '../../domain/profile-index';
import type { ProfileSnapshot, SyncedFields } from '../../domain/types';

const fields = (overrides: Partial<SyncedFields> = {}): SyncedFields => ({
  firstName: 'Zoë',
  lastName: 'N’Diaye',
  email: 'zoe@acme.fr',
  birthDate: '1990-02-28',
  contractStart: '2020-01-06',
  contractEnd: null,
  ...overrides,
});

const edited: ProfileSnapshot = {
  id: '65a000000000000000000001',
  fields: fields({ lastName: 'Edited "on" the platform\u0000,[]' }),
  status: 'active',
  lucca: { userId: 7, syncedValues: fields(), removedAt: null, outOfScopeAt: null },
};
const inLine: ProfileSnapshot = {
  id: '65a000000000000000000002',
  fields: fields({ email: 'shared@acme.fr', contractEnd: '2026-01-31' }),
  status: 'former',
  lucca: {
    userId: 8,
    syncedValues: fields({ email: 'shared@acme.fr', contractEnd: '2026-01-31' }),
    removedAt: new Date('2026-02-01T00:00:00Z'),
    outOfScopeAt: null,
  },
};
const neverSynced: ProfileSnapshot = {
  id: '65a000000000000000000003',
  fields: fields({ email: 'shared@acme.fr', birthDate: null }),
  status: 'upcoming',
  lucca: { userId: 9, syncedValues: null, removedAt: null, outOfScopeAt: new Date('2026-03-02T00:00:00Z') },
};
const unlinked: ProfileSnapshot = {
  id: '65a000000000000000000004',
  fields: fields({ email: 'shared@acme.fr', firstName: null }),
  status: 'active',
};

describe('CompanyProfileIndex', () => {
  const index = CompanyProfileIndex.of([edited, inLine, neverSynced, unlinked]);

  test('gives back each profile as it was added, by Lucca id', () => {
    assert.deepEqual(index.linked(7), edited);
    assert.deepEqual(index.linked(8), inLine);
    assert.deepEqual(index.linked(9), neverSynced);
    assert.equal(index.linked(10), null);
  });

  test('finds every profile carrying an email, linked or not, in the order added', () => {
    assert.deepEqual(index.withEmail('shared@acme.fr'), [inLine, neverSynced, unlinked]);
    assert.deepEqual(index.withEmail('zoe@acme.fr'), [edited]);
    assert.deepEqual(index.withEmail('nobody@acme.fr'), []);
  });

  test('lists the linked profiles and counts those not former', () => {
    assert.deepEqual(
      [...index.linkedProfiles()].map(([userId, p]) => [userId, p.id]),
      [
        [7, edited.id],
        [8, inLine.id],
        [9, neverSynced.id],
      ],
    );
    assert.equal(index.notFormer, 3);
  });

  test('a looked-up profile is a copy: changing it does not change the index', () => {
    const copy = index.linked(7)!;
    copy.fields.firstName = 'changed';
    assert.equal(index.linked(7)!.fields.firstName, 'Zoë');
  });
});
