import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { ObjectId } from 'mongodb';
import { loadConfig } from '../../config/env';
import { buildConsole } from '../../console/server';
import type { ProfileDocument } from '../../db/profiles-repository';
import { toChangeDocument } from '../../db/sync-changes-repository';
import type { SyncRunDocument } from '../../db/sync-runs-repository';
import { frenchCollator } from '../../domain/profile-list';
import type { ChangeAction, ProfileStatus, ReasonCode } from '../../domain/types';
import type { OperationsDeps } from '../../operations';
import { logIn, settingsWithAdmin } from './console-kit';
import { addCompany, MONGODB_URI, newApiKey, openStack, TEMPORAL_ADDRESS, uniqueSuffix, type Stack } from './helpers';

const OPERATOR = { user: 'lists.admin', password: 'lists-admin-password-0123' };
/** Twelve pages of the list's 50: the list is paged past its page size ten times over. */
const PROFILES = 600;
/** Twenty-four pages of the report's 50. */
const CHANGES = 1_200;

const LEGAL_ENTITIES = [
  { id: 1, name: 'Société Générale de Paris' },
  { id: 2, name: 'Établissement de Lyon' },
];
const DEPARTMENTS = [
  { id: 10, name: 'Comptabilité' },
  { id: 11, name: 'Ingénierie' },
  { id: 12, name: 'Ressources humaines' },
];
const LAST_NAMES = [
  'Aubert',
  'André',
  'Éloïse',
  'Eloise',
  'Zoé',
  'Durand',
  'Dupont-Aignan',
  'Dupont',
  'Œuvray',
  'Ndiaye',
];
const FIRST_NAMES = ['Émile', 'Chloé', 'Jérôme', 'Anaïs', 'Zoë', 'François'];
const STATUSES: ProfileStatus[] = ['active', 'active', 'upcoming', 'former'];

interface ListItem {
  id: string;
  firstName: string | null;
  lastName: string | null;
  email: string | null;
  status: ProfileStatus;
  linked: boolean;
  legalEntity: { id: number; name: string } | null;
  department: { id: number; name: string } | null;
}

