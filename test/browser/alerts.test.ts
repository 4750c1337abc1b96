import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { addCompany, newApiKey, uniqueSuffix } from '../integration/helpers';
import { until } from '../integration/sync-kit';
import { ADMIN_PASSWORD, ADMIN_USER, openConsoleHarness, screenshot, type ConsoleHarness } from './harness';

describe("the console's alert settings, in a real browser", () => {
  let h: ConsoleHarness;
  let page: Page;
  const companyId = `alerts-${uniqueSuffix()}`;

  before(async () => {
    h = await openConsoleHarness('browser-alerts');
    page = h.page;
    h.companies.push(companyId);
    await addCompany(h.stack, { companyId, tenant: companyId, apiKey: newApiKey() });
    await page.goto('/login');
    await page.fill('input[name=username]', ADMIN_USER);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('main button[type=submit]');
    await page.waitForURL(/\/companies$/);
  });

  after(async () => {
    await h?.close();
  });

  test('an operator adds a webhook (its secret shown once), an email address, sends a test message and sees its deliveries', async () => {
    await page.goto(`/companies/${companyId}/integration`);
    await page.getByTestId('alerts-link').click();
    await page.waitForURL(new RegExp(`/companies/${companyId}/alerts$`));

    await page.fill('input[name=url]', 'http://hooks.example.com/plain');
    await page.getByTestId('add-webhook').click();
    assert.match(await page.getByTestId('alerts-error').innerText(), /https/);

    await page.fill('input[name=url]', 'https://hooks.example.com/lucca-sync');
    await page.getByTestId('add-webhook').click();
    const secret = (await page.getByTestId('webhook-secret').locator('code').innerText()).trim();
    assert.match(secret, /^whsec_[A-Za-z0-9_-]{43}$/);
    const stored = (await h.stack.repos.companies.get(companyId))!.alerts!.webhooks[0]!;
    assert.ok(!stored.secret.includes(secret), 'the secret is stored encrypted');

    await page.fill('input[name=address]', 'it-admin@client.example');
    await page.getByTestId('add-email').click();
    await page.waitForURL(new RegExp(`/companies/${companyId}/alerts$`));
    assert.match(await page.getByTestId('emails').innerText(), /it-admin@client\.example/);
    assert.match(await page.getByTestId('webhooks').innerText(), /https:\/\/hooks\.example\.com\/lucca-sync/);
    assert.doesNotMatch(await page.content(), new RegExp(secret), 'the secret is not shown again');

    await page.getByTestId('send-test').click();
    // This worker has no SMTP server and the closed network no hooks.example.com: both deliveries
    // record their first attempt and why it did not go (the webhook's keeps being retried).
    await until('the test deliveries', async () => {
      const deliveries = await h.stack.repos.alerts.listDeliveries(companyId, 10);
      return deliveries.length === 2 && deliveries.every((d) => d.attempts >= 1) ? true : undefined;
    });
    await page.goto(`/companies/${companyId}/alerts`);
    assert.equal(await page.getByTestId('delivery').count(), 2);
    await screenshot(page, 'alert-settings');

    const audit = await h.stack.repos.auditLog.list(companyId, { limit: 10 }, new Date(0));
    assert.deepEqual(
      audit.map((e) => e.action).sort(),
      ['add-alert-target', 'add-alert-target', 'add-alert-target', 'test-alert'].sort(),
    );
  });
});
