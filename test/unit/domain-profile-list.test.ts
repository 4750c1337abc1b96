import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ObjectId } from 'mongodb';
import { ProfileDirectory } from '../../console/profile-directory';
import { buildIndex, pageOfChanges, RunChangeIndex } from '../../console/run-change-index';
import {
  compareListEntries,
  entryMatcher,
  foldForSearch,
  listEntryOf,
  unitsOf,
  type ProfileListEntry,
} from '../../domain/profile-list';
import type { ChangeAction, ReasonCode } from '../../domain/types';
import { toChangeDocument, type SyncChangeDocument } from '../../db/sync-changes-repository';

const entry = (id: string, lastName: string | null, firstName: string | null, more: Partial<ProfileListEntry> = {}) =>
  listEntryOf({
    id,
    lastName,
    firstName,
    email: more.email ?? null,
    status: more.status ?? 'active',
    linked: more.linked ?? true,
    contractStart: null,
    contractEnd: null,
    legalEntity: more.legalEntity ?? null,
    department: more.department ?? null,
  });

describe('foldForSearch', () => {
  const cases: [string, string][] = [
    ['Éloïse', 'eloise'],
    ['ÉLOÏSE', 'eloise'],
    ["Aït N'Diaye", "ait n'diaye"],
    ['Aït N’Diaye', "ait n'diaye"],
    ['Œuvre Lætitia', 'oeuvre laetitia'],
    ['Groß', 'gross'],
    ['  François   Müller ', 'francois muller'],
    ['Jean–Luc', 'jean-luc'],
    ['çà', 'ca'],
  ];
  for (const [text, folded] of cases) {
    test(`${JSON.stringify(text)} → ${JSON.stringify(folded)}`, () => assert.equal(foldForSearch(text), folded));
  }
});

describe('the list order is French', () => {
  test('"André" before "AUBERT", "Éloïse" next to "Eloise", "Dupont" before "Dupont-Aignan", accents after their letter', () => {
    const names = ['Zoé', 'AUBERT', 'Émile', 'Eloise', 'Durand', 'Dupont-Aignan', 'André', 'Éloïse', 'Dupont', 'Ebert'];
    const sorted = names
      .map((n, i) => entry(String(i).padStart(24, '0'), n, 'X'))
      .sort(compareListEntries)
      .map((e) => e.lastName);
    assert.deepEqual(sorted, [
      'André',
      'AUBERT',
      'Dupont',
      'Dupont-Aignan',
      'Durand',
      'Ebert',
      'Eloise',
      'Éloïse',
      'Émile',
      'Zoé',
    ]);
  });

  test('same last name: by first name, then email, then id, so two homonyms keep one order', () => {
    const a = entry('b'.repeat(24), 'Martin', 'Léa', { email: 'lea@x.fr' });
    const b = entry('a'.repeat(24), 'Martin', 'Léa', { email: 'lea@x.fr' });
    const c = entry('c'.repeat(24), 'Martin', 'Lea', { email: 'a@x.fr' });
    const d = entry('d'.repeat(24), 'martin', 'Adèle');
    assert.deepEqual(
      [a, b, c, d].sort(compareListEntries).map((e) => e.id[0]),
      ['d', 'c', 'a', 'b'],
    );
  });

  test('a profile without a name comes first rather than failing', () => {
    const sorted = [entry('1'.repeat(24), 'Abel', 'A'), entry('2'.repeat(24), null, null)].sort(compareListEntries);
    assert.equal(sorted[0]!.lastName, null);
  });
});

