import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { BSON } from 'mongodb';
import { loadConfig } from '../../config/env';
import { addExtraField } from '../../operations/fields';
import { changeScope } from '../../operations/scope';
import { DEFAULT_MAX_PAGE_BYTES } from '../../lucca/client';
import { DEFAULT_HUGE_BYTES } from '../../dev-tools/fake-lucca/faults';
import { LUCCA_FIELD_MAX_LENGTHS } from '../../domain/map-lucca-user';
import { ChildWorker } from '../../dev-tools/child-worker/child-worker';
import {
  MONGODB_URI,
  openStack,
  stackEnv,
  TEMPORAL_ADDRESS,
  TEST_SECRET,
  workflowBundleFile,
  type Stack,
} from './helpers';
import {
  addTestCompany,
  changesOf,
  linkedProfile,
  luccaUser,
  profilesOf,
  runSync,
  staff,
  updatedStamps,
} from './sync-kit';

const MiB = 1024 * 1024;

/**
 * What the sync reads from Lucca is bounded: an answer past LUCCA_MAX_PAGE_BYTES fails its run
 * without filling the worker's memory, a field past its length cap skips its record, and a date
 * with an offset or a time is reported instead of cut to a date. One worker process, as
 * `npm run worker` starts it (its 1 GB heap, the default cap), serves every company here.
 */
