import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { generateLuccaUsers, type LuccaRawUser } from '../../dev-tools/fake-lucca';
import { newApiKey, uniqueSuffix } from '../integration/helpers';
import { hashPassword } from '../../console/password';
import { addExtraField } from '../../operations/fields';
import { ConsoleAccountsRepository } from '../../db/console-accounts-repository';
import {
  ADMIN_PASSWORD,
  ADMIN_USER,
  openConsoleHarness,
  screenshot,
  VIEWER_PASSWORD,
  VIEWER_USER,
  type ConsoleHarness,
} from './harness';

const COMPANY_SIZE = 60;
const RUN_TIMEOUT_MS = 60_000;

/** The newest run row of the integration tab once it has left `running`. */
async function waitForFinishedRun(page: Page, opts: { after?: string[]; status?: string } = {}) {
  const known = new Set(opts.after ?? []);
  const deadline = Date.now() + RUN_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const rows = await runRows(page);
    const fresh = rows.find((r) => !known.has(r.id));
    if (fresh && fresh.status !== 'running') {
      if (opts.status) assert.equal(fresh.status, opts.status, `run ${fresh.id} ended ${fresh.status}`);
      return fresh.id;
    }
    // The history refreshes itself (no reload by hand); this only waits for it.
    await page.waitForTimeout(300);
  }
  throw new Error('no new run finished in time');
}

/** The rows of the run history, newest first (from the summary the live section carries). */
async function runRows(page: Page): Promise<{ id: string; status: string }[]> {
  const text = await page.getByTestId('run-summary').getAttribute('data-runs');
  return (text ?? '')
    .split(' ')
    .filter(Boolean)
    .map((pair) => {
      const [id = '', status = ''] = pair.split('=');
      return { id, status };
    });
}

const runIds = async (page: Page) => (await runRows(page)).map((r) => r.id);

