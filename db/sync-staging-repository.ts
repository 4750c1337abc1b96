import { BSON, type Collection, type Db, type Filter } from 'mongodb';
import type { MappedLuccaUser, PlannedChange } from '../domain/types';
import { isDuplicateKeyOnly } from './errors';

/**
 * One Lucca page as read by a run: the page's users, mapped. A document per page, not per user:
 * staging costs a thousandth of a write per employee, and neither the employees' data nor their
 * number ever enters Temporal history.
 */
export interface StagedPageDocument {
  /** `page-<number>-<part>`, zero-padded (see `positionId`): a page too large for one document is several. */
  _id: string;
  page: number;
  /** Lucca offset the page was read at. */
  offset: number;
  users: MappedLuccaUser[];
}

/** A change the apply step writes to a profile, as the planner decided it. */
export type ApplicableChange = PlannedChange & { profileId: string };

/** The profile writes of a run, a chunk per planned page (and for removals): what apply reads back. */
export interface PlanChunkDocument {
  /** `chunk-<number>`, the chunk number in apply order from 0, zero-padded (see `positionId`). */
  _id: string;
  chunk: number;
  changes: ApplicableChange[];
}

const NAMESPACE_NOT_FOUND = 26;

/**
 * Ids are strings that sort like the numbers they carry: FerretDB's SQLite backend evaluates a
 * filter on a string `_id` in SQL, but decodes every document in Go for a numeric one, and these
 * documents hold a thousand employees each.
 */
const positionId = (kind: 'page' | 'chunk', n: number) => `${kind}-${String(n).padStart(9, '0')}`;

/**
 * Most bytes of employees one staged page or plan chunk carries: a quarter of MongoDB's 16 MB
 * document limit. A thousand ordinary employees take a few hundred kilobytes; a page of long
 * values (Lucca does not cap a name) is split instead of failing every retry.
 */
const MAX_DOCUMENT_BYTES = 4 * 1024 * 1024;

/** `items` in runs of at most `MAX_DOCUMENT_BYTES` of BSON each (an item larger than that alone). */
function* bySize<T extends object>(items: readonly T[]): Generator<T[]> {
  let part: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const size = BSON.calculateObjectSize(item);
    if (part.length > 0 && bytes + size > MAX_DOCUMENT_BYTES) {
      yield part;
      part = [];
      bytes = 0;
    }
    part.push(item);
    bytes += size;
  }
  if (part.length > 0) yield part;
}

/**
 * A per-run collection in `_id` order, a document per batch (each holds a thousand employees).
 * The stream stays open while the planner and the apply write, which is safe on both stores: on
 * MongoDB it is an index-ordered cursor; on FerretDB 1.x a sorted find reads and sorts every
 * document before answering (its `SortIterator` consumes the SQL iterator and closes it), so no
 * pooled connection is held across the writes. The alternative — reading each document by `_id`
 * before writing — costs FerretDB a scan of the whole collection per document: measured at
 * 100,000 employees on SQLite, 1.9 s per plan chunk, which made a first sync 389 s instead of 146 s.
 */
function inOrder<T extends { _id: string }>(collection: Collection<T>, filter: Filter<T>): AsyncIterable<T> {
  return collection.find(filter).sort({ _id: 1 }).batchSize(1) as unknown as AsyncIterable<T>;
}

/**
 * A run's working data, in two collections of its own: `syncStaging.<runId>` (the pages read)
 * and `syncPlan.<runId>` (the profile writes planned), a document per thousand employees each.
 * Clearing a run is a drop: a deleteMany would cost a scan plus a delete per document, and
 * FerretDB's SQLite backend refuses one past 32,766 documents.
 */
export class SyncStagingRepository {
  constructor(private readonly db: Db) {}

  private pages(runId: string): Collection<StagedPageDocument> {
    return this.db.collection<StagedPageDocument>(`syncStaging.${runId}`);
  }

  private plan(runId: string): Collection<PlanChunkDocument> {
    return this.db.collection<PlanChunkDocument>(`syncPlan.${runId}`);
  }

  async ensureIndexes(): Promise<void> {
    // Per-run collections are read by _id only.
  }

  /** Idempotent: a page read again after a retry replaces its earlier copy (all its parts). */
  async stagePage(runId: string, page: number, offset: number, users: MappedLuccaUser[]): Promise<void> {
    const parts = [...bySize(users)];
    // An empty last page is staged too: it is what says the read reached the end.
    const docs: StagedPageDocument[] = (parts.length > 0 ? parts : [[]]).map((part, i) => ({
      _id: `${positionId('page', page)}-${String(i).padStart(3, '0')}`,
      page,
      offset,
      users: part,
    }));
    try {
      await this.pages(runId).insertMany(docs, { ordered: false });
    } catch (err) {
      if (!isDuplicateKeyOnly(err)) throw err;
      await this.pages(runId).deleteMany({
        _id: { $gte: positionId('page', page), $lt: positionId('page', page + 1) },
      });
      await this.pages(runId).insertMany(docs, { ordered: false });
    }
  }

  /** Removes pages numbered `from` and up (left by an earlier, longer attempt of the same read). */
  async dropPagesFrom(runId: string, from: number): Promise<void> {
    await this.pages(runId).deleteMany({ _id: { $gte: positionId('page', from) } });
  }

  countPages(runId: string): Promise<number> {
    return this.pages(runId).countDocuments({});
  }

  /** Every staged page of a run, in read order (see `inOrder`). */
  readPages(runId: string): AsyncIterable<StagedPageDocument> {
    return inOrder(this.pages(runId), {});
  }

  /** Stores `changes` as chunks numbered from `firstChunk` (more than one when they are large); returns how many. */
  async storePlanChunks(runId: string, firstChunk: number, changes: ApplicableChange[]): Promise<number> {
    const docs = [...bySize(changes)].map((part, i): PlanChunkDocument => {
      const chunk = firstChunk + i;
      return { _id: positionId('chunk', chunk), chunk, changes: part };
    });
    if (docs.length > 0) await this.plan(runId).insertMany(docs, { ordered: false });
    return docs.length;
  }

  /** The plan chunks of a run from `fromChunk` on, in apply order (see `inOrder`). */
  readPlanChunks(runId: string, fromChunk: number): AsyncIterable<PlanChunkDocument> {
    return inOrder(this.plan(runId), { _id: { $gte: positionId('chunk', fromChunk) } });
  }

  /** A re-planned run (the plan activity retried) starts from no planned writes. */
  clearPlan(runId: string): Promise<void> {
    return this.dropIfPresent(this.plan(runId));
  }

  async clearRun(runId: string): Promise<void> {
    await this.dropIfPresent(this.pages(runId));
    await this.dropIfPresent(this.plan(runId));
  }

  private async dropIfPresent(collection: Collection<StagedPageDocument> | Collection<PlanChunkDocument>) {
    try {
      await collection.drop();
    } catch (err) {
      // Already gone: a retried finish, or a run that staged nothing.
      if ((err as { code?: number }).code !== NAMESPACE_NOT_FOUND) throw err;
    }
  }
}
