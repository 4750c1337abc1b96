import { ObjectId, type AnyBulkWriteOperation, type Collection, type Db, type Filter } from 'mongodb';
import type { PlannedChange, ProfileSnapshot, ProfileStatus, SyncedFields } from '../domain/types';

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

/** The change applied to a profile, as stored in `syncChanges` by the planner. */
export type ApplicableChange = PlannedChange & { profileId: string };

export class ProfilesRepository {
  readonly collection: Collection<ProfileDocument>;

  constructor(db: Db) {
    this.collection = db.collection<ProfileDocument>('profiles');
  }

  async ensureIndexes(): Promise<void> {
    // One profile per Lucca user and company — what makes retried creates harmless.
    const key = { companyId: 1, 'lucca.userId': 1 } as const;
    try {
      await this.collection.createIndex(key, {
        name: 'company_lucca_user',
        unique: true,
        partialFilterExpression: { 'lucca.userId': { $exists: true } },
      });
    } catch (err) {
      // FerretDB 1.x has no partial indexes; there a sparse unique index leaves unlinked profiles
      // out just the same (checked by the repository tests). MongoDB takes the partial one.
      if ((err as { code?: number }).code !== 238) throw err;
      await this.collection.createIndex(key, { name: 'company_lucca_user', unique: true, sparse: true });
    }
    await this.collection.createIndex({ companyId: 1, email: 1 }, { name: 'company_email' });
  }

  async findLinked(companyId: string, userIds: number[]): Promise<ProfileSnapshot[]> {
    if (userIds.length === 0) return [];
    const docs = await this.collection
      .find({ companyId, 'lucca.userId': { $in: userIds } }, { projection: SNAPSHOT_PROJECTION })
      .toArray();
    return docs.map(toSnapshot);
  }

  async findByEmails(companyId: string, emails: string[]): Promise<ProfileSnapshot[]> {
    if (emails.length === 0) return [];
    const docs = await this.collection
      .find({ companyId, email: { $in: emails } }, { projection: SNAPSHOT_PROJECTION })
      .toArray();
    return docs.map(toSnapshot);
  }

  countNotFormer(companyId: string): Promise<number> {
    return this.collection.countDocuments({ companyId, status: { $in: ['active', 'upcoming'] } });
  }

  /** Linked profiles in Lucca id order, a page at a time, so memory stays bounded by the page size. */
  async *linkedPages(companyId: string, pageSize: number): AsyncGenerator<ProfileSnapshot[]> {
    let after = -Infinity;
    for (;;) {
      const filter: Filter<ProfileDocument> = { companyId, 'lucca.userId': { $gt: after } };
      const docs = await this.collection
        .find(filter, { projection: SNAPSHOT_PROJECTION })
        .sort({ 'lucca.userId': 1 })
        .limit(pageSize)
        .toArray();
      if (docs.length === 0) return;
      yield docs.map(toSnapshot);
      after = docs[docs.length - 1]!.lucca!.userId;
      if (docs.length < pageSize) return;
    }
  }

  /**
   * Applies planned changes with one bulk write. Every operation is idempotent — an upsert keyed
   * by the planned profile id, or an update conditioned on the profile still belonging to the
   * same Lucca user — so an activity retried after a crash converges on the same profiles.
   */
  async applyChanges(companyId: string, changes: ApplicableChange[], now: Date): Promise<number> {
    const ops: AnyBulkWriteOperation<ProfileDocument>[] = [];
    for (const change of changes) {
      const target = change.target;
      if (!target || change.luccaUserId === null) continue;
      const _id = new ObjectId(change.profileId);
      const removal = change.reasons.some((r) => r.code === 'removed-from-lucca');
      switch (change.action) {
        case 'create':
          ops.push({
            updateOne: {
              filter: { _id },
              update: {
                $setOnInsert: {
                  companyId,
                  ...target.fields,
                  status: target.status,
                  lucca: { userId: change.luccaUserId, linkedAt: now, lastSeenAt: now, syncedValues: target.fields },
                  createdAt: now,
                  updatedAt: now,
                },
              },
              upsert: true,
            },
          });
          break;
        case 'link':
          ops.push({
            updateOne: {
              filter: {
                _id,
                companyId,
                $or: [{ 'lucca.userId': { $exists: false } }, { 'lucca.userId': change.luccaUserId }],
              },
              update: {
                $set: {
                  ...target.fields,
                  status: target.status,
                  lucca: { userId: change.luccaUserId, linkedAt: now, lastSeenAt: now, syncedValues: target.fields },
                  updatedAt: now,
                },
              },
            },
          });
          break;
        case 'update':
        case 'deactivate':
        case 'reactivate': {
          const set: Record<string, unknown> = {
            ...target.fields,
            status: target.status,
            'lucca.syncedValues': target.fields,
            updatedAt: now,
          };
          if (removal) set['lucca.removedAt'] = now;
          else {
            set['lucca.lastSeenAt'] = now;
            // A user present in Lucca is no longer "removed", whatever else changed.
            set['lucca.removedAt'] = null;
          }
          ops.push({
            updateOne: { filter: { _id, companyId, 'lucca.userId': change.luccaUserId }, update: { $set: set } },
          });
          break;
        }
        default:
          break;
      }
    }
    if (ops.length === 0) return 0;
    const res = await this.collection.bulkWrite(ops, { ordered: false });
    return res.upsertedCount + res.modifiedCount;
  }
}