describe('bounded reads from Lucca, on the real stack', () => {
  let stack: Stack;
  let worker: ChildWorker | undefined;
  let bundleFile: string;

  before(async () => {
    stack = await openStack('inputlimits');
    bundleFile = await workflowBundleFile();
    worker = await ChildWorker.start({
      temporalAddress: TEMPORAL_ADDRESS,
      mongoUri: MONGODB_URI,
      mongoDb: stack.db.databaseName,
      taskQueue: stack.taskQueue,
      secret: TEST_SECRET,
      bundlePath: bundleFile,
    });
  });

  after(async () => {
    await worker?.stop();
    await stack?.close();
    await rm(bundleFile, { force: true });
  });

  const sync = (companyId: string) => runSync(stack, stack.taskQueue, companyId);

  test('a 500 MB Lucca answer fails its run with lucca-too-large, once, while the same worker syncs another company, its memory bounded', async (t) => {
    const runaway = await addTestCompany(stack, staff(30));
    const other = await addTestCompany(stack, staff(300));
    // A first run of the other company: the worker's memory after ordinary work is the baseline.
    assert.equal((await sync(other.companyId)).status, 'succeeded');
    const baselineKb = await worker!.peakRssKb();
    assert.ok(baselineKb !== null);

    // The answer never ends before 500 MB, on every try, with no Content-Length to refuse it early.
    stack.lucca.addFault({ tenant: runaway.tenant, kind: 'huge', times: Infinity });
    stack.lucca.mutateUsers(other.tenant, (users) => [...users, ...staff(50, 301)]);
    const [refused, served] = await Promise.all([sync(runaway.companyId), sync(other.companyId)]);

    // The worker first: reading the answer must not have cost it its memory, nor its life.
    assert.ok(worker!.alive, 'the worker is still running');
    const peakKb = (await worker!.peakRssKb())!;
    const growthMiB = (peakKb - baselineKb) / 1024;
    const sent = stack.lucca.requests(runaway.tenant)[0]?.bytesSent ?? NaN;
    t.diagnostic(
      `worker peak RSS ${(baselineKb / 1024).toFixed(0)} MiB before, ${(peakKb / 1024).toFixed(0)} MiB after; ` +
        `the fake made ${(sent / MiB).toFixed(1)} MiB of the answer`,
    );
    assert.ok(
      growthMiB < (8 * DEFAULT_MAX_PAGE_BYTES) / MiB,
      `the worker's peak memory grew by ${growthMiB.toFixed(0)} MiB reading a 500 MB answer`,
    );

    assert.equal(refused.status, 'failed');
    assert.equal(refused.error?.code, 'lucca-too-large');
    assert.match(
      refused.error?.message ?? '',
      /larger than the 16 MiB one page of users may take \(LUCCA_MAX_PAGE_BYTES\)/,
    );
    assert.match(refused.error?.message ?? '', /nothing was changed/);
    assert.equal(stack.lucca.requests(runaway.tenant).length, 1, 'a deterministic oversize answer is not retried');
    assert.ok(sent > DEFAULT_MAX_PAGE_BYTES && sent < 4 * DEFAULT_MAX_PAGE_BYTES, `${sent} bytes of 500 MB made`);
    assert.ok(sent < DEFAULT_HUGE_BYTES / 10);
    assert.deepEqual(await profilesOf(stack, runaway.companyId), []);
    assert.equal((await stack.repos.syncRuns.get(refused.runId))?.error?.code, 'lucca-too-large');

    assert.equal(served.status, 'succeeded', JSON.stringify(served.error));
    assert.equal(served.counts?.created, 50);
    assert.equal((await profilesOf(stack, other.companyId)).length, 350);

    // And after: the worker goes on serving.
    stack.lucca.mutateUsers(other.tenant, (users) => users.filter((u) => u.id !== 300));
    const after = await sync(other.companyId);
    assert.deepEqual([after.status, after.counts?.deactivated], ['succeeded', 1]);
  });

  test('pages read with the legal entity, department and extra fields: an ordinary one is far under LUCCA_MAX_PAGE_BYTES, one twice past it fails its run with lucca-too-large saying what to do, nothing changed', async (t) => {
    const entities = [
      { id: 1, name: "Société Lumière d'Île-de-France" },
      { id: 2, name: 'Établissements Côte-Sud' },
    ];
    const departments = [
      { id: 11, name: 'Équipe Produit' },
      { id: 12, name: 'Comptabilité & Contrôle de gestion' },
    ];
    const PEOPLE = 30;
    const users = Array.from({ length: PEOPLE }, (_, i) =>
      luccaUser(i + 1, {
        legalEntityId: entities[i % 2]!.id,
        legalEntity: entities[i % 2]!,
        departmentId: departments[i % 2]!.id,
        department: departments[i % 2]!,
        extendedData: { e_site: 'Île de Nantes', e_cseCategory: { id: 12, name: 'Employé·e' } },
      }),
    );
    const { companyId, tenant } = await addTestCompany(stack, users);
    const deps = { repos: stack.repos, client: stack.client, config: loadConfig(stackEnv(stack)) };
    await addExtraField(deps, { companyId, field: { lucca: 'e_site', key: 'site', type: 'text' } });
    await addExtraField(deps, { companyId, field: { lucca: 'e_cseCategory', key: 'category', type: 'reference' } });
    await changeScope(deps, { companyId, scope: { legalEntityIds: [1, 2] } });
    const first = await sync(companyId);
    assert.equal(first.status, 'succeeded', JSON.stringify(first.error));
    assert.equal(first.counts?.created, PEOPLE);

    // The page as the sync reads it (one page here): every user with its units and extra fields.
    const [page] = stack.lucca.requests(tenant).filter((r) => r.query.fields?.includes('department['));
    assert.ok(page, 'the sync read a page');
    assert.match(page.query.fields!, /legalEntity\[id,name\]/);
    assert.match(page.query.fields!, /extendedData/);
    const perUser = page.bytesSent! / PEOPLE;
    t.diagnostic(
      `${perUser.toFixed(0)} bytes a user with the units and two extra fields: ${((perUser * 1_000) / MiB).toFixed(2)} MiB a page of 1,000`,
    );
    assert.ok(
      perUser * 1_000 * 10 < DEFAULT_MAX_PAGE_BYTES,
      `a page of 1,000 such users stays ten times under the cap`,
    );

    // Department names that make the page twice the cap: the fake builds an answer in memory (the
    // streamed 500 MB answer above goes thirty times past the cap), and twice is past any rounding.
    const stamps = updatedStamps(await profilesOf(stack, companyId));
    const asked = stack.lucca.requests(tenant).length;
    const length = Math.ceil((2 * DEFAULT_MAX_PAGE_BYTES) / PEOPLE);
    stack.lucca.addFault({ tenant, kind: 'long-field', field: 'department.name', length, times: Infinity });
    const refused = await sync(companyId);
    stack.lucca.clearFaults();
    assert.equal(refused.status, 'failed');
    assert.equal(refused.error?.code, 'lucca-too-large');
    // What the operator reads in the run's report, its status and the console.
    assert.match(
      refused.error?.message ?? '',
      /announced an answer of 32(\.\d+)? MiB, larger than the 16 MiB one page of users may take \(LUCCA_MAX_PAGE_BYTES\); the read was stopped and nothing was changed/,
    );
    assert.match(
      refused.error?.message ?? '',
      /report this answer to Lucca, and raise LUCCA_MAX_PAGE_BYTES on the workers only if/,
    );
    assert.doesNotMatch(refused.error?.message ?? '', /xxxx|Île|Équipe/, 'nothing of the page in the message');
    assert.equal(stack.lucca.requests(tenant).length - asked, 1, 'refused once, not retried');
    assert.ok(worker!.alive);
    assert.deepEqual(updatedStamps(await profilesOf(stack, companyId)), stamps, 'no profile written');
    assert.deepEqual((await linkedProfile(stack, companyId, 2)).lucca?.department, departments[1]);
  });

  test('records with fields ten times past their caps are skipped with field-too-long; the rest syncs, and a linked profile is kept as it is', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(10));
    assert.equal((await sync(companyId)).counts?.created, 10);
    const kept = await linkedProfile(stack, companyId, 7);

    const caps = LUCCA_FIELD_MAX_LENGTHS;
    stack.lucca.mutateUsers(tenant, (users) => [
      ...users.map((u) => (u.id === 7 ? { ...u, lastName: 'L'.repeat(caps.lastName * 10), firstName: 'Changed' } : u)),
      luccaUser(11, { firstName: 'F'.repeat(caps.firstName * 10) }),
      luccaUser(12, { mail: `${'m'.repeat(caps.mail * 10)}@acme.example` }),
      luccaUser(13, { birthDate: `1980-05-01T00:00:00${'0'.repeat(caps.birthDate * 10)}` }),
      // A single 2.5 MB name: read within the page cap, and not staged, planned or stored.
      luccaUser(14, { lastName: 'N'.repeat(caps.lastName * 10_000) }),
      luccaUser(15),
    ]);
    const run = await sync(companyId);

    assert.equal(run.status, 'succeeded', JSON.stringify(run.error));
    assert.deepEqual([run.counts?.seen, run.counts?.created, run.counts?.skipped], [15, 1, 5]);
    const skips = (await changesOf(stack, run.runId)).filter((c) => c.action === 'skip');
    assert.deepEqual(
      skips.map((c) => [c.luccaUserId, c.reason?.code, c.reason?.message]),
      [
        [7, 'field-too-long', 'lastName in Lucca is over 255 characters; the user is not synced'],
        [11, 'field-too-long', 'firstName in Lucca is over 255 characters; the user is not synced'],
        [12, 'field-too-long', 'mail in Lucca is over 254 characters; the user is not synced'],
        [13, 'field-too-long', 'birthDate in Lucca is over 64 characters; the user is not synced'],
        [14, 'field-too-long', 'lastName in Lucca is over 255 characters; the user is not synced'],
      ],
    );
    for (const change of skips) assert.ok(BSON.calculateObjectSize(change) < 1_000, 'no long value in the report');
    assert.deepEqual(await linkedProfile(stack, companyId, 7), kept, 'the linked profile is left exactly as it was');
    const linked = (await profilesOf(stack, companyId)).map((p) => p.lucca?.userId).sort((a, b) => a! - b!);
    assert.deepEqual(linked, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 15]);
  });

  test('a Lucca date with a UTC offset or a time is reported invalid-date on every run and never blanks or shifts a stored date', async () => {
    const { companyId, tenant } = await addTestCompany(stack, staff(6));
    await sync(companyId);
    const before = new Map((await profilesOf(stack, companyId)).map((p) => [p.lucca!.userId, p]));
    const birthOf = (id: number) => before.get(id)!.birthDate!;

    stack.lucca.mutateUsers(tenant, (users) => [
      ...users.map((u) => {
        switch (u.id) {
          // The example: 22:00 UTC the day before is midnight in Paris.
          case 1:
            return { ...u, birthDate: `${dayBefore(birthOf(1))}T22:00:00Z` };
          case 2:
            return { ...u, birthDate: `${birthOf(2)}T00:00:00+02:00` };
          case 3:
            return { ...u, dtContractStart: '2020-01-06T00:00:00-05:00' };
          case 4:
            return { ...u, birthDate: `${birthOf(4)}T12:00:00` };
          // Midnight with milliseconds is the same date: nothing to do.
          case 5:
            return { ...u, birthDate: `${birthOf(5)}T00:00:00.000` };
          default:
            return u;
        }
      }),
      luccaUser(7, { birthDate: '1980-04-30T22:00:00Z' }),
    ]);
    const run = await sync(companyId);

    assert.equal(run.status, 'succeeded', JSON.stringify(run.error));
    const dateChanges = (await changesOf(stack, run.runId)).map((c) => [c.luccaUserId, c.action, c.reason?.code]);
    assert.deepEqual(dateChanges, [
      [1, 'conflict', 'invalid-date'],
      [2, 'conflict', 'invalid-date'],
      [3, 'conflict', 'invalid-date'],
      [4, 'conflict', 'invalid-date'],
      [7, 'create', 'invalid-date'],
    ]);
    assert.equal(run.profileWrites, 1, 'only the new profile is written');
    for (const id of [1, 2, 3, 4, 5, 6]) {
      assert.deepEqual(await linkedProfile(stack, companyId, id), before.get(id), `profile ${id} is as it was`);
    }
    assert.equal((await linkedProfile(stack, companyId, 7)).birthDate, null, 'a new profile has no date to keep');

    const again = await sync(companyId);
    assert.equal(again.profileWrites, 0);
    assert.equal(again.counts?.conflicts, 4, 'the kept dates are reported on every run until Lucca is fixed');
  });
});

function dayBefore(date: string): string {
  return new Date(Date.parse(`${date}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
}
