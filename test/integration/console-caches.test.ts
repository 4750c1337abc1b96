import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ObjectId } from 'mongodb';
import { MAX_AGE_MS, ProfileDirectory, type DirectoryAnswer } from '../../console/profile-directory';
import { RunChangeIndex } from '../../console/run-change-index';
import type { ProfileDocument, ProfileListRow } from '../../db/profiles-repository';
import { toChangeDocument } from '../../db/sync-changes-repository';
import { openStack, uniqueSuffix, type Stack } from './helpers';

/**
 * The console's two memories of the store, at their production limits and ten times past them, on
 * the real store: the profile directory (20 companies, 5 minutes, a 3 s wait for a read under way)
 * and the report's change index (10 finished runs). What each costs to read again is what the
 * limits trade (console/profile-directory.ts, console/run-change-index.ts).
 */
const DIRECTORY_COMPANIES = 20;
const DIRECTORY_WAIT_MS = 3_000;
const INDEX_RUNS = 10;

describe('the console keeps bounded memories of the store (real store, production limits)', () => {
  let stack: Stack;
  const suffix = uniqueSuffix();
  const companyIds = Array.from({ length: 10 * DIRECTORY_COMPANIES }, (_, i) => `caches-${suffix}-${i}`);
  const runIds = Array.from({ length: 10 * INDEX_RUNS }, (_, i) => `20261203-0${String(i).padStart(5, '0')}-${suffix}`);

  before(async () => {
    stack = await openStack('console-caches');
    const now = new Date();
    await stack.store.profiles.insertMany(
      companyIds.map((companyId, i): ProfileDocument => ({
        _id: new ObjectId(),
        companyId,
        firstName: 'Zoé',
        lastName: `Company ${i}`,
        email: `person.${i}@acme.example`,
        birthDate: null,
        contractStart: '2020-01-01',
        contractEnd: null,
        status: 'active',
        createdAt: now,
        updatedAt: now,
      })),
    );
    await stack.repos.syncChanges.insertMany(
      runIds.flatMap((runId, r) =>
        [0, 1, 2].map((seq) =>
          toChangeDocument(runId, 'caches', seq, {
            action: 'update',
            luccaUserId: r * 10 + seq,
            reasons: [{ code: 'overwritten-local-edit', message: `run ${r} change ${seq}` }],
          }),
        ),
      ),
    );
  });

  after(async () => {
    await stack?.close();
  });

  /** The store's rows of a company, counting the reads. */
  const counting = (reads: Map<string, number>) => (companyId: string) => {
    reads.set(companyId, (reads.get(companyId) ?? 0) + 1);
    return stack.repos.profiles.listRows(companyId);
  };

  const readyNames = (answer: DirectoryAnswer) => {
    assert.equal(answer.kind, 'ready');
    return answer.snapshot.entries.map((e) => e.lastName);
  };

  test(`the directory keeps ${DIRECTORY_COMPANIES} companies: ${10 * DIRECTORY_COMPANIES} read in turn leave the latest ${DIRECTORY_COMPANIES} in memory and the others read again`, async () => {
    const reads = new Map<string, number>();
    const directory = new ProfileDirectory({ readRows: counting(reads) });
    for (const [i, companyId] of companyIds.entries()) {
      assert.deepEqual(readyNames(await directory.get(companyId)), [`Company ${i}`], 'each company its own profile');
    }
    assert.ok(companyIds.every((id) => reads.get(id) === 1));

    const latest = companyIds.slice(-DIRECTORY_COMPANIES);
    for (const companyId of latest) await directory.get(companyId);
    assert.ok(
      latest.every((id) => reads.get(id) === 1),
      'the latest companies are served from memory',
    );
    // Serving them did not make the directory forget one of them...
    await directory.get(latest[0]!);
    assert.equal(reads.get(latest[0]!), 1);
    // ...and the one used least recently of all goes first when another comes back.
    await directory.get(companyIds[0]!);
    assert.equal(reads.get(companyIds[0]!), 2, 'a company past the limit is read again');
    await directory.get(latest[1]!);
    assert.equal(reads.get(latest[1]!), 2, 'its least recently used company made room for it');
    await directory.get(latest[0]!);
    assert.equal(reads.get(latest[0]!), 1, 'a company used since is still kept');
  });

  test(`a snapshot serves for ${MAX_AGE_MS / 60_000} minutes and is read again after ten times that`, async () => {
    const reads = new Map<string, number>();
    let now = new Date('2026-12-03T08:00:00Z');
    const directory = new ProfileDirectory({ readRows: counting(reads), now: () => now });
    const companyId = companyIds[7]!;
    await directory.get(companyId);
    now = new Date(now.getTime() + MAX_AGE_MS - 1_000);
    assert.equal((await directory.get(companyId)).kind, 'ready');
    assert.equal(reads.get(companyId), 1, 'within its age: from memory');
    now = new Date(now.getTime() + 10 * MAX_AGE_MS);
    assert.deepEqual(readyNames(await directory.get(companyId)), ['Company 7']);
    assert.equal(reads.get(companyId), 2, 'past its age: read again');
  });

  test(`a request waits ${DIRECTORY_WAIT_MS / 1000} s for a read under way: a read held ten times that long answers how far it got, then the older snapshot while it is refreshed`, async () => {
    /** While set, each read stops after its first row until it settles. */
    let hold: Promise<void> | null = null;
    let reads = 0;
    const directory = new ProfileDirectory({
      async *readRows(companyId): AsyncIterable<ProfileListRow> {
        reads++;
        const gate = hold;
        for await (const row of stack.repos.profiles.listRows(companyId)) {
          yield row;
          if (gate) await gate;
        }
      },
    });
    const held = () => {
      let release!: () => void;
      hold = new Promise<void>((resolve) => (release = resolve));
      return release;
    };
    const companyId = companyIds[3]!;

    const release = held();
    const holdUntil = Date.now() + 10 * DIRECTORY_WAIT_MS;
    const t0 = Date.now();
    const first = await directory.get(companyId);
    const waited = Date.now() - t0;
    assert.equal(first.kind, 'building', 'no snapshot yet: how far the read got');
    assert.equal(first.kind === 'building' && first.read, 1, 'the one row read before the hold');
    assert.ok(waited >= DIRECTORY_WAIT_MS - 50, `waited ${waited} ms, at least the wait`);
    assert.ok(waited < 4 * DIRECTORY_WAIT_MS, `waited ${waited} ms, not the read's length`);
    // A second request while the read is held waits again, bounded, and starts no second read.
    assert.equal((await directory.get(companyId)).kind, 'building');
    assert.equal(reads, 1);

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, holdUntil - Date.now())));
    hold = null;
    release();
    assert.deepEqual(readyNames(await directory.get(companyId)), ['Company 3'], 'the held read ended');
    assert.equal(reads, 1, 'the held read, not another');

    // A refresh held past the wait: the older snapshot, said to be refreshing.
    const releaseRefresh = held();
    const refreshing = await directory.get(companyId, { refresh: true });
    assert.ok(refreshing.kind === 'ready' && refreshing.refreshing, 'the older snapshot, refreshing');
    assert.deepEqual(readyNames(refreshing), ['Company 3']);
    assert.equal(reads, 2);
    releaseRefresh();
  });

  test(`the report keeps ${INDEX_RUNS} finished runs' changes: ${10 * INDEX_RUNS} read in turn leave the latest ${INDEX_RUNS}, a running run is read every time`, async () => {
    const reads = new Map<string, number>();
    const index = new RunChangeIndex({
      readRows(runId) {
        reads.set(runId, (reads.get(runId) ?? 0) + 1);
        return stack.repos.syncChanges.ofRun(runId);
      },
    });
    for (const [r, runId] of runIds.entries()) {
      const got = await index.get(runId, true);
      assert.deepEqual(
        got.docs?.map((d) => d.luccaUserId),
        [r * 10, r * 10 + 1, r * 10 + 2],
        'each run its own changes, in plan order',
      );
    }
    const latest = runIds.slice(-INDEX_RUNS);
    for (const runId of latest) await index.get(runId, true);
    assert.ok(
      latest.every((id) => reads.get(id) === 1),
      'the latest runs from memory',
    );
    await index.get(runIds[0]!, true);
    assert.equal(reads.get(runIds[0]!), 2, 'a run past the limit is read again');
    await index.get(latest[0]!, true);
    assert.equal(reads.get(latest[0]!), 2, 'its least recently used run made room for it');

    const running = runIds[50]!;
    const before = reads.get(running)!;
    await index.get(running, false);
    await index.get(running, false);
    assert.equal(reads.get(running), before + 2, 'a running run is never kept');
  });
});
