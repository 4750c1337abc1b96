import { Context, log as activityLog } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Repositories } from '../db/mongo';
import type { RunRef } from '../db/sync-runs-repository';
import type { RunError } from '../domain/failures';
import { requireTemporal } from './errors';
import { runIdStartedAt, syncRunWorkflowId } from '../temporal/ids';
import { DEFAULT_CHANGES_RETENTION_DAYS } from '../config/env';

const DAY_MS = 24 * 3600_000;

/**
 * How long a run marked `running` whose workflow is not running is left before the sweeper closes
 * it. The run's own workflow writes that document first and closes it last, so a run in that state
 * can only have lost its workflow (terminated, timed out); the margin covers clocks that disagree
 * between the worker that stamped `startedAt` and the one sweeping.
 */
export const ABANDONED_RUN_GRACE_MS = 15 * 60_000;

/**
 * Working collections of a run with no `syncRuns` document (nothing says whether it is over) are
 * dropped once its id — the time it started, see `runIdAt` in `temporal/ids.ts` — is
 * older than this: no run takes a day.
 */
export const ORPHAN_WORKING_DATA_AGE_MS = DAY_MS;

/** What one sweep did: counts only (it is the sweep workflow's result, shown in the Temporal UI). */
export interface SweepResult {
  /** Runs marked running whose workflow had ended, closed as failed (`abandoned`). */
  runsClosed: number;
  /** Runs whose working collections were dropped. */
  workingDataRemoved: number;
  /** Rewrites left journaled by a run, completed before its working data was dropped. */
  rewritesCompleted: number;
  /** Journals left in place because a later run may have written the same profiles (logged). */
  journalsKept: number;
  /** Runs whose change records were removed, their retention being over. */
  changesExpired: number;
  /** Change records removed (of those runs), counted after each delete command: the sweep's heartbeat moves with them. */
  changeRecordsRemoved?: number;
}

export interface SweepLog {
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
}

const silent: SweepLog = { info: () => undefined, warn: () => undefined };

export interface SweepDeps {
  repos: Repositories;
  /** Asks Temporal whether a run's workflow is still running. */
  client: Client;
  /** Injectable so that tests need not wait a day or a year. */
  now?: () => Date;
  /** SYNC_CHANGES_RETENTION_DAYS. */
  changesRetentionDays: number;
  /** Called after each step of the sweep (the activity heartbeats). */
  progress?: (sofar: SweepResult) => void;
  log?: SweepLog;
}

const ABANDONED: RunError = {
  code: 'abandoned',
  message:
    "The run's workflow ended without finishing the run (terminated or timed out in Temporal); the sweeper " +
    'marked it failed and removed its working data. Part of its plan may have been applied; the next run completes it.',
};

/**
 * One pass of the sweeper, in three steps, each safe to repeat or to run twice at once:
 * 1. runs marked `running` whose workflow is not running (asked of Temporal) and that started more
 *    than `ABANDONED_RUN_GRACE_MS` ago are marked failed (`abandoned`); a run whose workflow is
 *    running is left alone whatever its age;
 * 2. the working collections of runs that are over (and of runs with no document, once a day old)
 *    are dropped — see `RunWorkingData.removeRun` for a journaled rewrite;
 * 3. the change records of finished runs started more than `changesRetentionDays` ago are removed,
 *    run by run through the sliced delete (`SyncChangesRepository.clearRun`), and the run document
 *    is kept (counts, no personal data) with `changesExpiredAt`. Each run costs FerretDB a scan of
 *    `syncChanges` per 10,000 records: the first sweep after a year of history is the long one.
 */
