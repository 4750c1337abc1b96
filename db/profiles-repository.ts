import { ObjectId, type AnyBulkWriteOperation, type Collection, type Db } from 'mongodb';
import { CompanyProfileIndex } from '../domain/profile-index';
import { isRemoval } from '../domain/plan';
import type { ProfileSnapshot, ProfileStatus, SyncedFields } from '../domain/types';
import { isDuplicateKeyOnly } from './errors';
import { createUniqueWhereExists, slices, storeCapabilities } from './store-capabilities';
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
interface PlannedUpdate {
  _id: ObjectId;
  userId: number;
  /** A link also accepts a profile linked to nobody. */
  linking: boolean;
  set: Record<string, unknown>;
}

export class ProfilesRepository {
  readonly collection: Collection<ProfileDocument>;

  constructor(private readonly db: Db) {
    this.collection = db.collection<ProfileDocument>('profiles');
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
   * would cost a scan each. The snapshots hold the six fields and ids, about half a kilobyte
   * per profile.
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
   * Applies planned changes, one write command at a time, yielding each command's profile writes
   * (inserted + modified) as it completes. The commands come in a fixed order — the creates in
   * one insert, then the updates in commands the store can take — so a caller that checkpointed
   * `n` completed commands resumes with `skipCommands = n`. Every operation is idempotent — an
   * insert of the planned profile id, or an update of a profile that still belongs to the same
   * Lucca user (or, for a link, to none) — so a retried activity converges on the same profiles.
   */
  async *applyChanges(
    companyId: string,
    changes: readonly ApplicableChange[],
    now: Date,
    skipCommands = 0,
  ): AsyncGenerator<number> {
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
    const caps = await storeCapabilities(this.db);
    const commands: (() => Promise<number>)[] = [];
    if (inserts.length) commands.push(() => this.insertPlanned(inserts));
    let owned: Promise<Set<string>> | undefined;
    for (const slice of slices(updates, caps.maxUpdatesPerCommand)) {
      commands.push(async () => {
        if (caps.multiKeyFilterPushdown) return this.updateWhereOwned(companyId, slice);
        owned ??= this.stillOwned(companyId, updates);
        return this.updateByIdOnly(slice, await owned);
      });
    }
    for (const command of commands.slice(skipCommands)) yield await command();
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
    return (await this.collection.bulkWrite(ops, { ordered: false })).modifiedCount;
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
    return (await this.collection.bulkWrite(ops, { ordered: false })).modifiedCount;
  }

  /** Ids of the profiles whose update still holds: same company, same Lucca user (or none, for a link). */
  private async stillOwned(companyId: string, updates: PlannedUpdate[]): Promise<Set<string>> {
    const wanted = new Map(updates.map((u) => [u._id.toHexString(), u]));
    const docs = await this.collection
      .find({ _id: { $in: updates.map((u) => u._id) } }, { projection: { companyId: 1, 'lucca.userId': 1 } })
      .toArray();
    const owned = new Set<string>();
    for (const doc of docs) {
      const id = doc._id.toHexString();
      const update = wanted.get(id);
      if (!update || doc.companyId !== companyId) continue;
      const linkedTo = doc.lucca?.userId;
      if (linkedTo === update.userId || (update.linking && linkedTo === undefined)) owned.add(id);
    }
    return owned;
  }

  /** Ids are chosen at plan time: a retried insert meets its own earlier copy and skips it. */
  private async insertPlanned(inserts: ProfileDocument[]): Promise<number> {
    try {
      return (await this.collection.insertMany(inserts, { ordered: false })).insertedCount;
    } catch (err) {
      if (!isDuplicateKeyOnly(err)) throw err;
      return (err as { insertedCount?: number }).insertedCount ?? 0;
    }
  }
}