describe('the console pages a company of thousands: profiles and run reports (real store)', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let cookie = '';
  const companyId = `lists-${uniqueSuffix()}`;
  const runId = `20261202-080000-${uniqueSuffix()}`;
  const profiles: ProfileDocument[] = [];

  const getJson = async <T>(url: string): Promise<{ status: number; body: T }> => {
    const res = await app.inject({ method: 'GET', url, headers: { cookie } });
    return { status: res.statusCode, body: res.json<T>() };
  };

  /** Every profile the API lists for `query`, page after page (limit 50), in the order it gives them. */
  async function listAll(query: string): Promise<ListItem[]> {
    const seen: ListItem[] = [];
    for (let skip = 0; ; skip += 50) {
      const { status, body } = await getJson<{ total: number; items: ListItem[] }>(
        `/api/companies/${companyId}/profiles?limit=50&skip=${skip}${query ? `&${query}` : ''}`,
      );
      assert.equal(status, 200);
      assert.ok(body.items.length <= 50);
      seen.push(...body.items);
      if (skip + 50 >= body.total) {
        assert.equal(seen.length, body.total, 'the pages add up to the total');
        return seen;
      }
    }
  }

  before(async () => {
    stack = await openStack('console-lists');
    await addCompany(stack, { companyId, tenant: companyId, apiKey: newApiKey() });
    const deps: OperationsDeps = {
      repos: stack.repos,
      client: stack.client,
      config: loadConfig({ TEMPORAL_ADDRESS, MONGODB_URI, MONGODB_DB: stack.db.databaseName }),
    };
    app = await buildConsole({
      deps,
      db: stack.db,
      settings: await settingsWithAdmin(OPERATOR),
    });
    cookie = await logIn(app, OPERATOR);

    const now = new Date();
    for (let i = 0; i < PROFILES; i++) {
      const lastName = LAST_NAMES[i % LAST_NAMES.length]!;
      const firstName = FIRST_NAMES[i % FIRST_NAMES.length]!;
      const linked = i % 7 !== 0;
      const fields = {
        firstName,
        lastName: i % 13 === 0 ? lastName.toUpperCase() : lastName,
        email: `person.${i}@acme.example`,
        birthDate: null,
        contractStart: '2020-01-01',
        contractEnd: null,
      };
      profiles.push({
        _id: new ObjectId(),
        companyId,
        ...fields,
        status: STATUSES[i % STATUSES.length]!,
        ...(linked
          ? {
              lucca: {
                userId: 1_000 + i,
                linkedAt: now,
                lastSeenAt: now,
                syncedValues: fields,
                legalEntity: LEGAL_ENTITIES[i % 2]!,
                department: DEPARTMENTS[i % 3]!,
              },
            }
          : {}),
        createdAt: now,
        updatedAt: now,
      });
    }
    await stack.store.profiles.insertMany(profiles);
    // Another company's people never show.
    await stack.store.profiles.insertOne({ ...profiles[1]!, _id: new ObjectId(), companyId: `${companyId}-other` });

    const run: SyncRunDocument = {
      _id: runId,
      companyId,
      trigger: 'manual',
      requestedBy: 'test',
      mode: 'apply',
      allowMassDeactivation: false,
      status: 'succeeded',
      startedAt: new Date(now.getTime() - 120_000),
      finishedAt: new Date(now.getTime() - 60_000),
      error: null,
      counts: null,
      progress: { pagesRead: 2, usersRead: CHANGES, phase: 'done' },
      guard: null,
      profileWrites: 0,
      workflowId: `sync-run:${companyId}:${runId}`,
      temporalRunId: 'none',
    };
    await stack.db.collection<SyncRunDocument>('syncRuns').insertOne(run);
    await stack.repos.syncChanges.insertMany(
      Array.from({ length: CHANGES }, (_, seq) => {
        const action: ChangeAction = seq % 3 === 0 ? 'deactivate' : seq % 3 === 1 ? 'update' : 'skip';
        const code: ReasonCode =
          action === 'deactivate' ? (seq % 2 === 0 ? 'contract-ended' : 'removed-from-lucca') : 'missing-email';
        return toChangeDocument(runId, companyId, seq, {
          action,
          luccaUserId: 1_000 + seq,
          reasons: [{ code, message: `change ${seq}` }],
        });
      }),
    );
  });

  after(async () => {
    await app?.close();
    await stack?.close();
  });

  test('the list pages every profile of the company once, in French order: "André" before "AUBERT", "Éloïse" next to "Eloise"', async () => {
    const all = await listAll('');
    assert.equal(all.length, PROFILES);
    assert.equal(new Set(all.map((p) => p.id)).size, PROFILES, 'no profile twice across pages');
    const lastNames = all.map((p) => p.lastName ?? '');
    for (let i = 1; i < lastNames.length; i++) {
      assert.ok(
        frenchCollator.compare(lastNames[i - 1]!, lastNames[i]!) <= 0,
        `${lastNames[i - 1]} before ${lastNames[i]}`,
      );
    }
    const firstOf = (name: string) => lastNames.findIndex((n) => n.toLowerCase() === name.toLowerCase());
    const lastOf = (name: string) => lastNames.findLastIndex((n) => n.toLowerCase() === name.toLowerCase());
    assert.ok(lastOf('André') < firstOf('AUBERT'), 'every André before every Aubert');
    assert.ok(lastOf('Dupont') < firstOf('Dupont-Aignan'));
    // Éloïse and Eloise are one name to a French reader: nothing sorts between them.
    const eloises = lastNames.flatMap((n, i) => (/^[ée]lo[ïi]se$/i.test(n) ? [i] : []));
    assert.equal(eloises.length, 120);
    assert.equal(eloises.at(-1)! - eloises[0]!, eloises.length - 1, 'the Éloïses and the Eloises are together');
    assert.ok(lastOf('Zoé') === PROFILES - 1, 'Zoé last');
  });

  test('search ignores accents and case, in names and emails', async () => {
    const expected = (pred: (p: ProfileDocument) => boolean) => profiles.filter(pred).length;
    const eloise = await listAll(`q=${encodeURIComponent('ELOISE')}`);
    assert.equal(
      eloise.length,
      expected((p) => /^[ée]lo[ïi]se$/i.test(p.lastName ?? '')),
    );
    const chloe = await listAll(`q=${encodeURIComponent('ndiaye CHLOE')}`);
    assert.ok(chloe.length > 0);
    assert.equal(
      chloe.length,
      expected((p) => p.firstName === 'Chloé' && /^ndiaye$/i.test(p.lastName ?? '')),
    );
    assert.ok(chloe.every((p) => p.firstName === 'Chloé'));
    const oeuvray = await listAll('q=oeuvray');
    assert.equal(
      oeuvray.length,
      expected((p) => /^œuvray$/i.test(p.lastName ?? '')),
    );
    const byEmail = await listAll('q=PERSON.42%40ACME');
    assert.deepEqual(
      byEmail.map((p) => p.email),
      ['person.42@acme.example'],
    );
  });

  test('filters by legal entity, department, status and link, together and with a search', async () => {
    const lyonAccounting = await listAll('legalEntity=2&department=10');
    const wanted = profiles.filter((p) => p.lucca?.legalEntity?.id === 2 && p.lucca.department?.id === 10);
    assert.ok(wanted.length > 0);
    assert.deepEqual(new Set(lyonAccounting.map((p) => p.id)), new Set(wanted.map((p) => p._id.toHexString())));
    assert.ok(lyonAccounting.every((p) => p.legalEntity?.name === 'Établissement de Lyon'));

    const formerUnlinked = await listAll('status=former&linked=false');
    assert.equal(formerUnlinked.length, profiles.filter((p) => p.status === 'former' && !p.lucca).length);
    assert.ok(formerUnlinked.every((p) => p.status === 'former' && !p.linked && p.legalEntity === null));

    const search = await listAll(`legalEntity=1&status=active&q=${encodeURIComponent('zoë')}`);
    const zoes = profiles.filter(
      (p) =>
        p.lucca?.legalEntity?.id === 1 &&
        p.status === 'active' &&
        (p.firstName === 'Zoë' || /^zoé$/i.test(p.lastName ?? '')),
    );
    assert.ok(zoes.length > 0);
    assert.deepEqual(new Set(search.map((p) => p.id)), new Set(zoes.map((p) => p._id.toHexString())));

    const inLyon = profiles.filter((p) => p.lucca?.legalEntity?.id === 2).length;
    const page = await app.inject({
      method: 'GET',
      url: `/companies/${companyId}/profiles?legalEntity=2`,
      headers: { cookie },
    });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, new RegExp(`<option value="2" selected>\\s*Établissement de Lyon \\(${inLyon}\\)`));
    assert.match(page.body, /Comptabilité \(\d+\)/);
  });

  test('the list is as read: a profile the platform adds shows once it is read again (refresh, or a run that ended since)', async () => {
    const before = await getJson<{ total: number; asOf: string }>(`/api/companies/${companyId}/profiles`);
    const added = { ...profiles[3]!, _id: new ObjectId(), lastName: 'Abélard', email: 'new.one@acme.example' };
    delete added.lucca;
    await stack.store.profiles.insertOne(added);
    const stale = await getJson<{ total: number; asOf: string }>(`/api/companies/${companyId}/profiles`);
    assert.equal(stale.body.total, before.body.total, 'served from the read it made');
    assert.equal(stale.body.asOf, before.body.asOf);

    const refreshed = await getJson<{ total: number; items: ListItem[] }>(
      `/api/companies/${companyId}/profiles?refresh=true`,
    );
    assert.equal(refreshed.body.total, before.body.total + 1);
    assert.equal(refreshed.body.items[0]!.lastName, 'Abélard', 'Abélard comes before André');

    await stack.store.profiles.deleteOne({ _id: added._id });
    await stack.db
      .collection<SyncRunDocument>('syncRuns')
      .updateOne({ _id: runId }, { $set: { finishedAt: new Date() } });
    const afterRun = await getJson<{ total: number }>(`/api/companies/${companyId}/profiles`);
    assert.equal(afterRun.body.total, before.body.total, 'a run that ended after the read has the list read again');
  });

  test('a report of thousands of changes pages in plan order and filters by action and reason', async () => {
    type Changes = { total: number; items: { action: string; luccaUserId: number; reasons: { code: string }[] }[] };
    const seqsOf = (body: Changes) => body.items.map((c) => c.luccaUserId - 1_000);

    const seen: number[] = [];
    for (let skip = 0; skip < CHANGES; skip += 50) {
      const { status, body } = await getJson<Changes>(
        `/api/companies/${companyId}/runs/${runId}/changes?limit=50&skip=${skip}`,
      );
      assert.equal(status, 200);
      assert.equal(body.total, CHANGES);
      seen.push(...seqsOf(body));
    }
    assert.deepEqual(
      seen,
      Array.from({ length: CHANGES }, (_, i) => i),
      'every change once, in plan order',
    );

    const ended = await getJson<Changes>(
      `/api/companies/${companyId}/runs/${runId}/changes?action=deactivate&reason=contract-ended&skip=10&limit=100`,
    );
    assert.equal(ended.body.total, CHANGES / 6);
    assert.deepEqual(
      seqsOf(ended.body),
      Array.from({ length: 100 }, (_, i) => (i + 10) * 6),
    );
    assert.ok(ended.body.items.every((c) => c.action === 'deactivate' && c.reasons[0]!.code === 'contract-ended'));

    const html = await app.inject({
      method: 'GET',
      url: `/companies/${companyId}/runs/${runId}?reason=removed-from-lucca&skip=50`,
      headers: { cookie },
    });
    assert.equal(html.statusCode, 200);
    assert.match(html.body, /data-total="200"/);
    assert.equal((html.body.match(/data-testid="change"/g) ?? []).length, 50);
    assert.match(html.body, /51–100 sur 200/);
    assert.match(html.body, /data-testid="page-previous"/);
    assert.match(html.body, /<option value="removed-from-lucca" selected>\s*removed-from-lucca \(200\)/);
  });
});
