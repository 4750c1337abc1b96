/**
 * What a page of the console's profiles list and of a run report costs at scale, on the dev
 * stack's store (FerretDB on SQLite by default, DEV_STORE_ENGINE=postgresql for PostgreSQL):
 * the store's own sorted page and count (what the list did before its directory), the directory's
 * one read of a company and its pages from memory, and a report's index and pages by `_id`.
 *
 *   npm run bench:console -- [--size 100000]
 *
 * Prints a Markdown table for docs/benchmarks.md. Uses a database of its own, dropped at the end.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { ObjectId } from 'mongodb';
import { ProfileDirectory, pageOf } from '../../console/profile-directory';
import { buildIndex, pageOfChanges } from '../../console/run-change-index';
import { connectMongo, ensureIndexes, repositories } from '../../db/mongo';
import type { ProfileDocument } from '../../db/profiles-repository';
import { toChangeDocument } from '../../db/sync-changes-repository';
import type { ChangeAction, ReasonCode } from '../../domain/types';

const { values } = parseArgs({ options: { size: { type: 'string', default: '100000' } } });
const size = Number(values.size);
const uri = process.env.MONGODB_URI ?? `mongodb://127.0.0.1:${process.env.FERRETDB_PORT ?? 27017}`;
const LAST = ['Aubert', 'André', 'Éloïse', 'Eloise', 'Zoé', 'Durand', 'Dupont', 'Œuvray', 'Ndiaye', 'Lefèvre'];
const FIRST = ['Émile', 'Chloé', 'Jérôme', 'Anaïs', 'Zoë', 'François', 'Léa'];

const rows: [string, string][] = [];
async function time<T>(label: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  const result = await run();
  const ms = performance.now() - started;
  rows.push([label, ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`]);
  console.log(`${label}: ${Math.round(ms)} ms`);
  return result;
}

const { client, db } = await connectMongo(uri, `bench_console_${randomBytes(4).toString('hex')}`);
try {
  const repos = repositories(db);
  await ensureIndexes(repos);
  const companyId = 'big';
  const now = new Date();
  await time(`insert ${size.toLocaleString('en')} profiles (bulks of 1,000)`, async () => {
    for (let i = 0; i < size; i += 1_000) {
      const docs: ProfileDocument[] = [];
      for (let j = i; j < Math.min(i + 1_000, size); j++) {
        const fields = {
          firstName: FIRST[j % FIRST.length]!,
          lastName: `${LAST[j % LAST.length]!}${j % 97 === 0 ? '' : ` ${j % 1_013}`}`,
          email: `person.${j}@acme.example`,
          birthDate: '1990-01-01',
          contractStart: '2020-01-01',
          contractEnd: null,
        };
        docs.push({
          _id: new ObjectId(),
          companyId,
          ...fields,
          status: j % 10 === 0 ? 'former' : 'active',
          lucca: {
            userId: j + 1,
            linkedAt: now,
            lastSeenAt: now,
            syncedValues: fields,
            legalEntity: { id: j % 4, name: `Établissement ${j % 4}` },
            department: { id: 100 + (j % 25), name: `Département ${j % 25}` },
          },
          createdAt: now,
          updatedAt: now,
        });
      }
      await db.collection<ProfileDocument>('profiles').insertMany(docs);
    }
  });

  const profiles = db.collection<ProfileDocument>('profiles');
  const filter = { companyId, status: 'active' as const };
  await time('before: the store sorts a page (active, page 100 of 50)', () =>
    profiles.find(filter).sort({ lastName: 1, firstName: 1, _id: 1 }).skip(5_000).limit(50).toArray(),
  );
  await time('before: the store counts the page’s total', () => profiles.countDocuments(filter));

  const directory = new ProfileDirectory({ readRows: (id) => repos.profiles.listRows(id), waitMs: 3_600_000 });
  const answer = await time('directory: one read of the company, sorted in French order', () =>
    directory.get(companyId),
  );
  if (answer.kind !== 'ready') throw new Error('the directory did not finish its read');
  const snapshot = answer.snapshot;
  await time('directory: a page (page 1,000 of 50, no filter)', async () => pageOf(snapshot, {}, 50_000, 50));
  await time('directory: a page searched "ELOISE" (accents and case ignored)', async () =>
    pageOf(snapshot, { search: 'ELOISE' }, 0, 50),
  );
  await time('directory: a page by legal entity, department and status', async () =>
    pageOf(snapshot, { legalEntityId: 2, departmentId: 110, status: 'active' }, 0, 50),
  );
  const heap = process.memoryUsage().heapUsed;
  rows.push(['directory: heap in use with the company read (whole process)', `${Math.round(heap / 1e6)} MB`]);

  const runId = 'bench-run';
  await time(`insert ${size.toLocaleString('en')} change records of one run`, async () => {
    for (let i = 0; i < size; i += 1_000) {
      const docs = [];
      for (let seq = i; seq < Math.min(i + 1_000, size); seq++) {
        const action: ChangeAction = seq % 3 === 0 ? 'deactivate' : 'update';
        const code: ReasonCode = action === 'deactivate' ? 'contract-ended' : 'overwritten-local-edit';
        docs.push(
          toChangeDocument(runId, companyId, seq, {
            action,
            luccaUserId: seq + 1,
            fields: { lastName: { from: `Old ${seq}`, to: `New ${seq}` } },
            reasons: [{ code, message: 'bench' }],
          }),
        );
      }
      await repos.syncChanges.insertMany(docs);
    }
  });
  await time('before: the store counts one action of the run', () =>
    repos.syncChanges.count(runId, { action: 'deactivate' }),
  );
  await time('before: the store sorts one action’s first 100', () =>
    repos.syncChanges.page(runId, { action: 'deactivate', limit: 100 }),
  );
  const index = await time('report: one read of the run’s changes into the index', () =>
    buildIndex(runId, repos.syncChanges.ofRun(runId)),
  );
  await time('report: a filtered page (page 400) from memory', async () =>
    pageOfChanges(index, { action: 'deactivate', reason: 'contract-ended' }, 20_000, 50).positions.map(
      (i) => index.docs![i],
    ),
  );
  const far = pageOfChanges(index, {}, 99_000, 50);
  await time('report: a page read by _id instead (a run past what the console keeps)', () =>
    repos.syncChanges.bySeqs(runId, far.seqs),
  );
} finally {
  await db.dropDatabase().catch(() => undefined);
  await client.close();
}

console.log(`\n| ${size.toLocaleString('en')} profiles / changes | time |\n| --- | --- |`);
for (const [label, value] of rows) console.log(`| ${label} | ${value} |`);
