import { alertTargetsOf } from '../db/companies-repository';
import { alertFor, alertMessage, problemOf, type AlertEvent } from '../domain/alerts';
import type { AlertActivityDeps } from './alert-context';

export interface RaiseRunAlertInput {
  companyId: string;
  runId: string;
  status: 'succeeded' | 'failed' | 'blocked';
  dryRun: boolean;
  /** The failure or guard code of a failed or blocked run. */
  code: string | null;
}

/** The alert raised, by ids: its targets are named by their opaque ids, never by an address. */
export interface RaisedAlert {
  alertId: string;
  event: AlertEvent;
  targetIds: string[];
}

/**
 * After a run's outcome is recorded: compares it with the company's last alerted problem
 * (`alertStates`), and when it is news (`alertFor`) records the alert — its message, a delivery per
 * target — and the new state. Null when there is nothing to say. An alert is one per run
 * (`<companyId>:<runId>`): a retried attempt finds it raised and returns it as it was.
 */
export function createRaiseRunAlert(deps: AlertActivityDeps) {
  const now = deps.now ?? (() => new Date());
  return async function raiseRunAlert(input: RaiseRunAlertInput): Promise<RaisedAlert | null> {
    const { companyId, runId } = input;
    const alertId = `${companyId}:${runId}`;
    const outcome = { status: input.status, dryRun: input.dryRun, code: input.code };
    const raised = await deps.repos.alerts.getAlert(alertId);
    if (raised) {
      // An attempt that raised it and stopped before recording the state.
      await deps.repos.alerts.setState({
        _id: companyId,
        problem: problemOf(outcome),
        runId,
        alertId,
        at: raised.createdAt,
      });
      return { alertId, event: raised.event, targetIds: raised.targetIds };
    }
    const company = await deps.repos.companies.get(companyId);
    if (!company) return null;
    const state = await deps.repos.alerts.getState(companyId);
    if (state && state.runId > runId) return null;
    const event = alertFor(outcome, state?.problem ?? null);
    if (!event) return null;
    const { webhooks, emails } = alertTargetsOf(company);
    const targets = [
      ...webhooks.map((w) => ({ id: w.id, kind: 'webhook' as const })),
      ...emails.map((e) => ({ id: e.id, kind: 'email' as const })),
    ];
    const at = now();
    // The state moves on even with no target: a target added later hears of the next change only.
    await deps.repos.alerts.raise(
      {
        _id: alertId,
        companyId,
        runId,
        event,
        targetIds: targets.map((t) => t.id),
        message: alertMessage({
          alertId,
          event,
          company: { id: companyId, name: company.name },
          run: { runId, status: input.status, code: input.code },
          consoleUrl: deps.alerts?.consoleUrl ?? null,
          at,
        }),
        createdAt: at,
      },
      targets,
    );
    await deps.repos.alerts.setState({ _id: companyId, problem: problemOf(outcome), runId, alertId, at });
    return { alertId, event, targetIds: targets.map((t) => t.id) };
  };
}
