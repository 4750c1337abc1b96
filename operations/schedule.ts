import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleDescription,
  type ScheduleHandle,
  type ScheduleOptions,
  type ScheduleOptionsStartWorkflowAction,
  type ScheduleSpec,
  type ScheduleUpdateOptions,
} from '@temporalio/client';
import { createHash } from 'node:crypto';
import { parseEvery } from '../domain/duration';
import { DEFAULT_FULL_READ_EVERY, parseFullReadEvery } from '../domain/run-kinds';
import type { scheduledSyncWorkflow } from '../workflows/scheduled-sync';
import { datesScheduleId, scheduleId } from '../temporal/ids';
import { CompanyIdAttribute, SyncKindAttribute, SyncTriggerAttribute } from '../temporal/search-attributes';
import type { AuditedAction } from './audit';
import type { OperationsDeps } from './context';
import { companyNotFound, OperationError } from './errors';

/**
 * A company's place in a cycle of `periodSeconds`, in whole seconds from 0 to `periodSeconds` − 1:
 * the first 6 bytes of the SHA-256 of its id (UTF-8), read as an unsigned big-endian integer,
 * modulo the period. A plain hash, so the same id gets the same place in every process and
 * version; changing this formula moves every schedule of a fleet.
 */
export function companySpreadSeconds(companyId: string, periodSeconds: number): number {
  return createHash('sha256').update(companyId, 'utf8').digest().readUIntBE(0, 6) % periodSeconds;
}

/**
 * Where in each interval the company's schedule fires. Temporal counts intervals from the Unix
 * epoch, so without an offset every company on a 4-hour cadence would fire just after 00:00, 04:00…
 * UTC, a whole fleet's runs queued at once; with one per company, to the second, a fleet's firings
 * spread evenly over the interval. Always less than `everyMs`, as Temporal requires.
 */
