import type { Collection, Db } from 'mongodb';
import type { GuardRecord } from '../domain/guards';
import type { AppliedRead } from '../domain/run-kinds';
import type { RunKind, SyncCounts, SyncTrigger } from '../domain/types';
import type { RunError } from '../domain/failures';
import { createQueryIndex } from './store-capabilities';

export type SyncRunStatus = 'running' | 'succeeded' | 'failed' | 'blocked';

export interface SyncRunDocument {
  _id: string;
  companyId: string;
  trigger: SyncTrigger;
  requestedBy: string | null;
  mode: 'apply' | 'dry-run';
  /**
   * Stored by earlier versions: the request's flag to apply a blocked run anyway (`overrideOf`
   * names that run now). Read both with `askedToApplyAnyway`.
   */
  allowMassDeactivation?: boolean;
  status: SyncRunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  error: RunError | null;
  /**
   * What the run did: as planned, then — once applied — as the store acknowledged it (a create
   * or update the store refused, or whose profile was gone, counts as a conflict).
   */
  counts: SyncCounts | null;
  /** The counts as planned, before the apply (absent before planning, and from runs planned before it was kept). */
  plannedCounts?: SyncCounts;
  /** Reading progress, for `status` and progress bars; ids and counts only. */
  progress: {
    pagesRead: number;
    usersRead: number;
    phase: 'reading' | 'planning' | 'applying' | 'done';
    /**
     * The read waits for another company's read of its Lucca tenant to go first (see
     * lucca/shared-budget.ts), since then and at most until then; cleared by the next progress.
     */
    waiting?: { for: 'tenant-read'; since: Date; atMostUntil: Date };
  };
  /** The guard's verdict, kept so a blocked run's report can say why (read it with `firedGuards`). */
  guard: GuardRecord | null;
  /**
   * False when Lucca's data moved during the read (users deleted between two pages): nobody was
   * planned as removed from Lucca by this run; the next run checks again. Absent before planning.
   */
  removalsChecked?: boolean;
  profileWrites: number;
  workflowId: string;
  temporalRunId: string;
  /**
   * When the run's change records were removed, its retention period (SYNC_CHANGES_RETENTION_DAYS)
   * being over; the run document itself (counts, no personal data) is kept. Absent while they are kept.
   */
  changesExpiredAt?: Date;
  /** The request this run serves: the id the company workflow's `requestSync` answered. */
  requestId?: string;
  /** The blocked run this one applies anyway (an operator's reviewed override). */
  overrideOf?: string;
  /**
   * The stamp of the company's Lucca connection the run read with (`companies.lucca.connectionId`,
   * null for a company onboarded before stamps): the apply writes nothing once it has changed.
   * Absent until the read starts.
   */
  connectionId?: string | null;
  /** Profiles the plan found linked under another Lucca tenant, which its apply unlinks first. */
  otherTenantLinks?: number;
  /**
   * What the run read (see `RunKind`): as asked when it starts, then as its read decided (an
   * incremental run may read in full). Absent from runs of earlier versions, which read in full.
   */
  kind?: RunKind;
  /** The kind the request asked for, when the read decided otherwise. */
  requestedKind?: RunKind;
  /** A one-user run's Lucca user id. */
  luccaUserId?: number;
  /** How the read was decided, once, by its first attempt (a retry reads the same way). */
  read?: RunReadRecord;
  /**
   * The company's scope the run read with (null: the whole tenant), recorded by the read's first
   * attempt. Absent from runs of earlier versions.
   */
  scope?: RunScope | null;
  /**
   * Present when the scope differs from the one of the company's latest applied run (see
   * `recordScope`): what it was and is, and — once planned — what the run did because of it.
   */
  scopeChange?: RunScopeChange;
}

/** A scope as a run records it: the ids (as the connection stores them), and names the run saw. */
export interface RunScope {
  legalEntityIds: number[];
  departmentIds: number[];
  /** Lucca id → name, for the units of the scope that the run saw (names change; ids decide). */
  names?: { legalEntities?: Record<string, string>; departments?: Record<string, string> };
}

/** A scope change since the company's latest applied run; ids and counts only, as the run planned them. */
export interface RunScopeChange {
  from: RunScope | null;
  to: RunScope | null;
  /** Profiles deactivated `out-of-scope`, and created, attached or reactivated `entered-scope`. */
  deactivatedOutOfScope?: number;
  enteredScope?: number;
}

