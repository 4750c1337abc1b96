import { BSON, ObjectId, type AnyBulkWriteOperation, type Collection, type Db, type Filter } from 'mongodb';
import { CompanyProfileIndex } from '../domain/profile-index';
import { isRemoval } from '../domain/plan';
import type { ProfileSnapshot, ProfileStatus, SyncedFields } from '../domain/types';
import { isDuplicateKeyOnly } from './errors';
import { createUniqueWhereExists, slices, storeCapabilities, type StoreCapabilities } from './store-capabilities';
import type { ApplicableChange } from './sync-staging-repository';

export interface ProfileDocument extends SyncedFields {
  _id: ObjectId;
  companyId: string;
  status: ProfileStatus;
  lucca?: {
    userId: number;
    linkedAt: Date;
    lastSeenAt: Date;
    removedAt?: Date | null;
    syncedValues: SyncedFields;
  };
  createdAt: Date;
  updatedAt: Date;
}

const SNAPSHOT_PROJECTION = {
  firstName: 1,
  lastName: 1,
  email: 1,
  birthDate: 1,
  contractStart: 1,
  contractEnd: 1,
  status: 1,
  'lucca.userId': 1,
  'lucca.syncedValues': 1,
  'lucca.removedAt': 1,
} as const;

function toSnapshot(doc: ProfileDocument): ProfileSnapshot {
  return {
    id: doc._id.toHexString(),
    fields: {
      firstName: doc.firstName ?? null,
      lastName: doc.lastName ?? null,
      email: doc.email ?? null,
      birthDate: doc.birthDate ?? null,
      contractStart: doc.contractStart ?? null,
      contractEnd: doc.contractEnd ?? null,
    },
    status: doc.status,
    ...(doc.lucca
      ? {
          lucca: {
            userId: doc.lucca.userId,
            syncedValues: doc.lucca.syncedValues ?? null,
            removedAt: doc.lucca.removedAt ?? null,
          },
        }
      : {}),
  };
}

/** One planned profile update: what to set, on the condition that the profile is still this user's. */
export interface PlannedUpdate {
  _id: ObjectId;
  userId: number;
  /** A link also accepts a profile linked to nobody. */
  linking: boolean;
  set: Record<string, unknown>;
}

/** A profile to rewrite: as it is, and as it will be. */
export interface RewriteEntry {
  before: ProfileDocument;
  after: ProfileDocument;
}

/** Whether the update still holds for the profile: same company, same Lucca user (or none, for a link). */
function holds(update: PlannedUpdate, companyId: string, doc: Pick<ProfileDocument, 'companyId' | 'lucca'>): boolean {
  if (doc.companyId !== companyId) return false;
  const linkedTo = doc.lucca?.userId;
  return linkedTo === update.userId || (update.linking && linkedTo === undefined);
}

/** `doc` with a `$set` applied (top-level and dotted keys), as the store would. */
function withSet(doc: ProfileDocument, set: Record<string, unknown>): ProfileDocument {
  // A BSON round trip copies ObjectIds and Dates as themselves (structuredClone would not).
  const after = BSON.deserialize(BSON.serialize(doc)) as Record<string, unknown>;
  for (const [key, value] of Object.entries(set)) {
    const path = key.split('.');
    let into = after;
    for (const step of path.slice(0, -1)) {
      const next = into[step];
      if (next === null || typeof next !== 'object') into[step] = {};
      into = into[step] as Record<string, unknown>;
    }
    into[path.at(-1)!] = value;
  }
  return after as unknown as ProfileDocument;
}

export class ProfilesRepository {
  static readonly collectionName = 'profiles';
  private readonly collection: Collection<ProfileDocument>;

  constructor(private readonly db: Db) {
    this.collection = db.collection<ProfileDocument>(ProfilesRepository.collectionName);
  }

  /** How this store takes writes (see `StoreCapabilities`). */
  capabilities(): Promise<StoreCapabilities> {
    return storeCapabilities(this.db);
  }

  async ensureIndexes(): Promise<void> {
    // One profile per Lucca user and company — what makes retried creates harmless.
    await createUniqueWhereExists(this.db, this.collection, { companyId: 1, 'lucca.userId': 1 }, 'lucca.userId', {
      name: 'company_lucca_user',
    });
    await this.collection.createIndex({ companyId: 1, email: 1 }, { name: 'company_email' });
  }

  /**
   * Everything the planner needs of a company's profiles, read in one pass. One pass matters:
   * FerretDB 1.x scans a collection for every query (no index pushdown), so per-batch lookups
   * would cost a scan each (matching in Lucca-id order with emails looked up in bulk would keep
   * the worker's memory page-sized, at a scan of the collection per page). The index keeps each
   * profile packed (see `CompanyProfileIndex`).
   */
  async loadCompanyIndex(companyId: string, onProgress?: (profilesRead: number) => void): Promise<CompanyProfileIndex> {
    const index = new CompanyProfileIndex();
    let read = 0;
    const cursor = this.collection.find({ companyId }, { projection: SNAPSHOT_PROJECTION, batchSize: 2000 });
    for await (const doc of cursor) {
      index.add(toSnapshot(doc));
      if (++read % 1000 === 0) onProgress?.(read);
    }
    return index;
  }