export function scheduleOffsetMs(companyId: string, everyMs: number): number {
  return companySpreadSeconds(companyId, Math.floor(everyMs / 1000)) * 1000;
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

/** The sync schedule's spec: every `everyMs`, at the company's offset. */
export function companyScheduleSpec(companyId: string, everyMs: number): ScheduleSpec {
  // No jitter: the offset spreads a fleet evenly, and `status` shows the exact time of the next run.
  return { intervals: [{ every: everyMs, offset: scheduleOffsetMs(companyId, everyMs) }] };
}

export function companyScheduleOptions(
  s: CompanyScheduleSettings,
  opts: { paused?: boolean } = {},
): ScheduleOptions<ScheduleOptionsStartWorkflowAction<typeof scheduledSyncWorkflow>> {
  const everyMs = parseEveryOrThrow(s.every);
  return {
    scheduleId: scheduleId(s.companyId),
    spec: companyScheduleSpec(s.companyId, everyMs),
    action: scheduleAction(s),
    // A company workflow runs one sync at a time anyway; a firing while the last is still being
    // delivered is simply dropped.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' },
    state: { paused: opts.paused ?? false, note: scheduleNote(s) },
    typedSearchAttributes: [{ key: CompanyIdAttribute, value: s.companyId }],
  };
}

/**
 * When date schedules fire, in each company's time zone: from 00:05 (a few minutes in, the local
 * date has surely turned) over the next 30 minutes, each company at its own second
 * (`companySpreadSeconds`), so that a time zone's companies do not all roll their dates at once.
 */
export const DATES_WINDOW = { fromMinute: 5, minutes: 30 } as const;

/** The local time of the company's date roll, within `DATES_WINDOW`. */
export function datesFireAt(companyId: string): { hour: number; minute: number; second: number } {
  const s = DATES_WINDOW.fromMinute * 60 + companySpreadSeconds(companyId, DATES_WINDOW.minutes * 60);
  return { hour: Math.floor(s / 3600), minute: Math.floor(s / 60) % 60, second: s % 60 };
}

/** The date schedule's spec: once a day at `datesFireAt`, in the company's zone (Temporal follows its clock changes). */
export function datesScheduleSpec(companyId: string, timezone: string): ScheduleSpec {
  return { calendars: [datesFireAt(companyId)], timezone };
}

const clock = (t: { hour: number; minute: number; second: number }) =>
  [t.hour, t.minute, t.second].map((n) => String(n).padStart(2, '0')).join(':');

export interface CompanyDatesScheduleSettings {
  companyId: string;
  /** IANA, the company's (`companies.timezone`). */
  timezone: string;
  taskQueue: string;
}

/**
 * The company's second schedule: just after its local midnight (`datesFireAt`, 00:05 to 00:35;
 * Temporal follows the time zone and its daylight-saving changes), a `dates` run — planned from the store alone, no Lucca request — makes
 * the contracts ended yesterday leavers and the hires starting today active, on the right day
 * whatever the sync's frequency. A schedule rather than a timer in the company workflow: Temporal
 * keeps the calendar in the company's zone, the UI shows and triggers it like the sync's, and the
 * company workflow's loop and recorded histories stay as they are.
 */
export function companyDatesScheduleOptions(
  s: CompanyDatesScheduleSettings,
  opts: { paused?: boolean } = {},
): ScheduleOptions<ScheduleOptionsStartWorkflowAction<typeof scheduledSyncWorkflow>> {
  const at = datesFireAt(s.companyId);
  return {
    scheduleId: datesScheduleId(s.companyId),
    spec: datesScheduleSpec(s.companyId, s.timezone),
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
      note: `lucca-sync: contract dates of company ${s.companyId} rolled at ${clock(at)} ${s.timezone}, from the store (no Lucca request).`,
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

/**
 * Brings a schedule to `spec` and resumes it in one update. Not an update then an unpause: the
 * Temporal server applies the two, when they reach the schedule together, unpause first and then
 * the update's whole state, which was read paused, so the schedule stayed paused.
 */
async function resumeWithSpec(handle: ScheduleHandle, spec: ScheduleSpec, note: string): Promise<void> {
  await handle.update((previous) => ({ ...previous, spec, state: { ...previous.state, paused: false, note } }));
}

/**
 * The date schedule follows the sync's pause; a company onboarded before it has none until onboarded
 * again. Resumed, it takes the current spec (`timezone`), as the sync's schedule does.
 */
async function pauseDatesSchedule(
  client: Client,
  companyId: string,
  change: { pause: true } | { resume: true; timezone: string },
  now: Date,
): Promise<void> {
  const handle = client.schedule.getHandle(datesScheduleId(companyId));
  try {
    if ('pause' in change) await handle.pause(`Paused with the sync's schedule (${now.toISOString()})`);
    else {
      await resumeWithSpec(
        handle,
        datesScheduleSpec(companyId, change.timezone),
        `Resumed with the sync's schedule (${now.toISOString()})`,
      );
    }
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
}

/** `sync.fullReadEvery` validated; the message names the option and the rule (4h to 24h). */
export function parseFullReadEveryOrThrow(fullReadEvery: string): number {
  const parsed = parseFullReadEvery(fullReadEvery);
  if (!parsed.ok) {
    throw new OperationError(
      'invalid-every',
      `${parsed.message.replace('sync.fullReadEvery', `--full-read-every "${fullReadEvery}"`)}: between full reads, scheduled runs read only the users Lucca modified, and only a full read sees who was removed.`,
    );
  }
  return parsed.ms;
}

export type ScheduleChange = { every: string } | { fullReadEvery: string } | { pause: true } | { resume: true };

/** How the audit log names a schedule change, and what it keeps of it. */
export function scheduleAudit(change: ScheduleChange): Pick<AuditedAction<unknown>, 'action' | 'params'> {
  if ('every' in change) return { action: 'schedule-every', params: { every: change.every } };
  if ('fullReadEvery' in change)
    return { action: 'schedule-full-read', params: { fullReadEvery: change.fullReadEvery } };
  return { action: 'pause' in change ? 'pause' : 'resume', params: {} };
}

export interface ScheduleChangeResult {
  companyId: string;
  every: string;
  /** How often a scheduled run reads everyone at least (`sync.fullReadEvery`, `24h` by default). */
  fullReadEvery: string;
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
  if ('fullReadEvery' in change) parseFullReadEveryOrThrow(change.fullReadEvery);
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
    } else if ('fullReadEvery' in change) {
      // Read by each run as it decides how to read: no schedule to change.
      await deps.repos.companies.setSchedule(companyId, { fullReadEvery: change.fullReadEvery }, now);
    } else if ('pause' in change) {
      await handle.pause(`Paused by the operator (${now.toISOString()})`);
      await pauseDatesSchedule(deps.client, companyId, { pause: true }, now);
      await deps.repos.companies.setSchedule(companyId, { paused: true }, now);
    } else {
      // Resuming also brings the schedule to the current spec: one made before offsets takes its own.
      const every = parseEveryOrThrow(company.sync.every);
      await resumeWithSpec(
        handle,
        companyScheduleSpec(companyId, every),
        `Resumed by the operator (${now.toISOString()})`,
      );
      await pauseDatesSchedule(deps.client, companyId, { resume: true, timezone: company.timezone }, now);
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
    fullReadEvery:
      'fullReadEvery' in change ? change.fullReadEvery : (company.sync.fullReadEvery ?? DEFAULT_FULL_READ_EVERY),
    paused: description.state.paused,
    nextRunAt: description.info.nextActionTimes[0] ?? null,
  };
}
