import type { Collection, Db } from 'mongodb';
import type { ChangeAction, FieldDiff, PlannedChange, ProfileStatus, Reason, SyncedFields } from '../domain/types';

/** One change or record-level problem of a run: the report's body, one document each (no 16 MB limit). */
export interface SyncChangeDocument {
  /** `<runId>:<seq>` — seq is the plan order, so a report reads in a stable order. */
  _id: string;
  runId: string;
  companyId: string;
  seq: number;
  luccaUserId: number | null;
  profileId: string | null;
  action: ChangeAction;
  fields: FieldDiff | null;
  target: { fields: SyncedFields; status: ProfileStatus } | null;
  reason: Reason | null;
  reasons: Reason[];
}

const CLEAR_SLICE = 10_000;

export const WRITING_ACTIONS: ChangeAction[] = ['create', 'link', 'update', 'deactivate', 'reactivate'];

export function toChangeDocument(runId: string, companyId: string, seq: number, c: PlannedChange): SyncChangeDocument {
  return {
    _id: `${runId}:${String(seq).padStart(9, '0')}`,
    runId,
    companyId,
    seq,
    luccaUserId: c.luccaUserId,
    profileId: c.profileId ?? null,
    action: c.action,
    fields: c.fields ?? null,
    target: c.target ?? null,
    reason: c.reasons[0] ?? null,
    reasons: c.reasons,
  };
}

export function fromChangeDocument(d: SyncChangeDocument): PlannedChange {
  return {
    action: d.action,
    luccaUserId: d.luccaUserId,
    ...(d.profileId ? { profileId: d.profileId } : {}),
    ...(d.fields ? { fields: d.fields } : {}),
    ...(d.target ? { target: d.target } : {}),
    reasons: d.reasons,
  };
}

export class SyncChangesRepository {
  readonly collection: Collection<SyncChangeDocument>;

  constructor(db: Db) {
    this.collection = db.collection<SyncChangeDocument>('syncChanges');
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ runId: 1, seq: 1 }, { name: 'run_seq' });
    await this.collection.createIndex({ companyId: 1, profileId: 1 }, { name: 'company_profile' });
  }

  /**
   * A re-planned run (the plan activity retried) starts from a clean slate. Deleted in slices of
   * plan positions: FerretDB's SQLite backend fails a delete of more than 32,766 documents
   * ("too many SQL variables"), and a 100,000-employee plan has as many changes.
   */
  async clearRun(runId: string): Promise<void> {
    const [last] = await this.collection
      .find({ runId }, { projection: { seq: 1 } })
      .sort({ seq: -1 })
      .limit(1)
      .toArray();
    for (let from = 0; last && from < last.seq; from += CLEAR_SLICE) {
      await this.collection.deleteMany({ runId, seq: { $gt: from, $lte: from + CLEAR_SLICE } });
    }
  }

  async insertMany(docs: SyncChangeDocument[]): Promise<void> {
    if (docs.length) await this.collection.insertMany(docs, { ordered: false });
  }

  /** Writing changes of a run after a given seq, in plan order: apply resumes from its heartbeat. */
  writingCursor(runId: string, afterSeq: number, batchSize: number) {
    return this.collection
      .find({ runId, seq: { $gt: afterSeq }, action: { $in: WRITING_ACTIONS } })
      .sort({ seq: 1 })
      .batchSize(batchSize);
  }

  page(runId: string, opts: { action?: ChangeAction; skip?: number; limit?: number } = {}) {
    return this.collection
      .find({ runId, ...(opts.action ? { action: opts.action } : {}) })
      .sort({ seq: 1 })
      .skip(opts.skip ?? 0)
      .limit(opts.limit ?? 0)
      .toArray();
  }

  forProfile(companyId: string, profileId: string) {
    return this.collection.find({ companyId, profileId }).sort({ _id: -1 }).toArray();
  }
}
