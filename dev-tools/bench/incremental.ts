/**
 * Incremental runs at scale (issue 23's targets at 100,000: an unchanged incremental run at most 2
 * Lucca requests and 10 s, a 1%-changed one at most 3 requests and 30 s), next to the full read
 * they follow, on the dev stack's Temporal and store, with the fake Lucca and the worker each in
 * their own process:
 *
 *   npm run bench:incremental -- [--size 100000] [--seed 42]
 *
 * Prints a Markdown table for docs/benchmarks.md, with the machine and its load average (request
 * counts do not depend on the machine; times under load do). Uses a database of its own, dropped.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { MongoClient } from 'mongodb';
import { writeWorkflowBundle } from '../child-worker/child-worker';
import { mongoUri, stackSettings, startStack, stopStack, temporalAddress } from '../stack/stack';
import { machine, sec } from './report';
import { Bench, log, measureIncremental, type IncrementalRun } from './runner';

const { values } = parseArgs({
  options: { size: { type: 'string', default: '100000' }, seed: { type: 'string', default: '42' } },
});
const size = Number(values.size);
const seed = Number(values.seed);
if (!Number.isInteger(size) || size < 1 || !Number.isInteger(seed)) throw new Error('--size and --seed are integers');

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(1))
    .join(' / ');

const settings = stackSettings();
const started = await startStack(settings, ['temporal', 'ferretdb']);
const dir = await mkdtemp(path.join(os.tmpdir(), 'lucca-sync-bench-incr-'));
const address = process.env.TEMPORAL_ADDRESS ?? temporalAddress(settings);
const connection = await Connection.connect({ address });
const uri = mongoUri(settings);
const mongo = await new MongoClient(uri, { monitorCommands: true }).connect();
try {
  log('bundling the workflows once');
  const bundlePath = await writeWorkflowBundle(path.join(dir, 'workflows.js'));
  const bench = new Bench(new Client({ connection }), mongo, uri, address, bundlePath);
  const loadBefore = load();
  const r = await measureIncremental(bench, size, seed);
  const loadAfter = load();
  const row = (label: string, run: IncrementalRun, target: string) =>
    `| ${label} | ${run.kind} | ${run.requests} | ${sec(run.wallMs)} s | ${run.seen.toLocaleString('en')} | ${run.profileWrites} | ${Object.entries(
      run.phases,
    )
      .map(([name, s]) => `${name} ${s.toFixed(1)} s`)
      .join(', ')} | ${target} |`;
  const lines = [
    `${size.toLocaleString('en')} employees, store ${settings.engine}, fake Lucca's rate limit off; ${await machine()}.`,
    `Load average (1 / 5 / 15 min) before: ${loadBefore}; after: ${loadAfter}.`,
    '',
    '| run | read as | Lucca requests | time | users seen | profile writes | where the time goes | target |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    row('full read', r.full, '—'),
    row('incremental, nothing changed', r.unchanged, '≤ 2 requests, ≤ 10 s'),
    row(`incremental, ${r.changedUsers.toLocaleString('en')} changed (1%)`, r.changed, '≤ 3 requests, ≤ 30 s'),
  ];
  console.log(lines.join('\n'));
} finally {
  await mongo.close();
  await connection.close();
  await rm(dir, { recursive: true, force: true });
  if (started.length) await stopStack(started);
}
process.exit(0);
