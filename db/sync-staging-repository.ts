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
    const docs = users.map((mapped, i): StagedUserDocument => {
      const luccaUserId = mapped.luccaUserId;
      return {
        _id: luccaUserId === null ? `${runId}:bad:${offset + i}` : `${runId}:${luccaUserId}`,
        runId,
        luccaUserId,
        email: mapped.kind === 'ok' ? mapped.fields.email : null,
        mapped,
      };
    });
    try {
      await this.collection.insertMany(docs, { ordered: false });
    } catch (err) {
      // A duplicate key is a user already staged — by a page re-read after a retry, or seen
      // twice because data moved under offset paging. The first read wins; others are dropped.
      const writeErrors = (err as { writeErrors?: { code?: number }[] }).writeErrors;
      const onlyDuplicates =
        (err as { code?: number }).code === 11000 || (writeErrors ?? []).every((e) => e.code === 11000);
      if (!onlyDuplicates) throw err;
    }
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

  /** All staged users of a run, in Lucca id order, streamed in batches. */
  async *stream(runId: string, batchSize: number): AsyncGenerator<StagedUserDocument[]> {
    let batch: StagedUserDocument[] = [];
    for await (const doc of this.collection.find({ runId }).sort({ _id: 1 }).batchSize(batchSize)) {
      batch.push(doc);
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }

  async clearRun(runId: string): Promise<void> {
    await this.collection.deleteMany({ runId });
  }
}