describe('the list filter', () => {
  const le1 = { id: 1, name: 'Société Générale de Paris' };
  const le2 = { id: 2, name: 'Établissement de Lyon' };
  const dep = { id: 10, name: 'Comptabilité' };
  const entries = [
    entry('1'.repeat(24), 'Aït N’Diaye', 'Éloïse', { email: 'eloise.ait@acme.fr', legalEntity: le1, department: dep }),
    entry('2'.repeat(24), 'Dupont', 'Eloise', { email: 'e.dupont@acme.fr', legalEntity: le2, status: 'former' }),
    entry('3'.repeat(24), 'Martin', 'Zoé', { email: 'zoe@acme.fr', legalEntity: le1, linked: false }),
  ];
  const ids = (f: Parameters<typeof entryMatcher>[0]) => entries.filter(entryMatcher(f)).map((e) => e.id[0]);

  test('search ignores accents and case, matches names and email, every word anywhere', () => {
    assert.deepEqual(ids({ search: 'ELOISE' }), ['1', '2']);
    assert.deepEqual(ids({ search: "n'diaye" }), ['1']);
    assert.deepEqual(ids({ search: 'éloïse dupont' }), ['2']);
    assert.deepEqual(ids({ search: 'dupont éloïse' }), ['2']);
    assert.deepEqual(ids({ search: 'ZOE@ACME' }), ['3']);
    assert.deepEqual(ids({ search: 'nobody' }), []);
    assert.deepEqual(ids({ search: '   ' }), ['1', '2', '3']);
  });

  test('filters by legal entity, department, status and link, and all of them together', () => {
    assert.deepEqual(ids({ legalEntityId: 1 }), ['1', '3']);
    assert.deepEqual(ids({ departmentId: 10 }), ['1']);
    assert.deepEqual(ids({ status: 'former' }), ['2']);
    assert.deepEqual(ids({ linked: false }), ['3']);
    assert.deepEqual(ids({ legalEntityId: 1, search: 'eloise' }), ['1']);
    assert.deepEqual(ids({ legalEntityId: 2, departmentId: 10 }), []);
  });

  test('the units offered are those the profiles carry, with their counts, in French order', () => {
    assert.deepEqual(
      unitsOf(entries, (e) => e.legalEntity),
      [
        { id: 2, name: 'Établissement de Lyon', count: 1 },
        { id: 1, name: 'Société Générale de Paris', count: 2 },
      ],
    );
  });
});

const change = (seq: number, action: ChangeAction, codes: ReasonCode[]) =>
  toChangeDocument('r', 'c', seq, {
    action,
    luccaUserId: seq,
    reasons: codes.map((code) => ({ code, message: code })),
  });

describe("a run report's change index", () => {
  async function* rows(n: number) {
    // Out of order, as a store may answer: the index is in plan order all the same.
    for (let seq = n - 1; seq >= 0; seq--) {
      const action: ChangeAction = seq % 3 === 0 ? 'deactivate' : seq % 3 === 1 ? 'update' : 'skip';
      const codes: ReasonCode[] =
        action === 'deactivate'
          ? [seq % 2 === 0 ? 'contract-ended' : 'removed-from-lucca']
          : action === 'update' && seq % 5 === 0
            ? ['overwritten-local-edit', 'invalid-date']
            : [];
      yield change(seq, action, codes);
    }
  }

  test('pages the changes in plan order, by action and by reason, with the totals of the filter', async () => {
    const index = await buildIndex('r', rows(1_000));
    const all = pageOfChanges(index, {}, 950, 100);
    assert.equal(all.total, 1_000);
    assert.deepEqual(
      all.seqs,
      Array.from({ length: 50 }, (_, i) => 950 + i),
    );

    const deactivations = pageOfChanges(index, { action: 'deactivate' }, 0, 5);
    assert.equal(deactivations.total, 334);
    assert.deepEqual(deactivations.seqs, [0, 3, 6, 9, 12]);

    const ended = pageOfChanges(index, { action: 'deactivate', reason: 'contract-ended' }, 2, 3);
    assert.equal(ended.total, 167);
    assert.deepEqual(ended.seqs, [12, 18, 24]);

    const edits = pageOfChanges(index, { reason: 'invalid-date' }, 0, 4);
    assert.equal(edits.total, 66);
    assert.deepEqual(edits.seqs, [10, 25, 40, 55]);
    assert.equal(index.countsByReason.get('overwritten-local-edit'), 66);
    assert.equal(index.countsByAction.get('skip'), 333);

    assert.equal(pageOfChanges(index, { reason: 'email-taken' }, 0, 50).total, 0);
    assert.equal(pageOfChanges(index, { action: 'create' }, 0, 50).total, 0);
    assert.equal(pageOfChanges(index, { action: 'skip', reason: 'contract-ended' }, 0, 50).total, 0);
  });
});

