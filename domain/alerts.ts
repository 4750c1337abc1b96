import { describeFailure } from './failures';
import type { Language, Sentences } from './reasons';

/**
 * Alerts: what a finished run tells a company's notification targets (webhooks, email addresses),
 * and when. Pure: the decision, the message; sending and storing are the activities'.
 *
 * One message per change of the company's state, never one per run or per retry: a run that fails
 * the way the last alerted run failed says nothing new, and the first success after an alerted
 * problem says it is over (`recovered`). The state is the company's last alerted problem, kept in
 * the store (`alertStates`), so that it holds across runs, continue-as-new and workers.
 */

/** What an alert is about. `test` is an operator's test message, outside the state. */
export const ALERT_EVENTS = ['failed', 'blocked', 'lucca-auth', 'recovered', 'test'] as const;
export type AlertEvent = (typeof ALERT_EVENTS)[number];

/** A finished run as alerts see it: its outcome and code, nothing else. */
export interface RunOutcomeForAlert {
  status: 'succeeded' | 'failed' | 'blocked';
  dryRun: boolean;
  /** `syncRuns.error.code` of a failed or blocked run. */
  code: string | null;
}

/** The problem a run's outcome is, as a key compared with the last one alerted; null for a success. */
export function problemOf(outcome: RunOutcomeForAlert): string | null {
  if (outcome.status === 'succeeded') return null;
  return `${outcome.status}:${outcome.code ?? 'unknown'}`;
}

/**
 * Whether a finished run sends an alert, and which: a problem other than the one last alerted
 * (`lastProblem`, null when the last alert said all is well, or none was ever sent), or the first
 * success after an alerted problem. A dry run changes nothing (it writes no profile: its outcome
 * is not the company's), nor does a cancelled run (offboarding, or an operator in Temporal).
 */
export function alertFor(outcome: RunOutcomeForAlert, lastProblem: string | null): AlertEvent | null {
  if (outcome.dryRun || outcome.code === 'cancelled') return null;
  const problem = problemOf(outcome);
  if (problem === null) return lastProblem === null ? null : 'recovered';
  if (problem === lastProblem) return null;
  if (outcome.status === 'blocked') return 'blocked';
  return outcome.code === 'lucca-auth' ? 'lucca-auth' : 'failed';
}

/** What to do next for a blocked run (each guard's own sentence is the run's `error.message`, with counts). */
const BLOCKED_NEXT_STEP: Sentences = {
  en: 'The plan would change too much at once, so nothing was written: review the planned changes in the report, check the Lucca key’s permissions, then apply the run anyway if the changes are real.',
  fr: 'Le plan changerait trop de choses à la fois, rien n’a donc été écrit : vérifiez les changements prévus dans le rapport et les permissions de la clé Lucca, puis appliquez la synchronisation quand même si les changements sont réels.',
};
const RECOVERED_NEXT_STEP: Sentences = {
  en: 'Nothing to do: the sync succeeded again after the problem reported earlier.',
  fr: 'Rien à faire : la synchronisation a de nouveau réussi après le problème signalé.',
};
const TEST_NEXT_STEP: Sentences = {
  en: 'Nothing to do: this is a test message sent by an operator to check this alert target.',
  fr: 'Rien à faire : c’est un message de test envoyé par un opérateur pour vérifier cette destination d’alerte.',
};
const UNKNOWN_FAILURE: Sentences = {
  en: 'The run failed: open its report for the reason; the next run tries again.',
  fr: 'La synchronisation a échoué : ouvrez son rapport pour la raison ; la suivante réessaie.',
};

const HEADLINES: Readonly<Record<AlertEvent, Sentences>> = {
  failed: { en: 'sync failed', fr: 'échec de la synchronisation' },
  blocked: { en: 'sync blocked, nothing written', fr: 'synchronisation bloquée, rien n’a été écrit' },
  'lucca-auth': { en: 'Lucca refused the API key', fr: 'Lucca a refusé la clé d’API' },
  recovered: { en: 'sync succeeded again', fr: 'la synchronisation réussit de nouveau' },
  test: { en: 'test message', fr: 'message de test' },
};

