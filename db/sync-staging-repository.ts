import type { Collection, Db } from 'mongodb';
import type { MappedLuccaUser } from '../domain/types';
import { isDuplicateKeyOnly } from './errors';

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

/**
 * One collection per run (`syncStaging.<runId>`): a run's queries read only its own users —
 * FerretDB 1.x scans a whole collection per query — and clearing a run is a drop. A deleteMany
 * would cost a scan plus a delete per document, and on FerretDB's SQLite backend it fails outright
 * past 32,766 documents ("too many SQL variables"): a 100,000-employee run could never finish.
 */
export class SyncStagingRepository {
  constructor(private readonly db: Db) {}

  collectionFor(runId: string): Collection<StagedUserDocument> {
    return this.db.collection<StagedUserDocument>(`syncStaging.${runId}`);
  }

  async ensureIndexes(): Promise<void> {
    // A run's collection needs only _id: the planner streams it in _id (Lucca id) order.
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
      await this.collectionFor(runId).insertMany(docs, { ordered: false });
    } catch (err) {
      // A duplicate key is a user already staged — by a page re-read after a retry, or seen
      // twice because data moved under offset paging. The first read wins; others are dropped.
      if (!isDuplicateKeyOnly(err)) throw err;
    }
  }

  count(runId: string): Promise<number> {
    return this.collectionFor(runId).countDocuments({});
  }

  /**
   * Emails that more than one Lucca user of this read carries. Counted here from the emails alone:
   * FerretDB 1.x runs the equivalent $group about three times slower than it streams the documents.
   */
  async duplicateEmails(runId: string): Promise<Set<string>> {
    const seen = new Set<string>();
    const duplicates = new Set<string>();
    const cursor = this.collectionFor(runId).find(
      { email: { $ne: null } },
      { projection: { _id: 0, email: 1 }, batchSize: 5000 },
    );
    for await (const { email } of cursor) {
      if (email === null) continue;
      if (seen.has(email)) duplicates.add(email);
      else seen.add(email);
    }
    return duplicates;
  }

  /** All staged users of a run, in Lucca id order, streamed in batches. */
  async *stream(runId: string, batchSize: number): AsyncGenerator<StagedUserDocument[]> {
    let batch: StagedUserDocument[] = [];
    for await (const doc of this.collectionFor(runId).find({}).sort({ _id: 1 }).batchSize(batchSize)) {
      batch.push(doc);
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length) yield batch;
  }

  async clearRun(runId: string): Promise<void> {
    try {
      await this.collectionFor(runId).drop();
    } catch (err) {
      // Already gone: a retried finish, or a run that staged nothing.
      if ((err as { code?: number }).code !== 26) throw err;
    }
  }
}
