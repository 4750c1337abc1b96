import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { parse } from 'csv-parse/sync';
import { ObjectId } from 'mongodb';
import type { Page } from 'playwright-core';
import type { ProfileDocument } from '../../db/profiles-repository';
import { toChangeDocument } from '../../db/sync-changes-repository';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import { frenchCollator } from '../../domain/profile-list';
import type { ChangeAction, ProfileStatus, ReasonCode } from '../../domain/types';
import { addCompany, newApiKey, uniqueSuffix } from '../integration/helpers';
import { ADMIN_PASSWORD, ADMIN_USER, openConsoleHarness, screenshot, type ConsoleHarness } from './harness';

/** Five pages of the list's 50. */
const PROFILES = 240;
/** Twelve pages of the report's 50. */
const CHANGES = 600;
const LAST_NAMES = [
  'Zoé',
  'AUBERT',
  'Éloïse',
  'Durand',
  'Eloise',
  'André',
  'Dupont-Aignan',
  'Dupont',
  'Ndiaye',
  'Œuvray',
  'Aït Ali',
  'Émery',
];
const FIRST_NAMES = ['Chloé', 'Jérôme', 'Anaïs', 'Zoë', 'François', 'Léa', 'Noël'];
const LEGAL_ENTITIES = [
  { id: 31, name: 'Société Générale de Paris' },
  { id: 32, name: 'Établissement de Lyon' },
];
const DEPARTMENTS = [
  { id: 41, name: 'Comptabilité' },
  { id: 42, name: 'Ingénierie' },
  { id: 43, name: 'Ressources humaines' },
];
const STATUSES: ProfileStatus[] = ['active', 'active', 'upcoming', 'former'];

/** The list's rows as shown: name cell, legal entity and department cells. */
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

const lastNameOf = (name: string) => LAST_NAMES.find((n) => name.startsWith(`${n} `)) ?? name;

function assertFrenchOrder(names: string[]): void {
  const lastNames = names.map(lastNameOf);
  for (let i = 1; i < lastNames.length; i++) {
    assert.ok(frenchCollator.compare(lastNames[i - 1]!, lastNames[i]!) <= 0, `${names[i - 1]} before ${names[i]}`);
  }
}