describe("the console's profile directory (a company read once, then paged from memory)", () => {
  const row = (lastName: string) => ({
    _id: new ObjectId(),
    firstName: 'A',
    lastName,
    email: null,
    status: 'active' as const,
    contractStart: null,
    contractEnd: null,
  });

  test('answers how far a slow read got instead of waiting for it, then the list once read', async () => {
    let release = () => undefined as void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const directory = new ProfileDirectory({
      waitMs: 20,
      async *readRows() {
        yield row('Zoé');
        yield row('André');
        await gate;
        yield row('AUBERT');
      },
    });
    const first = await directory.get('acme');
    assert.deepEqual(
      { kind: first.kind, read: first.kind === 'building' ? first.read : -1 },
      { kind: 'building', read: 2 },
    );
    release();
    const ready = await directory.get('acme');
    assert.equal(ready.kind, 'ready');
    assert.deepEqual(ready.kind === 'ready' && ready.snapshot.entries.map((e) => e.lastName), [
      'André',
      'AUBERT',
      'Zoé',
    ]);
  });

  test('reads a company again past its age, after a run ended since, or when asked; serves the older list while a read is slow', async () => {
    let reads = 0;
    let clock = new Date('2026-12-02T08:00:00Z');
    let slow: Promise<void> | null = null;
    const directory = new ProfileDirectory({
      now: () => clock,
      maxAgeMs: 60_000,
      waitMs: 20,
      async *readRows() {
        reads++;
        if (slow) await slow;
        yield row(`Name${reads}`);
      },
    });
    await directory.get('acme');
    await directory.get('acme', { changedAt: new Date('2026-12-02T07:59:00Z') });
    assert.equal(reads, 1, 'a run that ended before the read changes nothing');
    await directory.get('acme', { changedAt: new Date('2026-12-02T08:00:01Z') });
    assert.equal(reads, 2);
    clock = new Date('2026-12-02T08:00:30Z');
    await directory.get('acme');
    assert.equal(reads, 2, 'young enough');
    clock = new Date('2026-12-02T08:01:31Z');
    await directory.get('acme');
    assert.equal(reads, 3, 'past its age');
    await directory.get('acme', { refresh: true });
    assert.equal(reads, 4);

    let release = () => undefined as void;
    slow = new Promise<void>((resolve) => (release = resolve));
    const stale = await directory.get('acme', { refresh: true });
    assert.ok(stale.kind === 'ready' && stale.refreshing && stale.snapshot.entries[0]!.lastName === 'Name4');
    release();
    // The read under way replaces the older list once it ends (the next requests get it).
    let latest = '';
    for (let tick = 0; tick < 100 && latest !== 'Name5'; tick++) {
      await new Promise((resolve) => setImmediate(resolve));
      const answer = await directory.get('acme');
      latest = answer.kind === 'ready' ? (answer.snapshot.entries[0]?.lastName ?? '') : '';
    }
    assert.equal(latest, 'Name5');
    assert.equal(reads, 5);
  });

  test('keeps at most its number of companies, the least recently used going first (200 companies through 20)', async () => {
    const reads = new Map<string, number>();
    const directory = new ProfileDirectory({
      maxCompanies: 20,
      async *readRows(companyId) {
        reads.set(companyId, (reads.get(companyId) ?? 0) + 1);
        yield row(companyId);
      },
    });
    for (let i = 0; i < 200; i++) {
      await directory.get(`c${i}`);
      await directory.get('kept');
    }
    assert.equal(reads.get('kept'), 1, 'used all along: never forgotten');
    await directory.get('c199');
    assert.equal(reads.get('c199'), 1, 'among the 20 latest');
    await directory.get('c0');
    assert.equal(reads.get('c0'), 2, 'forgotten long ago: read again');
  });
});

