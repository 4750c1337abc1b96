import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleUpdateOptions,
} from '@temporalio/client';
import { parseEvery } from '../domain/duration';
import type { scheduledSyncWorkflow } from '../workflows/scheduled-sync';
import { datesScheduleId, scheduleId } from '../temporal/ids';
import { CompanyIdAttribute, SyncKindAttribute, SyncTriggerAttribute } from '../temporal/search-attributes';
import type { OperationsDeps } from './context';
import { companyNotFound, OperationError } from './errors';

const MAX_JITTER_MS = 10 * 60_000;

/** Spreads the firings of companies sharing a frequency, so they do not all hit Lucca at the same second. */
export function scheduleJitterMs(everyMs: number): number {
  return Math.min(Math.round(everyMs / 48), MAX_JITTER_MS);
}

/** `sync.every` validated the way the schedule needs it; the message names the rule (minimum 4h). */
export function parseEveryOrThrow(every: string): number {
  const parsed = parseEvery(every);
  if (!parsed.ok) {
    throw new OperationError(
      'invalid-every',
      `${parsed.message.replace('sync.every', `--every "${every}"`)} (Lucca's rate limit is shared with the company's other tools, so a sync never runs more often than every 4 hours).`,
    );
  }
  return parsed.ms;
}

export interface CompanyScheduleSettings {
  companyId: string;
  every: string;
  taskQueue: string;
}

/** The note shown on the UI's Schedules page: ids and frequency only (no secret or personal data in Temporal). */
export const scheduleNote = (s: CompanyScheduleSettings) =>
  `lucca-sync: Lucca → platform sync of company ${s.companyId} every ${s.every}. Managed with \`npm run cli -- schedule --company ${s.companyId}\`.`;

function scheduleAction(s: CompanyScheduleSettings): ScheduleOptionsStartWorkflowAction<typeof scheduledSyncWorkflow> {
  return {
    type: 'startWorkflow',
    workflowType: 'scheduledSyncWorkflow',
    // The schedule appends the firing time, so each firing is its own row in the UI.
    workflowId: `company-sync-scheduled:${s.companyId}`,
    taskQueue: s.taskQueue,
    args: [{ companyId: s.companyId }],
    typedSearchAttributes: [
      { key: CompanyIdAttribute, value: s.companyId },
      { key: SyncTriggerAttribute, value: 'schedule' },
    ],
    staticSummary: `${s.companyId}: scheduled sync request`,
  };
}

export function companyScheduleOptions(
  s: CompanyScheduleSettings,
  opts: { paused?: boolean } = {},
): ScheduleOptions<ScheduleOptionsStartWorkflowAction<typeof scheduledSyncWorkflow>> {
  const everyMs = parseEveryOrThrow(s.every);
  return {
    scheduleId: scheduleId(s.companyId),
    spec: { intervals: [{ every: everyMs }], jitter: scheduleJitterMs(everyMs) },
    action: scheduleAction(s),
    // A company workflow runs one sync at a time anyway; a firing while the last is still being
    // delivered is simply dropped.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    state: { paused: opts.paused ?? false, note: scheduleNote(s) },
    typedSearchAttributes: [{ key: CompanyIdAttribute, value: s.companyId }],
  };
}

/** When the date schedule fires, in the company's time zone: a few minutes in, its local date has surely turned. */
export const DATES_FIRE_AT = { hour: 0, minute: 5 } as const;

export interface CompanyDatesScheduleSettings {
  companyId: string;
  /** IANA, the company's (`companies.timezone`). */
  timezone: string;
  taskQueue: string;
}

/**
 * The company's second schedule: at 00:05 of its local day (Temporal follows the time zone and its
 * daylight-saving changes), a `dates` run — planned from the store alone, no Lucca request — makes
 * the contracts ended yesterday leavers and the hires starting today active, on the right day
 * whatever the sync's frequency. A schedule rather than a timer in the company workflow: Temporal
 * keeps the calendar in the company's zone, the UI shows and triggers it like the sync's, and the
 * company workflow's loop and recorded histories stay as they are.
 */
export function companyDatesScheduleOptions(
  s: CompanyDatesScheduleSettings,
  opts: { paused?: boolean } = {},
): ScheduleOptions<ScheduleOptionsStartWorkflowAction<typeof scheduledSyncWorkflow>> {
  return {
    scheduleId: datesScheduleId(s.companyId),
    spec: { calendars: [{ hour: DATES_FIRE_AT.hour, minute: DATES_FIRE_AT.minute }], timezone: s.timezone },
    action: {
      type: 'startWorkflow',
      workflowType: 'scheduledSyncWorkflow',
      workflowId: `company-dates-scheduled:${s.companyId}`,
      taskQueue: s.taskQueue,
      args: [{ companyId: s.companyId, kind: 'dates' }],
      typedSearchAttributes: [
        { key: CompanyIdAttribute, value: s.companyId },
        { key: SyncTriggerAttribute, value: 'schedule' },
        { key: SyncKindAttribute, value: 'dates' },
      ],
      staticSummary: `${s.companyId}: date roll request`,
    },
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    state: {
      paused: opts.paused ?? false,
      note: `lucca-sync: contract dates of company ${s.companyId} rolled at 00:05 ${s.timezone}, from the store (no Lucca request).`,
    },
    typedSearchAttributes: [{ key: CompanyIdAttribute, value: s.companyId }],
  };
}

