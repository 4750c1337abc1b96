import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ObjectId, type Db } from 'mongodb';
import { storeCapabilities } from '../../db/store-capabilities';
import { ensureIndexes, repositories } from '../../db/mongo';
import { toChangeDocument } from '../../db/sync-changes-repository';
import { runPostgresTool, stackSettings } from '../../dev-tools/stack/stack';
import { openStack, type Stack } from './helpers';

/**
 * The names of a collection's indexes beyond `_id`, sorted; none for a collection no index was made
 * for, which does not exist yet (FerretDB, MongoDB: NamespaceNotFound).
 */
async function indexNames(db: Db, collection: string): Promise<(string | undefined)[]> {
  const indexes = await db
    .collection(collection)
    .indexes()
    .catch((err: unknown) => {
      if ((err as { code?: number }).code === 26) return [];
      throw err;
    });
  return indexes
    .map((i) => i.name)
    .filter((name) => name !== '_id_')
    .sort();
}

/** Drops the GIN indexes the stack adds behind FerretDB (postgres-indexes.sql) from one database's tables. */
function dropStackIndexes(database: string): void {
  const sql =
    `DO $$ DECLARE i record; BEGIN FOR i IN SELECT schemaname, indexname FROM pg_indexes ` +
    `WHERE schemaname = '${database}' AND indexname LIKE 'lucca\\_sync\\_%' LOOP ` +
    `EXECUTE format('DROP INDEX %I.%I', i.schemaname, i.indexname); END LOOP; END $$;`;
  const doing = "dropping the stack's indexes";
  const done = runPostgresTool(
    stackSettings().postgresPort,
    'psql',
    ['-d', 'ferretdb', '-v', 'ON_ERROR_STOP=1', '-c', sql],
    doing,
    60_000,
  );
  if (done.status !== 0) throw new Error(`PostgreSQL: ${doing} failed: ${done.stderr.trim()}`);
}

/**
 * What the store can take, asked of the store itself, and the limits the code slices its commands
 * by, each gone past ten times on the real store (on MongoDB the same calls take one command).
 */
