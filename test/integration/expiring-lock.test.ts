import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, test } from 'node:test';
import type { Collection } from 'mongodb';
import { takeExpiringLock, type ExpiringLockOptions, type LockDocument } from '../../db/expiring-lock';
import { openStack, uniqueSuffix, type Stack } from './helpers';

/**
 * The lock the audit log's writers and the tenant claim share, on the real store (FerretDB in the
 * stack): one holder at a time, a lapsed lock broken without breaking its successor's, a wait that
 * ends. Its production lapses and waits are tested where they are set (the tenant claim's in
 * tenant-claim.test.ts, the audit log's through its concurrent appends in audit.test.ts).
 */
describe('an expiring lock: one document by _id, taken by inserting it (real store)', () => {
  let stack: Stack;
  let locks: Collection<LockDocument>;

  before(async () => {
    stack = await openStack('expiring-lock');
    locks = stack.db.collection<LockDocument>('testLocks');
  });

  after(async () => {
    await stack?.close();
  });

  const options = (over: Partial<ExpiringLockOptions<LockDocument>> = {}): ExpiringLockOptions<LockDocument> => ({
    lapseMs: 60_000,
    waitMs: 30_000,
    pauseMs: () => 5,
    ...over,
  });

  test('twenty takers at once hold it one at a time, each once', async () => {
    const _id = `lock-${uniqueSuffix()}`;
    let inside = 0;
    let most = 0;
    const done: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, async (_, i) => {
        const lock = await takeExpiringLock(locks, { _id, holder: `taker ${i}` }, options());
        assert.ok(lock.held, `taker ${i} got the lock`);
        inside++;
        most = Math.max(most, inside);
        await sleep(5);
        inside--;
        done.push(i);
        await lock.release();
      }),
    );
    assert.equal(most, 1, 'never two holders at once');
    assert.equal(done.length, 20);
    assert.equal(await locks.countDocuments({ _id }), 0, 'given back');
  });

  test('a lapsed lock is broken; its late holder giving it back leaves the new holder its lock', async () => {
    const _id = `lock-${uniqueSuffix()}`;
    // The real clock, moved on past the lapse at will.
    let skipped = 0;
    const now = () => Date.now() + skipped;
    const first = await takeExpiringLock(locks, { _id, holder: 'hung' }, options({ now }));
    assert.ok(first.held);
    skipped += 60_001;
    const waits: LockDocument[] = [];
    const second = await takeExpiringLock(
      locks,
      { _id, holder: 'next' },
      options({ now, waitMs: 1_000, onWait: (held) => waits.push(held) }),
    );
    assert.ok(second.held);
    assert.deepEqual(waits, [], 'a lapsed lock is not waited for');
    await first.release();
    assert.equal((await locks.findOne({ _id }))?.holder, 'next', 'the hung holder removed only its own');
    await second.release();
    assert.equal(await locks.findOne({ _id }), null);
  });

  test('a lock not yet lapsed is waited for at most waitMs, said once, then given up naming its holder', async () => {
    const _id = `lock-${uniqueSuffix()}`;
    const held = await takeExpiringLock(locks, { _id, holder: 'busy' }, options());
    assert.ok(held.held);
    const waits: LockDocument[] = [];
    const began = Date.now();
    const given = await takeExpiringLock(
      locks,
      { _id, holder: 'waiting' },
      options({ waitMs: 300, onWait: (w) => waits.push(w) }),
    );
    const waited = Date.now() - began;
    assert.ok(!given.held);
    assert.equal(given.heldBy?.holder, 'busy');
    assert.ok(waited >= 300 && waited < 5_000, `gave up after ${waited} ms`);
    assert.deepEqual(
      waits.map((w) => w.holder),
      ['busy'],
    );
    await held.release();
  });

  test('a lock left by a writer that named itself otherwise (no holder field) still lapses', async () => {
    const _id = `lock-${uniqueSuffix()}`;
    await stack.db
      .collection('testLocks')
      .insertOne({ _id: _id as never, owner: 'before', at: new Date(Date.now() - 120_000) });
    const lock = await takeExpiringLock(locks, { _id, holder: 'after' }, options());
    assert.ok(lock.held);
    assert.equal((await locks.findOne({ _id }))?.holder, 'after');
    await lock.release();
  });
});
