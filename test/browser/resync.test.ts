import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { addCompany, newApiKey, uniqueSuffix } from '../integration/helpers';
import { insertPlatformProfile, linkedProfile, runSync, staff } from '../integration/sync-kit';
import { ADMIN_PASSWORD, ADMIN_USER, openConsoleHarness, screenshot, type ConsoleHarness } from './harness';

describe('re-syncing one employee from the console, in a real browser', () => {
  let h: ConsoleHarness;
  let page: Page;
  const companyId = `resync-${uniqueSuffix()}`;

  before(async () => {
    h = await openConsoleHarness('browser-resync');
    page = h.page;
    h.companies.push(companyId);
    const apiKey = newApiKey();
    h.stack.lucca.addTenant(companyId, { users: staff(8), apiKeys: [{ key: apiKey }], rateLimit: false });
    await addCompany(h.stack, { companyId, tenant: companyId, apiKey });
    const first = await runSync(h.stack, h.stack.taskQueue, companyId, { kind: 'full' });
    assert.equal(first.counts?.created, 8);
    await page.goto('/login');
    await page.fill('input[name=username]', ADMIN_USER);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('main button[type=submit]');
    await page.waitForURL(/\/companies$/);
  });

  after(async () => {
    await h?.close();
  });

  test("an operator re-syncs a linked profile: that one Lucca user is read and applied, and the page follows the request to its run's report", async () => {
    // Fixed in Lucca after the last sync: two people, only the one re-synced changes now.
    h.stack.lucca.mutateUsers(companyId, (users) =>
      users.map((u) => (u.id === 4 || u.id === 6 ? { ...u, lastName: `Corrigée${u.id}` } : u)),
    );
    h.stack.lucca.clearRequests();
    const profile = await linkedProfile(h.stack, companyId, 4);
    const profilePath = `/companies/${companyId}/profiles/${profile._id.toHexString()}`;
    await page.goto(profilePath);
    await page.getByTestId('resync-button').click();

    await page.waitForURL(/\?resync=/);
    assert.match(await page.getByTestId('flash').innerText(), /Re-sync of this person requested|Resynchronisation/);
    const state = page.getByTestId('resync-state');
    assert.ok((await state.count()) === 1, 'the card says where the request stands');
    // The card refreshes itself until the run has finished.
    await page.locator('[data-testid=resync-state][data-state=succeeded]').waitFor({ timeout: 60_000 });
    assert.match(
      await page.getByTestId('profile-fields').locator('[data-field=lastName]').innerText(),
      /Corrigée4/,
      'the fields shown are refreshed with it',
    );
    await screenshot(page, 'profile-resync');

    const luccaReads = h.stack.lucca.requests(companyId).filter((r) => r.path.startsWith('/api/v3/users'));
    assert.deepEqual(
      luccaReads.map((r) => r.query.id),
      ['4'],
      'one request, for that user alone',
    );
    assert.equal((await linkedProfile(h.stack, companyId, 4)).lastName, 'Corrigée4');
    assert.equal((await linkedProfile(h.stack, companyId, 6)).lastName, 'Lefèvre6', 'nobody else is touched');

    await page.getByTestId('resync-report').click();
    await page.waitForURL(new RegExp(`/companies/${companyId}/runs/[^/?]+$`));
    assert.match(await page.getByTestId('run-kind').innerText(), /#4\)/);
    const runId = new URL(page.url()).pathname.split('/').at(-1)!;
    const run = await h.stack.repos.syncRuns.get(runId);
    assert.deepEqual(
      [run?.kind, run?.luccaUserId, run?.counts?.updated, run?.requestedBy],
      ['one-user', 4, 1, ADMIN_USER],
    );

    const [entry] = await h.stack.repos.auditLog.list(companyId, { limit: 1 }, new Date(0));
    assert.deepEqual(
      [entry?.action, entry?.source, entry?.params.kind, entry?.params.luccaUserId, entry?.params.requestId],
      ['sync', 'console', 'one-user', 4, run?.requestId],
      'audited as the CLI audits `sync --lucca-user`',
    );
  });

  test('an unlinked profile has nothing to re-sync', async () => {
    const id = await insertPlatformProfile(h.stack, companyId, {
      firstName: 'Inès',
      lastName: 'Platform',
      email: 'ines.platform@acme.example',
    });
    await page.goto(`/companies/${companyId}/profiles/${id.toHexString()}`);
    assert.equal(await page.getByTestId('resync').count(), 0);
  });
});
