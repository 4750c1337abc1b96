/**
 * What ten extra Lucca fields cost a first sync: the same first sync of `--size` employees (an
 * empty database, a fresh worker in its own process, the fake Lucca in its own process, rate
 * limit off) without extra fields and with ten (five standard, five custom of an HR-file section),
 * on the dev stack's Temporal and FerretDB. Counts the Lucca requests and the bytes of their
 * answers (the fake's request log: JSON bodies as sent, uncompressed) and the worker's MongoDB
 * commands (documents written and returned), per employee; times are the machine's.
 *
 *   npm run bench:extra -- [--size 100000] [--seed 42]
 *
 * Prints a Markdown table for docs/benchmarks.md. Each variant uses a database of its own, dropped
 * at the end.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { MongoClient } from 'mongodb';
import { CompaniesRepository } from '../../db/companies-repository';
import type { ExtraFieldSpec } from '../../domain/extra-fields';
import { writeWorkflowBundle } from '../child-worker/child-worker';
import type { RequestLogEntry } from '../fake-lucca/server';
import { FakeLuccaProcess } from '../fake-lucca/process';
import { mongoUri, stackSettings, startStack, stopStack, temporalAddress } from '../stack/stack';
import { machine } from './report';
import { Bench, log } from './runner';

/** Ten extra fields: the five standard ones a company may add and five custom ones of the fake's "Avantages CSE" section. */
const TEN_FIELDS: ExtraFieldSpec[] = [
  { lucca: 'employeeNumber', key: 'employeeNumber', type: 'text' },
  { lucca: 'jobTitle', key: 'jobTitle', type: 'text' },
  { lucca: 'department', key: 'department', type: 'reference' },
  { lucca: 'legalEntity', key: 'legalEntity', type: 'reference' },
  { lucca: 'manager', key: 'manager', type: 'reference' },
  { lucca: 'e_seniority', key: 'seniority', type: 'date' },
  { lucca: 'e_cseCategory', key: 'category', type: 'reference' },
  { lucca: 'e_children', key: 'children', type: 'number' },
  { lucca: 'e_site', key: 'site', type: 'text' },
  { lucca: 'e_mealVouchers', key: 'mealVouchers', type: 'boolean' },
];

const { values } = parseArgs({
  options: { size: { type: 'string', default: '100000' }, seed: { type: 'string', default: '42' } },
});
const size = Number(values.size);
const seed = Number(values.seed);
const perEmployee = (n: number) => (n / size).toFixed(3);

const settings = stackSettings();
const started = await startStack(settings, ['temporal', 'ferretdb']);
const dir = await mkdtemp(path.join(os.tmpdir(), 'lucca-sync-bench-extra-'));
const address = process.env.TEMPORAL_ADDRESS ?? temporalAddress(settings);
const connection = await Connection.connect({ address });
const uri = mongoUri(settings);
const mongo = await new MongoClient(uri, { monitorCommands: true }).connect();
const apiKey = randomUUID().toUpperCase();
const fake = await FakeLuccaProcess.start({ size, seed, apiKey, rateLimit: false });
const rows: string[] = [];
const loadAtStart = os.loadavg()[0]!;
try {
  log('bundling the workflows once');
  const bundlePath = await writeWorkflowBundle(path.join(dir, 'workflows.js'));
  const bench = new Bench(new Client({ connection }), mongo, uri, address, bundlePath);
  for (const fields of [[], TEN_FIELDS]) {
    const variant = fields.length === 0 ? 'no extra field' : `${fields.length} extra fields`;
    const dbName = bench.dbName(`extra${fields.length}`, size, 1);
    const taskQueue = `bench-extra-${fields.length}-${randomUUID().slice(0, 6)}`;
    await bench.onboard(dbName, 'bench', fake.tenantUrl, apiKey);
    const companies = new CompaniesRepository(mongo.db(dbName));
    if (fields.length > 0) {
      const company = await companies.get('bench');
      const saved = await companies.setExtraFields(
        'bench',
        { config: { fields, cleared: [] }, connectionId: randomUUID() },
        company?.lucca.connectionId,
        new Date(),
      );
      if (!saved) throw new Error('the extra fields were not saved');
    }
    await fake.control('DELETE', '/requests');
    const worker = await bench.startWorker(dbName, taskQueue);
    try {
      log(`${variant}: first sync of ${size} employees`);
      const run = await bench.syncOnce(worker, taskQueue, 'bench');
      const requests = (await fake.control<RequestLogEntry[]>('GET', '/requests?tenant=bench')).filter((r) =>
        r.path.startsWith('/api/'),
      );
      const bytes = requests.reduce((n, r) => n + (r.bytesSent ?? 0), 0);
      const extraHeld = await mongo
        .db(dbName)
        .collection('profiles')
        .countDocuments({ 'lucca.extra': { $exists: true } });
      const row =
        `| ${variant} | ${requests.length} | ${(bytes / 1024 / 1024).toFixed(1)} MiB (${Math.round(bytes / size)} B) ` +
        `| ${run.result.profileWrites} | ${perEmployee(run.ops.written)} | ${perEmployee(run.ops.returned)} ` +
        `| ${perEmployee(run.ops.commands)} | ${extraHeld} | ${(run.wallMs / 1000).toFixed(1)} s |`;
      log(row);
      rows.push(row);
    } finally {
      await worker.stop();
      await bench.drop(dbName);
    }
  }
  const m = await machine();
  console.log(
    [
      '',
      `- Date: ${new Date().toISOString()}; machine: ${m}; store engine: ${settings.engine}`,
      `- Machine load (1-minute load average): ${loadAtStart.toFixed(2)} at the start, ${os.loadavg()[0]!.toFixed(2)} at the end`,
      `- Command: \`npm run bench:extra -- --size ${size} --seed ${seed}\``,
      '',
      '| first sync | Lucca requests | bytes read (per employee) | profile writes | documents written / employee | documents returned / employee | commands / employee | profiles with lucca.extra | wall |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...rows,
    ].join('\n'),
  );
} finally {
  await fake.stop();
  await mongo.close();
  await connection.close();
  await rm(dir, { recursive: true, force: true });
  if (started.length) await stopStack(started);
}
