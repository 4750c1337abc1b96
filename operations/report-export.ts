import { Readable } from 'node:stream';
import { stringify, type Options as CsvOptions } from 'csv-stringify/sync';
import type { SyncChangeDocument } from '../db/sync-changes-repository';
import type { SyncRunDocument } from '../db/sync-runs-repository';
import { describeReason } from '../domain/reasons';
import type { ChangeAction, ReasonCode } from '../domain/types';
import type { OperationsDeps } from './context';
import { companyNotFound, OperationError } from './errors';

export const EXPORT_FORMATS = ['csv', 'json'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

/**
 * The words of an export: its column headers and how a change's action, fields, values and reasons
 * read. The console gives its own (French or English, as its pages say them); the CLI prints the
 * codes its `report` prints (`CLI_EXPORT_LABELS`).
 */
export interface ExportLabels {
  columns: Record<'luccaUserId' | 'profileId' | 'name' | 'action' | 'fields' | 'reasonCodes' | 'reasons', string>;
  action(action: ChangeAction): string;
  field(field: string): string;
  value(field: string, value: unknown): string;
  reason(code: ReasonCode, message: string): string;
}

/** The CLI's words: the codes `report` prints, values as stored (empty for none), reasons in English. */
export const CLI_EXPORT_LABELS: ExportLabels = {
  columns: {
    luccaUserId: 'Lucca id',
    profileId: 'Profile',
    name: 'Name',
    action: 'Action',
    fields: 'Fields (from → to)',
    reasonCodes: 'Reason codes',
    reasons: 'Reasons',
  },
  action: (action) => action,
  field: (field) => field,
  value: (_field, value) =>
    value === null || value === undefined ? '' : typeof value === 'string' ? value : JSON.stringify(value),
  reason: (code, message) => message || describeReason(code),
};

export interface ReportExport {
  run: SyncRunDocument;
  /** `report-<company>-<run>.<format>`: ids only, safe in a header. */
  filename: string;
  contentType: string;
  /** The report, produced as it is read: a cursor over the run's changes, never all of them at once. */
  body: Readable;
}

export interface ReportExportInput {
  companyId: string;
  /** A specific run; the company's latest by default. */
  runId?: string;
  format: ExportFormat;
  labels: ExportLabels;
}

/**
 * A run's report as a file, every change in plan order: CSV (one row per change, the columns an
 * admin sees on the report page) or JSON (the run's header and its changes). It holds the
 * people's data of the report, so it goes only to whom the report goes: an operator, a console user.
 */
export async function exportReport(
  deps: Pick<OperationsDeps, 'repos'>,
  input: ReportExportInput,
): Promise<ReportExport> {
  const run = await runOf(deps, input.companyId, input.runId);
  const changes = deps.repos.syncChanges.inPlanOrder(run._id);
  const body = Readable.from(
    input.format === 'csv' ? csvChunks(changes, input.labels) : jsonChunks(run, changes, input.labels),
    { objectMode: false },
  );
  return {
    run,
    filename: `report-${run.companyId}-${run._id}.${input.format}`,
    contentType: input.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/json; charset=utf-8',
    body,
  };
}

async function runOf(deps: Pick<OperationsDeps, 'repos'>, companyId: string, runId?: string): Promise<SyncRunDocument> {
  const { repos } = deps;
  const run = runId ? await repos.syncRuns.get(runId) : await repos.syncRuns.latest(companyId);
  if (run && run.companyId === companyId) return run;
  if (!(await repos.companies.get(companyId))) throw companyNotFound(companyId);
  throw new OperationError(
    'run-not-found',
    runId ? `Company "${companyId}" has no run "${runId}".` : `Company "${companyId}" has had no sync run yet.`,
  );
}

/** Who a change is about, from the values it carries (skips and conflicts carry none). */
export function changeSubject(change: SyncChangeDocument): string | null {
  const values = change.target?.fields;
  const name = [values?.firstName, values?.lastName].filter(Boolean).join(' ');
  if (name) return name;
  const from = change.fields;
  const fallback = [from?.firstName?.from ?? from?.firstName?.to, from?.lastName?.from ?? from?.lastName?.to]
    .filter((v): v is string => typeof v === 'string' && v !== '')
    .join(' ');
  return fallback || null;
}

const fieldEntries = (change: SyncChangeDocument) =>
  Object.entries(change.fields ?? {}).filter(([, diff]) => diff !== undefined);

/**
 * A cell a spreadsheet would read as a formula (`=`, `+`, `-`, `@`, a tab or a carriage return
 * first: OWASP's CSV injection list) gets a leading `'`: names and emails come from Lucca, typed by
 * anyone. The library quotes what needs quoting (RFC 4180); rows end with CRLF as spreadsheets expect.
 */
const CSV_OPTIONS: CsvOptions = { escape_formulas: true, record_delimiter: 'windows' };

async function* csvChunks(changes: AsyncIterable<SyncChangeDocument>, labels: ExportLabels): AsyncGenerator<string> {
  const c = labels.columns;
  // A byte order mark, so a spreadsheet reads the accents of French names as UTF-8.
  yield stringify([[c.luccaUserId, c.profileId, c.name, c.action, c.fields, c.reasonCodes, c.reasons]], {
    ...CSV_OPTIONS,
    bom: true,
  });
  for await (const change of changes) {
    const fields = fieldEntries(change).map(([field, diff]) =>
      change.action === 'create'
        ? `${labels.field(field)}: ${labels.value(field, diff?.to)}`
        : `${labels.field(field)}: ${labels.value(field, diff?.from)} → ${labels.value(field, diff?.to)}`,
    );
    const row = [
      change.luccaUserId === null ? '' : String(change.luccaUserId),
      change.profileId ?? '',
      changeSubject(change) ?? '',
      labels.action(change.action),
      fields.join('\n'),
      change.reasons.map((r) => r.code).join(', '),
      change.reasons.map((r) => labels.reason(r.code, r.message)).join('\n'),
    ];
    yield stringify([row], CSV_OPTIONS);
  }
}

async function* jsonChunks(
  run: SyncRunDocument,
  changes: AsyncIterable<SyncChangeDocument>,
  labels: ExportLabels,
): AsyncGenerator<string> {
  // The run's header without its error message or who-knows-what: ids, outcome, counts.
  const header = {
    id: run._id,
    companyId: run.companyId,
    status: run.status,
    mode: run.mode,
    trigger: run.trigger,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    counts: run.counts,
    errorCode: run.error?.code ?? null,
  };
  yield `{"run":${JSON.stringify(header)},"changes":[`;
  let first = true;
  for await (const change of changes) {
    const item = {
      luccaUserId: change.luccaUserId,
      profileId: change.profileId,
      name: changeSubject(change),
      action: change.action,
      fields: Object.fromEntries(
        fieldEntries(change).map(([field, diff]) => [field, { from: diff?.from ?? null, to: diff?.to ?? null }]),
      ),
      reasons: change.reasons.map((r) => ({
        code: r.code,
        description: labels.reason(r.code, r.message),
      })),
    };
    yield `${first ? '\n' : ',\n'}${JSON.stringify(item)}`;
    first = false;
  }
  yield '\n]}\n';
}