/** Creates the company's date schedule, or brings it to these settings (a new time zone), keeping its paused state. */
export function upsertCompanyDatesSchedule(
  client: Client,
  s: CompanyDatesScheduleSettings,
  opts: { paused?: boolean } = {},
): Promise<'created' | 'updated'> {
  const options = companyDatesScheduleOptions(s, opts);
  return createOrUpdateSchedule(client, options, (previous) => ({
    state: { ...previous.state, note: options.state?.note },
  }));
}

/**
 * Creates a schedule, or brings the existing one to `options`' spec and action, with `keep`
 * deciding what else of it changes (its paused state is an operator's, for instance).
 */
export async function createOrUpdateSchedule(
  client: Client,
  options: ScheduleOptions,
  keep: (previous: ScheduleDescription) => Partial<Pick<ScheduleUpdateOptions, 'policies' | 'state'>>,
): Promise<'created' | 'updated'> {
  try {
    await client.schedule.create(options);
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  await client.schedule.getHandle(options.scheduleId).update((previous) => ({
    ...previous,
    spec: options.spec,
    action: options.action,
    ...keep(previous),
  }));
  return 'updated';
}

/** Creates the company's schedule, or brings an existing one to these settings (keeping its paused state). */
export function upsertCompanySchedule(
  client: Client,
  s: CompanyScheduleSettings,
  opts: { paused?: boolean } = {},
): Promise<'created' | 'updated'> {
  return createOrUpdateSchedule(client, companyScheduleOptions(s, opts), (previous) => ({
    policies: { ...previous.policies, overlap: ScheduleOverlapPolicy.SKIP },
    state: { ...previous.state, note: scheduleNote(s) },
  }));
}

/** The date schedule follows the sync's pause; a company onboarded before it has none until onboarded again. */
async function pauseDatesSchedule(client: Client, companyId: string, pause: boolean, now: Date): Promise<void> {
  const handle = client.schedule.getHandle(datesScheduleId(companyId));
  try {
    if (pause) await handle.pause(`Paused with the sync's schedule (${now.toISOString()})`);
    else await handle.unpause(`Resumed with the sync's schedule (${now.toISOString()})`);
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
}

export type ScheduleChange = { every: string } | { pause: true } | { resume: true };

export interface ScheduleChangeResult {
  companyId: string;
  every: string;
  paused: boolean;
  nextRunAt: Date | null;
}

/** `schedule --every | --pause | --resume`: the company document and its Temporal Schedule move together. */
export async function changeSchedule(
  deps: OperationsDeps,
  input: { companyId: string; change: ScheduleChange },
): Promise<ScheduleChangeResult> {
  const { companyId, change } = input;
  const now = deps.now?.() ?? new Date();
  if ('every' in change) parseEveryOrThrow(change.every);
  const company = await deps.repos.companies.get(companyId);
  if (!company) throw companyNotFound(companyId);
  if (company.lucca.apiKey === null) {
    throw new OperationError(
      'offboarded',
      `Company "${companyId}" was offboarded; onboard it again before changing its schedule.`,
    );
  }
  const handle = deps.client.schedule.getHandle(scheduleId(companyId));
  try {
    if ('every' in change) {
      await upsertCompanySchedule(deps.client, {
        companyId,
        every: change.every,
        taskQueue: deps.config.TASK_QUEUE,
      });
      await deps.repos.companies.setSchedule(companyId, { every: change.every }, now);
    } else if ('pause' in change) {
      await handle.pause(`Paused by the operator (${now.toISOString()})`);
      await pauseDatesSchedule(deps.client, companyId, true, now);
      await deps.repos.companies.setSchedule(companyId, { paused: true }, now);
    } else {
      await handle.unpause(`Resumed by the operator (${now.toISOString()})`);
      await pauseDatesSchedule(deps.client, companyId, false, now);
      await deps.repos.companies.setSchedule(companyId, { paused: false }, now);
    }
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) {
      throw new OperationError(
        'schedule-not-found',
        `Company "${companyId}" has no Temporal Schedule (${scheduleId(companyId)}); run onboard again to recreate it.`,
      );
    }
    throw err;
  }
  const description = await handle.describe();
  return {
    companyId,
    every: 'every' in change ? change.every : company.sync.every,
    paused: description.state.paused,
    nextRunAt: description.info.nextActionTimes[0] ?? null,
  };
}
