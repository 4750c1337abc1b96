import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { FAKE_ORGANISATION, generateLuccaUsers, moveUsers } from '../../dev-tools/fake-lucca';
import { frenchCollator, foldForSearch } from '../../domain/profile-list';
import { onboardCompany } from '../../operations/onboard';
import { requestSync, waitForSyncRun } from '../../operations/sync';
import { newApiKey, uniqueSuffix } from '../integration/helpers';
import { until } from '../integration/sync-kit';
import { ADMIN_PASSWORD, ADMIN_USER, openConsoleHarness, screenshot, type ConsoleHarness } from './harness';

const TENANT_SIZE = 150;
const [SIEGE, SUD, RHONE] = FAKE_ORGANISATION.legalEntities as [
  (typeof FAKE_ORGANISATION.legalEntities)[number],
  (typeof FAKE_ORGANISATION.legalEntities)[number],
  (typeof FAKE_ORGANISATION.legalEntities)[number],
];

/** The list's rows as shown: name, legal entity and department cells. */
async function rows(page: Page): Promise<{ name: string; legalEntity: string; department: string }[]> {
  const cells = (await page.locator('[data-testid=profiles] tbody td').allInnerTexts()).map((t) =>
    t.trim().replace(/\s+/g, ' '),
  );
  const columns = 8;
  return Array.from({ length: cells.length / columns }, (_, i) => ({
    name: cells[i * columns + 1]!,
    legalEntity: cells[i * columns + 4]!,
    department: cells[i * columns + 5]!,
  }));
}

