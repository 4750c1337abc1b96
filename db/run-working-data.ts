import { Binary, BSON, type Collection, type Db, type Filter, type FindCursor } from 'mongodb';
import type { MappedLuccaUser } from '../domain/types';
import { isDuplicateKeyOnly } from './errors';
import type { ApplicableChange, ProfilesRepository, RewriteEntry } from './profiles-repository';
import type { RunRef, SyncRunsRepository } from './sync-runs-repository';

/**
 * One Lucca page as read by a run, its users mapped; a page too large for one document is several
 * parts. A document per page, not per user: staging costs a thousandth of a write per employee,
 * and neither the employees' data nor their number ever enters Temporal history.
 */
export interface StagedPage {
  page: number;
  /** Lucca offset the page was read at. */
  offset: number;
  users: MappedLuccaUser[];
}

/**
 * The profile writes of a run, a chunk per planned page (and per batch of removals): what apply
 * reads back. A chunk too large for one document is several parts.
 */
export interface PlanChunk {
  /** `chunk-<slot>-<part>`, zero-padded (see `positionId`): apply order. */
  _id: string;
  /** The page the chunk plans (removals come after the last page). */
  slot: number;
  changes: ApplicableChange[];
}

/**
 * A stored page or chunk. Its employees travel as one opaque BSON payload, not as fields: nothing
 * queries inside them, and FerretDB decodes a document field by field in Go — measured here,
 * reading back a chunk of a thousand planned changes as fields cost 170 ms, as much as inserting
 * the thousand profiles it plans; as a payload the store reads one value.
 */
interface StoredPart {
  /** `page-<number>-<part>`, `chunk-<slot>-<part>` or `journal-0-<part>`, zero-padded (see `positionId`). */
  _id: string;
  page?: number;
  offset?: number;
  slot?: number;
  /** BSON of `{ items }`. */
  payload: Binary;
}

const pack = (items: readonly object[]) => new Binary(BSON.serialize({ items }));
const unpack = <T>(payload: Binary): T[] => (BSON.deserialize(payload.buffer) as { items: T[] }).items;

const NAMESPACE_NOT_FOUND = 26;

/**
 * Ids are strings that sort like the numbers they carry: FerretDB's SQLite backend evaluates a
 * filter on a string `_id` in SQL, but decodes every document in Go for a numeric one, and these
 * documents hold a thousand employees each.
 */
type PartKind = 'page' | 'chunk' | 'journal';
const positionId = (kind: PartKind, n: number) => `${kind}-${String(n).padStart(9, '0')}`;
const partId = (kind: PartKind, n: number, part: number) => `${positionId(kind, n)}-${String(part).padStart(3, '0')}`;

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

/** The documents that store `items` as page, slot or journal `n`: one per `bySize` part, each with `fields`. */
function partsOf(
  kind: PartKind,
  n: number,
  items: readonly object[],
  fields: Pick<StoredPart, 'page' | 'offset' | 'slot'>,
  opts: { evenEmpty?: boolean } = {},
): StoredPart[] {
  const parts = [...bySize(items)];
  if (parts.length === 0 && opts.evenEmpty) parts.push([]);
  return parts.map((part, i) => ({ _id: partId(kind, n, i), ...fields, payload: pack(part) }));
}

