import {
  ObjectId,
  type Collection,
  type Db,
  type Document,
  type IndexSpecification,
  type CreateIndexesOptions,
} from 'mongodb';

/**
 * Everything the storage code does differently on FerretDB 1.x, in one place. A real MongoDB
 * takes the straightforward path; each FerretDB workaround below is named and says why.
 */
export interface StoreCapabilities {
  engine: 'mongodb' | 'ferretdb';
  /**
   * Most update statements one write command may carry. FerretDB keeps each statement's query
   * rows — one pooled connection each — open until the whole command ends: on its SQLite backend
   * (100 pooled connections) a command of about 100 statements deadlocks the whole server, and on
   * PostgreSQL the pool (50 by default) is the cliff. 10 stays an order of magnitude clear of both,
   * with room for other clients' connections. MongoDB: no limit (the driver splits at the server's
   * maxWriteBatchSize).
   */
  maxUpdatesPerCommand: number;
  /**
   * Most documents one delete may match: FerretDB deletes them with one `IN (…)` of every id, and
   * SQLite refuses more than 32,766 bound variables ("too many SQL variables").
   */
  maxDeletesPerCommand: number;
  /** FerretDB 1.x refuses `partialFilterExpression` (code 238, NotImplemented) and ignores `sparse`. */
  partialIndexes: boolean;
  /**
   * Whether a filter of several keys (`{_id, companyId, …}`) is evaluated by the store. FerretDB's
   * SQLite backend pushes down `{_id}` alone and decodes every document of the collection in Go
   * for anything else; its PostgreSQL backend pushes equality filters down. Asked of FerretDB
   * itself (`explain` says `filterPushdown`). Where it is, an update carries its conditions (the
   * profile's Lucca user and the values it was planned from) in its filter; where it is not, the
   * profile is read by `_id`, judged, and written by `_id` with `findAndModify`, whose answer —
   * the profile just before the write — shows a platform write that landed in between
   * (`ProfilesRepository.updateEach`).
   */
  multiKeyFilterPushdown: boolean;
  /**
   * From how many updates in one batch the profiles are rewritten instead — read once, merged,
   * journaled, deleted (each only if it is still exactly as read) and inserted again
   * (`ProfilesRepository.rewrite`) — rather than updated one by one. FerretDB finds the document of each update with a scan of the whole collection,
   * in SQL on both backends, so attaching an imported company of 100,000 one by one would take
   * hours. A rewrite costs a read of the company and one delete whose `$in` FerretDB checks id by
   * id against every document; both costs grow with the collection, so the crossover hardly does.
   * Measured at 100,000 profiles (one company, updates spread over it): on SQLite, 100 updates
   * took 259 s one by one and 46 s rewritten; on PostgreSQL, 100 took 8 s one by one and 45 s
   * rewritten, 300 took 22 s and 47 s, 920 took 65 s and 50 s. Hence 100 on SQLite, 600 on
   * PostgreSQL (the backend that evaluates filters in SQL) when it has no index FerretDB's SQL can
   * use. With the GIN indexes the dev stack adds there (`dev-tools/stack/postgres-indexes.sql`) an
   * update finds its profile through the `_id` one — 1.4-1.9 ms each through FerretDB at 100,000
   * profiles, where a rewrite's pass over the company takes seconds — so a batch is never
   * rewritten, as on MongoDB, whose updates use the `_id` index.
   */
  rewriteFrom: number;
  /**
   * Whether the store plans queries through secondary indexes. FerretDB 1.x creates an index as a
   * real SQL index, which every insert and update keeps up, but evaluates no query through it (see
   * `multiKeyFilterPushdown`: what reaches SQL is a sequential scan on both backends, the rest is
   * decoded in Go): an index made for queries alone costs it every write and serves nothing (one
   * `{ companyId, email }` index took 100,000 profile inserts from 14.6–15.2 s to 16.1–18.0 s on
   * SQLite, docs/benchmarks.md). There such indexes are not made (`createQueryIndex`); unique
   * indexes are made everywhere, as they guard writes.
   */
  queryIndexes: boolean;
}

const MONGODB: StoreCapabilities = {
  engine: 'mongodb',
  maxUpdatesPerCommand: Infinity,
  maxDeletesPerCommand: Infinity,
  partialIndexes: true,
  multiKeyFilterPushdown: true,
  rewriteFrom: Infinity,
  queryIndexes: true,
};

const FERRETDB = {
  engine: 'ferretdb',
  maxUpdatesPerCommand: 10,
  maxDeletesPerCommand: 10_000,
  partialIndexes: false,
  queryIndexes: false,
} as const;

