import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { generateLuccaUsers } from '../../dev-tools/fake-lucca';
import { onboardCompany } from '../../operations';
import { newApiKey, uniqueSuffix } from '../integration/helpers';
import { ADMIN_PASSWORD, ADMIN_USER, openConsoleHarness, type ConsoleHarness } from './harness';

const RUN_TIMEOUT_MS = 60_000;

/** The ids and statuses of the integration tab's run history, newest first. */
async function runRows(page: Page): Promise<{ id: string; status: string }[]> {
  const text = (await page.getByTestId('run-summary').getAttribute('data-runs')) ?? '';
  return text
    .split(' ')
    .filter(Boolean)
    .map((pair) => {
      const [id = '', status = ''] = pair.split('=');
      return { id, status };
    });
}

/** Waits (the history refreshes itself) for a run not in `known` to finish, and checks how it ended. */
async function waitForNewRun(page: Page, known: string[], status: string): Promise<string> {
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const fresh = (await runRows(page)).find((r) => !known.includes(r.id));
    if (fresh && fresh.status !== 'running') {
      assert.equal(fresh.status, status, `run ${fresh.id}`);
      return fresh.id;
    }
    await page.waitForTimeout(300);
  }
  throw new Error('no new run finished in time');
}

/** The audit card's rows, newest first. */
const auditRows = (page: Page) => page.locator('[data-testid=audit-log] [data-testid=audit-entry]');

describe('the audit log on the integration tab, in a real browser', () => {
  let h: ConsoleHarness;
  let page: Page;
  const companyId = `audit-${uniqueSuffix()}`;
  const apiKey = newApiKey();
  const today = new Date().toISOString().slice(0, 10);

  before(async () => {
    h = await openConsoleHarness('browser-audit');
    page = h.page;
    h.companies.push(companyId);
    h.stack.lucca.addTenant(companyId, {
      users: generateLuccaUsers({ size: 40, seed: 11, today }),
      apiKeys: [{ key: apiKey }],
      today,
      rateLimit: false,
    });
    await onboardCompany(h.deps, {
      companyId,
      name: 'Audit & Fils',
      luccaUrl: h.stack.lucca.tenantUrl(companyId),
      apiKey,
      requestedBy: 'setup',
    });
    await page.goto(`/companies/${companyId}/integration`);
    await page.fill('input[name=username]', ADMIN_USER);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('main button[type=submit]');
    await page.waitForURL(new RegExp(`/companies/${companyId}/integration$`));
    await waitForNewRun(page, [], 'succeeded');
  });

  after(async () => {
    await h?.close();
  });

  test('"Sync now" shows up in the audit log with who asked and the outcome', async () => {
    const known = (await runRows(page)).map((r) => r.id);
    await page.click('[data-testid=sync-now]');
    await waitForNewRun(page, known, 'succeeded');
    const latest = auditRows(page).first();
    assert.equal(await latest.getAttribute('data-action'), 'sync');
    assert.equal(await latest.getAttribute('data-outcome'), 'ok');
    assert.match(await latest.getByTestId('audit-actor').innerText(), new RegExp(`^${ADMIN_USER} console`));
    assert.match(await latest.innerText(), /Synchroniser maintenant/);
  });

  test('"Apply anyway" on a blocked run is recorded with the run it overrides, and the log downloads as CSV', async () => {
    const linked = await h.stack.store.profiles
      .find({ companyId, status: 'active', 'lucca.userId': { $exists: true } })
      .limit(20)
      .toArray();
    const removed = new Set(linked.map((p) => p.lucca?.userId));
    h.stack.lucca.mutateUsers(companyId, (users) => users.filter((u) => !removed.has(u.id)));

    const known = (await runRows(page)).map((r) => r.id);
    await page.click('[data-testid=sync-now]');
    const blockedId = await waitForNewRun(page, known, 'blocked');
    await page.locator(`tr[data-run="${blockedId}"] a`).first().click();
    await page.click('[data-testid=apply-anyway]');
    await page.waitForURL(new RegExp(`/companies/${companyId}/integration$`));
    await waitForNewRun(page, [...known, blockedId], 'succeeded');

    const latest = auditRows(page).first();
    assert.equal(await latest.getAttribute('data-action'), 'apply-anyway');
    assert.equal(await latest.getAttribute('data-outcome'), 'ok');
    assert.match(await latest.innerText(), new RegExp(`blockedRunId: ${blockedId}`));
    assert.deepEqual(await Promise.all((await auditRows(page).all()).map((row) => row.getAttribute('data-action'))), [
      'apply-anyway',
      'sync',
      'sync',
    ]);

    await page.getByTestId('audit-all').click();
    await page.waitForURL(new RegExp(`/companies/${companyId}/audit$`));
    assert.equal(await auditRows(page).count(), 3);
    const csv = await page.request.get((await page.getByTestId('audit-csv').getAttribute('href')) ?? '');
    const lines = (await csv.text()).trim().split('\r\n');
    assert.equal(lines.length, 4);
    assert.match(lines[1]!, new RegExp(`,${ADMIN_USER},console,apply-anyway,.*blockedRunId=${blockedId}.*,ok,,3$`));
  });
});
