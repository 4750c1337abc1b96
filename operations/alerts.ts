import { randomBytes } from 'node:crypto';
import { requireKeyring } from '../config/env';
import type { AlertDeliveryDocument } from '../db/alerts-repository';
import { encryptApiKey } from '../db/api-key-cipher';
import { alertTargetsOf } from '../db/companies-repository';
import { alertMessage, webhookUrlAllowed } from '../domain/alerts';
import { testAlertWorkflowId } from '../temporal/ids';
import { CompanyIdAttribute } from '../temporal/search-attributes';
import type { runAlertWorkflow } from '../workflows/alert';
import type { OperationsDeps } from './context';
import { companyNotFound, OperationError } from './errors';

/** Targets per company, each kind: a few admins and a chat hook or two, never a mailing list's worth. */
export const MAX_TARGETS_PER_KIND = 10;
const MAX_URL_LENGTH = 2_000;
/** A plain address check: the SMTP server is the judge; this catches typos and header injection. */
const EMAIL_ADDRESS = /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$/;

export interface AlertTargetsView {
  companyId: string;
  webhooks: { id: string; url: string; addedAt: Date }[];
  emails: { id: string; address: string; addedAt: Date }[];
  /** The latest deliveries, newest first. */
  deliveries: AlertDeliveryDocument[];
  /** SMTP_URL is set (in this process's settings: the worker's should match). */
  smtpConfigured: boolean;
}

async function requireCompany(deps: OperationsDeps, companyId: string) {
  const company = await deps.repos.companies.get(companyId);
  if (!company) throw companyNotFound(companyId);
  return company;
}

const targetId = (prefix: 'wh' | 'em') => `${prefix}-${randomBytes(4).toString('hex')}`;

/** A company's alert targets (no webhook secret) and its latest deliveries. */
export async function listAlertTargets(
  deps: OperationsDeps,
  input: { companyId: string; deliveries?: number },
): Promise<AlertTargetsView> {
  const company = await requireCompany(deps, input.companyId);
  const { webhooks, emails } = alertTargetsOf(company);
  return {
    companyId: company._id,
    webhooks: webhooks.map(({ id, url, addedAt }) => ({ id, url, addedAt })),
    emails: emails.map(({ id, address, addedAt }) => ({ id, address, addedAt })),
    deliveries: await deps.repos.alerts.listDeliveries(company._id, input.deliveries ?? 20),
    smtpConfigured: Boolean(deps.config.SMTP_URL),
  };
}

/**
 * Adds a webhook target and makes its signing secret, returned this once (shown to the operator
 * to configure the receiver) and stored encrypted like the API key, bound to the company and URL.
 */
export async function addWebhookTarget(
  deps: OperationsDeps,
  input: { companyId: string; url: string },
): Promise<{ id: string; secret: string }> {
  const url = input.url.trim();
  if (url.length > MAX_URL_LENGTH || !webhookUrlAllowed(url, deps.config.ALERT_WEBHOOK_HTTP_ORIGINS)) {
    throw new OperationError(
      'invalid-alert-target',
      'The webhook URL must be an https:// URL without user or password (plain http only for an origin listed in ALERT_WEBHOOK_HTTP_ORIGINS).',
    );
  }
  const company = await requireCompany(deps, input.companyId);
  const { webhooks } = alertTargetsOf(company);
  if (webhooks.some((w) => w.url === url)) {
    throw new OperationError('invalid-alert-target', 'This webhook URL is already a target of the company.');
  }
  if (webhooks.length >= MAX_TARGETS_PER_KIND) {
    throw new OperationError('invalid-alert-target', `A company has at most ${MAX_TARGETS_PER_KIND} webhooks.`);
  }
  const secret = `whsec_${randomBytes(32).toString('base64url')}`;
  const id = targetId('wh');
  const now = deps.now?.() ?? new Date();
  const encrypted = encryptApiKey(requireKeyring(deps.config), { companyId: company._id, baseUrl: url }, secret);
  await deps.repos.companies.addAlertTarget(
    company._id,
    { kind: 'webhook', webhook: { id, url, secret: encrypted, addedAt: now } },
    now,
  );
  return { id, secret };
}

export async function addEmailTarget(
  deps: OperationsDeps,
  input: { companyId: string; address: string },
): Promise<{ id: string }> {
  const address = input.address.trim().toLowerCase();
  if (!EMAIL_ADDRESS.test(address)) {
    throw new OperationError('invalid-alert-target', 'The email address is not valid.');
  }
  const company = await requireCompany(deps, input.companyId);
  const { emails } = alertTargetsOf(company);
  if (emails.some((e) => e.address === address)) {
    throw new OperationError('invalid-alert-target', 'This address is already a target of the company.');
  }
  if (emails.length >= MAX_TARGETS_PER_KIND) {
    throw new OperationError('invalid-alert-target', `A company has at most ${MAX_TARGETS_PER_KIND} email addresses.`);
  }
  const id = targetId('em');
  const now = deps.now?.() ?? new Date();
  await deps.repos.companies.addAlertTarget(company._id, { kind: 'email', email: { id, address, addedAt: now } }, now);
  return { id };
}

export async function removeAlertTarget(
  deps: OperationsDeps,
  input: { companyId: string; targetId: string },
): Promise<void> {
  await requireCompany(deps, input.companyId);
  if (!(await deps.repos.companies.removeAlertTarget(input.companyId, input.targetId, deps.now?.() ?? new Date()))) {
    throw new OperationError('invalid-alert-target', `The company has no alert target ${input.targetId}.`);
  }
}

/**
 * Sends a test message to every target of the company, through the same workflow and activities
 * as a run's alert (signed, retried, recorded), outside the company's alert state.
 */
export async function sendTestAlert(
  deps: OperationsDeps,
  input: { companyId: string },
): Promise<{ alertId: string; workflowId: string; targets: number }> {
  const company = await requireCompany(deps, input.companyId);
  const { webhooks, emails } = alertTargetsOf(company);
  const targets = [
    ...webhooks.map((w) => ({ id: w.id, kind: 'webhook' as const })),
    ...emails.map((e) => ({ id: e.id, kind: 'email' as const })),
  ];
  if (targets.length === 0) {
    throw new OperationError(
      'invalid-alert-target',
      'The company has no alert target: add a webhook or an email first.',
    );
  }
  const now = deps.now?.() ?? new Date();
  const suffix = `test-${randomBytes(4).toString('hex')}`;
  const alertId = `${company._id}:${suffix}`;
  const consoleUrl = deps.config.CONSOLE_PUBLIC_URL ? new URL(deps.config.CONSOLE_PUBLIC_URL).origin : null;
  await deps.repos.alerts.raise(
    {
      _id: alertId,
      companyId: company._id,
      runId: null,
      event: 'test',
      targetIds: targets.map((t) => t.id),
      message: alertMessage({
        alertId,
        event: 'test',
        company: { id: company._id, name: company.name },
        run: null,
        consoleUrl,
        at: now,
      }),
      createdAt: now,
    },
    targets,
  );
  const workflowId = testAlertWorkflowId(company._id, suffix);
  await deps.client.workflow.start<typeof runAlertWorkflow>('runAlertWorkflow', {
    taskQueue: deps.config.TASK_QUEUE,
    workflowId,
    args: [{ companyId: company._id, alertId, targetIds: targets.map((t) => t.id) }],
    typedSearchAttributes: [{ key: CompanyIdAttribute, value: company._id }],
    staticSummary: `${company._id}: test alert`,
  });
  return { alertId, workflowId, targets: targets.length };
}
