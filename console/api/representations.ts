import type { ProfileDocument } from '../../db/profiles-repository';
import type { SyncChangeDocument } from '../../db/sync-changes-repository';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import { askedToApplyAnyway } from '../../domain/guards';
import type { CompanyStatus } from '../../operations';
import type { ConsoleContext } from '../context';
import type { ConnectionCheck } from '../data';
import type { I18n, MessageKey } from '../i18n';

/* What the JSON API answers, built from the documents; the schemas in ../schemas describe them. */

export const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);

function toRunSummary(r: SyncRunDocument) {
  return {
    id: r._id,
    trigger: r.trigger,
    mode: r.mode,
    status: r.status,
    requestedBy: r.requestedBy,
    startedAt: iso(r.startedAt),
    finishedAt: iso(r.finishedAt),
    counts: r.counts,
    error: r.error,
  };
}

export function toApiRun(ctx: ConsoleContext, r: SyncRunDocument) {
  return {
    ...toRunSummary(r),
    companyId: r.companyId,
    allowMassDeactivation: askedToApplyAnyway(r),
    requestId: r.requestId ?? null,
    overrideOf: r.overrideOf ?? null,
    durationMs: r.finishedAt ? r.finishedAt.getTime() - r.startedAt.getTime() : null,
    progress: r.progress,
    guard: r.guard,
    profileWrites: r.profileWrites,
    workflowId: r.workflowId,
    temporalRunId: r.temporalRunId,
    temporalUrl: ctx.temporalRunUrl(r),
  };
}

export function toApiCompany(c: CompanyStatus) {
  return {
    companyId: c.companyId,
    name: c.name,
    timezone: c.timezone,
    luccaBaseUrl: c.luccaBaseUrl,
    apiKeyHint: c.apiKeyHint,
    connected: c.connected,
    every: c.every,
    fullReadEvery: c.fullReadEvery,
    paused: c.paused,
    nextRunAt: iso(c.schedule.nextRunAt),
    workflowRunning: c.workflowRunning,
    worker: c.worker
      ? { taskQueue: c.worker.taskQueue, serving: c.worker.serving, lastPollAt: iso(c.worker.lastPollAt) }
      : null,
    lastRun: c.lastRun ? toRunSummary({ ...c.lastRun, finishedAt: c.lastRun.finishedAt } as SyncRunDocument) : null,
  };
}

export function toApiChange(c: SyncChangeDocument) {
  return {
    seq: c.seq,
    action: c.action,
    luccaUserId: c.luccaUserId,
    profileId: c.profileId,
    fields: c.fields,
    reasons: c.reasons,
  };
}

export function toApiProfile(p: ProfileDocument) {
  return {
    id: p._id.toHexString(),
    firstName: p.firstName,
    lastName: p.lastName,
    email: p.email,
    birthDate: p.birthDate,
    contractStart: p.contractStart,
    contractEnd: p.contractEnd,
    status: p.status,
    lucca: p.lucca
      ? {
          userId: p.lucca.userId,
          linkedAt: iso(p.lucca.linkedAt),
          lastSeenAt: iso(p.lucca.lastSeenAt),
          removedAt: iso(p.lucca.removedAt),
        }
      : null,
    updatedAt: iso(p.updatedAt),
  };
}

/** A "Test the connection" answer, in the admin's language (the API's and the forms' alike). */
export function toApiCheck(i18n: I18n, check: ConnectionCheck) {
  return {
    outcome: check.outcome,
    message: i18n.t(`test.${check.outcome}` as MessageKey),
    detail: check.outcome === 'ok' ? null : check.detail,
  };
}
