import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { ScheduleOverlapPolicy, type ScheduleDescription, type ScheduleHandle } from '@temporalio/client';
import type { SweepResult } from '../../activities/sweep';
import { companyScheduleOptions, scheduleOffsetMs } from '../../operations/schedule';
import { companyWorkflowId, scheduleId, sweepWorkflowId } from '../../temporal/ids';
import { companySyncWorkflow } from '../../workflows/company-sync';
import { syncSweepWorkflow } from '../../workflows/sweep';
import { generateLuccaUsers } from '../fake-lucca';
import { localDate } from '../fake-lucca/dates';
import type { ChildWorker } from '../child-worker/child-worker';
import type { Rig } from './rig';

/**
 * A day of schedules, compressed: many companies, each on its Temporal Schedule firing every 4
 * hours as production's do (`companyScheduleOptions`: the firing workflow, its update-with-start
 * of the company workflow, overlap and catch-up policies, its offset in the interval), except that
 * the interval is `intervalMs` of real time standing for 4 h, the offset scaled alike (the product
 * refuses less than 4 h; the test server's time skipping has no schedules, so this runs on the dev
 * server, for real). The company workflows
 * continue as new every `maxRunsPerExecution` runs instead of 100, so that a day shows it.
 * Checks: each firing became one run, started before the next firing; every run succeeded; each
 * company workflow continued as new and no execution's history grew past what its runs explain;
 * the sweeper finds nothing to close or drop, and no run or working collection is left; the
 * workers' memory is flat from the day's second firing to its last.
 */
export interface DayOptions {
  companies: number;
  employees: number;
  /** Real time standing for the schedules' 4 hours. */
  intervalMs: number;
  /** Firings of each schedule in the day (6 in 24 h). */
  firings: number;
  maxRunsPerExecution: number;
  workers: number;
  log?: (line: string) => void;
}

export interface DayReport {
  firings: number;
  runs: number;
  /** The latest a run started after its firing (ms). */
  latestStartMs: number;
  executions: { min: number; max: number };
  /** The most events one company workflow execution's history holds. */
  longestHistory: number;
  sweep: SweepResult;
  /** The workers' resident memory after each firing (kB). */
  rssKb: number[];
}

/** The firing interval the schedule is given: the compressed 4 h, its offset scaled alike. */
const FOUR_HOURS_MS = 4 * 3_600_000;

async function rssKb(workers: ChildWorker[]): Promise<number> {
  let kb = 0;
  for (const w of workers) {
    const status = await readFile(`/proc/${w.pid}/status`, 'utf8');
    kb += Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1] ?? Number.NaN);
  }
  return kb;
}

/**
 * A schedule's description, asked up to three times: at load 26 one of twenty descriptions failed
 * once ("Failed to describe schedule") while the server answered the others.
 */
async function describeSchedule(handle: ScheduleHandle): Promise<ScheduleDescription> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await handle.describe();
    } catch (err) {
      if (attempt === 3) {
        const cause = err instanceof Error && err.cause instanceof Error ? `: ${err.cause.message}` : '';
        throw new Error(`${handle.scheduleId}: ${err instanceof Error ? err.message : String(err)}${cause}`);
      }
      await sleep(1_000);
    }
  }
}

/**
 * What the runs still running wait on, as their documents and Temporal describe them (phase, the
 * pending activity, its attempt and timing, the last events): the evidence a failed settle needs.
 */
async function whereRunsWait(rig: Rig): Promise<string> {
  const now = Date.now();
  const lines: string[] = [];
  const age = (d: Date | null | undefined) => (d ? `${Math.round((now - d.getTime()) / 1000)} s ago` : 'never');
  const stuck = await rig.store.syncRuns.find({ status: 'running' }).sort({ startedAt: 1 }).limit(10).toArray();
  for (const run of stuck) {
    const handle = rig.client.workflow.getHandle(run.workflowId);
    const described = await handle.describe().catch(() => null);
    const pending = (described?.raw.pendingActivities ?? []).map((a) => {
      const at = (t: typeof a.scheduledTime) => (t?.seconds ? new Date(Number(t.seconds) * 1000) : null);
      return (
        `${a.activityType?.name} attempt ${a.attempt} ${String(a.state)} scheduled ${age(at(a.scheduledTime))}, ` +
        `started ${age(at(a.lastStartedTime))}, heartbeat ${age(at(a.lastHeartbeatTime))}` +
        (a.lastFailure ? ` (last failure: ${a.lastFailure.message})` : '')
      );
    });
    let events = '';
    if (pending.length === 0 && described) {
      const history = await handle.fetchHistory().catch(() => null);
      events = (history?.events ?? [])
        .slice(-4)
        .map((e) => Object.keys(e).find((k) => k.endsWith('EventAttributes')) ?? '?')
        .join(', ');
    }
    lines.push(
      `${run.companyId} run started ${age(run.startedAt)}, ${run.progress.phase}, ${run.progress.pagesRead} pages, ` +
        `workflow ${described?.status.name ?? 'not found'}: ${pending.join(', ') || `no pending activity (last events: ${events})`}`,
    );
  }
  return lines.join('; ');
}

