import type { SyncChangeDocument } from '../db/sync-changes-repository';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import { describeReason } from '../domain/reasons';
import { REASON_CODES, type ChangeAction, type ReasonCode } from '../domain/types';
import type { OperationsDeps } from './context';
import { companyNotFound, OperationError } from './errors';

/** Report order: what was written first, then what needs an operator's eye. */
export const REPORT_ACTIONS: readonly ChangeAction[] = [
  'create',
  'link',
  'update',
  'deactivate',
  'reactivate',
  'conflict',
  'skip',
];

export const DEFAULT_CHANGES_PER_ACTION = 20;

export interface ReportChangeGroup {
  action: ChangeAction;
  total: number;
  /** The first changes in plan order: all of them with `all`, else at most `perAction`. */
  changes: SyncChangeDocument[];
}

export interface SyncReport {
  run: SyncRunDocument;
  groups: ReportChangeGroup[];
  /** Every reason code of the run, with its plain-words meaning. */
  reasons: { code: ReasonCode; description: string }[];
  complete: boolean;
}

export interface ReportInput {
  companyId: string;
  runId?: string;
  /** Changes listed per action; `'all'` lists every change (large for big companies). */
  perAction?: number | 'all';
  action?: ChangeAction;
}

/** A run's report: its header and counts, then its changes grouped by action (latest run by default). */
export async function getSyncReport(deps: OperationsDeps, input: ReportInput): Promise<SyncReport> {
  const { repos } = deps;
  const run = input.runId ? await repos.syncRuns.get(input.runId) : await repos.syncRuns.latest(input.companyId);
  if (!run || run.companyId !== input.companyId) {
    if (!(await repos.companies.get(input.companyId))) throw companyNotFound(input.companyId);
    throw new OperationError(
      'run-not-found',
      input.runId
        ? `Company "${input.companyId}" has no run "${input.runId}".`
        : `Company "${input.companyId}" has had no sync run yet.`,
    );
  }
  const perAction = input.perAction ?? DEFAULT_CHANGES_PER_ACTION;
  const actions = input.action ? [input.action] : REPORT_ACTIONS;
  const groups: ReportChangeGroup[] = [];
  for (const action of actions) {
    const total = await repos.syncChanges.count(run._id, { action });
    if (total === 0) continue;
    const changes = await repos.syncChanges.page(run._id, {
      action,
      ...(perAction === 'all' ? {} : { limit: perAction }),
    });
    groups.push({ action, total, changes });
  }
  const codes = await repos.syncChanges.reasonCodes(run._id);
  const reasons = REASON_CODES.filter((code) => codes.has(code)).map((code) => ({
    code,
    description: describeReason(code),
  }));
  return { run, groups, reasons, complete: groups.every((g) => g.changes.length === g.total) };
}
