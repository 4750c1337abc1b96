import { createHmac } from 'node:crypto';
import { createTransport, type Transporter } from 'nodemailer';
import type { Keyring } from '../db/api-key-cipher';
import type { Repositories } from '../db/mongo';

// What the alert activities share: their settings, the webhook's signature and the mail transport.

export interface AlertSettings {
  /** SMTP_URL; unset: email deliveries fail with a clear reason and are not retried. */
  smtpUrl?: string;
  /** ALERT_EMAIL_FROM. */
  from: string;
  /** CONSOLE_PUBLIC_URL: alerts link to the run's report there. */
  consoleUrl?: string;
  /** ALERT_WEBHOOK_HTTP_ORIGINS: origins a webhook may use plain http for. */
  httpOrigins: readonly string[];
  /** One webhook request's or one SMTP session's time limit; default 10 s. */
  sendTimeoutMs?: number;
}

export interface AlertActivityDeps {
  repos: Repositories;
  keyring: Keyring;
  alerts?: AlertSettings;
  now?: () => Date;
}

export const DEFAULT_SEND_TIMEOUT_MS = 10_000;

/** The headers a webhook receiver verifies (docs/operating.md, "Alerts"). */
export const SIGNATURE_HEADER = 'X-Lucca-Sync-Signature';
export const TIMESTAMP_HEADER = 'X-Lucca-Sync-Timestamp';
export const ALERT_ID_HEADER = 'X-Lucca-Sync-Alert-Id';

/**
 * A webhook body's signature: HMAC-SHA256, keyed with the target's secret, of
 * `<timestamp>.<body>` (the timestamp header's value, a dot, the raw body), hex, after `sha256=`.
 * The timestamp inside what is signed lets a receiver refuse a replayed old request.
 */
export function signAlertBody(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

let transports = new Map<string, Transporter>();

/** One pooled SMTP transport per URL and process. */
export function mailTransport(smtpUrl: string, timeoutMs: number): Transporter {
  let transport = transports.get(smtpUrl);
  if (!transport) {
    transport = createTransport({
      url: smtpUrl,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
    transports.set(smtpUrl, transport);
  }
  return transport;
}

/** Closes the SMTP transports (a stopping process, tests). */
export function closeMailTransports(): void {
  for (const transport of transports.values()) transport.close();
  transports = new Map();
}
