/**
 * The memory a report export holds at scale, on the dev stack's store: a run of `--size` changes
 * and one of a tenth of it, each exported as CSV and JSON by `dev-tools/report-export-memory.ts` in
 * a child process (the heap after garbage collection, sampled as the file is written; the peak RSS).
 *
 *   npm run bench:export -- [--size 100000]
 *
 * Prints a Markdown table for docs/benchmarks.md. Uses a database of its own, dropped at the end.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { connectMongo, ensureIndexes, repositories } from '../../db/mongo';
import { toChangeDocument } from '../../db/sync-changes-repository';
import type { SyncRunDocument } from '../../db/sync-runs-repository';

const { values } = parseArgs({ options: { size: { type: 'string', default: '100000' } } });
const size = Number(values.size);
const uri = process.env.MONGODB_URI ?? `mongodb://127.0.0.1:${process.env.FERRETDB_PORT ?? 27017}`;
const dbName = `bench_export_${randomBytes(4).toString('hex')}`;
const companyId = 'bench-export';
const PROBE = path.join(import.meta.dirname, '..', 'report-export-memory.ts');
const MB = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`;

const { client, db } = await connectMongo(uri, dbName);
try {
  const repos = repositories(db);
  await ensureIndexes(repos);
  const lines = [
    '| changes | format | file | heap held (after GC) | peak RSS | time |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const n of [size / 10, size]) {
    const runId = `20261203-000000-${randomBytes(4).toString('hex')}`;
    await db.collection<SyncRunDocument>('syncRuns').insertOne({
      _id: runId,
      companyId,
      trigger: 'manual',
      requestedBy: 'bench',
      mode: 'apply',
      allowMassDeactivation: false,
      status: 'succeeded',
      startedAt: new Date(),
      finishedAt: new Date(),
      error: null,
      counts: null,
      progress: { pagesRead: 1, usersRead: n, phase: 'done' },
      guard: null,
      profileWrites: 0,
      workflowId: `sync-run:${companyId}:${runId}`,
      temporalRunId: 'none',
    });
    for (let from = 0; from < n; from += 1_000) {
      await repos.syncChanges.insertMany(
        Array.from({ length: Math.min(1_000, n - from) }, (_, i) =>
          toChangeDocument(runId, companyId, from + i, {
            action: 'update',
            luccaUserId: from + i,
            profileId: `profile-${from + i}`,
            fields: { email: { from: `old.${from + i}@acme.example`, to: `person.${from + i}@acme.example` } },
            reasons: [{ code: 'contract-ended', message: '' }],
          }),
        ),
      );
    }
    for (const format of ['csv', 'json']) {
      const out = await probe(runId, format);
      const m = JSON.parse(out) as { bytes: number; baseHeap: number; peakHeap: number; maxRss: number; ms: number };
      const line = `| ${n.toLocaleString('en')} | ${format} | ${MB(m.bytes)} | ${MB(m.peakHeap - m.baseHeap)} | ${MB(m.maxRss)} | ${(m.ms / 1000).toFixed(1)} s |`;
      console.log(line);
      lines.push(line);
    }
  }
  console.log(`\n${lines.join('\n')}`);
} finally {
  await db.dropDatabase().catch(() => undefined);
  await client.close();
}

function probe(runId: string, format: string): Promise<string> {
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', PROBE, companyId, runId, format], {
    env: { ...process.env, MONGODB_URI: uri, MONGODB_DB: dbName },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`the probe exited ${code}`)))),
  );
}