/** The read a run decided on: an incremental one's cursor, or why it reads everyone. */
export interface RunReadRecord {
  kind: RunKind;
  /** Incremental: the date-time sent to Lucca (`<field>=since,<since>`). */
  since?: string;
  field?: 'modifiedAt' | 'modifiedOn';
  /** Full although incremental was asked: why (a due full read, or Lucca ignoring the filter). */
  fullBecause?: string;
}

export interface SyncRunStart {
  runId: string;
  companyId: string;
  trigger: SyncTrigger;
  requestedBy: string | null;
  dryRun: boolean;
  requestId?: string;
  overrideOf?: string;
  workflowId: string;
  temporalRunId: string;
  now: Date;
  kind?: RunKind;
  luccaUserId?: number;
}

/** What the sweeper needs of a run. */
export type RunRef = Pick<SyncRunDocument, '_id' | 'companyId' | 'status' | 'startedAt' | 'workflowId'>;
const RUN_REF = { _id: 1, companyId: 1, status: 1, startedAt: 1, workflowId: 1 } as const;

export class SyncRunsRepository {
  static readonly collectionName = 'syncRuns';
  private readonly collection: Collection<SyncRunDocument>;

  constructor(private readonly db: Db) {
    this.collection = db.collection<SyncRunDocument>(SyncRunsRepository.collectionName);
  }

  async ensureIndexes(): Promise<void> {
    await createQueryIndex(this.db, this.collection, { companyId: 1, startedAt: -1 }, { name: 'company_started' });
  }

  /** Idempotent: a retried start leaves the first start time in place. */
  async start(s: SyncRunStart): Promise<void> {
    await this.collection.updateOne(
      { _id: s.runId },
      {
        $setOnInsert: {
          companyId: s.companyId,
          trigger: s.trigger,
          requestedBy: s.requestedBy,
          mode: s.dryRun ? 'dry-run' : 'apply',
          status: 'running',
          startedAt: s.now,
          finishedAt: null,
          error: null,
          counts: null,
          progress: { pagesRead: 0, usersRead: 0, phase: 'reading' },
          guard: null,
          profileWrites: 0,
          workflowId: s.workflowId,
          temporalRunId: s.temporalRunId,
          ...(s.requestId ? { requestId: s.requestId } : {}),
          ...(s.overrideOf ? { overrideOf: s.overrideOf } : {}),
          ...(s.kind ? { kind: s.kind } : {}),
          ...(s.luccaUserId !== undefined ? { luccaUserId: s.luccaUserId } : {}),
        },
      },
      { upsert: true },
    );
  }

  /**
   * The connection stamp the run reads with: recorded by the read's first attempt, and returned as
   * recorded to every later one (a retried read must not mix two connections' data).
   */
  async recordConnection(runId: string, connectionId: string | null): Promise<string | null> {
    await this.collection.updateOne({ _id: runId, connectionId: { $exists: false } }, { $set: { connectionId } });
    const run = await this.collection.findOne({ _id: runId }, { projection: { connectionId: 1 } });
    return run?.connectionId ?? null;
  }

  /**
   * The scope the run reads with, recorded by the read's first attempt, with — when it differs from
   * the scope of the company's latest applied full or incremental run that recorded one — the
   * change. One-user and date runs are not compared with: they see one person or nobody of the new
   * scope, and the next full run must still report the change. Returns both as recorded (a retried
   * read compares with what its first attempt found).
   */
  async recordScope(
    runId: string,
    companyId: string,
    scope: { legalEntityIds: number[]; departmentIds: number[] } | null,
  ): Promise<{ scope: RunScope | null; change: RunScopeChange | null }> {
    const recorded = await this.collection.findOne({ _id: runId }, { projection: { scope: 1, scopeChange: 1 } });
    if (recorded?.scope === undefined) {
      const previous = await this.collection
        .find(
          {
            companyId,
            status: 'succeeded',
            mode: 'apply',
            kind: { $nin: ['one-user', 'dates'] },
            scope: { $exists: true },
            _id: { $ne: runId },
          },
          { projection: { scope: 1 } },
        )
        .sort({ startedAt: -1 })
        .limit(1)
        .next();
      const to = scope ? { legalEntityIds: scope.legalEntityIds, departmentIds: scope.departmentIds } : null;
      const from = previous ? (previous.scope ?? null) : undefined;
      const changed = from !== undefined && !sameScope(from, to);
      await this.collection.updateOne(
        { _id: runId, scope: { $exists: false } },
        { $set: { scope: to, ...(changed ? { scopeChange: { from, to } } : {}) } },
      );
    }
    const run = await this.collection.findOne({ _id: runId }, { projection: { scope: 1, scopeChange: 1 } });
    return { scope: run?.scope ?? null, change: run?.scopeChange ?? null };
  }