describe('scoping a company from the console, and its profiles after a real sync, in a real browser', () => {
  let h: ConsoleHarness;
  let page: Page;
  const tenant = `scope-${uniqueSuffix()}`;
  const apiKey = newApiKey();
  const today = new Date().toISOString().slice(0, 10);
  const users = generateLuccaUsers({ size: TENANT_SIZE, seed: 5, today });
  const companyId = `cse-sud-${uniqueSuffix()}`;
  const otherId = `cse-siege-${uniqueSuffix()}`;

  before(async () => {
    h = await openConsoleHarness('browser-scope');
    page = h.page;
    h.companies.push(companyId, otherId);
    h.stack.lucca.addTenant(tenant, { users, apiKeys: [{ key: apiKey }], today, rateLimit: false });
    // Another CSE of the same company, on the head office: the one a new scope must not overlap.
    await onboardCompany(h.deps, {
      companyId: otherId,
      name: 'CSE Siège',
      luccaUrl: h.stack.lucca.tenantUrl(tenant),
      apiKey,
      scope: { legalEntityIds: [SIEGE.id] },
    });
    await page.goto('/login');
    await page.fill('input[name=username]', ADMIN_USER);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('main button[type=submit]');
    await page.waitForURL(/\/companies$/);
  });

  after(async () => {
    await h?.close();
  });

  test("the connection form offers the tenant's units by name; an overlapping scope is refused naming the other company; a disjoint one is synced from the first run", async () => {
    await page.goto('/companies/new');
    await page.fill('input[name=name]', 'CSE Côte-Sud');
    await page.fill('input[name=companyId]', companyId);
    await page.fill('input[name=luccaUrl]', h.stack.lucca.tenantUrl(tenant));
    await page.fill('input[name=apiKey]', apiKey);
    await page.getByTestId('connect-scope-load').click();
    await page.locator(`input[name=le-${SUD.id}]`).waitFor();
    assert.equal(await page.inputValue('input[name=apiKey]'), apiKey, 'the typed key stays in the form');
    const offered = await page.getByTestId('connect-le').innerText();
    for (const e of FAKE_ORGANISATION.legalEntities) assert.ok(offered.includes(e.name), `${e.name} offered`);

    await page.check(`input[name=le-${SIEGE.id}]`);
    await page.getByTestId('save-connection').click();
    const refused = page.locator('[data-testid=connection-result][data-kind=save]');
    await refused.waitFor();
    const message = await refused.innerText();
    assert.match(message, /CSE Siège/);
    assert.match(message, /people in both/);
    assert.equal(await h.stack.repos.companies.get(companyId), null, 'nothing stored');

    await page.fill('input[name=apiKey]', apiKey);
    await page.getByTestId('connect-scope-load').click();
    await page.locator(`input[name=le-${SUD.id}]`).waitFor();
    await page.uncheck(`input[name=le-${SIEGE.id}]`);
    await page.check(`input[name=le-${SUD.id}]`);
    await screenshot(page, 'connect-with-scope');
    await page.getByTestId('save-connection').click();
    await page.waitForURL(new RegExp(`/companies/${companyId}/integration$`));
    assert.deepEqual((await h.stack.repos.companies.get(companyId))!.lucca.scope, {
      legalEntityIds: [SUD.id],
      departmentIds: [],
    });
    // Its first sync, started by the connection: only people of the chosen legal entity.
    const run = await until(
      `the first sync of ${companyId}`,
      async () => {
        const [latest] = await h.stack.repos.syncRuns.list(companyId, 1);
        return latest && latest.status !== 'running' ? latest : undefined;
      },
      60_000,
    );
    assert.equal(run.status, 'succeeded', JSON.stringify(run.error));
    const sud = new Set(users.filter((u) => u.legalEntity?.id === SUD.id).map((u) => u.id));
    assert.equal(run.counts?.seen, sud.size);
    const linked = (await h.stack.store.profiles.find({ companyId }).toArray()).map((p) => p.lucca?.userId);
    assert.ok(linked.length > 0);
    assert.deepEqual(
      linked.filter((id) => !sud.has(id!)),
      [],
      'nobody outside the scope',
    );
  });

  test('the synced profiles list: French order, accent-free search, filters by department and status, and a mover found in the new department', async () => {
    await page.goto(`/companies/${companyId}/profiles?refresh=1`);
    const shown = await rows(page);
    assert.ok(shown.length > 10);
    assert.ok(
      shown.every((r) => r.legalEntity === SUD.name),
      'every profile records the synced legal entity',
    );
    // French order: by last name, then first name ("Guérin" next to "GUÉRIN", "Éloïse" among the E's).
    const ids: string[] = [];
    for (const row of await page.locator('[data-testid=profiles] tbody tr').all()) {
      ids.push((await row.getAttribute('data-profile'))!);
    }
    const byId = new Map(
      (await h.stack.store.profiles.find({ companyId }).toArray()).map((p) => [p._id.toHexString(), p]),
    );
    const names = ids.map((id) => byId.get(id)!).map((p) => [p.lastName ?? '', p.firstName ?? ''] as const);
    for (let i = 1; i < names.length; i++) {
      const [a, b] = [names[i - 1]!, names[i]!];
      const order = frenchCollator.compare(a[0], b[0]) || frenchCollator.compare(a[1], b[1]);
      assert.ok(order <= 0, `${a.join(' ')} before ${b.join(' ')}`);
    }

    // Search: an accented name typed without accents, in capitals.
    const accented = shown.find((r) => foldForSearch(r.name) !== r.name.toLowerCase())!;
    assert.ok(accented, 'the dataset has accented names');
    const typed = foldForSearch(accented.name.split(' ')[0]!).toUpperCase();
    await page.getByTestId('profile-search').fill(typed);
    await page.locator('[data-testid=profile-filters] button[type=submit]').click();
    await page.waitForURL(/q=/);
    assert.ok(
      (await rows(page)).some((r) => r.name === accented.name),
      `${typed} finds ${accented.name}`,
    );
    await screenshot(page, 'profiles-synced-search');

    // A mover: one person of the company moves to another department, and the next run records it.
    const profile = (await h.stack.store.profiles.findOne({ companyId, status: 'active' }))!;
    const mover = users.find((u) => u.id === profile.lucca!.userId)!;
    const target = FAKE_ORGANISATION.departments.find((d) => d.id !== mover.department!.id)!;
    h.stack.lucca.mutateUsers(tenant, (all) => moveUsers(all, [mover.id], { department: target }));
    const ticket = await requestSync(h.deps, { companyId, requestedBy: 'browser test' });
    const moved = await waitForSyncRun(h.deps, ticket, { pollMs: 200, timeoutMs: 60_000 });
    assert.equal(moved.status, 'succeeded', JSON.stringify(moved.error));
    assert.ok((moved.counts?.updated ?? 0) >= 1, 'the move is an update');

    await page.goto(`/companies/${companyId}/profiles?refresh=1`);
    await page.getByTestId('filter-department').selectOption(String(target.id));
    await page.locator('[data-testid=profile-filters] button[type=submit]').click();
    await page.waitForURL(new RegExp(`department=${target.id}`));
    const inTarget = await rows(page);
    assert.ok(inTarget.length > 0);
    assert.ok(inTarget.every((r) => r.department === target.name));
    assert.ok(
      inTarget.some((r) => r.name.includes(profile.lastName!)),
      `${profile.lastName} is listed in ${target.name}`,
    );
    await screenshot(page, 'profiles-synced-department');

    await page.getByTestId('filter-status').selectOption('active');
    await page.locator('[data-testid=profile-filters] button[type=submit]').click();
    await page.waitForURL(/status=active/);
    const active = await rows(page);
    assert.equal(await page.locator('[data-testid=profiles] .badge.profile-active').count(), active.length);
  });

  test('the scope editor previews a wider scope with its counts, then saves what was previewed', async () => {
    await page.goto(`/companies/${companyId}/scope`);
    await page.getByTestId('scope-load').click();
    await page.locator(`input[name=le-${RHONE.id}]`).waitFor();
    await page.check(`input[name=le-${RHONE.id}]`);
    await page.getByTestId('scope-preview').click();
    await page.getByTestId('scope-result').waitFor();
    const inScope = users.filter((u) => u.legalEntity?.id === SUD.id || u.legalEntity?.id === RHONE.id).length;
    assert.match(await page.getByTestId('scope-in').innerText(), new RegExp(`^${inScope} / ${TENANT_SIZE}$`));
    assert.equal(await page.getByTestId('scope-overlap').count(), 0);
    await screenshot(page, 'scope-preview');
    await page.getByTestId('scope-save').click();
    await page.waitForURL(new RegExp(`/companies/${companyId}/scope$`));
    assert.deepEqual((await h.stack.repos.companies.get(companyId))!.lucca.scope, {
      legalEntityIds: [SUD.id, RHONE.id],
      departmentIds: [],
    });
  });
});
