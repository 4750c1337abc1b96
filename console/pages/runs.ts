import type { FastifyInstance } from 'fastify';
import { audited, OperationError, requestSync, ticketAuditDetails, type SyncTicket } from '../../operations';
import { consoleActor } from '../audit';
import { requestedBy, type ConsoleContext } from '../context';
import { getReportPage, getRun, reportQuery, requireCompany } from '../data';
import { runParams } from '../schemas';
import { runPage } from '../views/run';
import { field, flash, requestedFlash } from './forms';

/** A run's report, and applying a blocked run anyway. */
export function registerRunPages(app: FastifyInstance, ctx: ConsoleContext): void {
  const { deps } = ctx;
  const schema = { params: runParams };

  app.get('/companies/:companyId/runs/:runId', { schema }, async (request, reply) => {
    const { companyId, runId } = request.params as { companyId: string; runId: string };
    const company = await requireCompany(deps, companyId);
    const report = await getReportPage(deps, ctx.reports, companyId, runId, reportQuery(request.query));
    return ctx.sendHtml(
      reply,
      runPage(ctx.view(request, reply), { company, report, temporalUrl: ctx.temporalRunUrl(report.run) }),
    );
  });

  app.post('/companies/:companyId/runs/:runId/apply-anyway', { schema }, async (request, reply) => {
    const { companyId, runId } = request.params as { companyId: string; runId: string };
    const { run } = await getRun(deps, companyId, runId);
    if (run.status !== 'blocked') return reply.redirect(`/companies/${companyId}/runs/${runId}`, 303);
    const requestKey = field(request.body, 'requestKey');
    let ticket: SyncTicket;
    try {
      ticket = await audited(
        deps,
        consoleActor(request),
        {
          companyId,
          action: 'apply-anyway',
          params: { dryRun: false, blockedRunId: runId },
          details: ticketAuditDetails,
        },
        () =>
          requestSync(deps, {
            companyId,
            applyAnyway: { blockedRunId: runId },
            requestedBy: requestedBy(request),
            ...(requestKey ? { requestKey } : {}),
          }),
      );
    } catch (err) {
      // A newer run came after the one reviewed: its report is the one to review now.
      if (!(err instanceof OperationError && err.code === 'nothing-to-override')) throw err;
      flash(request, 'flash.overrideStale', 'error');
      return reply.redirect(`/companies/${companyId}/integration`, 303);
    }
    flash(request, requestedFlash(ticket, 'flash.applyRequested'));
    request.session.pendingSync = companyId;
    return reply.redirect(`/companies/${companyId}/integration`, 303);
  });
}
