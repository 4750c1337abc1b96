import type { AlertActivityDeps } from './alert-context';

export interface CloseAlertInput {
  alertId: string;
  targetIds: string[];
}

/**
 * Once every delivery of an alert has ended (delivered, or its retries and time are spent):
 * marks the deliveries still `sending` as `failed`, so the console and the CLI show which targets
 * never got it. Counts only in the result.
 */
export function createCloseAlert(deps: AlertActivityDeps) {
  return async function closeAlert({
    alertId,
    targetIds,
  }: CloseAlertInput): Promise<{ delivered: number; failed: number }> {
    let delivered = 0;
    let failed = 0;
    for (const targetId of targetIds) {
      const id = `${alertId}#${targetId}`;
      const delivery = await deps.repos.alerts.getDelivery(id);
      if (delivery?.status === 'delivered') delivered++;
      else if (delivery?.status === 'sending') {
        await deps.repos.alerts.setDeliveryStatus(id, 'failed');
        failed++;
      } else failed++;
    }
    return { delivered, failed };
  };
}
