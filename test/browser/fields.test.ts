import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { runResult } from '../../temporal/client';
import { addTestCompany, luccaDate, luccaUser, runSync, startSync, until } from '../integration/sync-kit';
import { ADMIN_PASSWORD, ADMIN_USER, openConsoleHarness, screenshot, type ConsoleHarness } from './harness';

/** A few people, each with an HR file: a seniority date, a CSE category, a site (some empty) and a pay band. */
const PEOPLE = 8;
const people = () =>
  Array.from({ length: PEOPLE }, (_, i) =>
    luccaUser(i + 1, {
      extendedData: {
        e_seniority: luccaDate(`20${String(10 + i)}-03-01`),
        e_cseCategory: i % 2 === 0 ? { id: 11, name: 'Cadre' } : { id: 12, name: 'Employé·e' },
        e_site: i % 4 === 0 ? '' : 'Île de Nantes',
        e_salaryBand: 'B',
      },
    }),
  );

describe("the console's extra-field screens, in a real browser", () => {
  let h: ConsoleHarness;
  let page: Page;
  let companyId: string;
  let tenant: string;

  before(async () => {
    h = await openConsoleHarness('browser-fields');
    page = h.page;
    ({ companyId, tenant } = await addTestCompany(h.stack, people()));
    h.companies.push(companyId);
    assert.equal((await runSync(h.stack, h.stack.taskQueue, companyId)).status, 'succeeded');
    await page.goto('/login');
    await page.fill('input[name=username]', ADMIN_USER);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('main button[type=submit]');
    await page.waitForURL(/\/companies$/);
  });

  after(async () => {
    await h?.close();
  });

  const extraConfig = async () => {
    const { extraFields, clearedExtraKeys } = (await h.stack.repos.companies.get(companyId))!.lucca;
    return { fields: extraFields ?? [], cleared: clearedExtraKeys ?? [] };
  };
  const NONE = { fields: [], cleared: [] };
  const fieldsAudit = async () =>
    (await h.stack.repos.auditLog.list(companyId, { limit: 20 }, new Date(0))).filter(
      (e) => e.action === 'change-fields',
    );

  test('an operator lists the fields Lucca returns, previews one, saves it, and removes fields keeping or clearing values', async () => {
    await page.goto(`/companies/${companyId}/integration`);
    await page.getByTestId('fields-link').click();
    await page.waitForURL(new RegExp(`/companies/${companyId}/fields$`));
    assert.match(await page.getByTestId('fields-current').innerText(), /No extra field|Aucun champ/);

    await page.getByTestId('fields-load').click();
    const list = page.getByTestId('fields-list');
    const offered = await Promise.all(
      (await list.locator('tr[data-lucca]').all()).map(async (r) => (await r.getAttribute('data-lucca')) ?? ''),
    );
    assert.ok(offered.includes('e_seniority') && offered.includes('e_site'), offered.join(','));
    assert.ok(!offered.includes('e_salaryBand'), 'a field of a section the key cannot consult is not offered');
    assert.equal(await list.locator('tr[data-lucca=e_site] td').nth(2).innerText(), String(PEOPLE - 2));

    const row = page.getByTestId('fields-preview-e_seniority');
    await row.locator('select[name=type]').selectOption('date');
    await row.locator('button').click();
    const result = page.getByTestId('fields-result');
    assert.equal(await result.getByTestId('fields-users').innerText(), String(PEOPLE));
    assert.equal(await result.getByTestId('fields-with-value').innerText(), String(PEOPLE));
    assert.equal(await result.getByTestId('fields-getting').innerText(), String(PEOPLE));
    assert.match(await result.getByTestId('fields-sample').innerText(), /2010-03-01/);
    assert.deepEqual(await extraConfig(), NONE, 'a preview writes nothing');
    await screenshot(page, 'extra-fields');

    // While a run is in flight (held on its Lucca read), saving is refused with the CLI's message.
    const hold = h.stack.lucca.holdRequest({ tenant });
    const run = await startSync(h.stack, h.stack.taskQueue, companyId);
    try {
      await until('the run to be held on its Lucca read', async () => (hold.holding ? true : undefined));
      await page.getByTestId('fields-save').click();
      assert.match(
        await page.getByTestId('fields-error').innerText(),
        /has a sync run in flight \(run .+\).*Nothing was changed/,
      );
      assert.deepEqual(await extraConfig(), NONE, 'nothing saved while the run is in flight');
    } finally {
      hold.release();
    }
    assert.equal((await runResult(run)).status, 'succeeded');

    // Once it is over, the same save goes through, audited as the CLI's is.
    await page.goto(`/companies/${companyId}/fields`);
    await page.getByTestId('fields-add').locator('input[name=lucca]').fill('e_seniority');
    await page.getByTestId('fields-add').locator('select[name=type]').selectOption('date');
    await page.getByTestId('fields-add').locator('button').click();
    await page.getByTestId('fields-save').click();
    await page.waitForURL(new RegExp(`/companies/${companyId}/fields$`));
    assert.match(await page.locator('tr[data-field=seniority]').innerText(), /e_seniority[\s\S]*date/);
    await page.getByTestId('fields-add').locator('input[name=lucca]').fill('e_cseCategory');
    await page.getByTestId('fields-add').locator('input[name=key]').fill('category');
    await page.getByTestId('fields-add').locator('select[name=type]').selectOption('reference');
    await page.getByTestId('fields-add').locator('button').click();
    assert.match(await page.getByTestId('fields-sample').innerText(), /Cadre \(11\)/);
    await page.getByTestId('fields-save').click();
    await page.waitForURL(new RegExp(`/companies/${companyId}/fields$`));
    assert.deepEqual(
      (await extraConfig()).fields.map((f) => [f.lucca, f.key, f.type]),
      [
        ['e_seniority', 'seniority', 'date'],
        ['e_cseCategory', 'category', 'reference'],
      ],
    );

    // A field the key cannot see: refused with the permission to grant, nothing saved.
    await page.getByTestId('fields-add').locator('input[name=lucca]').fill('e_salaryBand');
    await page.getByTestId('fields-add').locator('button').click();
    assert.match(await page.getByTestId('fields-error').innerText(), /Consult HR files/);
    assert.equal(await page.getByTestId('fields-save').count(), 0);

    await page.getByTestId('remove-keep-category').click();
    await page.waitForURL(new RegExp(`/companies/${companyId}/fields$`));
    await page.getByTestId('remove-clear-seniority').click();
    await page.waitForURL(new RegExp(`/companies/${companyId}/fields$`));
    assert.match(await page.getByTestId('fields-cleared').innerText(), /lucca\.extra\.seniority/);
    assert.deepEqual(await extraConfig(), { fields: [], cleared: ['seniority'] });

    const audit = (await fieldsAudit()).reverse();
    assert.deepEqual(
      audit.map((e) => [e.outcome, e.code, e.params.add ?? e.params.remove, e.params.values ?? e.params.type]),
      [
        ['refused', 'run-in-flight', 'e_seniority', 'date'],
        ['ok', null, 'e_seniority', 'date'],
        ['ok', null, 'e_cseCategory', 'reference'],
        ['ok', null, 'category', 'keep'],
        ['ok', null, 'seniority', 'clear'],
      ],
    );
    assert.equal(audit.at(-1)?.params.fields, 'no extra field; clearing seniority');
    assert.ok(
      audit.every((e) => e.actor === ADMIN_USER && e.source === 'console'),
      JSON.stringify(audit.map((e) => e.actor)),
    );
  });
});
