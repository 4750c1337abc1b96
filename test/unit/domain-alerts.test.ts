import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  alertEmail,
  alertFor,
  alertMessage,
  problemOf,
  webhookUrlAllowed,
  type RunOutcomeForAlert,
} from '../../domain/alerts';

const ok: RunOutcomeForAlert = { status: 'succeeded', dryRun: false, code: null };
const down: RunOutcomeForAlert = { status: 'failed', dryRun: false, code: 'lucca-unavailable' };
const auth: RunOutcomeForAlert = { status: 'failed', dryRun: false, code: 'lucca-auth' };
const blocked: RunOutcomeForAlert = { status: 'blocked', dryRun: false, code: 'mass-deactivation' };

describe('when a run alerts', () => {
  const cases: [string, RunOutcomeForAlert, string | null, ReturnType<typeof alertFor>][] = [
    ['a success with nothing alerted before says nothing', ok, null, null],
    ['a failure after a quiet time alerts', down, null, 'failed'],
    ['the same failure again says nothing', down, 'failed:lucca-unavailable', null],
    ['a different failure alerts', auth, 'failed:lucca-unavailable', 'lucca-auth'],
    ['a revoked key alerts as such', auth, null, 'lucca-auth'],
    ['a blocked run alerts', blocked, null, 'blocked'],
    ['a blocked run after a failure alerts', blocked, 'failed:lucca-auth', 'blocked'],
    ['the first success after a problem alerts its recovery', ok, 'blocked:mass-deactivation', 'recovered'],
    ['a dry run changes nothing, even failed', { ...down, dryRun: true }, null, null],
    ['a dry run success is no recovery', { ...ok, dryRun: true }, 'failed:lucca-auth', null],
    ['a cancelled run (offboarding) says nothing', { status: 'failed', dryRun: false, code: 'cancelled' }, null, null],
  ];
  for (const [title, outcome, last, expected] of cases) {
    test(title, () => assert.equal(alertFor(outcome, last), expected));
  }

  test('the problem key tells failures and guards apart, and a success is none', () => {
    assert.equal(problemOf(ok), null);
    assert.equal(problemOf(down), 'failed:lucca-unavailable');
    assert.equal(problemOf(blocked), 'blocked:mass-deactivation');
  });
});

describe('the alert message', () => {
  const at = new Date('2026-12-03T04:00:00Z');
  const base = { alertId: 'acme:r1', company: { id: 'acme', name: 'Acme' }, at };

  test('a failure carries the failure sentence as next step, in English and French, and a link to the report', () => {
    const m = alertMessage({
      ...base,
      event: 'lucca-auth',
      run: { runId: 'r1', status: 'failed', code: 'lucca-auth' },
      consoleUrl: 'https://console.example/',
    });
    assert.equal(m.headline, 'Acme: Lucca refused the API key');
    assert.match(m.nextStep, /get a new key/);
    assert.match(m.nextStepFr, /nouvelle clé/);
    assert.equal(m.reportUrl, 'https://console.example/companies/acme/runs/r1');
    assert.equal(m.reportCommand, 'npm run cli -- report --company acme --run r1');
  });

  test('without the console address it points to the CLI, and an unknown code still says what to do', () => {
    const m = alertMessage({
      ...base,
      event: 'failed',
      run: { runId: 'r1', status: 'failed', code: 'gone-code' },
      consoleUrl: null,
    });
    assert.equal(m.reportUrl, null);
    assert.match(m.nextStep, /open its report/);
    const mail = alertEmail(m);
    assert.equal(mail.subject, '[lucca-sync] Acme: sync failed');
    assert.match(mail.text, /Report: npm run cli -- report --company acme --run r1/);
    assert.match(mail.text, /Prochaine étape/);
  });
});

describe('webhook addresses', () => {
  test('https is allowed; http only on a listed origin; credentials in the URL never', () => {
    assert.ok(webhookUrlAllowed('https://hooks.example/x?token=1', []));
    assert.ok(!webhookUrlAllowed('http://127.0.0.1:9000/x', []));
    assert.ok(webhookUrlAllowed('http://127.0.0.1:9000/x', ['http://127.0.0.1:9000']));
    assert.ok(!webhookUrlAllowed('https://user:pw@hooks.example/x', []));
    assert.ok(!webhookUrlAllowed('ftp://hooks.example/x', []));
    assert.ok(!webhookUrlAllowed('not a url', []));
  });
});
