import { ObjectId, type AnyBulkWriteOperation, type Collection, type Db } from 'mongodb';
import { isDuplicateKeyOnly } from './errors';
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

export interface CompanyProfileIndex {
  linkedByUserId: Map<number, ProfileSnapshot>;
  /** Profiles by their (normalised) email, linked or not. */
  byEmail: Map<string, ProfileSnapshot[]>;
  /** Profiles currently active or upcoming: the base of the mass-deactivation guard. */
  notFormer: number;
}

/** FerretDB 1.x stalls on write commands of more than 100 statements; MongoDB takes any size. */
const WRITE_CHUNK = 100;

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

  /**
   * Everything the planner needs of a company's profiles, read in one pass. One pass matters:
   * FerretDB 1.x scans a collection for every query (no index pushdown), so per-batch lookups
   * would cost a scan each. The snapshots hold the six fields and ids, about half a kilobyte
   * per profile.
   */
  async loadCompanyIndex(companyId: string): Promise<CompanyProfileIndex> {
    const linkedByUserId = new Map<number, ProfileSnapshot>();
    const byEmail = new Map<string, ProfileSnapshot[]>();
    let notFormer = 0;
    const cursor = this.collection.find({ companyId }, { projection: SNAPSHOT_PROJECTION, batchSize: 2000 });
    for await (const doc of cursor) {
      const snapshot = toSnapshot(doc);
      if (snapshot.lucca) linkedByUserId.set(snapshot.lucca.userId, snapshot);
      const email = snapshot.fields.email;
      if (email) {
        const list = byEmail.get(email);
        if (list) list.push(snapshot);
        else byEmail.set(email, [snapshot]);
      }
      if (snapshot.status !== 'former') notFormer++;
    }
    return { linkedByUserId, byEmail, notFormer };
  }

  /**
   * Applies planned changes with one bulk write. Every operation is idempotent — an upsert keyed
   * by the planned profile id, or an update conditioned on the profile still belonging to the
   * same Lucca user — so an activity retried after a crash converges on the same profiles.
   */
  async applyChanges(companyId: string, changes: ApplicableChange[], now: Date): Promise<number> {
    const inserts: ProfileDocument[] = [];
    const ops: AnyBulkWriteOperation<ProfileDocument>[] = [];
    for (const change of changes) {
      const target = change.target;
      if (!target || change.luccaUserId === null) continue;
      const _id = new ObjectId(change.profileId);
      const removal = change.reasons.some((r) => r.code === 'removed-from-lucca');
      switch (change.action) {
        case 'create':
          inserts.push({
            _id,
            companyId,
            ...target.fields,
            status: target.status,
            lucca: { userId: change.luccaUserId, linkedAt: now, lastSeenAt: now, syncedValues: target.fields },
            createdAt: now,
            updatedAt: now,
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
    let writes = 0;
    if (inserts.length) {
      // Ids are chosen at plan time: a retried insert meets its own earlier copy and skips it.
      try {
        writes += (await this.collection.insertMany(inserts, { ordered: false })).insertedCount;
      } catch (err) {
        if (!isDuplicateKeyOnly(err)) throw err;
        writes += (err as { insertedCount?: number }).insertedCount ?? 0;
      }
    }
    for (let i = 0; i < ops.length; i += WRITE_CHUNK) {
      const res = await this.collection.bulkWrite(ops.slice(i, i + WRITE_CHUNK), { ordered: false });
      writes += res.modifiedCount;
    }
    return writes;
  }
}
