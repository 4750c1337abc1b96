import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { ChangeAction } from '../../domain/types';
import { audited, REPORT_ACTIONS } from '../../operations';
import {
  EXPORT_FORMATS,
  exportAudit,
  exportReport,
  type ExportFormat,
  type ExportLabels,
} from '../../operations/report-export';
import { consoleActor } from '../audit';
import type { ConsoleContext } from '../context';
import { getReportPage, getRun, listRuns } from '../data';
import type { I18n, MessageKey } from '../i18n';
import { formatFieldValue, phaseLabel } from '../views/run';
import { apiError, changeSchema, companyParams, runParams, runSchema } from '../schemas';
import { toApiChange, toApiRun } from './representations';

/** A company's runs: the history, one run with its progress, its changes. */
export function registerRunRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  api.get('/companies/:companyId/runs', { schema: runHistorySchema }, (request) => runHistory(ctx, request));
  api.get('/companies/:companyId/runs/:runId', { schema: oneRunSchema }, (request) => oneRun(ctx, request));
  api.get('/companies/:companyId/runs/:runId/changes', { schema: runChangesSchema }, (request) =>
    runChanges(ctx, request),
  );
  api.get('/companies/:companyId/runs/:runId/export', { schema: runExportSchema }, (request, reply) =>
    runExport(ctx, request, reply),
  );
}

const runHistorySchema = {
  tags: ['runs'],
  summary: 'Run history, newest first',
  params: companyParams,
  querystring: {
    type: 'object',
    properties: { limit: { type: 'integer', minimum: 1, maximum: 200, default: 30 } },
  },
  response: { 200: { type: 'array', items: runSchema }, 404: apiError },
};

async function runHistory(ctx: ConsoleContext, request: FastifyRequest) {
  const { companyId } = request.params as { companyId: string };
  const { limit } = request.query as { limit: number };
  return (await listRuns(ctx.deps, companyId, limit)).map((r) => toApiRun(ctx, r));
}

const oneRunSchema = {
  tags: ['runs'],
  summary: 'One run with its live progress (polled by the run page)',
  params: runParams,
  response: {
    200: {
      type: 'object',
      properties: { run: runSchema, changesSoFar: { type: 'integer' }, phaseLabel: { type: 'string' } },
    },
    404: apiError,
  },
};

async function oneRun(ctx: ConsoleContext, request: FastifyRequest) {
  const { companyId, runId } = request.params as { companyId: string; runId: string };
  const { run, changesSoFar } = await getRun(ctx.deps, companyId, runId);
  return { run: toApiRun(ctx, run), changesSoFar, phaseLabel: phaseLabel(ctx.i18nOf(request), run.progress) };
}

const runChangesSchema = {
  tags: ['runs'],
  summary: "A run's changes in plan order, optionally of one action and one reason code",
  params: runParams,
  querystring: {
    type: 'object',
    properties: {
      action: { type: 'string', enum: [...REPORT_ACTIONS] },
      reason: { type: 'string', pattern: '^[a-z][a-z-]{0,63}$' },
      skip: { type: 'integer', minimum: 0, default: 0 },
      limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: { total: { type: 'integer' }, items: { type: 'array', items: changeSchema } },
    },
    404: apiError,
  },
};

async function runChanges(ctx: ConsoleContext, request: FastifyRequest) {
  const { deps } = ctx;
  const { companyId, runId } = request.params as { companyId: string; runId: string };
  const q = request.query as { action?: ChangeAction; reason?: string; skip: number; limit: number };
  const { total, changes } = await getReportPage(deps, ctx.reports, companyId, runId, q);
  return { total, items: changes.map(toApiChange) };
}

const runExportSchema = {
  tags: ['runs'],
  summary: "A run's whole report as a file: CSV (the columns of the report page, in the user's language) or JSON",
  description:
    'Every change in plan order, streamed from the store. It holds the people’s data of the report: served to a signed-in console user, never cached.',
  params: runParams,
  querystring: {
    type: 'object',
    properties: { format: { type: 'string', enum: [...EXPORT_FORMATS], default: 'csv' } },
  },
  produces: ['text/csv', 'application/json'],
  response: { 404: apiError },
};

/** The export's words as the report page says them. */
function exportLabels(i18n: I18n): ExportLabels {
  const column = (key: string) => i18n.t(`export.${key}` as MessageKey);
  return {
    columns: {
      luccaUserId: column('luccaUserId'),
      profileId: column('profileId'),
      name: column('name'),
      action: column('action'),
      fields: column('fields'),
      reasonCodes: column('reasonCodes'),
      reasons: column('reasons'),
    },
    action: (action) => i18n.t(`action.${action}` as MessageKey),
    field: (field) => i18n.t(`field.${field}` as MessageKey),
    value: (field, value) => formatFieldValue(i18n, field, value),
    reason: (code, message) => i18n.reason(code, message),
  };
}

async function runExport(ctx: ConsoleContext, request: FastifyRequest, reply: FastifyReply) {
  const { companyId, runId } = request.params as { companyId: string; runId: string };
  const { format } = request.query as { format: ExportFormat };
  // The run is the company's (404 otherwise) before a byte is read.
  await getRun(ctx.deps, companyId, runId);
  const input = { companyId, runId, format, labels: exportLabels(ctx.i18nOf(request)) };
  const file = await audited(ctx.deps, consoleActor(request), exportAudit(input), () => exportReport(ctx.deps, input));
  return reply
    .type(file.contentType)
    .header('content-disposition', `attachment; filename="${file.filename}"`)
    .header('cache-control', 'no-store')
    .send(file.body);
}