  /**
   * The profile writes of planned changes: the profiles to create, and the updates of existing
   * ones, each conditioned on the profile still being this Lucca user's (or, for a link, nobody's).
   * Every write is idempotent — an insert of the planned profile id, a `$set` of planned values —
   * so a retried apply converges on the same profiles.
   */
  plannedWrites(
    companyId: string,
    changes: readonly ApplicableChange[],
    now: Date,
  ): { inserts: ProfileDocument[]; updates: PlannedUpdate[] } {
    const inserts: ProfileDocument[] = [];
    const updates: PlannedUpdate[] = [];
    for (const change of changes) {
      const target = change.target;
      if (!target || change.luccaUserId === null) continue;
      const _id = new ObjectId(change.profileId);
      const userId = change.luccaUserId;
      switch (change.action) {
        case 'create':
          inserts.push({
            _id,
            companyId,
            ...target.fields,
            status: target.status,
            lucca: { userId, linkedAt: now, lastSeenAt: now, syncedValues: target.fields },
            createdAt: now,
            updatedAt: now,
          });
          break;
        case 'link':
          updates.push({
            _id,
            userId,
            linking: true,
            set: {
              ...target.fields,
              status: target.status,
              lucca: { userId, linkedAt: now, lastSeenAt: now, syncedValues: target.fields },
              updatedAt: now,
            },
          });
          break;
        case 'update':
        case 'deactivate':
        case 'reactivate':
          updates.push({
            _id,
            userId,
            linking: false,
            set: {
              ...target.fields,
              status: target.status,
              'lucca.syncedValues': target.fields,
              updatedAt: now,
              // A user present in Lucca is no longer "removed", whatever else changed.
              ...(isRemoval(change)
                ? { 'lucca.removedAt': now }
                : { 'lucca.lastSeenAt': now, 'lucca.removedAt': null }),
            },
          });
          break;
        default:
          break;
      }
    }
    return { inserts, updates };
  }

  /**
   * Updates the profiles one by one, in commands the store can take, yielding each command's
   * profile writes as it completes: the profiles its updates hold, changed now or by an earlier
   * attempt of the same apply (which may have died before it counted them).
   */
  async *updateEach(companyId: string, updates: readonly PlannedUpdate[]): AsyncGenerator<number> {
    const caps = await storeCapabilities(this.db);
    let owned: Set<string> | undefined;
    for (const slice of slices(updates, caps.maxUpdatesPerCommand)) {
      if (caps.multiKeyFilterPushdown) {
        yield await this.updateWhereOwned(companyId, slice);
      } else {
        owned ??= await this.stillOwned(companyId, updates);
        yield await this.updateByIdOnly(slice, owned);
      }
    }
  }

  /**
   * The first step of a rewrite (see `StoreCapabilities.rewriteFrom`): the profiles the updates
   * still hold (same company, same Lucca user or none for a link), read in one query, each as it
   * is and as it will be. The caller journals them before `rewrite`.
   */
  async readForRewrite(companyId: string, updates: readonly PlannedUpdate[]): Promise<RewriteEntry[]> {
    const wanted = new Map(updates.map((u) => [u._id.toHexString(), u]));
    const entries: RewriteEntry[] = [];
    // The company's profiles, picked here: FerretDB evaluates `$in` by comparing each document of
    // the collection with every listed value in turn (`filterFieldExpr` in its source); reading the
    // company is one pass whatever the batch.
    for await (const before of this.collection.find({ companyId })) {
      const update = wanted.get(before._id.toHexString());
      if (!update || !holds(update, companyId, before)) continue;
      entries.push({ before, after: withSet(before, update.set) });
    }
    return entries;
  }

  /**
   * Replaces each profile by its new version: one delete of them all, one insert. The delete costs
   * FerretDB a comparison of every profile of the collection with every id listed (its `$in` is a
   * loop, and it pushes down no filter naming several documents by id): a rewrite is linear in the
   * collection and in the batch. Safe to repeat from its journal after a crash at any point. A
   * new version the store refuses (a unique index another profile took meanwhile) is put back as
   * it was, so nothing is lost; returns the profiles rewritten.
   */
  async rewrite(entries: readonly RewriteEntry[]): Promise<number> {
    if (entries.length === 0) return 0;
    await this.collection.deleteMany({ _id: { $in: entries.map((e) => e.after._id) } });
    const refused = await this.insertAll(entries.map((e) => e.after));
    if (refused.size === 0) return entries.length;
    await this.insertAll(entries.filter((e) => refused.has(e.before._id.toHexString())).map((e) => e.before));
    return entries.length - refused.size;
  }

  /** Inserts documents that may be there already (a repeated step); returns the ids of those neither inserted nor present. */
  private async insertAll(docs: ProfileDocument[]): Promise<Set<string>> {
    try {
      await this.collection.insertMany(docs, { ordered: false });
      return new Set();
    } catch (err) {
      if (!isDuplicateKeyOnly(err)) throw err;
      const ids = docs.map((d) => d._id);
      const present = new Set(
        (await this.collection.find({ _id: { $in: ids } }, { projection: { _id: 1 } }).toArray()).map((d) =>
          d._id.toHexString(),
        ),
      );
      return new Set(ids.map((id) => id.toHexString()).filter((id) => !present.has(id)));
    }
  }