describe("the console's profiles list and run report for a company of thousands, in a real browser", () => {
  let h: ConsoleHarness;
  let page: Page;
  const companyId = `lists-${uniqueSuffix()}`;
  const runId = `20261202-090000-${uniqueSuffix()}`;

  before(async () => {
    h = await openConsoleHarness('browser-lists');
    page = h.page;
    h.companies.push(companyId);
    await addCompany(h.stack, { companyId, tenant: companyId, apiKey: newApiKey() });
    const now = new Date();
    const profiles: ProfileDocument[] = Array.from({ length: PROFILES }, (_, i) => {
      const fields = {
        firstName: FIRST_NAMES[i % FIRST_NAMES.length]!,
        lastName: LAST_NAMES[i % LAST_NAMES.length]!,
        email: `${FIRST_NAMES[i % FIRST_NAMES.length]!.toLowerCase()}.${i}@cse.example`,
        birthDate: null,
        contractStart: '2021-03-01',
        contractEnd: null,
      };
      return {
        _id: new ObjectId(),
        companyId,
        ...fields,
        status: STATUSES[i % STATUSES.length]!,
        lucca: {
          userId: 5_000 + i,
          linkedAt: now,
          lastSeenAt: now,
          syncedValues: fields,
          legalEntity: LEGAL_ENTITIES[i % 2]!,
          department: DEPARTMENTS[i % 3]!,
        },
        createdAt: now,
        updatedAt: now,
      };
    });
    await h.stack.store.profiles.insertMany(profiles);

    const run: SyncRunDocument = {
      _id: runId,
      companyId,
      trigger: 'schedule',
      requestedBy: null,
      mode: 'apply',
      allowMassDeactivation: false,
      status: 'succeeded',
      startedAt: new Date(now.getTime() - 90_000),
      finishedAt: new Date(now.getTime() - 30_000),
      error: null,
      counts: null,
      progress: { pagesRead: 1, usersRead: CHANGES, phase: 'done' },
      guard: null,
      profileWrites: CHANGES,
      workflowId: `sync-run:${companyId}:${runId}`,
      temporalRunId: 'none',
    };
    await h.stack.db.collection<SyncRunDocument>('syncRuns').insertOne(run);
    await h.stack.repos.syncChanges.insertMany(
      Array.from({ length: CHANGES }, (_, seq) => {
        const p = profiles[seq % PROFILES]!;
        const action: ChangeAction = seq % 4 === 0 ? 'deactivate' : 'update';
        const code: ReasonCode =
          action === 'deactivate'
            ? seq % 8 === 0
              ? 'contract-ended'
              : 'removed-from-lucca'
            : 'overwritten-local-edit';
        return toChangeDocument(runId, companyId, seq, {
          action,
          luccaUserId: p.lucca!.userId,
          profileId: p._id.toHexString(),
          fields:
            action === 'update'
              ? { email: { from: `old.${seq}@cse.example`, to: p.email } }
              : { status: { from: 'active', to: 'former' } },
          target: { fields: { ...p.lucca!.syncedValues }, status: action === 'update' ? 'active' : 'former' },
          reasons: [{ code, message: `change ${seq}` }],
        });
      }),
    );

    await page.goto('/login');
    await page.fill('input[name=username]', ADMIN_USER);
    await page.fill('input[name=password]', ADMIN_PASSWORD);
    await page.click('main button[type=submit]');
    await page.waitForURL(/\/companies$/);
  });

  after(async () => {
    await h?.close();
  });

  test('the list is in French order ("André" before "AUBERT") and pages through every profile', async () => {
    await page.goto(`/companies/${companyId}/profiles`);
    const first = await rows(page);
    assert.equal(first.length, 50);
    assert.match(first[0]!.name, /^Aït Ali /);
    assert.ok(first.some((r) => r.name.startsWith('André ')) && first.some((r) => r.name.startsWith('AUBERT ')));
    assertFrenchOrder(first.map((r) => r.name));
    assert.ok(
      first.findLastIndex((r) => r.name.startsWith('André ')) < first.findIndex((r) => r.name.startsWith('AUBERT ')),
    );
    assert.match(await page.getByTestId('profiles-total').innerText(), /1–50 sur 240 profils/);
    await screenshot(page, 'profiles-french-order');

    const names = first.map((r) => r.name);
    for (let pageNo = 2; pageNo <= 5; pageNo++) {
      await page.getByTestId('page-next').click();
      await page.waitForURL(new RegExp(`skip=${(pageNo - 1) * 50}`));
      names.push(...(await rows(page)).map((r) => r.name));
    }
    assert.equal(names.length, PROFILES);
    assert.equal(await page.getByTestId('page-next').count(), 0, 'no page after the last');
    assertFrenchOrder(names);
    assert.match(names.at(-1)!, /^Zoé /);
  });

  test('search by name ignores accents and case: "ELOISE" finds Éloïse and Eloise, side by side', async () => {
    await page.goto(`/companies/${companyId}/profiles`);
    await page.getByTestId('profile-search').fill('ELOISE');
    await page.locator('[data-testid=profile-filters] button[type=submit]').click();
    await page.waitForURL(/q=ELOISE/);
    const found = (await rows(page)).map((r) => r.name);
    assert.equal(found.length, 40);
    assert.ok(found.every((n) => /^[ÉE]lo[ïi]se /.test(n)));
    assert.ok(found.some((n) => n.startsWith('Éloïse ')) && found.some((n) => n.startsWith('Eloise ')));
    assertFrenchOrder(found);
    await screenshot(page, 'profiles-search');

    // Emails too: noël.6@cse.example, typed without its accent.
    await page.getByTestId('profile-search').fill('NOEL.6@CSE');
    await page.locator('[data-testid=profile-filters] button[type=submit]').click();
    await page.waitForURL(/q=NOEL.6%40CSE/);
    const byEmail = await rows(page);
    assert.deepEqual(
      byEmail.map((r) => r.name),
      ['Dupont-Aignan Noël'],
    );
  });

  test('filters by legal entity and department (names with accents), then by status with a search', async () => {
    await page.goto(`/companies/${companyId}/profiles`);
    await page.getByTestId('filter-legal-entity').selectOption({ label: 'Établissement de Lyon (120)' });
    await page.getByTestId('filter-department').selectOption('41');
    await page.locator('[data-testid=profile-filters] button[type=submit]').click();
    await page.waitForURL(/legalEntity=32&department=41/);
    const lyon = await rows(page);
    assert.equal(lyon.length, 40);
    assert.ok(lyon.every((r) => r.legalEntity === 'Établissement de Lyon' && r.department === 'Comptabilité'));
    assertFrenchOrder(lyon.map((r) => r.name));
    await screenshot(page, 'profiles-filters');

    await page.getByTestId('filter-status').selectOption('former');
    await page.getByTestId('profile-search').fill('zoe');
    await page.locator('[data-testid=profile-filters] button[type=submit]').click();
    await page.waitForURL(/status=former/);
    const narrowed = await rows(page);
    assert.ok(narrowed.length > 0);
    assert.ok(narrowed.every((r) => r.legalEntity === 'Établissement de Lyon' && /Zo[éë]/.test(r.name)));
    assert.ok((await page.locator('[data-testid=profiles] .badge.profile-former').count()) === narrowed.length);
  });

  test('a run report of 600 changes pages and filters by action and reason', async () => {
    await page.goto(`/companies/${companyId}/runs/${runId}`);
    assert.equal(await page.getByTestId('changes-total').getAttribute('data-total'), String(CHANGES));
    assert.equal(await page.locator('[data-testid=change]').count(), 50);
    await page.getByTestId('page-next').click();
    await page.waitForURL(/skip=50/);
    assert.match(await page.getByTestId('changes-total').innerText(), /51–100 sur 600/);

    await page.getByTestId('filter-action').selectOption('deactivate');
    await page.getByTestId('filter-reason').selectOption('contract-ended');
    await page.locator('[data-testid=change-filters] button[type=submit]').click();
    await page.waitForURL(/action=deactivate&reason=contract-ended/);
    assert.equal(await page.getByTestId('changes-total').getAttribute('data-total'), '75');
    assert.equal(await page.locator('[data-testid=change]').count(), 50);
    assert.equal(await page.locator('[data-testid=change][data-action=deactivate]').count(), 50);
    assert.equal(await page.locator('[data-testid=change] [data-reason=contract-ended]').count(), 50);
    await screenshot(page, 'run-report-filters');
    await page.getByTestId('page-next').click();
    await page.waitForURL(/skip=50/);
    assert.equal(await page.locator('[data-testid=change]').count(), 25);
    assert.equal(await page.getByTestId('page-next').count(), 0);
  });

  test("the report's CSV link downloads every change of the run, whatever the page shows", async () => {
    await page.goto(`/companies/${companyId}/runs/${runId}?action=deactivate&skip=50`);
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-csv').click()]);
    assert.match(download.suggestedFilename(), /\.csv$/);
    const file = await download.path();
    const rows: string[][] = parse(await readFile(file, 'utf8'), { bom: true });
    const [header, ...changes] = rows;
    assert.equal(changes.length, CHANGES, 'the whole report, not the filtered page');
    assert.equal(header!.length, 7, header!.join(', '));
    // The console speaks French here: actions are named in French, reason codes stay codes.
    assert.equal(changes.filter((r) => r[3] === 'Désactivés' && r[5] === 'contract-ended').length, 75);
    assert.ok(
      changes.every((r) => /^\d+$/.test(r[0]!)),
      'a Lucca id on every row',
    );

    // The downloaded file itself, its first rows laid out as a spreadsheet shows them.
    const sheet = await page.context().newPage();
    const cell = (tag: string, text: string) => `<${tag}>${text.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</${tag}>`;
    await sheet.setContent(
      `<style>body{font:13px sans-serif;margin:16px}table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 8px;text-align:left}th{background:#eee}</style>` +
        `<p>${cell('code', download.suggestedFilename())} — ${changes.length} changes</p><table>` +
        [header!, ...changes.slice(0, 15)]
          .map((r, i) => `<tr>${r.map((c) => cell(i === 0 ? 'th' : 'td', c)).join('')}</tr>`)
          .join('') +
        '</table>',
    );
    await screenshot(sheet, 'run-report-export');
    await sheet.close();
  });
});