describe("the console's run change index", () => {
  test('keeps finished runs (at most its number, 100 runs through 10) and reads a running one every time', async () => {
    const reads = new Map<string, number>();
    const index = new RunChangeIndex({
      maxRuns: 10,
      async *readRows(runId) {
        reads.set(runId, (reads.get(runId) ?? 0) + 1);
        yield change(0, 'update', []);
      },
    });
    for (let i = 0; i < 100; i++) {
      await index.get(`r${i}`, true);
      await index.get('kept', true);
    }
    await index.get('r99', true);
    await index.get('r0', true);
    assert.deepEqual([reads.get('kept'), reads.get('r99'), reads.get('r0')], [1, 1, 2]);
    await index.get('running', false);
    await index.get('running', false);
    assert.equal(reads.get('running'), 2);
  });

  test('at its production total (100,000 changes): a run of 1,000,000 is kept as an index alone, and runs of 30,000 three at a time', async () => {
    const reads = new Map<string, number>();
    const index = new RunChangeIndex({
      async *readRows(runId) {
        reads.set(runId, (reads.get(runId) ?? 0) + 1);
        const n = runId === 'huge' ? 1_000_000 : 30_000;
        // Only what the index reads of a change: a million whole records would be a gigabyte.
        for (let seq = 0; seq < n; seq++) {
          yield { seq, action: seq % 2 === 0 ? 'update' : 'create', reasons: [] } as unknown as SyncChangeDocument;
        }
      },
    });
    const huge = await index.get('huge', true);
    assert.equal(huge.docs, null, 'ten times what it keeps: the index alone');
    assert.equal(huge.seqs.length, 1_000_000);
    assert.deepEqual(pageOfChanges(huge, { action: 'create' }, 499_998, 50).seqs, [999_997, 999_999]);
    for (let i = 0; i < 4; i++) assert.equal((await index.get(`r${i}`, true)).docs?.length, 30_000);
    await index.get('r3', true);
    await index.get('r1', true);
    await index.get('r0', true);
    assert.deepEqual(
      ['r3', 'r1', 'r0'].map((r) => reads.get(r)),
      [1, 1, 2],
      'three runs of 30,000 kept (90,000 changes): the oldest of four read again',
    );
  });

  test('keeps the changes themselves up to its total (ten runs of 30 through 100), a larger run as an index alone', async () => {
    const reads = new Map<string, number>();
    const index = new RunChangeIndex({
      maxKeptChanges: 100,
      async *readRows(runId) {
        reads.set(runId, (reads.get(runId) ?? 0) + 1);
        const n = runId === 'huge' ? 1_000 : 30;
        for (let seq = 0; seq < n; seq++) yield change(seq, 'update', []);
      },
    });
    const huge = await index.get('huge', true);
    assert.equal(huge.docs, null, 'ten times what it keeps: the index alone');
    assert.deepEqual(
      pageOfChanges(huge, {}, 990, 50).seqs,
      Array.from({ length: 10 }, (_, i) => 990 + i),
    );
    for (let i = 0; i < 10; i++) {
      const run = await index.get(`r${i}`, true);
      assert.equal(run.docs?.length, 30);
    }
    await index.get('r9', true);
    await index.get('r7', true);
    await index.get('r6', true);
    await index.get('r0', true);
    assert.deepEqual(
      ['r9', 'r7', 'r6', 'r0'].map((r) => reads.get(r)),
      [1, 1, 2, 2],
      'three runs of 30 kept (90 changes): r7 to r9 kept, r6 and r0 read again',
    );
  });
});
