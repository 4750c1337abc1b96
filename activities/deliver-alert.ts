import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { decryptApiKey } from '../db/api-key-cipher';
import { alertTargetsOf } from '../db/companies-repository';
import { alertEmail, webhookUrlAllowed } from '../domain/alerts';
import {
  ALERT_ID_HEADER,
  DEFAULT_SEND_TIMEOUT_MS,
  mailTransport,
  SIGNATURE_HEADER,
  signAlertBody,
  TIMESTAMP_HEADER,
  type AlertActivityDeps,
} from './alert-context';

export interface DeliverAlertInput {
  alertId: string;
  targetId: string;
}

/** Failure types of a delivery (not part of the run's failure vocabulary: an alert never fails a run). */
export const DELIVERY_FAILED = 'AlertDeliveryFailed';
export const DELIVERY_REFUSED = 'AlertDeliveryRefused';

/**
 * Sends one alert to one target — a signed POST to a webhook, or an email through SMTP — and
 * records the attempt (its number, the answer, when). A failure Temporal may retry (no answer, a
 * 5xx, 408, 429, an SMTP error) is thrown as retryable; one that would fail again (another 4xx, a
 * target no longer allowed, no SMTP setting) is not. Errors name statuses and codes, never the
 * target's URL or address (a webhook URL may hold a token; an address is personal data).
 */
export function createDeliverAlert(deps: AlertActivityDeps) {
  const now = deps.now ?? (() => new Date());
  return async function deliverAlert({ alertId, targetId }: DeliverAlertInput): Promise<{ delivered: boolean }> {
    const deliveryId = `${alertId}#${targetId}`;
    const delivery = await deps.repos.alerts.getDelivery(deliveryId);
    if (!delivery || delivery.status === 'delivered') return { delivered: delivery?.status === 'delivered' };
    const alert = await deps.repos.alerts.getAlert(alertId);
    const company = await deps.repos.companies.get(delivery.companyId);
    const attempts = Context.current().info.attempt;
    const record = (status: 'sending' | 'delivered' | 'dropped', response: number | null, error: string | null) =>
      deps.repos.alerts.recordAttempt(deliveryId, { attempts, status, response, error, at: now() });
    const { webhooks, emails } = company ? alertTargetsOf(company) : { webhooks: [], emails: [] };
    const webhook = webhooks.find((w) => w.id === targetId);
    const email = emails.find((e) => e.id === targetId);
    if (!alert || (!webhook && !email)) {
      await record('dropped', null, 'the target was removed');
      return { delivered: false };
    }
    const settings = deps.alerts;
    const timeoutMs = settings?.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
    const fail = async (response: number | null, error: string, retryable: boolean) => {
      await record('sending', response, error);
      throw ApplicationFailure.create({
        type: retryable ? DELIVERY_FAILED : DELIVERY_REFUSED,
        message: `Alert ${alertId} to target ${targetId}: ${error}`,
        nonRetryable: !retryable,
      });
    };

    if (webhook) {
      if (!webhookUrlAllowed(webhook.url, settings?.httpOrigins ?? [])) {
        return fail(null, 'the webhook URL is not https (nor an origin of ALERT_WEBHOOK_HTTP_ORIGINS)', false);
      }
      const secret = decryptApiKey(
        deps.keyring,
        { companyId: delivery.companyId, baseUrl: webhook.url },
        webhook.secret,
      );
      const body = JSON.stringify(alert.message);
      const timestamp = String(Math.floor(now().getTime() / 1000));
      let status: number;
      try {
        const res = await fetch(webhook.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'lucca-sync-alerts',
            [TIMESTAMP_HEADER]: timestamp,
            [SIGNATURE_HEADER]: signAlertBody(secret, timestamp, body),
            [ALERT_ID_HEADER]: alertId,
          },
          body,
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = res.status;
        await res.body?.cancel().catch(() => undefined);
      } catch (err) {
        return fail(null, `no answer (${networkCode(err)})`, true);
      }
      if (status >= 200 && status < 300) {
        await record('delivered', status, null);
        return { delivered: true };
      }
      const retryable = status >= 500 || status === 408 || status === 429;
      return fail(status, `the webhook answered ${status}`, retryable);
    }

    if (!settings?.smtpUrl) return fail(null, 'SMTP_URL is not set: email alerts cannot be sent', false);
    const { subject, text } = alertEmail(alert.message);
    try {
      const info = (await mailTransport(settings.smtpUrl, timeoutMs).sendMail({
        from: settings.from,
        to: email!.address,
        subject,
        text,
        headers: { [ALERT_ID_HEADER]: alertId },
      })) as { response?: string };
      await record('delivered', smtpCode(info.response), null);
      return { delivered: true };
    } catch (err) {
      const { responseCode, code } = err as { responseCode?: number; code?: string };
      // A permanent SMTP refusal (5xx: no such mailbox, relay denied) fails again the same way.
      const permanent = typeof responseCode === 'number' && responseCode >= 500;
      return fail(
        responseCode ?? null,
        `the SMTP server ${responseCode ? `answered ${responseCode}` : `could not be used (${code ?? 'error'})`}`,
        !permanent,
      );
    }
  };
}

/** A network error's code (ECONNREFUSED, a timeout…): never its message, which may quote the URL. */
function networkCode(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown } }).cause;
  if (typeof cause?.code === 'string' && /^[A-Z_]{2,40}$/.test(cause.code)) return cause.code;
  return err instanceof Error && err.name === 'TimeoutError' ? 'timeout' : 'network error';
}

function smtpCode(response: string | undefined): number | null {
  const m = /^(\d{3})/.exec(response ?? '');
  return m ? Number(m[1]) : null;
}
