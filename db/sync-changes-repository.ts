import type { Collection, Db } from 'mongodb';
import { storeCapabilities } from './store-capabilities';
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

export class SyncChangesRepository {
  readonly collection: Collection<SyncChangeDocument>;

  constructor(private readonly db: Db) {
    this.collection = db.collection<SyncChangeDocument>('syncChanges');
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ runId: 1, seq: 1 }, { name: 'run_seq' });
    await this.collection.createIndex({ companyId: 1, profileId: 1 }, { name: 'company_profile' });
  }

  /**
   * A re-planned run (the plan activity retried) starts from a clean slate. On a store that caps
   * the documents one delete may match (see store-capabilities), deleted in slices of plan positions.
   */
  async clearRun(runId: string): Promise<void> {
    const { maxDeletesPerCommand } = await storeCapabilities(this.db);
    if (!Number.isFinite(maxDeletesPerCommand)) {
      await this.collection.deleteMany({ runId });
      return;
    }
    // Seqs leave gaps (a range per plan slot): slice by the seqs present, not by numbers.
    const seqs = (
      await this.collection
        .find({ runId }, { projection: { seq: 1 } })
        .sort({ seq: 1 })
        .toArray()
    ).map((d) => d.seq);
    for (let i = 0; i < seqs.length; i += maxDeletesPerCommand) {
      const last = seqs[Math.min(i + maxDeletesPerCommand, seqs.length) - 1]!;
      await this.collection.deleteMany({ runId, seq: { $gte: seqs[i]!, $lte: last } });
    }
  }

  /** Removes the changes of a run in the seq ranges given (pages planned again: a page's changes each, under any delete cap). */
  async deleteSeqRanges(runId: string, ranges: [number, number][]): Promise<void> {
    if (ranges.length === 0) return;
    await this.collection.deleteMany({
      runId,
      $or: ranges.map(([from, to]) => ({ seq: { $gte: from, $lte: to } })),
    });
  }

  async insertMany(docs: SyncChangeDocument[]): Promise<void> {
    if (docs.length) await this.collection.insertMany(docs, { ordered: false });
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
