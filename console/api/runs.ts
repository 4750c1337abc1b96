import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ChangeAction } from '../../domain/types';
import { REPORT_ACTIONS } from '../../operations';
import type { ConsoleContext } from '../context';
import { getReportPage, getRun, listRuns } from '../data';
import type { MessageKey } from '../i18n';
import { apiError, changeSchema, companyParams, runParams, runSchema } from '../schemas';
import { toApiChange, toApiRun } from './representations';

/** A company's runs: the history, one run with its progress, its changes. */
export function registerRunRoutes(api: FastifyInstance, ctx: ConsoleContext): void {
  api.get('/companies/:companyId/runs', { schema: runHistorySchema }, (request) => runHistory(ctx, request));
  api.get('/companies/:companyId/runs/:runId', { schema: oneRunSchema }, (request) => oneRun(ctx, request));
  api.get('/companies/:companyId/runs/:runId/changes', { schema: runChangesSchema }, (request) =>
    runChanges(ctx, request),
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
  const phaseLabel = ctx.i18nOf(request).t(`phase.${run.progress.phase}` as MessageKey);
  return { run: toApiRun(ctx, run), changesSoFar, phaseLabel };
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
