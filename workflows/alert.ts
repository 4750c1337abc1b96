import { ActivityFailure, log, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { RaiseRunAlertInput } from '../activities/raise-run-alert';

/** How long one alert's delivery to one target keeps trying, every retry included. */
export const DELIVERY_BOUND_MS = 6 * 60 * 60 * 1000;

export interface AlertTuning {
  /** A delivery's bound (schedule-to-close); default `DELIVERY_BOUND_MS`. Tests shorten it. */
  deliveryBoundMs?: number;
  retryInitialIntervalMs?: number;
  retryMaximumIntervalMs?: number;
}

/**
 * A run's alert (`run`: raised here if the run's outcome is news), or an alert raised already (a
 * test message, `alertId` with its targets). Ids and codes only.
 */
export type AlertWorkflowInput =
  | { companyId: string; run: RaiseRunAlertInput; tuning?: AlertTuning }
  | { companyId: string; alertId: string; targetIds: string[]; tuning?: AlertTuning };

export interface AlertWorkflowResult {
  alertId: string | null;
  delivered: number;
  failed: number;
}

/**
 * One alert (`run-alert:<companyId>:<runId>`, `alert:<companyId>:<id>` for a test): raises it when
 * the run's outcome is news for the company (`raiseRunAlert`), delivers it to every target at
 * once — each a `deliverAlert` retried with backoff within a bounded time — then records which
 * targets never got it. The company workflow starts it after a run and does not wait for it
 * (parent close policy ABANDON): an alert never delays or fails a run, nor the next one.
 */
export async function runAlertWorkflow(input: AlertWorkflowInput): Promise<AlertWorkflowResult> {
  const t = input.tuning ?? {};
  const store = proxyActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    scheduleToCloseTimeout: '10 minutes',
    retry: { initialInterval: '2 seconds', maximumInterval: '1 minute' },
  });
  const send = proxyActivities<Activities>({
    // Above the sender's own timeout (10 s per request or SMTP step), for a whole email session.
    startToCloseTimeout: '1 minute',
    scheduleToCloseTimeout: t.deliveryBoundMs ?? DELIVERY_BOUND_MS,
    retry: {
      initialInterval: t.retryInitialIntervalMs ?? 10_000,
      backoffCoefficient: 2,
      maximumInterval: Math.max(t.retryMaximumIntervalMs ?? 30 * 60_000, t.retryInitialIntervalMs ?? 10_000),
    },
  });
  const raised = 'run' in input ? await store.raiseRunAlert(input.run) : input;
  if (!raised) return { alertId: null, delivered: 0, failed: 0 };
  const { alertId, targetIds } = raised;
  await Promise.all(
    targetIds.map((targetId) =>
      send.deliverAlert({ alertId, targetId }).catch((err: unknown) => {
        // Recorded on the delivery (attempts, the last answer); the other targets go on.
        log.warn('Alert delivery gave up', {
          alertId,
          targetId,
          error: err instanceof ActivityFailure && err.cause ? err.cause.message : 'unknown',
        });
      }),
    ),
  );
  const closed = await store.closeAlert({ alertId, targetIds });
  return { alertId, ...closed };
}