/** Deletes every part of page or slot `n`. */
async function deleteParts(collection: Collection<StoredPart>, kind: 'page' | 'chunk', n: number): Promise<void> {
  await collection.deleteMany({ _id: { $gte: positionId(kind, n), $lt: positionId(kind, n + 1) } });
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
function inOrder<T extends { _id: string }>(collection: Collection<T>, filter: Filter<T>): FindCursor<T> {
  return collection.find(filter).sort({ _id: 1 }).batchSize(1) as unknown as FindCursor<T>;
}

/** A run's working collections: `syncStaging.<runId>`, `syncPlan.<runId>`, `syncJournal.<runId>`. */
export type WorkingData = 'staging' | 'plan' | 'journal';
const KIND_BY_PREFIX = { syncStaging: 'staging', syncPlan: 'plan', syncJournal: 'journal' } as const;
const WORKING_COLLECTION = /^(syncStaging|syncPlan|syncJournal)\.(.+)$/;

/** Where the removal of a run's working data says what it left in place. */
export interface WorkingDataLog {
  warn(message: string, fields?: Record<string, unknown>): void;
}

const silent: WorkingDataLog = { warn: () => undefined };

/**
 * A run's working data, in collections of its own: `syncStaging.<runId>` (the pages read) and
 * `syncPlan.<runId>` (the profile writes planned), a document per thousand employees each, and
 * `syncJournal.<runId>` (a rewrite under way, see `ProfilesRepository.rewrite`). Its one owner:
 * the read stages pages, the plan writes chunks, the apply journals its rewrites, and the run's
 * finish, the sweeper and offboarding complete or drop them through here.
 * Clearing a run is a drop: a deleteMany would cost a scan plus a delete per document, and
 * FerretDB's SQLite backend refuses one past 32,766 documents.
 */
export class RunWorkingData {
  constructor(
    private readonly db: Db,
    private readonly stores: { profiles: ProfilesRepository; syncRuns: SyncRunsRepository },
  ) {}

  private pages(runId: string): Collection<StoredPart> {
    return this.db.collection<StoredPart>(`syncStaging.${runId}`);
  }

  private plan(runId: string): Collection<StoredPart> {
    return this.db.collection<StoredPart>(`syncPlan.${runId}`);
  }

  private journalOf(runId: string): Collection<StoredPart> {
    return this.db.collection<StoredPart>(`syncJournal.${runId}`);
  }

  async ensureIndexes(): Promise<void> {
    // Per-run collections are read by _id only.
  }

  /** Idempotent: a page read again after a retry replaces its earlier copy (all its parts). */
  async stagePage(runId: string, page: number, offset: number, users: MappedLuccaUser[]): Promise<void> {
    // An empty last page is staged too: it is what says the read reached the end.
    const docs = partsOf('page', page, users, { page, offset }, { evenEmpty: true });
    try {
      await this.pages(runId).insertMany(docs, { ordered: false });
    } catch (err) {
      if (!isDuplicateKeyOnly(err)) throw err;
      await deleteParts(this.pages(runId), 'page', page);
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

  /** Every staged page of a run, whole (its parts joined), in read order (see `inOrder`). */
  async *readPages(runId: string): AsyncGenerator<StagedPage> {
    let current: StagedPage | null = null;
    for await (const part of inOrder(this.pages(runId), {})) {
      const users = unpack<MappedLuccaUser>(part.payload);
      if (current && current.page === part.page) {
        current.users.push(...users);
        continue;
      }
      if (current) yield current;
      current = { page: part.page!, offset: part.offset!, users };
    }
    if (current) yield current;
  }

  /**
   * Stores the planned writes of slot `slot` (a page, or a batch of removals), replacing any
   * earlier plan of that slot: a page planned again once the read is over.
   */
  async storePlanSlot(runId: string, slot: number, changes: ApplicableChange[], replace = false): Promise<void> {
    if (replace) await deleteParts(this.plan(runId), 'chunk', slot);
    const docs = partsOf('chunk', slot, changes, { slot });
    if (docs.length > 0) await this.plan(runId).insertMany(docs, { ordered: false });
  }

  /**
   * The plan chunks of a run after chunk `after` (all of them for null), in apply order (see
   * `inOrder`), each read while the one before it is applied: a chunk is a request to the store
   * and a thousand changes to decode, about a fifth of a first sync's apply at 100,000 employees
   * when read only once the previous chunk's profiles were written. At most two chunks are held.
   */
  async *readPlanChunks(runId: string, after: string | null): AsyncGenerator<PlanChunk> {
    const cursor = inOrder(this.plan(runId), after === null ? {} : { _id: { $gt: after } });
    const read = async () => {
      const part = await cursor.next();
      return part && { _id: part._id, slot: part.slot!, changes: unpack<ApplicableChange>(part.payload) };
    };
    let next = read();
    try {
      for (;;) {
        const chunk = await next;
        if (!chunk) return;
        next = read();
        // Observed when the caller asks for it, or in `finally` when it stops before.
        next.catch(() => undefined);
        yield chunk;
      }
    } finally {
      await next.catch(() => undefined);
      await cursor.close();
    }
  }

  /**
   * Journals the profiles a rewrite is about to replace, as they are and as they will be, before
   * it deletes anything: a crash between its delete and its insert is completed from here.
   */
  async journal(runId: string, entries: readonly RewriteEntry[]): Promise<void> {
    await this.clearJournal(runId);
    const docs = partsOf('journal', 0, entries, {});
    if (docs.length > 0) await this.journalOf(runId).insertMany(docs, { ordered: false });
  }

  /** What a rewrite that did not finish journaled (nothing after a finished one). */
  async readJournal(runId: string): Promise<RewriteEntry[]> {
    const entries: RewriteEntry[] = [];
    for await (const part of inOrder(this.journalOf(runId), {})) entries.push(...unpack<RewriteEntry>(part.payload));
    return entries;
  }

  clearJournal(runId: string): Promise<void> {
    return this.dropIfPresent(this.journalOf(runId));
  }

  /** A re-planned run (the plan activity retried) starts from no planned writes. */
  clearPlan(runId: string): Promise<void> {
    return this.dropIfPresent(this.plan(runId));
  }

  /** Drops a run's working data; a journal still holding a rewrite is the caller's to complete first. */
  async clearRun(runId: string): Promise<void> {
    await this.clearPagesAndPlan(runId);
    await this.dropIfPresent(this.journalOf(runId));
  }

  /** Drops a run's staged pages and planned writes, and keeps its journal. */
  async clearPagesAndPlan(runId: string): Promise<void> {
    await this.dropIfPresent(this.pages(runId));
    await this.dropIfPresent(this.plan(runId));
  }

  /**
   * Completes a rewrite a run left journaled (profiles deleted and perhaps not inserted again):
   * repeating it is harmless. True when there was one.
   */
  async completeRewrite(runId: string): Promise<boolean> {
    const journaled = await this.readJournal(runId);
    if (journaled.length === 0) return false;
    await this.stores.profiles.rewrite(journaled);
    await this.clearJournal(runId);
    return true;
  }

  /** The run's own finish: a rewrite it left journaled completed, then its working data dropped. */
  async closeRun(runId: string): Promise<void> {
    await this.completeRewrite(runId);
    await this.clearRun(runId);
  }

  /**
   * Drops the working collections of a run that is over. A journal holding a rewrite (profiles
   * deleted and not yet inserted again, if the run stopped inside it) is completed first, as the
   * run's own finish would have — but only when the run is still its company's latest: after a
   * later run the journal's "after" versions may be older than what that run wrote, so completing
   * it could undo newer writes. Such a journal is kept (staging and plan go) and logged for an
   * operator; `syncJournal.<runId>` holds each profile as it was and as the rewrite meant it.
   */
  async removeRun(
    runId: string,
    run: Pick<RunRef, '_id' | 'companyId'> | null,
    kinds: ReadonlySet<WorkingData>,
    log: WorkingDataLog = silent,
  ): Promise<'removed' | 'rewrite-completed' | 'journal-kept'> {
    let outcome: 'removed' | 'rewrite-completed' = 'removed';
    if (kinds.has('journal')) {
      const latest = run ? await this.stores.syncRuns.latest(run.companyId) : null;
      if (!run || latest?._id !== run._id) {
        await this.clearPagesAndPlan(runId);
        log.warn('Kept the journal of a rewrite a run did not finish: a later run may have written the same profiles', {
          runId,
          companyId: run?.companyId ?? null,
          collection: `syncJournal.${runId}`,
        });
        return 'journal-kept';
      }
      if (await this.completeRewrite(runId)) outcome = 'rewrite-completed';
    }
    await this.clearRun(runId);
    return outcome;
  }

  /**
   * Removes what the runs of one company left behind, for offboarding: the working collections of
   * every run of the company that is over (a run still marked running is its workflow's, or the
   * sweeper's once that workflow is gone). Returns the runs cleared and those left running.
   */
  async removeCompanyRuns(
    companyId: string,
  ): Promise<{ removed: string[]; running: string[]; journalsKept: string[] }> {
    const working = await this.runsWithWorkingData();
    const runs = (await this.stores.syncRuns.getMany([...working.keys()])).filter((r) => r.companyId === companyId);
    const removed: string[] = [];
    const running: string[] = [];
    const journalsKept: string[] = [];
    for (const run of runs) {
      if (run.status === 'running') {
        running.push(run._id);
        continue;
      }
      const outcome = await this.removeRun(run._id, run, working.get(run._id)!);
      (outcome === 'journal-kept' ? journalsKept : removed).push(run._id);
    }
    return { removed, running, journalsKept };
  }

  /**
   * Every run that has working collections, with which: their names are listed, nothing is read.
   * A run drops its own when it finishes, so the list holds the runs in flight and what crashed
   * or cancelled runs left behind.
   */
  async runsWithWorkingData(): Promise<Map<string, Set<WorkingData>>> {
    const runs = new Map<string, Set<WorkingData>>();
    for (const { name } of await this.db.listCollections({}, { nameOnly: true }).toArray()) {
      const match = WORKING_COLLECTION.exec(name);
      if (!match) continue;
      const [, prefix, runId] = match as unknown as [string, keyof typeof KIND_BY_PREFIX, string];
      const kinds = runs.get(runId) ?? new Set<WorkingData>();
      kinds.add(KIND_BY_PREFIX[prefix]);
      runs.set(runId, kinds);
    }
    return runs;
  }

  private async dropIfPresent(collection: Collection<StoredPart>) {
    try {
      await collection.drop();
    } catch (err) {
      // Already gone: a retried finish, or a run that staged nothing.
      if ((err as { code?: number }).code !== NAMESPACE_NOT_FOUND) throw err;
    }
  }
}