function nextStepOf(event: AlertEvent, code: string | null, language: Language): string {
  if (event === 'blocked') return BLOCKED_NEXT_STEP[language];
  if (event === 'recovered') return RECOVERED_NEXT_STEP[language];
  if (event === 'test') return TEST_NEXT_STEP[language];
  return (code && describeFailure(code, language)) ?? UNKNOWN_FAILURE[language];
}

/**
 * An alert's message: the JSON body a webhook receives and what an email says. Ids, codes and
 * fixed sentences only — never a run's `error.message` (which may quote Lucca), a name, an email
 * or a key.
 */
export interface AlertMessage {
  /** The message format: receivers check it before reading the rest. */
  version: 1;
  /** This alert's id: the same on every delivery and retry of it (receivers drop repeats by it). */
  alertId: string;
  event: AlertEvent;
  companyId: string;
  companyName: string;
  /** The run it is about; null for a test message. */
  runId: string | null;
  /** `succeeded`, `failed` or `blocked`; null for a test message. */
  outcome: 'succeeded' | 'failed' | 'blocked' | null;
  /** The failure or guard code; null for a success or a test. */
  code: string | null;
  headline: string;
  nextStep: string;
  nextStepFr: string;
  /** The run's report in the console (CONSOLE_PUBLIC_URL); null when the console's address is not set. */
  reportUrl: string | null;
  /** The CLI's command for the same report. */
  reportCommand: string;
  /** When the alert was raised (ISO 8601). */
  at: string;
}

export interface AlertSubject {
  alertId: string;
  event: AlertEvent;
  company: { id: string; name: string };
  run: { runId: string; status: 'succeeded' | 'failed' | 'blocked'; code: string | null } | null;
  /** CONSOLE_PUBLIC_URL (an origin), or null. */
  consoleUrl: string | null;
  at: Date;
}

export function alertMessage(s: AlertSubject): AlertMessage {
  const runId = s.run?.runId ?? null;
  const code = s.run?.code ?? null;
  const company = encodeURIComponent(s.company.id);
  const reportPath = runId ? `/companies/${company}/runs/${encodeURIComponent(runId)}` : `/companies/${company}/alerts`;
  return {
    version: 1,
    alertId: s.alertId,
    event: s.event,
    companyId: s.company.id,
    companyName: s.company.name,
    runId,
    outcome: s.run?.status ?? null,
    code,
    headline: `${s.company.name}: ${HEADLINES[s.event].en}`,
    nextStep: nextStepOf(s.event, code, 'en'),
    nextStepFr: nextStepOf(s.event, code, 'fr'),
    reportUrl: s.consoleUrl ? `${s.consoleUrl.replace(/\/+$/, '')}${reportPath}` : null,
    reportCommand: runId
      ? `npm run cli -- report --company ${s.company.id} --run ${runId}`
      : `npm run cli -- alerts --company ${s.company.id}`,
    at: s.at.toISOString(),
  };
}

/** An email's subject and plain-text body, in English then French. */
export function alertEmail(m: AlertMessage): { subject: string; text: string } {
  const fr = HEADLINES[m.event].fr;
  const lines = [
    `${m.headline}`,
    '',
    `Company: ${m.companyName} (${m.companyId})`,
    ...(m.runId ? [`Run: ${m.runId} — ${m.outcome}${m.code ? ` (${m.code})` : ''}`] : []),
    `Next step: ${m.nextStep}`,
    `Report: ${m.reportUrl ?? m.reportCommand}`,
    '',
    '—',
    '',
    `${m.companyName} : ${fr}`,
    `Prochaine étape : ${m.nextStepFr}`,
    `Rapport : ${m.reportUrl ?? m.reportCommand}`,
    '',
    `Alert ${m.alertId}, ${m.at}`,
  ];
  return { subject: `[lucca-sync] ${m.headline}`, text: lines.join('\n') };
}

/** Whether `url` is a webhook address alerts may call: https, or http on an origin the settings allow. */
export function webhookUrlAllowed(url: string, httpOrigins: readonly string[]): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.username || parsed.password) return false;
  if (parsed.protocol === 'https:') return true;
  return parsed.protocol === 'http:' && httpOrigins.includes(parsed.origin);
}