export async function sweepSyncData(deps: SweepDeps): Promise<SweepResult> {
  const { repos, client } = deps;
  const log = deps.log ?? silent;
  const now = (deps.now ?? (() => new Date()))();
  const result: SweepResult = {
    runsClosed: 0,
    workingDataRemoved: 0,
    rewritesCompleted: 0,
    journalsKept: 0,
    changesExpired: 0,
    changeRecordsRemoved: 0,
  };
  const step = () => deps.progress?.({ ...result });

  for (const run of await repos.syncRuns.listRunning()) {
    const ageMs = now.getTime() - run.startedAt.getTime();
    if (ageMs < ABANDONED_RUN_GRACE_MS) continue;
    if (await isWorkflowRunning(client, run)) {
      if (ageMs > DAY_MS) {
        log.warn('A sync run has been running for more than a day; left alone', {
          runId: run._id,
          companyId: run.companyId,
        });
      }
      continue;
    }
    if (await repos.syncRuns.markAbandoned(run._id, ABANDONED, now)) {
      result.runsClosed += 1;
      log.warn('Closed a sync run whose workflow had ended without finishing it', {
        runId: run._id,
        companyId: run.companyId,
      });
    }
    step();
  }

  const working = await repos.workingData.runsWithWorkingData();
  const runs = new Map((await repos.syncRuns.getMany([...working.keys()])).map((r) => [r._id, r]));
  for (const [runId, kinds] of working) {
    const run = runs.get(runId) ?? null;
    const orphanOld = (runIdStartedAt(runId) ?? Infinity) < now.getTime() - ORPHAN_WORKING_DATA_AGE_MS;
    if (run ? run.status === 'running' : !orphanOld) continue;
    const outcome = await repos.workingData.removeRun(runId, run, kinds, log);
    result.workingDataRemoved += 1;
    if (outcome === 'rewrite-completed') result.rewritesCompleted += 1;
    if (outcome === 'journal-kept') result.journalsKept += 1;
    step();
  }

  const cutoff = new Date(now.getTime() - deps.changesRetentionDays * DAY_MS);
  for (const run of await repos.syncRuns.withChangesStartedBefore(cutoff)) {
    // Removed before the run is marked: a sweep stopped in between does the run again. A year-old
    // run can hold a company's worth of records, a delete command per 10,000 on FerretDB, each a
    // scan of the collection: the sweep heartbeats after each command, not only after the run.
    const before = result.changeRecordsRemoved ?? 0;
    await repos.syncChanges.clearRun(run._id, (sofar) => {
      result.changeRecordsRemoved = before + sofar;
      step();
    });
    await repos.syncRuns.markChangesExpired(run._id, now);
    result.changesExpired += 1;
    step();
  }

  if (Object.values(result).some((n) => n > 0)) log.info('Swept what sync runs left behind', { ...result });
  return result;
}

/** Whether the run's workflow is running, asked of Temporal (a workflow it no longer knows is not). */
async function isWorkflowRunning(client: Client, run: RunRef): Promise<boolean> {
  const workflowId = run.workflowId || syncRunWorkflowId(run.companyId, run._id);
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

export interface SweepActivityDeps {
  repos: Repositories;
  /** The client the sweeper asks whether a run's workflow is running. */
  temporal?: { client: Client };
  now?: () => Date;
  /** SYNC_CHANGES_RETENTION_DAYS; default 365. */
  changesRetentionDays?: number;
}

export function createSweepSyncData(deps: SweepActivityDeps) {
  /** The sweeper's activity (see `sweepSyncData`), heartbeating its counts as it goes. */
  async function sweepSyncDataActivity(): Promise<SweepResult> {
    const { client } = requireTemporal(deps.temporal, 'sweepSyncData');
    const ctx = Context.current();
    return sweepSyncData({
      repos: deps.repos,
      client,
      changesRetentionDays: deps.changesRetentionDays ?? DEFAULT_CHANGES_RETENTION_DAYS,
      progress: (sofar) => ctx.heartbeat(sofar),
      log: activityLog,
      ...(deps.now ? { now: deps.now } : {}),
    });
  }

  return sweepSyncDataActivity;
}