const detected = new WeakMap<Db, Promise<StoreCapabilities>>();

/** What this database's server can take; asked once per `Db` (FerretDB says who it is in `buildInfo`). */
export function storeCapabilities(db: Db): Promise<StoreCapabilities> {
  let caps = detected.get(db);
  if (!caps) {
    caps = detect(db);
    // A failed probe (server down) is asked again next time rather than remembered.
    caps.catch(() => detected.delete(db));
    detected.set(db, caps);
  }
  return caps;
}

async function detect(db: Db): Promise<StoreCapabilities> {
  const info = await db.admin().command({ buildInfo: 1 });
  if (!('ferretdbVersion' in info)) return MONGODB;
  // FerretDB plans nothing for a collection that does not exist yet (and answers "not pushed
  // down"), so the question is asked of `profiles`, created if needed — the first call often
  // comes from creating its indexes on a fresh database.
  await db.createCollection('profiles').catch((err: unknown) => {
    if ((err as { code?: number }).code !== NAMESPACE_EXISTS) throw err;
  });
  const plan = await db.command({ explain: { find: 'profiles', filter: { _id: new ObjectId(), companyId: '' } } });
  const inSql = plan.filterPushdown === true;
  return {
    ...FERRETDB,
    multiKeyFilterPushdown: inSql,
    rewriteFrom: !inSql ? 100 : (await idIndexed(db)) ? Infinity : 600,
  };
}

/**
 * Whether FerretDB's SQL backend finds a profile by `_id` through an index. FerretDB 1.x sends an
 * equality filter as containment (`_jsonb->'_id' @> …`), which its own indexes cannot serve; a
 * PostgreSQL with the GIN indexes of `dev-tools/stack/postgres-indexes.sql` can, and its plan
 * (FerretDB's `explain` carries PostgreSQL's) then names an index.
 */
async function idIndexed(db: Db): Promise<boolean> {
  const plan = await db.command({ explain: { find: 'profiles', filter: { _id: new ObjectId() } } });
  return JSON.stringify(plan.queryPlanner ?? null).includes('"Index Name"');
}

const NAMESPACE_EXISTS = 48;

/** Splits `items` into runs of at most `size` (all of them at once when `size` is Infinity). */
export function* slices<T>(items: readonly T[], size: number): Generator<T[]> {
  if (!Number.isFinite(size)) {
    if (items.length > 0) yield items.slice();
    return;
  }
  for (let i = 0; i < items.length; i += size) yield items.slice(i, i + size);
}

/**
 * An index that only speeds queries: made where the store's queries use it (`queryIndexes`), and
 * elsewhere dropped if a database made before has it (matched by its keys, whatever its name), so
 * an upgraded database stops paying for it on every write.
 */
export async function createQueryIndex<T extends Document>(
  db: Db,
  collection: Collection<T>,
  key: Record<string, 1 | -1>,
  options: CreateIndexesOptions = {},
): Promise<void> {
  if ((await storeCapabilities(db)).queryIndexes) {
    await collection.createIndex(key, options);
    return;
  }
  const existing = await collection.indexes().catch((err: unknown) => {
    if ((err as { code?: number }).code === NAMESPACE_NOT_FOUND) return [];
    throw err;
  });
  const wanted = JSON.stringify(key);
  for (const index of existing) {
    if (!index.name || index.unique || JSON.stringify(index.key) !== wanted) continue;
    await collection.dropIndex(index.name).catch((err: unknown) => {
      // Another process upgrading the same database dropped it first.
      if ((err as { code?: number }).code !== INDEX_NOT_FOUND) throw err;
    });
  }
}

/** The server's codes for a collection that does not exist yet and an index that is not there. */
const NAMESPACE_NOT_FOUND = 26;
const INDEX_NOT_FOUND = 27;

/**
 * A unique index over the documents that have `field`. MongoDB gets a partial index. FerretDB
 * refuses partial indexes and ignores `sparse`; there a missing field is NULL in the SQL index,
 * and NULLs never collide in a unique index, so documents without the field stay out of it all
 * the same (the scale tests attach a thousand unlinked profiles of one company).
 */
export async function createUniqueWhereExists<T extends Document>(
  db: Db,
  collection: Collection<T>,
  key: IndexSpecification,
  field: string,
  options: CreateIndexesOptions & { name: string },
): Promise<void> {
  const caps = await storeCapabilities(db);
  if (caps.partialIndexes) {
    await collection.createIndex(key, {
      ...options,
      unique: true,
      partialFilterExpression: { [field]: { $exists: true } },
    });
  } else {
    await collection.createIndex(key, { ...options, unique: true, sparse: true });
  }
}