  /** What the run planned because of its scope change, and the names of the units it saw. */
  async recordScopeOutcome(
    runId: string,
    outcome: { deactivatedOutOfScope: number; enteredScope: number; from: RunScope | null; to: RunScope | null },
  ): Promise<void> {
    await this.collection.updateOne(
      { _id: runId, scopeChange: { $exists: true } },
      {
        $set: {
          'scopeChange.deactivatedOutOfScope': outcome.deactivatedOutOfScope,
          'scopeChange.enteredScope': outcome.enteredScope,
          'scopeChange.from': outcome.from,
          'scopeChange.to': outcome.to,
        },
      },
    );
  }

  /**
   * The read the run decided on: recorded by the read's first attempt and returned as recorded to
   * every later one, so a retry reads the same users with the same cursor.
   */
  async recordRead(runId: string, read: RunReadRecord): Promise<RunReadRecord> {
    await this.collection.updateOne({ _id: runId, read: { $exists: false } }, { $set: { read } });
    const run = await this.collection.findOne({ _id: runId }, { projection: { read: 1 } });
    return run?.read ?? read;
  }

  /** What the run read in the end (an incremental read Lucca answered in full is a full read). */
  async recordKind(
    runId: string,
    kind: RunKind,
    requestedKind: RunKind,
    read: { fullBecause?: string; field?: 'modifiedAt' | 'modifiedOn' } = {},
  ): Promise<void> {
    const set: Record<string, unknown> = { kind };
    if (requestedKind !== kind) set.requestedKind = requestedKind;
    if (read.fullBecause) set['read.fullBecause'] = read.fullBecause;
    if (read.field) set['read.field'] = read.field;
    await this.collection.updateOne({ _id: runId }, { $set: set });
  }

  /**
   * The company's latest applied complete reads (succeeded, not dry runs, full or incremental;
   * runs from before kinds read in full): where an incremental read starts from, and the last full one.
   */
  async lastAppliedReads(
    companyId: string,
  ): Promise<{ lastApplied: AppliedRead | null; lastFull: AppliedRead | null }> {
    const latest = (kinds: RunKind[]) =>
      this.collection
        .find(
          { companyId, status: 'succeeded', mode: 'apply', kind: { $nin: kinds } },
          { projection: { kind: 1, startedAt: 1, connectionId: 1, read: 1 } },
        )
        .sort({ startedAt: -1 })
        .limit(1)
        .next();
    const asRead = (run: SyncRunDocument | null): AppliedRead | null =>
      run
        ? {
            kind: run.kind === 'incremental' ? 'incremental' : 'full',
            startedAt: run.startedAt,
            connectionId: run.connectionId ?? null,
            ...(run.read?.field ? { modifiedField: run.read.field } : {}),
          }
        : null;
    const [applied, full] = await Promise.all([
      latest(['dates', 'one-user']),
      latest(['incremental', 'dates', 'one-user']),
    ]);
    return { lastApplied: asRead(applied), lastFull: asRead(full) };
  }

  async setProgress(runId: string, progress: SyncRunDocument['progress']): Promise<void> {
    await this.collection.updateOne({ _id: runId }, { $set: { progress } });
  }

  /** What the run's read waits for now (null: nothing), beside its progress. */
  async setWaiting(runId: string, waiting: SyncRunDocument['progress']['waiting'] | null): Promise<void> {
    await this.collection.updateOne(
      { _id: runId },
      waiting ? { $set: { 'progress.waiting': waiting } } : { $unset: { 'progress.waiting': '' } },
    );
  }