export async function scheduleDay(rig: Rig, opts: DayOptions): Promise<DayReport> {
  const log = opts.log ?? (() => undefined);
  await rig.useFreshDatabase({ keepPrevious: false });
  const workers: ChildWorker[] = [];
  const ids: string[] = [];
  try {
    for (let i = 0; i < opts.workers; i++) workers.push(await rig.launchWorker({ logLevel: 'info' }));
    const today = localDate();
    for (let i = 0; i < opts.companies; i++) {
      const users = generateLuccaUsers({ size: opts.employees, seed: 2_000 + i, today, startId: i * 1_000_000 + 1 });
      const { companyId } = await rig.addCompany(users);
      ids.push(companyId);
      // Started ahead of the first firing, so that it continues as new every few runs; the firing's
      // update-with-start finds it running (USE_EXISTING) as it would a production one. With
      // production's timeouts, not the rig's: the rig's 8 s heartbeat timeout is there to retry a
      // SIGKILLed worker's step quickly, and nothing is killed here. With it, at load 20–24, reads of
      // 50 users that took 3 s at the day's start took 30–64 s, and many had sent no heartbeat 8 s
      // after they started: timed out on a live worker and retried, again and again (attempts 3 to
      // 7, each "activity Heartbeat timeout", retries waiting 40 s to be picked up), 19 runs never
      // ended.
      await rig.client.workflow.start(companySyncWorkflow, {
        taskQueue: rig.taskQueue,
        workflowId: companyWorkflowId(companyId),
        args: [{ companyId, maxRunsPerExecution: opts.maxRunsPerExecution }],
      });
    }
    const schedulesFrom = Date.now();
    for (const companyId of ids) {
      const options = companyScheduleOptions({ companyId, every: '4h', taskQueue: rig.taskQueue });
      await rig.client.schedule.create({
        ...options,
        spec: {
          intervals: [
            {
              every: opts.intervalMs,
              offset: Math.floor((scheduleOffsetMs(companyId, FOUR_HOURS_MS) * opts.intervalMs) / FOUR_HOURS_MS),
            },
          ],
        },
        policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: Math.max(opts.intervalMs, 10_000) },
      });
    }
    // The day starts once every schedule exists, so that the last one created gets its firings too.
    const dayStart = Date.now();
    log(
      `${opts.companies} companies of ${opts.employees} on schedules every ${opts.intervalMs / 1000} s (standing for 4 h), ` +
        `created in ${Math.round((dayStart - schedulesFrom) / 1000)} s`,
    );

    // The day: memory sampled after each interval, until every schedule has fired `firings` times.
    const rss: number[] = [];
    const dayEnd = dayStart + opts.intervalMs * (opts.firings + 0.5);
    while (Date.now() < dayEnd) {
      await sleep(Math.min(opts.intervalMs, dayEnd - Date.now()));
      rss.push(await rssKb(workers));
      const running = await rig.store.syncRuns.countDocuments({ status: 'running' });
      const made = await rig.store.syncRuns.countDocuments({});
      log(
        `${Math.round((Date.now() - dayStart) / 1000)} s: workers' RSS ${Math.round(rss.at(-1)! / 1024)} MB; ` +
          `${made} runs, ${running} running`,
      );
    }
    // The day is over: no firing more, and the last firings' runs come to their end (bounded).
    const actions = new Map<string, Date[]>();
    /** Firings the schedule did not act on: skipped as overlapping, or missed past the catch-up window. */
    const notTaken = new Map<string, { skippedOverlap: number; missedCatchup: number }>();
    for (const companyId of ids) {
      const handle = rig.client.schedule.getHandle(scheduleId(companyId));
      await handle.pause('the compressed day is over');
      const described = await describeSchedule(handle);
      notTaken.set(companyId, {
        skippedOverlap: described.info.numActionsSkippedOverlap,
        missedCatchup: described.info.numActionsMissedCatchupWindow,
      });
      actions.set(
        companyId,
        described.info.recentActions.map((a) => a.takenAt).sort((a, b) => a.getTime() - b.getTime()),
      );
    }
    const firings = [...actions.values()].reduce((n, a) => n + a.length, 0);
    const settleBy = Date.now() + Math.max(120_000, opts.intervalMs * 3);
    for (;;) {
      const running = await rig.store.syncRuns.countDocuments({ status: 'running' });
      const made = await rig.store.syncRuns.countDocuments({});
      if (running === 0 && made >= firings) break;
      if (Date.now() > settleBy) {
        throw new Error(
          `the day's last runs ending: ${made} runs for ${firings} firings, ${running} still running: ${await whereRunsWait(rig)}`,
        );
      }
      await sleep(500);
    }

    let latestStartMs = 0;
    let runs = 0;
    for (const companyId of ids) {
      const fired = actions.get(companyId)!;
      assert.ok(
        fired.length >= opts.firings - 1,
        `${companyId}'s schedule fired ${fired.length} times in a day of ${opts.firings} intervals (${JSON.stringify(notTaken.get(companyId))})`,
      );
      assert.deepEqual(
        notTaken.get(companyId),
        { skippedOverlap: 0, missedCatchup: 0 },
        `${companyId}'s schedule acted on every firing`,
      );
      const made = await rig.store.syncRuns.find({ companyId }).sort({ startedAt: 1 }).toArray();
      runs += made.length;
      assert.equal(made.length, fired.length, `${companyId}: one run per firing`);
      for (const [k, run] of made.entries()) {
        assert.equal(run.trigger, 'schedule', `${companyId}'s run ${k + 1} was started by its schedule`);
        assert.equal(run.status, 'succeeded', `${companyId}'s run ${k + 1} succeeded`);
        const late = run.startedAt.getTime() - fired[k]!.getTime();
        latestStartMs = Math.max(latestStartMs, late);
        assert.ok(
          late >= 0 && late < opts.intervalMs,
          `${companyId}'s run ${k + 1} started ${late} ms after its firing: before the next one (${opts.intervalMs} ms)`,
        );
      }
    }

    // Histories stay bounded: each company workflow continued as new, no execution holds more
    // events than its runs explain.
    const executionCounts: number[] = [];
    let longestHistory = 0;
    for (const companyId of ids) {
      let executions = 0;
      for await (const wf of rig.client.workflow.list({ query: `WorkflowId="${companyWorkflowId(companyId)}"` })) {
        executions++;
        longestHistory = Math.max(longestHistory, wf.historyLength);
        if (wf.status.name !== 'RUNNING') {
          assert.equal(wf.status.name, 'CONTINUED_AS_NEW', `${companyId}'s company workflow only continued as new`);
        }
      }
      executionCounts.push(executions);
      const runsOf = actions.get(companyId)!.length;
      assert.ok(
        executions >= Math.floor(runsOf / opts.maxRunsPerExecution),
        `${companyId}'s company workflow continued as new every ${opts.maxRunsPerExecution} runs (${executions} executions for ${runsOf} runs)`,
      );
    }
    // A run costs a company workflow about a dozen events (request, child start and end, alert
    // workflow, markers): twice that per run is room, a history growing with the day is not.
    const bound = 30 * opts.maxRunsPerExecution + 30;
    assert.ok(longestHistory <= bound, `no company workflow history past ${bound} events (${longestHistory})`);

    // The sweeper: nothing left behind to close or drop.
    const sweep = await rig.client.workflow.execute(syncSweepWorkflow, {
      taskQueue: rig.taskQueue,
      workflowId: `${sweepWorkflowId(rig.taskQueue)}-day`,
    });
    assert.deepEqual(
      { runsClosed: sweep.runsClosed, workingDataRemoved: sweep.workingDataRemoved },
      { runsClosed: 0, workingDataRemoved: 0 },
      'the sweeper finds no run to close and no working data to drop',
    );
    const staging = (await rig.mongo.db(rig.dbName).listCollections({}, { nameOnly: true }).toArray())
      .map((c) => c.name)
      .filter((n) => n.startsWith('syncStaging.'));
    assert.deepEqual(staging, [], 'no staging collection left');

    // Memory flat: the second firing's (the first warms the workers up) against the day's last.
    assert.ok(rss.length >= 3, 'memory sampled through the day');
    assert.ok(
      rss.at(-1)! <= rss[1]! * 1.25,
      `the workers' memory at the end of the day (${rss.at(-1)} kB) near where it was after its second firing (${rss[1]} kB)`,
    );
    return {
      firings,
      runs,
      latestStartMs,
      executions: { min: Math.min(...executionCounts), max: Math.max(...executionCounts) },
      longestHistory,
      sweep,
      rssKb: rss,
    };
  } finally {
    for (const companyId of ids) {
      await rig.client.schedule
        .getHandle(scheduleId(companyId))
        .delete()
        .catch(() => undefined);
    }
    for (const w of workers) await w.stop(20_000).catch(() => undefined);
  }
}
