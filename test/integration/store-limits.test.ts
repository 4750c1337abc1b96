import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { storeCapabilities } from '../../db/store-capabilities';
import { toChangeDocument } from '../../db/sync-changes-repository';
import { openStack, type Stack } from './helpers';

/**
 * The storage limits the code slices its commands by, each gone past ten times on the real store.
 * On MongoDB the same calls take the straightforward path (one command) and must agree.
 */
describe('storage commands past the store limits', () => {
  let stack: Stack;

  before(async () => {
    stack = await openStack('limits');
  });

  after(async () => {
    await stack?.close();
  });

  test('deletes of a run’s change records go ten times past one delete’s cap, and keep what is not theirs', async () => {
    // FerretDB's SQLite backend refuses a delete of more than 32,766 documents; the repository
    // deletes at most `maxDeletesPerCommand` (10,000) at a time. 102 plan slots of 1,000 records:
    // 100 are planned again (100,000 records deleted by range), two between them are kept, then
    // the run is cleared. Each delete costs FerretDB/SQLite a scan of the collection (about 9 s
    // here): the slots are few and full so that the test stays a dozen commands.
    const caps = await storeCapabilities(stack.db);
    const perSlot = 1_000;
    const slots = 102;
    const kept = new Set([30, 70]);
    const change = (slot: number, i: number) =>
      toChangeDocument('run-big', 'co', slot * 10_000 + 1 + i, {
        action: 'skip',
        luccaUserId: slot * perSlot + i,
        reasons: [],
      });
    for (let slot = 0; slot < slots; slot += 6) {
      const docs = [];
      for (let s = slot; s < Math.min(slot + 6, slots); s++) for (let i = 0; i < perSlot; i++) docs.push(change(s, i));
      await stack.repos.syncChanges.insertMany(docs);
    }
    await stack.repos.syncChanges.insertMany([
      toChangeDocument('run-other', 'co', 1, { action: 'skip', luccaUserId: 1, reasons: [] }),
    ]);
    const stale = Array.from({ length: slots }, (_, s) => s).filter((s) => !kept.has(s));
    assert.ok(stale.length * perSlot >= 10 * Math.min(caps.maxDeletesPerCommand, 10_000));

    await stack.repos.syncChanges.deleteSeqRanges(
      'run-big',
      stale.map((s) => [s * 10_000 + 1, (s + 1) * 10_000 - 1]),
    );

    const left = await stack.repos.syncChanges.collection
      .find({ runId: 'run-big' }, { projection: { seq: 1 } })
      .toArray();
    assert.equal(left.length, kept.size * perSlot, 'only the kept slots’ records are left');
    assert.deepEqual(new Set(left.map((d) => Math.floor(d.seq / 10_000))), kept);

    await stack.repos.syncChanges.clearRun('run-big');
    assert.equal(await stack.repos.syncChanges.collection.countDocuments({ runId: 'run-big' }), 0);
    assert.equal(
      await stack.repos.syncChanges.collection.countDocuments({ runId: 'run-other' }),
      1,
      'another run untouched',
    );
  });
});