describe('the Lucca integration tab of the admin console, in a real browser', () => {
  let h: ConsoleHarness;
  let page: Page;
  const companyId = `acme-${uniqueSuffix()}`;
  const companyName = "Société N'Diaye & Fils <SA>";
  const tenant = companyId;
  const apiKey = newApiKey();
  const today = new Date().toISOString().slice(0, 10);
  let firstRunId = '';
  let editedProfileId = '';

  before(async () => {
    h = await openConsoleHarness('browser');
    page = h.page;
    h.companies.push(companyId);
    h.stack.lucca.addTenant(tenant, {
      users: generateLuccaUsers({ size: COMPANY_SIZE, seed: 7, today }),
      apiKeys: [{ key: apiKey }, { key: 'FORBIDDEN-KEY-0000', forbidden: true }],
      today,
      rateLimit: false,
    });
  });

  after(async () => {
    await h?.close();
  });

  test('an admin must log in; a wrong password is refused', async () => {
    await page.goto('/companies');
    assert.match(page.url(), /\/login\?next=%2Fcompanies$/);
    await screenshot(page, 'login');
    await page.fill('input[name=username]', ADMIN_USER);
    await page.fill('input[name=password]', 'not-the-password');
    await page.click('button[type=submit]');
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /Identifiant ou mot de passe incorrect/);

    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('main button[type=submit]');
    await page.waitForURL(/\/companies$/);
    assert.equal(await page.locator('h1').first().innerText(), 'Entreprises');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'lucca_console_session');
    assert.ok(session?.httpOnly, 'the session cookie is httpOnly');
    assert.equal(session?.sameSite, 'Strict');
  });

  test('after login, a `next` leading off the console is refused: the admin lands on the companies', async () => {
    const origin = new URL(h.console.url).origin;
    for (const next of ['/%09/evil.com', '/\t/evil.com', '//evil.com', '/%2F%2Fevil.com', 'https://evil.com/']) {
      const res = await page.goto(`/login?next=${encodeURIComponent(next)}`);
      assert.equal(new URL(page.url()).origin, origin, next);
      assert.equal(new URL(page.url()).pathname, '/companies', next);
      assert.equal(res?.headers()['cache-control'], 'no-store');
    }
  });

  test('a state-changing request without the CSRF token is refused', async () => {
    const res = await page.request.post(`/companies/${companyId}/sync`, { form: { dryRun: 'false' } });
    assert.equal(res.status(), 403);
    const api = await page.request.post('/api/companies/whatever/sync', { data: {} });
    assert.equal(api.status(), 403);
  });

  test('connecting a company: a bad key or a non-Lucca host shows the error, a good key saves', async () => {
    await page.goto('/companies/new');
    await page.fill('input[name=name]', companyName);
    await page.fill('input[name=companyId]', companyId);
    await page.fill('input[name=luccaUrl]', 'https://intranet.example.com');
    await page.fill('input[name=apiKey]', apiKey);
    await page.click('[data-testid=test-connection]');
    await page.locator('[data-testid=connection-result][data-outcome=not-lucca]').waitFor();

    await page.fill('input[name=luccaUrl]', h.stack.lucca.tenantUrl(tenant));
    await page.fill('input[name=apiKey]', 'FORBIDDEN-KEY-0000');
    await page.click('[data-testid=test-connection]');
    await page.locator('[data-testid=connection-result][data-outcome=missing-permission]').waitFor();

    await page.fill('input[name=apiKey]', apiKey);
    await page.click('[data-testid=test-connection]');
    await page.locator('[data-testid=connection-result][data-outcome=ok]').waitFor();
    // The tested key is still in the field: testing never costs the admin a retype.
    assert.equal(await page.inputValue('input[name=apiKey]'), apiKey);

    await page.fill('input[name=apiKey]', 'WRONG-KEY-1234');
    await page.click('[data-testid=save-connection]');
    const error = page.locator('[data-testid=connection-result][data-outcome=bad-key]');
    await error.waitFor();
    assert.match(await error.innerText(), /Clé invalide/);
    assert.equal(await h.deps.repos.companies.get(companyId), null, 'nothing is saved with a bad key');
    assert.ok(!(await page.content()).includes('WRONG-KEY-1234'), 'the typed key is not sent back');

    await page.fill('input[name=apiKey]', apiKey);
    await page.click('[data-testid=save-connection]');
    await page.waitForURL(new RegExp(`/companies/${companyId}/integration$`));
    assert.equal(await page.getByTestId('company-name').innerText(), companyName);
    assert.equal(await page.getByTestId('key-hint').innerText(), apiKey.slice(-4));
    assert.ok(!(await page.content()).includes(apiKey), 'the key never comes back to the browser');

    firstRunId = await waitForFinishedRun(page, { status: 'succeeded' });
    const row = page.locator(`tr[data-run="${firstRunId}"]`);
    assert.match(await row.innerText(), /connexion/);
    assert.match(await row.innerText(), new RegExp(`${COMPANY_SIZE} vus`));
    await screenshot(page, 'integration-tab');
  });

  test('"Sync now" shows the run appear and finish with its counts, and its report has a field-level diff', async () => {
    const profile = await h.stack.store.profiles.findOne({
      companyId,
      status: 'active',
      'lucca.userId': { $exists: true },
    });
    assert.ok(profile?.lucca);
    const userId = profile.lucca.userId;
    editedProfileId = profile._id.toHexString();
    h.stack.lucca.mutateUsers(tenant, (users: LuccaRawUser[]) =>
      users.map((u) => (u.id === userId ? { ...u, lastName: "Aït N'Diaye", firstName: 'Éloïse' } : u)),
    );

    await page.goto(`/companies/${companyId}/integration`);
    const before = await runIds(page);
    await page.click('[data-testid=sync-now]');
    await page.getByTestId('flash').waitFor();
    const runId = await waitForFinishedRun(page, { after: before, status: 'succeeded' });
    const row = page.locator(`tr[data-run="${runId}"]`);
    assert.match(await row.innerText(), /manuelle/);
    assert.match(await row.innerText(), /1 mis à jour/);
    assert.match(await row.innerText(), new RegExp(ADMIN_USER));

    await row.locator('a').first().click();
    await page.waitForURL(new RegExp(`/runs/${runId}$`));
    const update = page.locator('[data-testid=change][data-action=update]').first();
    const lastName = update.locator('tr[data-field=lastName]');
    assert.equal(await lastName.getByTestId('diff-from').innerText(), profile.lastName);
    assert.equal(await lastName.getByTestId('diff-to').innerText(), "Aït N'Diaye");
    assert.equal(await update.locator('tr[data-field=firstName] [data-testid=diff-to]').innerText(), 'Éloïse');
    assert.ok((await page.getByTestId('temporal-link').getAttribute('href'))?.includes('/workflows/sync-run'));
    await screenshot(page, 'run-report');
  });

  test('a linked profile shows the Lucca pictogram, the banner and its change history', async () => {
    await page.goto(`/companies/${companyId}/profiles?linked=yes`);
    const row = page.locator(`tr[data-profile="${editedProfileId}"]`);
    await row.getByTestId('lucca-pictogram').waitFor();
    await screenshot(page, 'profiles');
    await row.locator('a').click();
    const banner = page.getByTestId('lucca-banner');
    await banner.waitFor();
    assert.match(await banner.innerText(), /écrasée à la prochaine synchronisation/);
    assert.match(await page.getByTestId('profile-name').innerText(), /Éloïse Aït N'Diaye/);
    assert.equal(await page.locator('[data-testid=profile-history] li.change').count(), 2, 'created, then updated');
    await screenshot(page, 'profile');

    // English is one click away, and the banner follows.
    await page.getByTestId('lang-switch').click();
    assert.match(await page.getByTestId('lucca-banner').innerText(), /overwritten at the next sync/);
    await page.getByTestId('lang-switch').click();
  });

  test('a profile shows the extra Lucca fields its company reads, once a run has read them', async () => {
    await addExtraField(h.deps, { companyId, field: { lucca: 'e_seniority', key: 'seniority', type: 'date' } });
    await addExtraField(h.deps, { companyId, field: { lucca: 'e_cseCategory', key: 'category', type: 'reference' } });
    await page.goto(`/companies/${companyId}/integration`);
    const before = await runIds(page);
    await page.click('[data-testid=sync-now]');
    await waitForFinishedRun(page, { after: before, status: 'succeeded' });
    // Someone whose HR file holds both, as the fake Lucca serves it.
    const person = generateLuccaUsers({ size: COMPANY_SIZE, seed: 7, today }).find((u) => {
      const data = u.extendedData as { e_seniority?: unknown; e_cseCategory?: unknown };
      return u.id > 20 && typeof data.e_seniority === 'string' && data.e_seniority !== '' && data.e_cseCategory;
    })!;
    const data = person.extendedData as { e_seniority: string; e_cseCategory: { id: number; name: string } };
    const profile = await h.stack.store.profiles.findOne({ companyId, 'lucca.userId': person.id });
    await page.goto(`/companies/${companyId}/profiles/${profile!._id.toHexString()}`);
    const card = page.getByTestId('profile-extra-fields');
    await card.waitFor();
    assert.match(await card.locator('[data-extra=seniority]').innerText(), new RegExp(data.e_seniority.slice(0, 10)));
    assert.match(
      await card.locator('[data-extra=category]').innerText(),
      new RegExp(`${data.e_cseCategory.name} \\(${data.e_cseCategory.id}\\)`),
    );
    await screenshot(page, 'profile-extra-fields');
  });

  test('a blocked run lists the planned deactivations, and "Apply anyway" applies it', async () => {
    const active = await h.stack.store.profiles
      .find({ companyId, status: 'active', 'lucca.userId': { $exists: true } })
      .limit(20)
      .toArray();
    const removed = new Set(active.map((p) => p.lucca?.userId));
    h.stack.lucca.mutateUsers(tenant, (users) => users.filter((u) => !removed.has(u.id)));

    await page.goto(`/companies/${companyId}/integration`);
    const before = await runIds(page);
    await page.click('[data-testid=sync-now]');
    const blockedId = await waitForFinishedRun(page, { after: before, status: 'blocked' });
    await page.locator(`tr[data-run="${blockedId}"] a`).first().click();
    await page.getByTestId('blocked').waitFor();
    // The report's action filter: the planned deactivations, all on one page.
    await page.getByTestId('filter-action').selectOption('deactivate');
    await page.locator('[data-testid=change-filters] button[type=submit]').click();
    await page.waitForURL(/action=deactivate/);
    assert.equal(await page.getByTestId('changes-total').getAttribute('data-total'), '20');
    assert.equal(await page.locator('[data-testid=change][data-action=deactivate]').count(), 20);
    assert.equal(await page.locator('[data-testid=change]').count(), 20);
    assert.match(
      await page.locator('[data-testid=guards] [data-guard=deactivate]').innerText(),
      /(deactivate 20 profiles \(limit|désactiver 20 profils \(limite) \d+\)/,
    );
    await screenshot(page, 'blocked-run');

    await page.click('[data-testid=apply-anyway]');
    await page.waitForURL(new RegExp(`/companies/${companyId}/integration$`));
    const appliedId = await waitForFinishedRun(page, { after: [...before, blockedId], status: 'succeeded' });
    assert.notEqual(appliedId, blockedId);
    assert.match(await page.locator(`tr[data-run="${appliedId}"]`).innerText(), /20 désactivés/);
    assert.equal(
      await h.stack.store.profiles.countDocuments({
        companyId,
        'lucca.removedAt': { $ne: null },
        status: 'former',
        'lucca.userId': { $in: [...removed] },
      }),
      20,
    );
  });

  test('the companies list shows the connection, frequency and last run; unknown ids get a 404 page', async () => {
    await page.goto('/companies');
    const row = page.locator(`tr[data-company="${companyId}"]`);
    assert.match(await row.innerText(), /Connectée/);
    assert.match(await row.innerText(), /toutes les 24 heures/);
    await screenshot(page, 'companies');

    for (const url of [
      '/companies/no-such-company/integration',
      '/companies/Not_A_Slug/integration',
      `/companies/${companyId}/runs/20990101-000000-deadbeef`,
      `/companies/${companyId}/profiles/0123456789abcdef01234567`,
    ]) {
      const res = await page.goto(url);
      assert.equal(res?.status(), 404, url);
      assert.equal(await page.locator('h1').innerText(), 'Page introuvable');
    }
  });

  test('repeated wrong passwords lock the account, and the login page says when to retry', async () => {
    await new ConsoleAccountsRepository(h.stack.db).create({
      username: 'locked.larry',
      role: 'operator',
      passwordHash: await hashPassword('larry-the-right-password'),
      createdBy: 'cli',
    });
    const context = await h.browser.newContext({ baseURL: h.console.url });
    try {
      const guest = await context.newPage();
      const attempt = async (password: string) => {
        await guest.goto('/login');
        await guest.fill('input[name=username]', 'locked.larry');
        await guest.fill('input[name=password]', password);
        await guest.click('main button[type=submit]');
        return guest.getByRole('alert').innerText();
      };
      for (let i = 0; i < 4; i++) assert.match(await attempt(`wrong-${i}`), /Identifiant ou mot de passe incorrect/);
      assert.match(await attempt('wrong-4'), /Trop de tentatives échouées\. Réessayez dans 30 secondes\./);
      // Locked: even the right password is not tried.
      assert.match(await attempt('larry-the-right-password'), /Réessayez dans \d+ secondes/);
      assert.match(guest.url(), /\/login$/);
    } finally {
      await context.close();
    }
  });

  test('a viewer sees the integration tab without its actions, and the server refuses a sync from them', async () => {
    const context = await h.browser.newContext({ baseURL: h.console.url, viewport: { width: 1280, height: 900 } });
    try {
      const viewer = await context.newPage();
      await viewer.goto(`/companies/${companyId}/integration`);
      await viewer.fill('input[name=username]', VIEWER_USER);
      await viewer.fill('input[name=password]', VIEWER_PASSWORD);
      await viewer.click('main button[type=submit]');
      await viewer.waitForURL(new RegExp(`/companies/${companyId}/integration$`));
      await viewer.getByTestId('read-only').first().waitFor();
      assert.equal(await viewer.getByTestId('sync-now').count(), 0, 'no "Sync now" for a viewer');
      assert.equal(await viewer.getByTestId('pause').count(), 0);
      assert.ok(await viewer.getByTestId('save-connection').isDisabled(), 'the connection form is disabled');
      assert.equal(await viewer.getByTestId('user').getAttribute('data-role'), 'viewer');
      await screenshot(viewer, 'integration-tab-viewer');

      const runsBefore = await h.stack.store.syncRuns.countDocuments({ companyId });
      const { csrfToken } = (await (await viewer.request.get('/api/session')).json()) as { csrfToken: string };
      const api = await viewer.request.post(`/api/companies/${companyId}/sync`, {
        data: {},
        headers: { 'csrf-token': csrfToken },
      });
      assert.equal(api.status(), 403);
      assert.match(((await api.json()) as { message: string }).message, /operator role/);
      const form = await viewer.request.post(`/companies/${companyId}/sync`, { form: { _csrf: csrfToken } });
      assert.equal(form.status(), 403);
      assert.equal(await h.stack.store.syncRuns.countDocuments({ companyId }), runsBefore, 'no run was started');
    } finally {
      await context.close();
    }
  });

  test('a session survives a restart of the console (sessions live in MongoDB)', async () => {
    await page.goto('/companies');
    await page.waitForURL(/\/companies$/);
    await h.restartConsole();
    const res = await page.goto(`/companies/${companyId}/integration`);
    assert.equal(res?.status(), 200);
    assert.match(page.url(), new RegExp(`/companies/${companyId}/integration$`), 'still logged in');
    assert.equal(await page.getByTestId('user').getAttribute('data-role'), 'operator');
    assert.equal(await page.getByTestId('sync-now').count(), 1);
  });

  test('the JSON API serves the same data without any key, and is described by OpenAPI', async () => {
    const companies = (await (await page.request.get('/api/companies')).json()) as Record<string, unknown>[];
    const mine = companies.find((c) => c.companyId === companyId);
    assert.equal(mine?.apiKeyHint, apiKey.slice(-4));
    assert.ok(!JSON.stringify(companies).includes(apiKey));
    const spec = (await (await page.request.get('/api/openapi.json')).json()) as { paths: Record<string, unknown> };
    assert.ok(spec.paths['/api/companies/{companyId}/runs/{runId}']);
    assert.ok(spec.paths['/api/companies/{companyId}/sync']);
  });
});