  async recordPlan(
    runId: string,
    counts: SyncCounts,
    guard: NonNullable<SyncRunDocument['guard']>,
    removalsChecked: boolean,
    otherTenantLinks = 0,
  ): Promise<void> {
    await this.collection.updateOne(
      { _id: runId },
      {
        $set: {
          counts,
          plannedCounts: counts,
          guard,
          removalsChecked,
          'progress.phase': 'applying',
          ...(otherTenantLinks > 0 ? { otherTenantLinks } : {}),
        },
      },
    );
  }

  /** The counts as the apply found them written (see `counts`); repeating it writes the same. */
  async recordApplied(runId: string, counts: SyncCounts): Promise<void> {
    await this.collection.updateOne({ _id: runId }, { $set: { counts } });
  }

  async finish(
    runId: string,
    result: { status: Exclude<SyncRunStatus, 'running'>; error: SyncRunDocument['error']; profileWrites: number },
    now: Date,
  ): Promise<void> {
    await this.collection.updateOne(
      { _id: runId },
      {
        $set: {
          status: result.status,
          error: result.error,
          profileWrites: result.profileWrites,
          finishedAt: now,
          'progress.phase': 'done',
        },
      },
    );
  }

  /** The runs marked `running` (one per company at most, unless a run's workflow ended without finishing it). */
  listRunning(): Promise<RunRef[]> {
    return this.collection.find({ status: 'running' }, { projection: RUN_REF }).toArray();
  }

  /**
   * Closes a run whose workflow ended without finishing it — only while it is still marked
   * running, so a finish that lands meanwhile is kept. True when it was closed here.
   */
  async markAbandoned(runId: string, error: RunError, now: Date): Promise<boolean> {
    const result = await this.collection.updateOne(
      { _id: runId, status: 'running' },
      { $set: { status: 'failed', error, finishedAt: now, 'progress.phase': 'done' } },
    );
    return result.modifiedCount === 1;
  }

  /** Finished runs started before `cutoff` whose change records are still kept, oldest first. */
  withChangesStartedBefore(cutoff: Date): Promise<RunRef[]> {
    return this.collection
      .find(
        { startedAt: { $lt: cutoff }, status: { $ne: 'running' }, changesExpiredAt: { $exists: false } },
        { projection: RUN_REF },
      )
      .sort({ startedAt: 1 })
      .toArray();
  }

  async markChangesExpired(runId: string, now: Date): Promise<void> {
    await this.collection.updateOne({ _id: runId }, { $set: { changesExpiredAt: now } });
  }

  /** The runs of these ids that exist (in no particular order). */
  getMany(runIds: readonly string[]): Promise<SyncRunDocument[]> {
    return this.collection.find({ _id: { $in: [...runIds] } }).toArray();
  }

  get(runId: string): Promise<SyncRunDocument | null> {
    return this.collection.findOne({ _id: runId });
  }

  latest(companyId: string): Promise<SyncRunDocument | null> {
    return this.collection.find({ companyId }).sort({ startedAt: -1 }).limit(1).next();
  }

  /** The company's latest run that is over, `except` one (a run asking about those before it). */
  latestFinished(companyId: string, except: string): Promise<SyncRunDocument | null> {
    return this.collection
      .find({ companyId, status: { $ne: 'running' }, _id: { $ne: except } })
      .sort({ startedAt: -1 })
      .limit(1)
      .next();
  }

  /** The company's runs marked running (one at most, unless a run's workflow ended without finishing it). */
  runningOf(companyId: string): Promise<RunRef[]> {
    return this.collection.find({ companyId, status: 'running' }, { projection: RUN_REF }).toArray();
  }

  list(companyId: string, limit = 20): Promise<SyncRunDocument[]> {
    return this.collection.find({ companyId }).sort({ startedAt: -1 }).limit(limit).toArray();
  }
}

/** Same ids (both sorted and distinct, as stored); names do not count. */
export function sameScope(a: RunScope | null, b: RunScope | null): boolean {
  if (a === null || b === null) return a === b;
  const same = (x: number[], y: number[]) => x.length === y.length && x.every((id, i) => id === y[i]);
  return same(a.legalEntityIds, b.legalEntityIds) && same(a.departmentIds, b.departmentIds);
}