  /** The straightforward path: each update's filter carries its own condition. */
  private async updateWhereOwned(companyId: string, updates: PlannedUpdate[]): Promise<number> {
    const ops: AnyBulkWriteOperation<ProfileDocument>[] = updates.map((u) => ({
      updateOne: {
        filter: {
          _id: u._id,
          companyId,
          ...(u.linking
            ? { $or: [{ 'lucca.userId': { $exists: false } }, { 'lucca.userId': u.userId }] }
            : { 'lucca.userId': u.userId }),
        },
        update: { $set: u.set },
      },
    }));
    return (await this.collection.bulkWrite(ops, { ordered: false })).matchedCount;
  }

  /**
   * FerretDB on SQLite pushes down a filter of `_id` alone, and decodes every document of the
   * collection in Go for any other: a conditioned update costs a full decode each (about 100 ms
   * per thousand profiles). There, the conditions of a whole chunk are checked with one read
   * (`stillOwned`) and the updates go by `_id` alone. The check and the write are not one atomic
   * step as on MongoDB; the window is the few milliseconds between them, and a company's runs are
   * one at a time.
   */
  private async updateByIdOnly(updates: PlannedUpdate[], owned: Set<string>): Promise<number> {
    const ops: AnyBulkWriteOperation<ProfileDocument>[] = updates
      .filter((u) => owned.has(u._id.toHexString()))
      .map((u) => ({ updateOne: { filter: { _id: u._id }, update: { $set: u.set } } }));
    if (ops.length === 0) return 0;
    return (await this.collection.bulkWrite(ops, { ordered: false })).matchedCount;
  }

  /** Ids of the profiles whose update still holds: same company, same Lucca user (or none, for a link). */
  private async stillOwned(companyId: string, updates: readonly PlannedUpdate[]): Promise<Set<string>> {
    const wanted = new Map(updates.map((u) => [u._id.toHexString(), u]));
    const docs = await this.collection
      .find({ _id: { $in: updates.map((u) => u._id) } }, { projection: { companyId: 1, 'lucca.userId': 1 } })
      .toArray();
    const owned = new Set<string>();
    for (const doc of docs) {
      const update = wanted.get(doc._id.toHexString());
      if (update && holds(update, companyId, doc)) owned.add(doc._id.toHexString());
    }
    return owned;
  }

  /**
   * Ids are chosen at plan time: a retried insert meets its own earlier copy and skips it. Returns
   * the planned profiles the store holds, inserted now or by an earlier attempt of the same apply
   * (which may have died after the store wrote them, before it counted them); one refused by the
   * unique Lucca-user index is not there and not counted.
   */
  async insertPlanned(inserts: ProfileDocument[]): Promise<number> {
    try {
      return (await this.collection.insertMany(inserts, { ordered: false })).insertedCount;
    } catch (err) {
      if (!isDuplicateKeyOnly(err)) throw err;
      return this.collection.countDocuments({ _id: { $in: inserts.map((p) => p._id) } });
    }
  }

  /** A page of a company's profiles by name, with how many match in all. */
  async list(
    companyId: string,
    filter: { status?: ProfileStatus; linked?: boolean },
    page: { skip: number; limit: number },
  ): Promise<{ total: number; items: ProfileDocument[] }> {
    const query: Filter<ProfileDocument> = { companyId };
    if (filter.status) query.status = filter.status;
    if (filter.linked !== undefined) query['lucca.userId'] = { $exists: filter.linked };
    const [total, items] = await Promise.all([
      this.collection.countDocuments(query),
      this.collection
        .find(query)
        .sort({ lastName: 1, firstName: 1, _id: 1 })
        .skip(page.skip)
        .limit(page.limit)
        .toArray(),
    ]);
    return { total, items };
  }

  /** How many of a company's profiles are linked to a Lucca user. */
  countLinked(companyId: string): Promise<number> {
    return this.collection.countDocuments({ companyId, 'lucca.userId': { $exists: true } });
  }

  /**
   * Unlinks every profile of a company (the company moved to another Lucca tenant, whose user ids
   * mean other people): each profile keeps its values and status, loses its Lucca link, and the
   * next sync attaches it again by email. One statement: FerretDB reads the company once, then
   * updates each profile by `_id`. Returns how many were unlinked.
   */
  async unlinkCompany(companyId: string, now: Date): Promise<number> {
    const res = await this.collection.updateMany(
      { companyId, 'lucca.userId': { $exists: true } },
      { $unset: { lucca: '' }, $set: { updatedAt: now } },
    );
    return res.modifiedCount;
  }

  /** One profile of a company, or null (another company's profile is not found either). */
  get(companyId: string, profileId: ObjectId): Promise<ProfileDocument | null> {
    return this.collection.findOne({ _id: profileId, companyId });
  }
}
