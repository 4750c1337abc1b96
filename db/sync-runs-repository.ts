import type { Collection, Db } from 'mongodb';
import type { SyncCounts, SyncTrigger } from '../domain/types';
import type { RunError } from '../domain/failures';

export type SyncRunStatus = 'running' | 'succeeded' | 'failed' | 'blocked';

export interface SyncRunDocument {
  _id: string;
  companyId: string;
  trigger: SyncTrigger;
  requestedBy: string | null;
  mode: 'apply' | 'dry-run';
  allowMassDeactivation: boolean;
  status: SyncRunStatus;
  startedAt: Date;
  finishedAt: Date | null;
  error: RunError | null;
  counts: SyncCounts | null;
  /** Reading progress, for `status` and progress bars; ids and counts only. */
  progress: { pagesRead: number; usersRead: number; phase: 'reading' | 'planning' | 'applying' | 'done' };
  /** The guard's verdict, kept so a blocked run's report can say why. */
  guard: { deactivations: number; limit: number; activeProfiles: number } | null;
  /**
   * False when Lucca's data moved during the read (users deleted between two pages): nobody was
   * planned as removed from Lucca by this run; the next run checks again. Absent before planning.
   */
  removalsChecked?: boolean;
  profileWrites: number;
  workflowId: string;
  temporalRunId: string;
}

export interface SyncRunStart {
  runId: string;
  companyId: string;
  trigger: SyncTrigger;
  requestedBy: string | null;
  dryRun: boolean;
  allowMassDeactivation: boolean;
  workflowId: string;
  temporalRunId: string;
  now: Date;
}

export class SyncRunsRepository {
  static readonly collectionName = 'syncRuns';
  private readonly collection: Collection<SyncRunDocument>;

  constructor(db: Db) {
    this.collection = db.collection<SyncRunDocument>(SyncRunsRepository.collectionName);
  }

  async ensureIndexes(): Promise<void> {
    await this.collection.createIndex({ companyId: 1, startedAt: -1 }, { name: 'company_started' });
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
          allowMassDeactivation: s.allowMassDeactivation,
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
        },
      },
      { upsert: true },
    );
  }

  async setProgress(runId: string, progress: SyncRunDocument['progress']): Promise<void> {
    await this.collection.updateOne({ _id: runId }, { $set: { progress } });
  }

  async recordPlan(
    runId: string,
    counts: SyncCounts,
    guard: NonNullable<SyncRunDocument['guard']>,
    removalsChecked: boolean,
  ): Promise<void> {
    await this.collection.updateOne(
      { _id: runId },
      { $set: { counts, guard, removalsChecked, 'progress.phase': 'applying' } },
    );
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

  list(companyId: string, limit = 20): Promise<SyncRunDocument[]> {
    return this.collection.find({ companyId }).sort({ startedAt: -1 }).limit(limit).toArray();
  }
}
