import type { Collection, Db } from 'mongodb';
import { createQueryIndex, storeCapabilities } from './store-capabilities';
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

export const changeId = (runId: string, seq: number) => `${runId}:${String(seq).padStart(9, '0')}`;

export function toChangeDocument(runId: string, companyId: string, seq: number, c: PlannedChange): SyncChangeDocument {
  return {
    _id: changeId(runId, seq),
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

/** Changes a streamed export holds at once. */
const EXPORT_BATCH_SIZE = 1_000;

/** Lookups by `_id` in flight at once for a page of a report (the store's pool is shared). */
const BY_SEQ_CONCURRENCY = 8;

export class SyncChangesRepository {
  static readonly collectionName = 'syncChanges';
  private readonly collection: Collection<SyncChangeDocument>;

  constructor(private readonly db: Db) {
    this.collection = db.collection<SyncChangeDocument>(SyncChangesRepository.collectionName);
  }

  async ensureIndexes(): Promise<void> {
    await createQueryIndex(this.db, this.collection, { runId: 1, seq: 1 }, { name: 'run_seq' });
    await createQueryIndex(this.db, this.collection, { companyId: 1, profileId: 1 }, { name: 'company_profile' });
  }

  /**
   * A re-planned run (the plan activity retried) starts from a clean slate. On a store that caps
   * the documents one delete may match (see store-capabilities), deleted in slices of seqs;
   * `removed` is told the records removed so far after each delete command (the sweeper heartbeats
   * through a large old run's).
   */
  async clearRun(runId: string, removed?: (sofar: number) => void): Promise<void> {
    await this.deleteChanges(runId, null, removed);
  }

  /** Removes the changes of a run in the seq ranges given (pages planned again), under any delete cap. */
  async deleteSeqRanges(runId: string, ranges: [number, number][]): Promise<void> {
    if (ranges.length > 0) await this.deleteChanges(runId, ranges);
  }

  /**
   * Deletes a run's changes, all of them or those in `ranges`. Where one delete may match only so
   * many documents, the run's seqs are read first and deleted a slice at a time, each slice one
   * seq range that holds nothing kept. FerretDB's SQLite backend evaluates any filter but an exact
   * `_id` by decoding every document of the collection (every run's changes), so each command
   * costs a scan: a slice stays a plain range (a `$or` of ranges costs FerretDB a comparison per
   * range per document), and the commands are as few as the cap allows.
   */
  private async deleteChanges(
    runId: string,
    ranges: [number, number][] | null,
    removed?: (sofar: number) => void,
  ): Promise<void> {
    const { maxDeletesPerCommand } = await storeCapabilities(this.db);
    let sofar = 0;
    if (!Number.isFinite(maxDeletesPerCommand)) {
      const within = ranges && { $or: ranges.map(([from, to]) => ({ seq: { $gte: from, $lte: to } })) };
      sofar += (await this.collection.deleteMany({ runId, ...within })).deletedCount;
      removed?.(sofar);
      return;
    }
    const seqs = (
      await this.collection
        .find({ runId }, { projection: { seq: 1 } })
        .sort({ seq: 1 })
        .toArray()
    ).map((d) => d.seq);
    const doomed = (seq: number) => ranges === null || ranges.some(([from, to]) => seq >= from && seq <= to);
    let first = -1;
    for (let i = 0; i < seqs.length; i++) {
      if (!doomed(seqs[i]!)) continue;
      if (first < 0) first = i;
      const ends = i === seqs.length - 1 || !doomed(seqs[i + 1]!) || i - first + 1 === maxDeletesPerCommand;
      if (!ends) continue;
      sofar += (await this.collection.deleteMany({ runId, seq: { $gte: seqs[first]!, $lte: seqs[i]! } })).deletedCount;
      removed?.(sofar);
      first = -1;
    }
  }

  /**
   * Replaces a run's records of these changes by what the apply found (a conflict instead of a
   * create the store refused, "from" values the platform wrote since the plan). Each record is
   * addressed by its `_id` (`<runId>:<seq>`), the one filter FerretDB evaluates in SQL, so a
   * correction costs one write whatever the collection holds; only the rare changes whose plan
   * kept no seq (plans made before it was kept) are looked up by run and Lucca user first.
   * Repeating it writes the same records.
   */
  async correct(
    runId: string,
    companyId: string,
    changes: readonly (PlannedChange & { seq?: number })[],
  ): Promise<void> {
    if (changes.length === 0) return;
    const { maxUpdatesPerCommand } = await storeCapabilities(this.db);
    const docs: SyncChangeDocument[] = [];
    for (const change of changes) {
      const seq =
        change.seq ??
        (await this.collection.findOne({ runId, luccaUserId: change.luccaUserId }, { projection: { seq: 1 } }))?.seq;
      if (seq !== undefined) docs.push(toChangeDocument(runId, companyId, seq, change));
    }
    for (let i = 0; i < docs.length; i += maxUpdatesPerCommand) {
      await this.collection.bulkWrite(
        docs
          .slice(i, i + maxUpdatesPerCommand)
          .map((doc) => ({ replaceOne: { filter: { _id: doc._id }, replacement: doc } })),
        { ordered: false },
      );
    }
  }

  async insertMany(docs: SyncChangeDocument[]): Promise<void> {
    if (docs.length) await this.collection.insertMany(docs, { ordered: false });
  }

  /** How many changes a run recorded: of one action, or of every action but those in `except`. */
  count(runId: string, opts: { action?: ChangeAction; except?: ChangeAction[] } = {}): Promise<number> {
    return this.collection.countDocuments({
      runId,
      ...(opts.action ? { action: opts.action } : opts.except ? { action: { $nin: opts.except } } : {}),
    });
  }

  /** The reason codes a run's changes carry, each once. */
  async reasonCodes(runId: string): Promise<Set<string>> {
    return new Set(await this.collection.distinct('reasons.code', { runId }));
  }

  page(runId: string, opts: { action?: ChangeAction; skip?: number; limit?: number } = {}) {
    return this.collection
      .find({ runId, ...(opts.action ? { action: opts.action } : {}) })
      .sort({ seq: 1 })
      .skip(opts.skip ?? 0)
      .limit(opts.limit ?? 0)
      .toArray();
  }

  /**
   * Every change of a run, streamed: the console's report reads a run once (FerretDB decodes the
   * collection for it) and pages it from there (`RunChangeIndex`).
   */
  ofRun(runId: string): AsyncIterable<SyncChangeDocument> {
    return this.collection.find({ runId }, { batchSize: 1_000 });
  }

  /**
   * Every change of a run in plan order, streamed a batch at a time (an export of any size holds one
   * batch). MongoDB reads them from the `run_seq` index; FerretDB sorts in the store, not here.
   */
  inPlanOrder(runId: string): AsyncIterable<SyncChangeDocument> {
    return this.collection.find({ runId }).sort({ seq: 1 }).batchSize(EXPORT_BATCH_SIZE);
  }

  /**
   * A run's changes of these seqs, in that order. One lookup by `_id` each, a few at once: `_id`
   * alone is the filter FerretDB evaluates in SQL (an `$in` of ids is decoded in Go, collection-wide),
   * though on SQLite still as a scan of the table up to the match.
   */
  async bySeqs(runId: string, seqs: readonly number[]): Promise<SyncChangeDocument[]> {
    const found = new Array<SyncChangeDocument | null>(seqs.length).fill(null);
    let next = 0;
    const lookUp = async () => {
      while (next < seqs.length) {
        const i = next++;
        found[i] = await this.collection.findOne({ _id: changeId(runId, seqs[i]!) });
      }
    };
    await Promise.all(Array.from({ length: Math.min(BY_SEQ_CONCURRENCY, seqs.length) }, lookUp));
    return found.filter((c): c is SyncChangeDocument => c !== null);
  }

  forProfile(companyId: string, profileId: string) {
    return this.collection.find({ companyId, profileId }).sort({ _id: -1 }).toArray();
  }
}