describe('what the store can take, asked of the store itself', () => {
  let stack: Stack;

  before(async () => {
    stack = await openStack('capabilities');
  });

  after(async () => {
    await stack?.close();
  });

  test('a fresh database gets the capabilities of the engine the stack runs', async () => {
    // A database nobody wrote to yet: where the worker meets a new one, as the benchmark does.
    const fresh = stack.mongo.db(`${stack.db.databaseName}_fresh`.slice(0, 63));
    try {
      const caps = await storeCapabilities(fresh);
      const info = await fresh.admin().command({ buildInfo: 1 });
      if (!('ferretdbVersion' in info)) {
        assert.deepEqual(caps, {
          engine: 'mongodb',
          maxUpdatesPerCommand: Infinity,
          maxDeletesPerCommand: Infinity,
          partialIndexes: true,
          multiKeyFilterPushdown: true,
          rewriteFrom: Infinity,
          queryIndexes: true,
        });
        return;
      }
      assert.equal(caps.engine, 'ferretdb');
      assert.equal(caps.maxUpdatesPerCommand, 10, 'an order of magnitude under the stall');
      assert.equal(caps.partialIndexes, false);
      assert.equal(caps.queryIndexes, false, 'FerretDB plans no query through a secondary index');
      // On PostgreSQL the stack's GIN index finds each update's profile by `_id`: never rewritten.
      assert.equal(
        caps.rewriteFrom,
        process.env.DEV_STORE_ENGINE === 'postgresql' ? Infinity : 100,
        'from how many updates a batch is rewritten instead of updated one by one',
      );
      // SQLite decodes a filter of several keys in Go; PostgreSQL evaluates it in SQL.
      assert.equal(caps.multiKeyFilterPushdown, process.env.DEV_STORE_ENGINE === 'postgresql');
      if (process.env.DEV_STORE_ENGINE === 'postgresql') {
        // A PostgreSQL without the stack's indexes (an operator's own, the file not applied):
        // each update is a scan again, and the store says so. Asked anew (a new `Db`).
        dropStackIndexes(fresh.databaseName);
        const bare = await storeCapabilities(stack.mongo.db(fresh.databaseName));
        assert.equal(bare.rewriteFrom, 600, 'without an index on `_id`, batches are rewritten from 600 updates');
      }
    } finally {
      await fresh.dropDatabase();
    }
  });

  test('indexes that only speed queries are made where queries use them; unique ones everywhere', async () => {
    const caps = await storeCapabilities(stack.db);
    const names = (collection: string) => indexNames(stack.db, collection);
    const queryOnly = (...indexNames: string[]) => (caps.queryIndexes ? indexNames : []);
    assert.deepEqual(await names('profiles'), ['company_lucca_user', ...queryOnly('company_email')].sort());
    assert.deepEqual(await names('syncChanges'), queryOnly('company_profile', 'run_seq'));
    assert.deepEqual(await names('syncRuns'), queryOnly('company_started'));
  });

  test('one company’s profiles are found without reading every company’s: by an index on MongoDB and on FerretDB’s PostgreSQL engine (the stack adds it), on SQLite decoded whole as known', async () => {
    // Forty companies on a database of their own: reading the others' rows is what a fleet pays.
    const fleet = stack.mongo.db(`${stack.db.databaseName}_fleet`.slice(0, 63));
    try {
      await ensureIndexes(repositories(fleet));
      await fleet.collection('profiles').insertMany(
        Array.from({ length: 2_000 }, (_, i) => ({
          _id: new ObjectId(),
          companyId: `co-${i % 40}`,
          lucca: { userId: i },
          email: `person${i}@example.test`,
        })),
      );
      const explained = async (filter: Record<string, unknown>) =>
        JSON.stringify(await fleet.command({ explain: { find: 'profiles', filter } }));
      const company = await explained({ companyId: 'co-7' });
      // A conditioned update's filter: the profile and its company.
      const one = await explained({ _id: new ObjectId(), companyId: 'co-7' });
      const info = await fleet.admin().command({ buildInfo: 1 });
      if (!('ferretdbVersion' in info)) {
        assert.match(company, /IXSCAN/);
        assert.match(one, /IXSCAN|IDHACK|EXPRESS/);
      } else if (process.env.DEV_STORE_ENGINE === 'postgresql') {
        // FerretDB sends `_jsonb->'companyId' @> '"co-7"'`, which its own btree indexes cannot serve.
        assert.match(company, /"Index Name":"lucca_sync_[0-9a-f]{24}"/, company);
        assert.match(one, /"Index Name":"lucca_sync_[0-9a-f]{24}"/, one);
        assert.doesNotMatch(company, /Seq Scan/, company);
      } else {
        // SQLite: nothing of either filter reaches SQL; every document is decoded (ferretdb-notes).
        assert.match(company, /"filterPushdown":false/, company);
        assert.match(one, /"filterPushdown":false/, one);
      }
    } finally {
      await fleet.dropDatabase().catch(() => undefined);
    }
  });

  test('a database made before keeps its unique index and loses the query-only ones where queries do not use them', async () => {
    // The indexes an earlier version made everywhere, on a database of their own, then today's.
    const old = stack.mongo.db(`${stack.db.databaseName}_old`.slice(0, 63));
    try {
      const profiles = old.collection('profiles');
      await profiles.createIndex({ companyId: 1, 'lucca.userId': 1 }, { name: 'company_lucca_user', unique: true });
      await profiles.createIndex({ companyId: 1, email: 1 }, { name: 'company_email' });
      await old.collection('syncRuns').createIndex({ companyId: 1, startedAt: -1 }, { name: 'company_started' });
      // Unnamed when it was made: matched by its keys.
      await old.collection('alertDeliveries').createIndex({ companyId: 1, createdAt: -1 });
      // Not ours to drop: other keys, or the same keys under a unique index.
      await old.collection('syncRuns').createIndex({ startedAt: 1 }, { name: 'by_hand' });
      await ensureIndexes(repositories(old));
      await ensureIndexes(repositories(old)); // twice: an upgrade that ran already finds nothing to drop

      const queryIndexes = (await storeCapabilities(old)).queryIndexes;
      const names = (collection: string) => indexNames(old, collection);
      assert.deepEqual(
        await names('profiles'),
        queryIndexes ? ['company_email', 'company_lucca_user'] : ['company_lucca_user'],
      );
      assert.deepEqual(await names('syncRuns'), queryIndexes ? ['by_hand', 'company_started'] : ['by_hand']);
      assert.deepEqual(await names('alertDeliveries'), queryIndexes ? ['companyId_1_createdAt_-1'] : []);
    } finally {
      await old.dropDatabase().catch(() => undefined);
    }
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

    const left = await stack.store.syncChanges.find({ runId: 'run-big' }, { projection: { seq: 1 } }).toArray();
    assert.equal(left.length, kept.size * perSlot, 'only the kept slots’ records are left');
    assert.deepEqual(new Set(left.map((d) => Math.floor(d.seq / 10_000))), kept);

    await stack.repos.syncChanges.clearRun('run-big');
    assert.equal(await stack.store.syncChanges.countDocuments({ runId: 'run-big' }), 0);
    assert.equal(await stack.store.syncChanges.countDocuments({ runId: 'run-other' }), 1, 'another run untouched');
  });
});
