import type { Collection, Db } from 'mongodb';
import type { MappedLuccaUser } from '../domain/types';

/**
 * What a run read from Lucca, staged in MongoDB page by page so that neither the employees'
 * data nor their number ever enters Temporal history. Keyed by run and Lucca id: a user seen
 * twice (data moving under offset paging) is kept once, as first read.
 */
export interface StagedUserDocument {
  _id: string;
  runId: string;
  /** Lucca id, or null for a record without a usable id (then `_id` carries its position). */
  luccaUserId: number | null;
  /** Normalised email of a usable record, for duplicate detection. */
  email: string | null;
  mapped: MappedLuccaUser;
}

export class SyncStagingRepository {
  readonly collection: Collection<StagedUserDocument>;

  constructor(db: Db) {
    this.collection = db.collection<StagedUserDocument>('syncStaging');
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ runId: 1, luccaUserId: 1 }, { name: 'run_user' });
    await this.collection.createIndex({ runId: 1, email: 1 }, { name: 'run_email' });
  }

  async stagePage(runId: string, offset: number, users: MappedLuccaUser[]): Promise<void> {
    if (users.length === 0) return;
    await this.collection.bulkWrite(
      users.map((mapped, i) => {
        const luccaUserId = mapped.luccaUserId;
        const _id = luccaUserId === null ? `${runId}:bad:${offset + i}` : `${runId}:${luccaUserId}`;
        const email = mapped.kind === 'ok' ? mapped.fields.email : null;
        return {
          updateOne: {
            filter: { _id },
            update: { $setOnInsert: { runId, luccaUserId, email, mapped } },
            upsert: true,
          },
        };
      }),
      { ordered: false },
    );
  }

  count(runId: string): Promise<number> {
    return this.collection.countDocuments({ runId });
  }

  /** Emails that more than one Lucca user of this read carries. */
  async duplicateEmails(runId: string): Promise<Set<string>> {
    const rows = await this.collection
      .aggregate<{ _id: string }>([
        { $match: { runId, email: { $ne: null } } },
        { $group: { _id: '$email', n: { $sum: 1 } } },
        { $match: { n: { $gt: 1 } } },
      ])
      .toArray();
    return new Set(rows.map((r) => r._id));
  }

  /** Staged users in insertion-independent order, a page at a time. */
  async *pages(runId: string, pageSize: number): AsyncGenerator<StagedUserDocument[]> {
    let after = '';
    for (;;) {
      const docs = await this.collection
        .find({ runId, _id: { $gt: after } })
        .sort({ _id: 1 })
        .limit(pageSize)
        .toArray();
      if (docs.length === 0) return;
      yield docs;
      after = docs[docs.length - 1]!._id;
      if (docs.length < pageSize) return;
    }
  }

  async presentIds(runId: string, luccaUserIds: number[]): Promise<Set<number>> {
    const docs = await this.collection
      .find({ runId, luccaUserId: { $in: luccaUserIds } }, { projection: { luccaUserId: 1 } })
      .toArray();
    return new Set(docs.map((d) => d.luccaUserId).filter((id): id is number => id !== null));
  }

  async clearRun(runId: string): Promise<void> {
    await this.collection.deleteMany({ runId });
  }
}
